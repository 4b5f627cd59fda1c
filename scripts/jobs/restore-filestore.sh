#!/bin/sh
# Restore step 6, the last (tools image): stage the backup's filestore, then swap it in.
#
# Env: BACKUP_FORMAT; WORKSPACE (a zip's $WORKSPACE/artifact); FILESTORE_ROOT,
#      DB_NAME, STAGING, ASIDE, MARK, TERMINATION_LOG: as filestore-step.sh.
# Stages filestore/$STAGING: the zip's filestore/, or an empty one when the
# backup holds none (a restore replaces the filestore with what the backup
# has), marks it with the operation, then runs filestore-step.sh swap: the
# live filestore is kept aside as $ASIDE, never removed here. A failure while
# staging removes the staged directory; a kill leaves it to the workflow's
# undo step (filestore-step.sh undo), which the mark makes safe.
set -eu
. "$(dirname "$0")/common.sh"
need BACKUP_FORMAT WORKSPACE FILESTORE_ROOT DB_NAME STAGING MARK
root="$FILESTORE_ROOT/filestore"
staging="$root/$STAGING"
live="$root/$DB_NAME"

if [ -f "$live/.odoo-operator-mark" ] && [ "$(cat "$live/.odoo-operator-mark")" = "$MARK" ]; then
    exec "$(dirname "$0")/filestore-step.sh"  # swapped by an earlier attempt
fi
staged=false
cleanup() { [ "$staged" = true ] || rm -rf "$staging" "$WORKSPACE/unzipped"; }
trap cleanup EXIT
trap 'exit 143' TERM INT

rm -rf "$staging" "$WORKSPACE/unzipped"
mkdir -p "$root"
artifact="$WORKSPACE/artifact"
if [ "$BACKUP_FORMAT" = zip ] && unzip -Z1 "$artifact" 2>/dev/null | grep -q '^filestore/.'; then
    mkdir -p "$WORKSPACE/unzipped"
    unzip -qq "$artifact" 'filestore/*' -d "$WORKSPACE/unzipped" || die "cannot extract the filestore"
    rm -f "$WORKSPACE/unzipped/filestore/.odoo-operator-mark" "$WORKSPACE/unzipped/filestore/.odoo-operator-empty"
    mv "$WORKSPACE/unzipped/filestore" "$staging"
    rm -rf "$WORKSPACE/unzipped"
    log "filestore unpacked: $(find "$staging" -type f | wc -l | tr -d ' ') files"
else
    mkdir "$staging"
    : >"$staging/.odoo-operator-empty"
    log "the backup holds no filestore: an empty one is staged"
fi
printf '%s\n' "$MARK" >"$staging/.odoo-operator-mark"
staged=true
ACTION=swap exec "$(dirname "$0")/filestore-step.sh"
