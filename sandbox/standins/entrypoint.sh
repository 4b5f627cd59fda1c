#!/bin/sh
# Stand-in for the official Odoo image's /entrypoint.sh (tests and the sandbox).
#
# The real one turns HOST, PORT, USER and PASSWORD into --db_host/--db_port/
# --db_user/--db_password and execs odoo; this one hands them to the stand-in
# `odoo` as libpq's PG* variables instead (no password on a command line).
set -eu
[ "${1:-}" = odoo ] && shift
export PGHOST="${HOST:-${PGHOST:-}}" PGPORT="${PORT:-${PGPORT:-5432}}"
export PGUSER="${USER:-${PGUSER:-}}" PGPASSWORD="${PASSWORD:-${PGPASSWORD:-}}"
exec odoo "$@"
