"""Backups and restores of instances, end to end: job resources in, Jobs run, status out.

The real workflow and activities (tests/jobs/harness.py) with Job Pods that
run the step scripts. Covers:
- an OdooBackupJob applied to a Running instance: BackingUp without scaling
  anything, one batch Job `<name>-backup`, the resource Pending -> Running ->
  Completed with jobName, startTime, completionTime and a message naming the
  object; back to Running; the object in S3;
- an OdooRestoreJob for a fresh instance (init disabled): Restoring with web
  and cron at 0, then Starting with dbInitialized true, then Running; rows
  and filestore identical to the source, neutralized; Odoo's report.url and
  web.base.url the instance's own (http://staging:8069 and its public URL),
  not the source's, which the database the stand-in odoo initialised for
  prod holds;
- a restore that fails (an object that is no backup) on the instance restored before:
  rolled back, Running again on the same rows with dbInitialized true (a
  failed restore never makes an instance Uninitialized), the resource Failed
  with the failing step and the script's message, the instance's
  status.message saying so, no database left behind.
"""

from __future__ import annotations

import asyncio
import os

import pytest

from model import naming
from tests.jobs import harness

pytestmark = pytest.mark.timeout(600)


def _fill(instance: harness.Instance) -> None:
    with instance.connect() as conn:
        conn.execute("CREATE TABLE x_records (id serial PRIMARY KEY, name text)")
        conn.execute("INSERT INTO x_records (name) SELECT 'r' || g FROM generate_series(1, 300) g")
        conn.execute(
            "INSERT INTO ir_mail_server (name, smtp_host) VALUES ('prod', 'smtp.example.com')"
        )
    for i in range(5):
        path = instance.filestore / f"a{i}" / f"a{i}file"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(500 + i))


def _rows(instance: harness.Instance) -> list[tuple[object, ...]]:
    with instance.connect() as conn:
        return list(conn.execute("SELECT id, name FROM x_records ORDER BY id"))


async def test_backup_then_restore_into_a_fresh_instance(op: harness.Operator, bucket: str) -> None:
    prod = await op.running_instance("prod", replicas=1)
    assert await asyncio.to_thread(_urls, prod) == {
        "report.url": "http://prod:8069",
        "web.base.url": "https://prod.example.com",
    }
    await asyncio.to_thread(_fill, prod)
    credentials = op.s3_secret()

    backup = op.create_job(
        "OdooBackupJob",
        {
            "odooInstanceRef": {"name": "prod"},
            "destination": op.destination(bucket, "prod/first.zip", credentials),
        },
    )
    await prod.poke()
    done = await op.wait_job("OdooBackupJob", backup)
    status = done["status"]
    assert status["phase"] == "Completed", status
    assert status["jobName"] == f"{backup}-backup"
    assert status["startTime"]
    assert status["completionTime"]
    assert status["message"] == f"backup uploaded to s3://{bucket}/prod/first.zip"
    await prod.wait_phase("Running")
    assert "Running->BackingUp" in await prod.transitions()
    assert prod.replicas("prod") == 1
    assert prod.replicas("prod-cron") == 1
    assert op.s3.client().head_object(bucket, "prod/first.zip") is not None

    staging = await op.create_instance("staging", init={"enabled": False})
    await staging.wait_phase("Uninitialized")
    restore = op.create_job(
        "OdooRestoreJob",
        {
            "odooInstanceRef": {"name": "staging"},
            "source": {"type": "s3", "s3": op.destination(bucket, "prod/first.zip", credentials)},
        },
    )
    await staging.poke()
    await staging.wait_phase("Restoring")
    assert staging.replicas("staging") == 0
    assert staging.replicas("staging-cron") == 0
    done = await op.wait_job("OdooRestoreJob", restore)
    assert done["status"]["phase"] == "Completed", done["status"]
    started = await staging.wait_phase("Running")
    assert started["dbInitialized"] is True
    assert _rows(staging) == _rows(prod)
    # The restore's last step, once Running, unmarks the filestore it swapped in
    # (and removes what it kept aside): then it is the backup's, file for file.
    await harness.eventually(
        lambda: op.job("OdooRestoreJob", restore)["status"].get("previousRemovedAt"),
        "the restore's filestore discard step",
    )
    assert harness_files(staging) == harness_files(prod)
    with staging.connect() as conn:
        neutralized = conn.execute(
            "SELECT value FROM ir_config_parameter WHERE key = 'database.is_neutralized'"
        ).fetchone()
        assert neutralized == ("true",)
    assert await asyncio.to_thread(_urls, staging) == {
        "report.url": "http://staging:8069",
        "web.base.url": "https://staging.example.com",
    }

    await asyncio.to_thread(op.s3.client().put_object, bucket, "prod/junk.zip", b"no zip")
    failing = op.create_job(
        "OdooRestoreJob",
        {
            "odooInstanceRef": {"name": "staging"},
            "source": {"type": "s3", "s3": op.destination(bucket, "prod/junk.zip", credentials)},
        },
    )
    await staging.poke()
    failed = await op.wait_job("OdooRestoreJob", failing)
    assert failed["status"]["phase"] == "Failed"
    assert failed["status"]["message"].startswith("step extract failed (exit code 1)"), failed[
        "status"
    ]["message"]
    running = await staging.wait_phase("Running")
    assert running["dbInitialized"] is True
    assert f"restore {failing} failed at the restore Job step, rolled back" in running["message"]
    assert _rows(staging) == _rows(prod)
    assert not await asyncio.to_thread(_exists, op, naming.restore_database_name(staging.database))


def _urls(instance: harness.Instance) -> dict[str, str]:
    with instance.connect() as conn:
        rows = conn.execute(
            "SELECT key, value FROM ir_config_parameter WHERE key IN ('report.url', 'web.base.url')"
        ).fetchall()
    return dict(rows)


def harness_files(instance: harness.Instance) -> dict[str, bytes]:
    root = instance.filestore
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _exists(op: harness.Operator, database: str) -> bool:
    import psycopg

    with psycopg.connect(op.postgres.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
    return row is not None
