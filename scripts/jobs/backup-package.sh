#!/bin/sh
# Backup step 2 (tools image): turn the dump into the artifact to upload.
#
# Env: BACKUP_FORMAT zip|sql|dump; WORKSPACE; FILESTORE: this database's
#      filestore directory (<data_dir>/filestore/<db>, mounted read-only; may
#      not exist for a database without attachments); WITH_FILESTORE true|false.
# Writes: $WORKSPACE/artifact and $WORKSPACE/artifact.sha256.
#      zip: Odoo's own layout, so its database manager can restore it:
#      filestore/ (the files of this database), manifest.json, dump.sql.
set -eu
. "$(dirname "$0")/common.sh"
need BACKUP_FORMAT WORKSPACE
artifact="$WORKSPACE/artifact"

case "$BACKUP_FORMAT" in
zip)
    [ -f "$WORKSPACE/dump.sql" ] || die "no dump.sql in the workspace (the dump step did not finish)"
    stage="$WORKSPACE/zip"
    rm -rf "$stage" "$artifact.part"
    mkdir -p "$stage"
    ln -s "$WORKSPACE/dump.sql" "$stage/dump.sql"
    ln -s "$WORKSPACE/manifest.json" "$stage/manifest.json"
    members="manifest.json dump.sql"
    if is_true "${WITH_FILESTORE:-true}" && [ -n "${FILESTORE:-}" ] && [ -d "$FILESTORE" ]; then
        ln -s "$FILESTORE" "$stage/filestore"
        members="filestore $members"
        log "packaging the filestore ($(find "$FILESTORE" -type f | wc -l) files) with the dump"
    else
        log "packaging the dump without a filestore"
    fi
    # zip follows the symbolic links: the archive holds the files themselves.
    # It writes to a temporary file it renames at the end: the workspace's growth shows.
    watch_size "$artifact.part"
    # shellcheck disable=SC2086
    (cd "$stage" && zip -q -r -X "$artifact.part" $members) || { stop_watch; die "zip failed"; }
    stop_watch
    rm -rf "$stage"
    ;;
sql | dump)
    dump="$WORKSPACE/dump.$BACKUP_FORMAT"
    [ -f "$dump" ] || die "no $(basename "$dump") in the workspace (the dump step did not finish)"
    mv "$dump" "$artifact.part"
    ;;
*) die "unknown BACKUP_FORMAT '$BACKUP_FORMAT' (zip, sql or dump)" ;;
esac
mv "$artifact.part" "$artifact"
size="$(wc -c <"$artifact" | tr -d ' ')"
progress "$size" "$size"
sha256sum "$artifact" | cut -d' ' -f1 >"$artifact.sha256"
log "artifact ready: $(wc -c <"$artifact") bytes, sha256 $(cat "$artifact.sha256")"
