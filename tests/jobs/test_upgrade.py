"""Module upgrades end to end: OdooUpgradeJob in, odoo -u in a Job, web restarted.

The real workflow and activities (tests/jobs/harness.py); the upgrade Job
runs the stand-in odoo in the instance's (stand-in) image. Covers:
- Upgrading: cron at 0 while web keeps serving; `odoo -d <db> -u mail -i
  fetchmail --stop-after-init` (the stand-in records the update in the
  database); on success the web Deployment gets a rollout restart, the
  instance goes through Starting back to Running and cron returns;
- a scheduledTime a few seconds ahead: the resource waits Pending and the
  instance keeps Running until then, with no poke (the workflow wakes at
  that time), then it upgrades;
- a failing upgrade: the resource Failed with the step and the log tail,
  the instance back to Running through Starting, no restart.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities import api
from specs import workloads
from tests.jobs import harness

pytestmark = pytest.mark.timeout(600)


def _restarted_at(op: harness.Operator, name: str) -> str | None:
    body = op.kube.get(api.DEPLOYMENT, op.namespace, name)
    annotations = body["spec"]["template"]["metadata"].get("annotations") or {}
    return annotations.get(workloads.RESTARTED_AT_ANNOTATION)


async def test_upgrade_keeps_web_serving_then_restarts_it(op: harness.Operator) -> None:
    shop = await op.running_instance("shop")
    assert _restarted_at(op, "shop") is None
    name = op.create_job(
        "OdooUpgradeJob",
        {"odooInstanceRef": {"name": "shop"}, "modules": ["mail"], "modulesInstall": ["fetchmail"]},
    )
    await shop.poke()
    await shop.wait_phase("Upgrading")
    await harness.eventually(lambda: shop.replicas("shop-cron") == 0, "cron at 0")
    assert shop.replicas("shop") == 1
    job = await harness.eventually(
        lambda: op.kube.find(api.JOB, op.namespace, f"{name}-upgrade"), "upgrade Job"
    )
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
    assert _restarted_at(op, "shop") is not None
    await harness.eventually(lambda: shop.replicas("shop-cron") == 1, "cron back")
    with shop.connect() as conn:
        installed = conn.execute(
            "SELECT state FROM ir_module_module WHERE name = 'fetchmail'"
        ).fetchone()
    assert installed == ("installed",)


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
    name = op.create_job("OdooUpgradeJob", {"odooInstanceRef": {"name": "shop"}})
    await shop.poke()
    done = await op.wait_job("OdooUpgradeJob", name)
    assert done["status"]["phase"] == "Failed"
    assert done["status"]["message"].startswith("step upgrade failed (exit code 1)")
    assert "upgrade failed (STANDIN_ODOO_FAIL)" in done["status"]["message"]
    await shop.wait_phase("Running")
    assert (await shop.transitions())[-3:] == [
        "Running->Upgrading",
        "Upgrading->Starting",
        "Starting->Running",
    ]
    assert _restarted_at(op, "shop") is None
