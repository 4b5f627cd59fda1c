#!/bin/sh
# Restore step 2 (tools image): check the artifact and unpack its dump.
#
# Env: BACKUP_FORMAT zip|sql|dump; WORKSPACE.
# Writes: $WORKSPACE/dump.sql (zip, sql) or $WORKSPACE/dump.dump (dump). A zip
#      stays in the workspace as $WORKSPACE/artifact: the filestore step unpacks
#      its filestore/ once the database is loaded and verified.
# Nothing of the instance changes here: a bad artifact stops the restore
# before its database or filestore is touched.
set -eu
. "$(dirname "$0")/common.sh"
need BACKUP_FORMAT WORKSPACE
artifact="$WORKSPACE/artifact"
[ -f "$artifact" ] || die "no artifact in the workspace (the download step did not finish)"

# A plain dump is complete when pg_dump's closing comment is there.
check_sql_complete() {
    tail -c 4096 "$1" | grep -q -- '-- PostgreSQL database dump complete' ||
        die "the SQL dump is truncated: it lacks pg_dump's closing 'PostgreSQL database dump complete' line"
}

case "$BACKUP_FORMAT" in
zip)
    listing="$(unzip -Z1 "$artifact" 2>&1)" && unzip -tqq "$artifact" >/dev/null 2>&1 ||
        die "the artifact is not a readable zip archive (truncated or corrupt)"
    printf '%s\n' "$listing" | grep -qx 'dump.sql' || die "the zip holds no dump.sql: not an Odoo backup"
    size="$(unzip -l "$artifact" dump.sql 2>/dev/null | awk '$4 == "dump.sql" { print $1; exit }')"
    progress 0 "$size"
    watch_size "$WORKSPACE/dump.sql" "$size"
    unzip -p "$artifact" dump.sql >"$WORKSPACE/dump.sql" || { stop_watch; die "cannot extract dump.sql"; }
    stop_watch
    progress "$(wc -c <"$WORKSPACE/dump.sql" | tr -d ' ')" "$size"
    check_sql_complete "$WORKSPACE/dump.sql"
    if printf '%s\n' "$listing" | grep -q '^filestore/.'; then
        log "the zip holds a filestore of $(printf '%s\n' "$listing" | grep -c '^filestore/.*[^/]$') files"
    else
        log "the zip holds no filestore"
    fi
    ;;
sql)
    mv "$artifact" "$WORKSPACE/dump.sql"
    check_sql_complete "$WORKSPACE/dump.sql"
    ;;
dump)
    mv "$artifact" "$WORKSPACE/dump.dump"
    pg_restore --list "$WORKSPACE/dump.dump" >/dev/null 2>"$WORKSPACE/list.err" || {
        cat "$WORKSPACE/list.err" >&2
        die "the artifact is not a readable pg_dump custom-format archive (truncated, corrupt, or from a newer pg_dump)"
    }
    ;;
*) die "unknown BACKUP_FORMAT '$BACKUP_FORMAT' (zip, sql or dump)" ;;
esac
log "artifact checked and unpacked"
