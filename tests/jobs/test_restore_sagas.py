"""Restores as sagas end to end: the real workflow, worker, control plane, PostgreSQL and S3.

A handful of the fault matrix's cells (issue 18, point 6) run through
everything (tests/jobs/harness.py: the Jobs' steps run as local processes);
the rest of the matrix is cheaper below (tests/activities/test_database_swap.py,
tests/scripts/test_restore_faults.py, tests/workflows/test_sagas.py). Each
cell writes a marker table into the Running instance's database first, then
checks after the failure: the marker exactly as before, the live filestore
as before, the instance Running again on them (dbInitialized true, the cause
in status.message), the job resource Failed saying why, no `<db>_restoring`
or kept-aside database or filestore left, one restore Job (plus its
filestore undo Job). Each prints `MATRIX <cell> <s>`: from the failure to
Running again.

Covers:
- neutralize running past the job's activeDeadlineSeconds: "deadline of 8 s
  exceeded at step neutralize", rolled back;
- PostgreSQL down for 30 s under the load step: the Job fails, the
  half-loaded copy its own cleanup could not drop is dropped by the workflow
  once PostgreSQL answers, rolled back;
- a restore over data that succeeds, from a zip without filestore: the
  safety backup first (to safetyBackupDestination, named in
  status.safetyBackup), the database and filestore replaced (the filestore
  by an empty one, said in a RestoreWithoutFilestore Warning Event), what was
  replaced kept aside (status.previousDatabase, previousFilestore) and
  removed once the instance is Running (previousRemovedAt).
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import psycopg
import pytest

from activities import api
from model import naming
from sandbox import postgres
from tests.jobs import harness
from tests.markers import Marker, marker, write_marker

pytestmark = pytest.mark.timeout(600)


async def _live(op: harness.Operator, **spec: Any) -> tuple[harness.Instance, Marker, set[str]]:
    """A Running instance with a marker table and a few filestore files."""
    shop = await op.running_instance("shop", **spec)
    with shop.connect() as conn:
        before = write_marker(conn)
    for i in range(3):
        path = shop.filestore / f"{i:02x}" / f"file{i}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(1024))
    return shop, before, _files(shop)


def _files(shop: harness.Instance) -> set[str]:
    return {
        str(p.relative_to(shop.filestore))
        for p in shop.filestore.rglob("*")
        if p.is_file() and not p.name.startswith(".odoo-operator-")
    }


def _leftovers(op: harness.Operator, shop: harness.Instance) -> list[str]:
    with psycopg.connect(op.postgres.dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s",
            (f"{shop.database}%", shop.database),
        ).fetchall()
    names = [name for (name,) in rows]
    root = shop.filestore.parent
    return names + [p.name for p in root.iterdir() if p.name != shop.database]


async def _rolled_back(
    op: harness.Operator,
    shop: harness.Instance,
    name: str,
    before: Marker,
    files: set[str],
    cell: str,
    since: float,
) -> dict[str, Any]:
    failed = await op.wait_job("OdooRestoreJob", name)
    assert failed["status"]["phase"] == "Failed"
    running = await shop.wait_phase("Running")
    print(f"MATRIX {cell} {time.monotonic() - since:.1f}s to Running")
    assert running["dbInitialized"] is True
    assert f"restore {name} failed" in running["message"]
    with shop.connect() as conn:
        assert marker(conn) == before
    assert _files(shop) == files
    assert await asyncio.to_thread(_leftovers, op, shop) == []
    restore_jobs = [
        job["metadata"]["name"]
        for job in op.kube.list_of(api.JOB, op.namespace)
        if job["metadata"]["name"].startswith(f"{name}-")
    ]
    assert sorted(restore_jobs) == [f"{name}-filestore-undo-1", f"{name}-restore"]
    return dict(failed["status"])


async def test_a_restore_past_its_deadline_is_rolled_back(
    op: harness.Operator, bucket: str
) -> None:
    sleepy = [{"name": "STANDIN_ODOO_SLEEP", "value": "neutralize:60"}]
    shop, before, files = await _live(op, extraEnv=sleepy)
    credentials = op.s3_secret()
    backup = op.create_job(
        "OdooBackupJob",
        {
            "odooInstanceRef": {"name": "shop"},
            "destination": op.destination(bucket, "shop/seed.zip", credentials),
        },
    )
    await shop.poke()
    assert (await op.wait_job("OdooBackupJob", backup))["status"]["phase"] == "Completed"
    await shop.wait_phase("Running")
    name = op.create_job(
        "OdooRestoreJob",
        {
            "odooInstanceRef": {"name": "shop"},
            "source": {"type": "s3", "s3": op.destination(bucket, "shop/seed.zip", credentials)},
            "activeDeadlineSeconds": 8,
            "safetyBackup": False,
        },
    )
    since = time.monotonic()
    await shop.poke()
    status = await _rolled_back(op, shop, name, before, files, "restore:neutralize:deadline", since)
    assert status["message"].startswith("deadline of 8 s exceeded at step neutralize")


async def test_postgres_down_30s_under_the_load_is_rolled_back_once_it_answers(
    op: harness.Operator, bucket: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    shop, before, files = await _live(op)
    credentials = op.s3_secret()
    with shop.connect() as conn:  # a backup big enough to be loading when PostgreSQL stops
        conn.execute(
            "CREATE TABLE x_big AS SELECT g AS id, repeat(md5(g::text), 4) AS body "
            "FROM generate_series(1, 150000) g"
        )
    seed = op.create_job(
        "OdooBackupJob",
        {
            "odooInstanceRef": {"name": "shop"},
            "destination": op.destination(bucket, "shop/big.zip", credentials),
        },
    )
    await shop.poke()
    assert (await op.wait_job("OdooBackupJob", seed))["status"]["phase"] == "Completed"
    await shop.wait_phase("Running")
    with shop.connect() as conn:
        conn.execute("DROP TABLE x_big")
    name = op.create_job(
        "OdooRestoreJob",
        {
            "odooInstanceRef": {"name": "shop"},
            "source": {"type": "s3", "s3": op.destination(bucket, "shop/big.zip", credentials)},
            "safetyBackup": False,
        },
    )
    await shop.poke()
    copy = naming.restore_database_name(shop.database)
    await harness.eventually(
        lambda: _database_exists(postgres_server, copy), "the load started", deadline=120
    )
    await asyncio.to_thread(postgres_server.stop)
    since = time.monotonic()
    try:
        # The Job fails (the resource stays Running: the undo waits for PostgreSQL).
        await harness.eventually(lambda: op.batch_job_failed(f"{name}-restore"), "the Job Failed")
        # The fault lasts 30 s (its length, not a wait for a condition).
        await asyncio.sleep(max(0.0, 30 - (time.monotonic() - since)))
    finally:
        await asyncio.to_thread(postgres_server.start)
    await _rolled_back(op, shop, name, before, files, "restore:load:postgres-down-30s", since)


async def test_a_restore_over_data_backs_up_swaps_keeps_aside_then_removes(
    op: harness.Operator, bucket: str
) -> None:
    shop, before, _ = await _live(op)
    credentials = op.s3_secret()
    seed = op.create_job(
        "OdooBackupJob",
        {
            "odooInstanceRef": {"name": "shop"},
            "destination": op.destination(bucket, "shop/nofiles.zip", credentials),
            "withFilestore": False,
        },
    )
    await shop.poke()
    assert (await op.wait_job("OdooBackupJob", seed))["status"]["phase"] == "Completed"
    await shop.wait_phase("Running")
    with shop.connect() as conn:
        conn.execute("INSERT INTO x_marker (id, value) VALUES (0, 'after the backup')")
    name = op.create_job(
        "OdooRestoreJob",
        {
            "odooInstanceRef": {"name": "shop"},
            "source": {
                "type": "s3",
                "s3": op.destination(bucket, "shop/nofiles.zip", credentials),
            },
            "safetyBackupDestination": op.destination(bucket, "shop/safety.zip", credentials),
        },
    )
    await shop.poke()
    done = await op.wait_job("OdooRestoreJob", name)
    assert done["status"]["phase"] == "Completed", done["status"]
    await shop.wait_phase("Running")
    with shop.connect() as conn:
        assert marker(conn) == before  # the rows of the backup: without the later one
    assert _files(shop) == set()  # the backup held no filestore
    status = done["status"]
    assert op.job("OdooBackupJob", status["safetyBackup"])["status"]["phase"] == "Completed"
    assert op.s3.client().head_object(bucket, "shop/safety.zip") is not None
    assert status["previousDatabase"].startswith(f"{shop.database}_pre_")
    assert status["previousFilestore"].startswith(f".{shop.database}.pre-")
    await harness.eventually(
        lambda: op.job("OdooRestoreJob", name)["status"].get("previousRemovedAt"),
        "what it kept aside removed once Running",
    )
    assert await asyncio.to_thread(_leftovers, op, shop) == []
    events = await asyncio.to_thread(op.kube.list_of, api.EVENT, op.namespace)
    reasons = {e["reason"]: e for e in events if e["involvedObject"]["name"] == "shop"}
    assert reasons["RestoreWithoutFilestore"]["type"] == "Warning"
    assert "replaced by an empty one" in reasons["RestoreWithoutFilestore"]["message"]
    assert reasons["PreviousDataRemoved"]["type"] == "Normal"


def _database_exists(server: postgres.EmbeddedPostgres, name: str) -> bool:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None
