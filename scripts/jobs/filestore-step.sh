#!/bin/sh
# A restore's filestore step (tools image): swap, undo or discard, by two renames.
#
# Env: FILESTORE_ROOT (the filestore volume, Odoo's data_dir); DB_NAME; STAGING
#      and ASIDE: directory names beside filestore/<db> (the staged one, and where
#      the replaced one is kept); MARK: the operation's mark, which the extract
#      step wrote into the staged filestore (.odoo-operator-mark); ACTION:
#        swap     the staged filestore becomes filestore/<db>, the live one is kept
#                 as ASIDE (the restore Job's last step);
#        undo     the marked filestore goes (it leaves filestore/<db>, then is
#                 removed with any staged one) and ASIDE comes back;
#        discard  ASIDE is removed and the live one unmarked (the restore succeeded).
#      TERMINATION_LOG (optional): where the swap reports what it put in place.
# Every action is idempotent and resumes where a killed attempt stopped: the
# mark tells whether filestore/<db> is the operation's (swapped in) or the
# previous one, whatever directories a crash left.
set -eu
. "$(dirname "$0")/common.sh"
need FILESTORE_ROOT DB_NAME STAGING ASIDE MARK ACTION
root="$FILESTORE_ROOT/filestore"
live="$root/$DB_NAME"
staging="$root/$STAGING"
aside="$root/$ASIDE"

ours() { [ -f "$1/.odoo-operator-mark" ] && [ "$(cat "$1/.odoo-operator-mark")" = "$MARK" ]; }
report() {
    log "$*"
    [ -z "${TERMINATION_LOG:-}" ] || printf '%s\n' "$*" >"$TERMINATION_LOG" 2>/dev/null || true
}

case "$ACTION" in
swap)
    if ours "$live"; then
        log "the staged filestore is in place already"
    else
        ours "$staging" || die "no staged filestore of this restore at $staging"
        if [ -e "$live" ]; then
            [ ! -e "$aside" ] || die "$aside exists already: cannot keep the live filestore aside"
            mv "$live" "$aside"
        fi
        mv "$staging" "$live"
    fi
    # The first word is read by the workflow (workflows.restore.FILESTORE_EMPTY).
    if [ -f "$live/.odoo-operator-empty" ]; then
        report "filestore=empty: the backup holds no filestore; replaced by an empty one"
    else
        report "filestore=files: replaced by the backup's ($(find "$live" -type f ! -name '.odoo-operator-*' | wc -l | tr -d ' ') files)"
    fi
    ;;
undo)
    if ours "$live"; then
        rm -rf "$staging"
        mv "$live" "$staging"
    fi
    if [ ! -e "$live" ] && [ -e "$aside" ]; then
        mv "$aside" "$live"
    fi
    rm -rf "$staging"
    log "the previous filestore is in place; the staged one is removed"
    ;;
discard)
    rm -rf "$aside"
    if ours "$live"; then
        rm -f "$live/.odoo-operator-mark" "$live/.odoo-operator-empty"
    fi
    log "the previous filestore is removed"
    ;;
*) die "unknown ACTION '$ACTION' (swap, undo or discard)" ;;
esac
