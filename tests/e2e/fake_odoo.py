"""A stand-in for the `odoo` binary of init Job Pods: what `odoo -i ... -d <db>` does to PostgreSQL.

Not a test module. The simulated kubelet runs an init Job's Pod with
`sandbox.podrunner.LocalPodRunner`: the Pod's command
(`/entrypoint.sh odoo -i base -d <db> ...`) runs locally with the Pod's
environment resolved from its ConfigMap and Secret (HOST, PORT, USER,
PASSWORD). Like Odoo's init, this logs in as the instance's role with that
password and creates the database (if it is not there yet); its exit code is
the Pod's. Odoo itself (modules, the filestore) is not simulated.
"""

from __future__ import annotations

import argparse
import os
import sys

import psycopg
from psycopg import sql


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="odoo")
    parser.add_argument("-d", dest="database", required=True)
    parser.add_argument("-i", dest="modules", default="base")
    args, _ = parser.parse_known_args(argv)
    login = {
        "host": os.environ["HOST"],
        "port": os.environ["PORT"],
        "user": os.environ["USER"],
        "password": os.environ["PASSWORD"],
    }
    with psycopg.connect(dbname="postgres", autocommit=True, connect_timeout=10, **login) as conn:
        row = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (args.database,)
        ).fetchone()
        if row is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(args.database)))
    print(f"odoo (e2e stand-in): database {args.database} initialized with {args.modules}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
