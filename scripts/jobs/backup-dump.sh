#!/bin/sh
# Backup step 1 (tools image): dump the instance's database into the workspace.
#
# Env: PGHOST PGPORT PGUSER (ConfigMap) and PGPASSWORD (secretKeyRef): the
#      instance's own role; DB_NAME; BACKUP_FORMAT zip|sql|dump; WORKSPACE.
#      ODOO_VERSION (optional): the manifest's version when the database has
#      no installed `base` module to tell it.
# Writes: $WORKSPACE/dump.sql (zip, sql) or $WORKSPACE/dump.dump (dump); for zip
#      also $WORKSPACE/manifest.json, as Odoo's database manager writes it
#      (odoo_dump, db_name, version, version_info, major_version, pg_version,
#      modules: {name: latest_version} of the installed modules).
set -eu
. "$(dirname "$0")/common.sh"
need DB_NAME BACKUP_FORMAT WORKSPACE PGHOST PGUSER
check_tools "$DB_NAME" pg_dump psql

case "$BACKUP_FORMAT" in
dump) out="$WORKSPACE/dump.dump" pg_format=custom ;;
zip | sql) out="$WORKSPACE/dump.sql" pg_format=plain ;;
*) die "unknown BACKUP_FORMAT '$BACKUP_FORMAT' (zip, sql or dump)" ;;
esac

log "dumping database $DB_NAME (PostgreSQL $SERVER_MAJOR) as $BACKUP_FORMAT"
# Written under a temporary name: a dump cut short never looks finished.
watch_size "$out.part"
pg_dump --format="$pg_format" --no-owner --no-acl --dbname="$DB_NAME" --file="$out.part" ||
    { stop_watch; die "pg_dump of database $DB_NAME failed (see its messages above)"; }
stop_watch
mv "$out.part" "$out"
size="$(wc -c <"$out" | tr -d ' ')"
progress "$size" "$size"
log "dump written: $size bytes"

if [ "$BACKUP_FORMAT" = zip ]; then
    psql -X -A -t -q -v ON_ERROR_STOP=1 -v fallback="${ODOO_VERSION:-}" -d "$DB_NAME" \
        >"$WORKSPACE/manifest.json" <<'SQL' || die "cannot read the installed modules of $DB_NAME"
WITH installed AS (
    SELECT name, latest_version FROM ir_module_module WHERE state = 'installed'
    UNION ALL SELECT NULL, NULL WHERE to_regclass('ir_module_module') IS NULL
), base AS (
    SELECT coalesce(
        (SELECT split_part(latest_version, '.', 1) || '.' || split_part(latest_version, '.', 2)
           FROM installed WHERE name = 'base'),
        nullif(:'fallback', '')) AS version
)
SELECT json_build_object(
    'odoo_dump', '1',
    'db_name', current_database(),
    'version', base.version,
    'version_info', CASE WHEN base.version IS NULL THEN NULL ELSE json_build_array(
        split_part(base.version, '.', 1)::int, split_part(base.version, '.', 2)::int,
        0, 'final', 0, '') END,
    'major_version', base.version,
    'pg_version', split_part(current_setting('server_version'), ' ', 1),
    'modules', (SELECT coalesce(json_object_agg(name, latest_version), '{}'::json)
                  FROM installed WHERE name IS NOT NULL)
) FROM base;
SQL
    log "manifest written"
fi
