"""Good backup artifacts made once per module, without Jobs, to break in tests.

`make_artifacts` creates a database with the stand-in odoo and some rows, then
runs the backup's dump and package scripts as plain processes (the same
scripts the Jobs run) and returns each format's artifact.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from sandbox import postgres
from tests.fixtures.jobs import SCRIPTS, STANDINS


def make_artifacts(server: postgres.EmbeddedPostgres, work: Path) -> dict[str, bytes]:
    role = f"odoo.artifacts.{uuid.uuid4().hex[:6]}"
    password = secrets.token_hex(12)
    database = f"source_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    env = {
        "PATH": os.pathsep.join([str(STANDINS), str(server.bin_dir), os.environ["PATH"]]),
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "PGUSER": role,
        "PGPASSWORD": password,
        "DB_NAME": database,
        "LANG": "C.UTF-8",
    }
    subprocess.run(["odoo", "-d", database, "-i", "base,mail"], env=env, check=True)
    with psycopg.connect(
        host=server.host, port=server.port, user=role, password=password, dbname=database
    ) as conn:
        conn.execute("CREATE TABLE x_records (id serial PRIMARY KEY, name text)")
        conn.execute(
            "INSERT INTO x_records (name) SELECT 'record ' || g FROM generate_series(1, 2000) g"
        )
    artifacts: dict[str, bytes] = {}
    for fmt in ("zip", "sql", "dump"):
        workspace = work / fmt
        workspace.mkdir(parents=True)
        step_env = {**env, "WORKSPACE": str(workspace), "BACKUP_FORMAT": fmt}
        for script in ("backup-dump.sh", "backup-package.sh"):
            subprocess.run([str(SCRIPTS / script)], env=step_env, check=True, capture_output=True)
        artifacts[fmt] = (workspace / "artifact").read_bytes()
    return artifacts
