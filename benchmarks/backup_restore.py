"""How long a backup and a restore of a ~100 MB database take, per format.

Runs the Job scripts (scripts/jobs/) as local processes, step after step,
with the environment their Job containers get, against the embedded
PostgreSQL 18 and the versitygw S3 server: backup = dump, package, upload;
restore = download, extract, load (into <db>_restoring, re-identified),
neutralize (the stand-in odoo), verify, filestore (stage and swap the
filestore), then the workflow's database swap (activities.databases, as the
cluster's admin). No Kubernetes:
the figures are the steps' own cost (a Job adds a second or two of Pod
scheduling). The database is built by the stand-in odoo plus a table of
`--megabytes` of text rows (about half of it compressible) and a filestore
of `--filestore-megabytes` of random files. Prints figures; asserts nothing.

    .venv/bin/python -m benchmarks.backup_restore --megabytes 100
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql
from pydantic import SecretStr

from activities import databases
from activities.clusters import Cluster
from model import naming
from sandbox import postgres, s3

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts" / "jobs"
STANDINS = ROOT / "sandbox" / "standins"


def run(step: str, env: dict[str, str]) -> float:
    started = time.monotonic()
    result = subprocess.run(
        [str(SCRIPTS / step)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"{step} failed:\n{result.stdout}\n{result.stderr}")
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megabytes", type=int, default=100)
    parser.add_argument("--filestore-megabytes", type=int, default=10)
    parser.add_argument("--formats", default="zip,sql,dump")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="backup-bench-"))
    with postgres.EmbeddedPostgres() as server, s3.S3Server(work / "s3") as store:
        store.create_bucket("bench")
        role, password = "odoo.bench.prod", secrets.token_hex(12)
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(password)
                )
            )
        base = {
            "PATH": os.pathsep.join(
                [str(STANDINS), str(server.bin_dir), str(store.client_path), os.environ["PATH"]]
            ),
            "LANG": "C.UTF-8",
            "HOME": str(work),
            "PGHOST": server.host,
            "PGPORT": str(server.port),
            "PGUSER": role,
            "PGPASSWORD": password,
            "S3_ENDPOINT": store.endpoint,
            "S3_BUCKET": "bench",
            "AWS_ACCESS_KEY_ID": store.access_key,
            "AWS_SECRET_ACCESS_KEY": store.secret_key,
        }
        cluster = Cluster(
            name="bench",
            host=server.host,
            port=server.port,
            admin_user=server.admin_user,
            admin_password=SecretStr(server.admin_password),
        )
        source = "bench_source"
        subprocess.run(["odoo", "-d", source, "-i", "base,mail"], env=base, check=True)
        rows = args.megabytes * 1024 * 1024 // 230
        with psycopg.connect(
            host=server.host,
            port=server.port,
            user=role,
            password=password,
            dbname=source,
            autocommit=True,
        ) as conn:
            conn.execute("CREATE TABLE x_records (id serial PRIMARY KEY, name text, body text)")
            conn.execute(
                "INSERT INTO x_records (name, body) SELECT 'record ' || g, "
                "repeat(md5(g::text), 3) || md5(random()::text) || md5(random()::text) "
                "FROM generate_series(1, %s) g",
                (rows,),
            )
            conn.execute("VACUUM ANALYZE x_records")
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        filestore_root = work / "filestore-src"
        files = filestore_root / "filestore" / source
        for i in range(args.filestore_megabytes):
            path = files / f"{i:02x}" / f"file{i}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(1024 * 1024))
        print(
            f"database {source}: {size[0] / 1024 / 1024:.0f} MB "  # type: ignore[index]
            f"({rows} rows), filestore {args.filestore_megabytes} MB"
        )

        for fmt in args.formats.split(","):
            workspace = work / f"backup-{fmt}"
            workspace.mkdir()
            key = f"bench/{uuid.uuid4().hex[:6]}.{fmt}"
            env = {
                **base,
                "DB_NAME": source,
                "BACKUP_FORMAT": fmt,
                "WORKSPACE": str(workspace),
                "FILESTORE": str(files),
                "WITH_FILESTORE": "true",
                "S3_KEY": key,
            }
            backup = {s: run(f"backup-{s}.sh", env) for s in ("dump", "package", "upload")}
            artifact = (workspace / "artifact").stat().st_size

            target = f"bench_target_{fmt}"
            restore_ws = work / f"restore-{fmt}"
            restore_ws.mkdir()
            target_root = work / f"filestore-{fmt}"
            uid = str(uuid.uuid4())
            env = {
                **base,
                "SOURCE_TYPE": "s3",
                "DB_NAME": target,
                "TEMP_DB": naming.restore_database_name(target),
                "BACKUP_FORMAT": fmt,
                "WORKSPACE": str(restore_ws),
                "FILESTORE_ROOT": str(target_root),
                "STAGING": naming.filestore_staging_dir(target),
                "ASIDE": naming.filestore_aside_dir(target, uid),
                "MARK": naming.operation_mark("restore", uid),
                "S3_KEY": key,
                "REIDENTIFY": "true",
                "NEUTRALIZE": "true",
            }
            restore = {s: run(f"restore-{s}.sh", env) for s in ("download", "extract", "load")}
            started = time.monotonic()
            with (restore_ws / "neutralize.log").open("w") as log:
                subprocess.run(
                    ["odoo", "neutralize", "-d", env["TEMP_DB"]],
                    env=env,
                    stdout=log,
                    stderr=log,
                    check=True,
                )
            restore["neutralize"] = time.monotonic() - started
            restore["verify"] = run("restore-verify.sh", env)
            restore["filestore"] = run("restore-filestore.sh", env)
            started = time.monotonic()
            databases.Databases().swap_in(
                cluster,
                live=target,
                incoming=env["TEMP_DB"],
                aside=naming.aside_database_name(target, uid),
                mark=env["MARK"],
            )
            restore["swap"] = time.monotonic() - started
            print(
                f"{fmt:5} artifact {artifact / 1024 / 1024:6.1f} MB | backup "
                f"{sum(backup.values()):5.1f} s ("
                + ", ".join(f"{k} {v:.1f}" for k, v in backup.items())
                + f") | restore {sum(restore.values()):5.1f} s ("
                + ", ".join(f"{k} {v:.1f}" for k, v in restore.items())
                + ")"
            )


if __name__ == "__main__":
    main()
