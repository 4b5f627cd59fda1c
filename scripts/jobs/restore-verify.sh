#!/bin/sh
# Restore step 5 (tools image): verify the restored copy before anything is swapped.
#
# Env: PGHOST PGPORT PGUSER PGPASSWORD (the instance's role); TEMP_DB;
#      NEUTRALIZE true|false; WORKSPACE; MAINTENANCE_DB.
# When NEUTRALIZE is true, step 4 ran `odoo neutralize` on TEMP_DB in the
# instance's image (its log in $WORKSPACE/neutralize.log, a failure marked by
# $WORKSPACE/neutralize.failed); this step then refuses a database that is not
# marked neutralized or still has an active outgoing mail server (other than
# Odoo's 'invalid' placeholder) or an active incoming (fetchmail) server.
# It swaps nothing: the filestore step stages and swaps the filestore, and
# the workflow swaps the database in afterwards (an activity with the
# cluster's admin connection). Any failure drops TEMP_DB, so the live
# database and filestore stay as they were.
set -eu
. "$(dirname "$0")/common.sh"
need TEMP_DB WORKSPACE PGHOST PGUSER
maintenance="${MAINTENANCE_DB:-postgres}"

admin() { psql -X -q -v ON_ERROR_STOP=1 -v temp="$TEMP_DB" -d "$maintenance"; }
verified=false
cleanup() {
    if [ "$verified" != true ]; then
        log "dropping $TEMP_DB: the restore did not complete"
        printf 'DROP DATABASE IF EXISTS :"temp" WITH (FORCE);\n' | admin ||
            log "could not drop $TEMP_DB; the operator drops it when it records the failure"
    fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

exists="$(psql -X -A -t -q -v temp="$TEMP_DB" -d "$maintenance" <<'SQL'
SELECT count(*) FROM pg_database WHERE datname = :'temp';
SQL
)" || die "cannot connect to PostgreSQL at ${PGHOST}:${PGPORT:-5432} as $PGUSER"
[ "$exists" = 1 ] || die "$TEMP_DB does not exist (the load step did not finish)"

if is_true "${NEUTRALIZE:-true}"; then
    if [ -f "$WORKSPACE/neutralize.failed" ]; then
        tail -n 15 "$WORKSPACE/neutralize.log" >&2 2>/dev/null || true
        die "odoo neutralize failed (exit $(cat "$WORKSPACE/neutralize.failed")): the restored copy is not swapped in"
    fi
    [ -f "$WORKSPACE/neutralize.log" ] || die "the neutralize step did not run"
    problems="$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$TEMP_DB" <<'SQL'
SELECT 'the database is not marked neutralized (database.is_neutralized)'
 WHERE NOT EXISTS (SELECT 1 FROM ir_config_parameter
                    WHERE key = 'database.is_neutralized' AND lower(value) = 'true')
UNION ALL
SELECT 'outgoing mail server "' || name || '" (' || coalesce(smtp_host, '') || ') is still active'
  FROM ir_mail_server WHERE active AND coalesce(smtp_host, '') <> 'invalid';
SQL
)" || die "cannot verify the neutralization of $TEMP_DB"
    # Incoming mail servers exist only where the fetchmail feature is installed.
    if [ -n "$(psql -X -A -t -q -d "$TEMP_DB" -c "SELECT to_regclass('fetchmail_server')")" ]; then
        incoming="$(psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$TEMP_DB" -c \
            "SELECT 'incoming mail server \"' || name || '\" is still active' FROM fetchmail_server WHERE active")" ||
            die "cannot verify the incoming mail servers of $TEMP_DB"
        problems="$(printf '%s\n%s' "$problems" "$incoming")"
    fi
    problems="$(printf '%s\n' "$problems" | sed '/^$/d')"
    if [ -n "$problems" ]; then
        printf '%s\n' "$problems" >&2
        die "neutralization incomplete: $(printf '%s' "$problems" | head -n 1)"
    fi
    log "verified: neutralized, no active outgoing or incoming mail server"
fi
verified=true
log "the restored copy $TEMP_DB is ready to be swapped in"
