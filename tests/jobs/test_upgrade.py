"""Module upgrades end to end: OdooUpgradeJob in, a safety backup, a copy aside, odoo -u.

The real workflow and activities (tests/jobs/harness.py); the upgrade Job
runs the stand-in odoo in the instance's (stand-in) image. Covers:
- Upgrading: a safety backup to the job's safetyBackupDestination (named in
  status.safetyBackup, its object in S3) while web still serves, then web and
  cron at 0 (writes stop) and the live database copied aside as
  `<db>_pre_<8 hex>` (status.previousDatabase) while `odoo -d <db> -u mail -i
  fetchmail --stop-after-init` runs (the stand-in records the update in the
  database); then through Starting back to Running with the web pods started
  on the upgraded database (no rollout restart needed), cron back, and the
  copy removed once Running (status.previousRemovedAt);
- a scheduledTime a few seconds ahead: the resource waits Pending and the
  instance keeps Running until then, with no poke (the workflow wakes at
  that time), then it upgrades;
- a failing upgrade that installed a module before failing: the resource
  Failed with the step and the log tail, the copy swapped back (the marker
  rows exactly as before, the module not installed), nothing left aside and
  status.previousDatabase cleared, the instance back to Running through
  Starting, no restart;
- a safety backup whose destination S3 does not answer: the OdooBackupJob
  and the upgrade Failed saying so, nothing copied or upgraded (the marker
  rows as before, no `<db>_pre_*`, no upgrade Job), web and cron back.

The failures print `MATRIX <cell> <s>`: from the failure to Running again.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from activities import api
from sandbox import kubelet, processes
from specs import workloads
from tests.jobs import harness
from tests.markers import marker, write_marker

pytestmark = pytest.mark.timeout(600)


def _restarted_at(op: harness.Operator, name: str) -> str | None:
    body = op.kube.get(api.DEPLOYMENT, op.namespace, name)
    annotations = body["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations.get(workloads.RESTARTED_AT_ANNOTATION)


async def test_upgrade_backs_up_copies_aside_then_serves_the_upgraded_database(
    op: harness.Operator, bucket: str, kube_kubelet: kubelet.KubeletThread
) -> None:
    shop = await op.running_instance("shop")
    credentials = op.s3_secret()
    with shop.connect() as conn:
        before = write_marker(conn)
    name = op.create_job(
        "OdooUpgradeJob",
        {
            "odooInstanceRef": {"name": "shop"},
            "modules": ["mail"],
            "modulesInstall": ["fetchmail"],
            "safetyBackupDestination": op.destination(bucket, "shop/before.zip", credentials),
        },
    )
    kube_kubelet.hold(kubelet.pod_matcher(op.namespace, prefix=f"{name}-upgrade"))
    try:
        await shop.poke()
        await shop.wait_phase("Upgrading")
        job = await harness.eventually(
            lambda: op.kube.find(api.JOB, op.namespace, f"{name}-upgrade"), "upgrade Job"
        )
        # The Job's Pod is held: writes stopped, the safety backup and the copy made.
        assert (shop.replicas("shop"), shop.replicas("shop-cron")) == (0, 0)
        status = op.job("OdooUpgradeJob", name)["status"]
        safety = op.job("OdooBackupJob", status["safetyBackup"])
        assert safety["status"]["phase"] == "Completed"
        assert op.s3.client().head_object(bucket, "shop/before.zip") is not None
        copy = status["previousDatabase"]
        assert copy.startswith(f"{shop.database}_pre_")
        assert await asyncio.to_thread(_exists, op, copy)
    finally:
        kube_kubelet.release()
    command = job["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command == [
        "/entrypoint.sh",
        "odoo",
        "-u",
        "mail",
        "-i",
        "fetchmail",
        "-d",
        shop.database,
        "--no-http",
        "--stop-after-init",
    ]

    done = await op.wait_job("OdooUpgradeJob", name)
    assert done["status"]["phase"] == "Completed", done["status"]
    await shop.wait_phase("Running")
    assert (await shop.transitions())[-3:] == [
        "Running->Upgrading",
        "Upgrading->Starting",
        "Starting->Running",
    ]
    assert _restarted_at(op, "shop") is None  # its pods started on the upgraded database
    await harness.eventually(lambda: shop.replicas("shop-cron") == 1, "cron back")
    with shop.connect() as conn:
        installed = conn.execute(
            "SELECT state FROM ir_module_module WHERE name = 'fetchmail'"
        ).fetchone()
        assert marker(conn) == before
    assert installed == ("installed",)
    removed = await harness.eventually(
        lambda: op.job("OdooUpgradeJob", name)["status"].get("previousRemovedAt"),
        "the copy removed once Running",
    )
    assert removed
    assert not await asyncio.to_thread(_exists, op, copy)


async def test_scheduled_upgrade_waits_for_its_time(op: harness.Operator) -> None:
    shop = await op.running_instance("shop")
    when = datetime.now(UTC) + timedelta(seconds=12)
    name = op.create_job(
        "OdooUpgradeJob",
        {
            "odooInstanceRef": {"name": "shop"},
            "scheduledTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
    )
    await shop.poke()
    await op.wait_job("OdooUpgradeJob", name, "Pending")
    assert shop.status()["phase"] == "Running"
    # No poke from here on: the workflow wakes at scheduledTime by itself.
    done = await op.wait_job("OdooUpgradeJob", name)
    assert done["status"]["phase"] == "Completed", done["status"]
    started = datetime.fromisoformat(done["status"]["startTime"].replace("Z", "+00:00"))
    assert started >= when.replace(microsecond=0)


async def test_failed_upgrade_says_why_and_returns_to_running(op: harness.Operator) -> None:
    shop = await op.running_instance(
        "shop", extraEnv=[{"name": "STANDIN_ODOO_FAIL", "value": "upgrade"}]
    )
    with shop.connect() as conn:
        before = write_marker(conn)
    # The stand-in installs fetchmail, then fails the update: a half-done upgrade.
    name = op.create_job(
        "OdooUpgradeJob",
        {"odooInstanceRef": {"name": "shop"}, "modulesInstall": ["fetchmail"], "modules": ["mail"]},
    )
    await shop.poke()
    await harness.eventually(lambda: op.batch_job_failed(f"{name}-upgrade"), "the Job Failed")
    since = time.monotonic()
    done = await op.wait_job("OdooUpgradeJob", name)
    assert done["status"]["phase"] == "Failed"
    assert done["status"]["message"].startswith("step upgrade failed (exit code 1)")
    assert "upgrade failed (STANDIN_ODOO_FAIL)" in done["status"]["message"]
    assert "previousDatabase" not in done["status"]  # the copy is the live database again
    running = await shop.wait_phase("Running")
    print(f"MATRIX upgrade:upgrade-job:failed {time.monotonic() - since:.1f}s to Running")
    assert (await shop.transitions())[-3:] == [
        "Running->Upgrading",
        "Upgrading->Starting",
        "Starting->Running",
    ]
    assert _restarted_at(op, "shop") is None
    assert "rolled back" in running["message"]
    with shop.connect() as conn:  # the database as it was before the upgrade
        assert marker(conn) == before
        assert conn.execute(
            "SELECT count(*) FROM ir_module_module WHERE name = 'fetchmail'"
        ).fetchone() == (0,)
    leftovers = await asyncio.to_thread(_databases_like, op, f"{shop.database}_%")
    assert leftovers == []


async def test_an_upgrade_whose_safety_backup_cannot_reach_s3_changes_nothing(
    op: harness.Operator, bucket: str
) -> None:
    shop = await op.running_instance("shop")
    with shop.connect() as conn:
        before = write_marker(conn)
    credentials = op.s3_secret()
    closed = f"http://127.0.0.1:{processes.free_port('127.0.0.1')}"
    destination = {**op.destination(bucket, "shop/before.zip", credentials), "endpoint": closed}
    name = op.create_job(
        "OdooUpgradeJob",
        {"odooInstanceRef": {"name": "shop"}, "safetyBackupDestination": destination},
    )
    await shop.poke()
    safety = f"{name}-safety"
    await harness.eventually(lambda: op.batch_job_failed(f"{safety}-backup"), "the backup Failed")
    since = time.monotonic()
    done = await op.wait_job("OdooUpgradeJob", name)
    running = await shop.wait_phase("Running")
    print(f"MATRIX upgrade:safety-backup:s3-down {time.monotonic() - since:.1f}s to Running")
    status = done["status"]
    assert status["phase"] == "Failed"
    assert status["message"].startswith(f"safety backup {safety} failed"), status["message"]
    assert "cannot reach the S3 endpoint" in status["message"]
    assert f"upgrade {name} failed at the safety backup step" in running["message"]
    assert op.job("OdooBackupJob", safety)["status"]["phase"] == "Failed"
    await harness.eventually(lambda: shop.replicas("shop-cron") == 1, "cron back")
    assert shop.replicas("shop") == 1
    with shop.connect() as conn:
        assert marker(conn) == before
    assert await asyncio.to_thread(_databases_like, op, f"{shop.database}_%") == []  # no copy
    jobs = [j["metadata"]["name"] for j in op.kube.list_of(api.JOB, op.namespace)]
    assert [j for j in jobs if j.startswith(f"{name}-")] == [f"{safety}-backup"]  # no -u Job


def _exists(op: harness.Operator, database: str) -> bool:
    return bool(_databases_like(op, database))


def _databases_like(op: harness.Operator, pattern: str) -> list[str]:
    with psycopg.connect(op.postgres.dsn(), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s ORDER BY 1", (pattern,)
        ).fetchall()
    return [name for (name,) in rows]
