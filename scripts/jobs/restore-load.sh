#!/bin/sh
# Restore step 3 (tools image): load the dump into a temporary database.
#
# Env: PGHOST PGPORT PGUSER (ConfigMap) and PGPASSWORD (secretKeyRef): the
#      instance's own role (it has CREATEDB); DB_NAME: the instance's database;
#      TEMP_DB: where the backup is loaded, swapped in by the finalize step;
#      BACKUP_FORMAT zip|sql|dump; WORKSPACE; REIDENTIFY true|false: give the
#      copy a new database.uuid, database.secret and database.create_date (as
#      Odoo's database manager does for a copy), so it is never mistaken for
#      its source; MAINTENANCE_DB (default postgres): where CREATE/DROP run.
# The instance's database is not touched here. On any failure the temporary
# database is dropped: no half-restored database is left behind.
set -eu
. "$(dirname "$0")/common.sh"
need DB_NAME TEMP_DB BACKUP_FORMAT WORKSPACE PGHOST PGUSER
maintenance="${MAINTENANCE_DB:-postgres}"
check_tools "$maintenance" psql pg_restore

case "$BACKUP_FORMAT" in
dump)
    dump="$WORKSPACE/dump.dump"
    source_major="$(pg_restore --list "$dump" | sed -n 's/^;[[:space:]]*Dumped from database version: \([0-9]*\).*/\1/p' | head -n 1)"
    ;;
zip | sql)
    dump="$WORKSPACE/dump.sql"
    source_major="$(head -n 40 "$dump" | sed -n 's/^-- Dumped from database version \([0-9]*\).*/\1/p' | head -n 1)"
    ;;
*) die "unknown BACKUP_FORMAT '$BACKUP_FORMAT' (zip, sql or dump)" ;;
esac
[ -f "$dump" ] || die "no $(basename "$dump") in the workspace (the extract step did not finish)"
if [ -n "$source_major" ] && [ "$source_major" -gt "$SERVER_MAJOR" ]; then
    die "the backup comes from PostgreSQL $source_major, newer than this cluster's PostgreSQL $SERVER_MAJOR: restore it into a cluster of version $source_major or newer"
fi

admin() { psql -X -q -v ON_ERROR_STOP=1 -v temp="$TEMP_DB" -d "$maintenance"; }
drop_temp() {
    printf 'DROP DATABASE IF EXISTS :"temp" WITH (FORCE);\n' | admin
}
loaded=false
cleanup() {
    if [ "$loaded" != true ]; then
        log "dropping the half-loaded database $TEMP_DB"
        drop_temp || log "could not drop $TEMP_DB; the operator drops it when it records the failure"
    fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT

drop_temp || die "cannot drop a leftover $TEMP_DB"
printf 'CREATE DATABASE :"temp" TEMPLATE template0 ENCODING %s;\n' "'UTF8'" | admin ||
    die "cannot create database $TEMP_DB as $PGUSER (the role needs CREATEDB)"

log "loading the $BACKUP_FORMAT backup into $TEMP_DB"
if [ "$BACKUP_FORMAT" = dump ]; then
    # How far: the tables whose data pg_restore loaded, of those the archive holds.
    tables="$(pg_restore --list "$dump" | grep -c ' TABLE DATA ' || true)"
    progress 0 "$tables" tables
    restored="${TMPDIR:-/tmp}/pg_restore.status.$$"
    {
        pg_restore --verbose --no-owner --no-acl --exit-on-error --dbname="$TEMP_DB" "$dump" 2>&1
        echo $? >"$restored"
    } | LC_ALL=C awk -v total="$tables" -v step="$STEP" '
        /processing data for table/ { printf "progress: step=%s tables=%d total=%d\n", step, ++done, total; next }
        /^pg_restore: (creating|processing|connecting|executing|dropping)/ { next }
        { print }' >&2
    [ "$(cat "$restored")" = 0 ] ||
        die "pg_restore failed (see its messages above): the archive is corrupt or truncated, or needs what this cluster lacks"
else
    # Statements that name roles or need a superuser have no meaning in another
    # cluster: ownership and grants (the loading role owns everything),
    # comments on extensions, and settings older servers do not know.
    sed -e '/^SET transaction_timeout/d' \
        -e '/^ALTER [A-Z ]* OWNER TO .*;$/d' \
        -e '/^GRANT .*;$/d' -e '/^REVOKE .*;$/d' \
        -e '/^REASSIGN OWNED BY .*;$/d' -e '/^COMMENT ON EXTENSION .*;$/d' "$dump" |
        count_bytes "$(wc -c <"$dump" | tr -d ' ')" |
        psql -X -q -v ON_ERROR_STOP=1 -d "$TEMP_DB" >/dev/null ||
        die "loading the SQL dump failed (see the psql message above)"
fi

if is_true "${REIDENTIFY:-true}"; then
    psql -X -q -v ON_ERROR_STOP=1 -d "$TEMP_DB" <<'SQL' || die "cannot re-identify $TEMP_DB (is it an Odoo database?)"
BEGIN;
DELETE FROM ir_config_parameter
 WHERE key IN ('database.uuid', 'database.secret', 'database.create_date');
INSERT INTO ir_config_parameter (key, value, create_uid, create_date, write_uid, write_date)
SELECT key, value, 1, now() AT TIME ZONE 'UTC', 1, now() AT TIME ZONE 'UTC'
  FROM (VALUES ('database.uuid', gen_random_uuid()::text),
               ('database.secret', gen_random_uuid()::text),
               ('database.create_date', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')))
       AS fresh (key, value);
COMMIT;
SQL
    log "re-identified: new database.uuid, database.secret and database.create_date"
fi
loaded=true
log "loaded into $TEMP_DB"
