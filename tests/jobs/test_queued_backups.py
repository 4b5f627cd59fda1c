"""Several backups, the webhook, the history limit, and backups of a stopped instance.

The real workflow and activities (tests/jobs/harness.py) with Job Pods that
run the step scripts. Covers:
- three OdooBackupJobs applied at once: the waiting ones show Pending and
  whom they are queued behind, they run one after another (BackingUp ->
  BackingUp, the phase never returning to Running in between), and all
  three complete;
- the webhook of one of them receives a JSON POST (phase Completed, jobName,
  message) with the bearer token read from a Secret;
- with a history limit of 2, only the two newest finished backups remain;
- a stopped instance (replicas 0) is backed up without starting any pod and
  returns to Stopped.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import kubernetes
import pytest
import pytest_asyncio
from temporalio.client import Client

from activities import api
from sandbox import podrunner, postgres, s3
from tests.jobs import harness

pytestmark = pytest.mark.timeout(600)
TOKEN = "webhook-token-from-a-secret"


class Receiver(http.server.BaseHTTPRequestHandler):
    calls: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.calls.append(
            {"authorization": self.headers.get("Authorization"), "json": json.loads(body)}
        )
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def webhook_url() -> Iterator[str]:
    Receiver.calls = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest_asyncio.fixture(loop_scope="session")
async def limited(
    temporal_client: Client,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    task_queue: str,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    job_pods: podrunner.LocalPodRunner,
) -> AsyncIterator[harness.Operator]:
    async with harness.operator(
        temporal_client,
        api_client,
        namespace,
        task_queue,
        postgres_server,
        s3_server,
        job_pods,
        history_limit=2,
    ) as running:
        yield running


async def test_queued_backups_run_in_turn_notify_and_keep_history_short(
    limited: harness.Operator, bucket: str, webhook_url: str
) -> None:
    op = limited
    prod = await op.running_instance("prod")
    credentials = op.s3_secret()
    await asyncio.to_thread(
        op.kube.create,
        api.SECRET,
        op.namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hook-token"},
            "stringData": {"token": TOKEN},
        },
    )
    names = []
    for i in range(3):
        spec: dict[str, Any] = {
            "odooInstanceRef": {"name": "prod"},
            "format": "sql",
            "destination": op.destination(bucket, f"prod/{i}.sql", credentials),
        }
        if i == 2:
            spec["webhook"] = {
                "url": webhook_url,
                "secretTokenSecretRef": {"name": "hook-token", "key": "token"},
            }
        names.append(op.create_job("OdooBackupJob", spec, name=f"backup-{i}"))
    await prod.poke()
    queued = await op.wait_job("OdooBackupJob", names[2], "Pending", "Running")
    if queued["status"]["phase"] == "Pending":
        assert queued["status"]["message"] in {
            "queued behind OdooBackupJob backup-0",
            "queued behind OdooBackupJob backup-1",
        }

    last = await op.wait_job("OdooBackupJob", names[2], "Completed", "Failed")
    assert last["status"]["phase"] == "Completed", last["status"]
    await prod.wait_phase("Running")
    transitions = await prod.transitions()
    entered = transitions.index("Running->BackingUp")
    assert transitions[entered:] == [
        "Running->BackingUp",
        "BackingUp->BackingUp",
        "BackingUp->BackingUp",
        "BackingUp->Running",
    ]
    keys = sorted(o.key for o in op.s3.client().list_objects(bucket))
    assert keys == ["prod/0.sql", "prod/1.sql", "prod/2.sql"]

    assert len(Receiver.calls) == 1
    call = Receiver.calls[0]
    assert call["authorization"] == f"Bearer {TOKEN}"
    assert call["json"]["phase"] == "Completed"
    assert call["json"]["name"] == "backup-2"
    assert call["json"]["jobName"] == "backup-2-backup"
    assert call["json"]["message"] == f"backup uploaded to s3://{bucket}/prod/2.sql"

    def remaining() -> list[str] | None:
        items = op.kube.list_of(api.job_resource("odoobackupjobs"), op.namespace)
        left = sorted(i["metadata"]["name"] for i in items)
        return left if left == ["backup-1", "backup-2"] else None

    await harness.eventually(remaining, "the oldest finished backup deleted")


async def test_stopped_instance_is_backed_up_without_starting(
    op: harness.Operator, bucket: str
) -> None:
    shop = await op.running_instance("shop")
    await asyncio.to_thread(
        op.kube.merge_patch, api.INSTANCE, op.namespace, "shop", {"spec": {"replicas": 0}}
    )
    await shop.send_spec()
    await shop.wait_phase("Stopped")
    await harness.eventually(lambda: shop.replicas("shop") == 0, "web at 0")
    credentials = op.s3_secret()

    name = op.create_job(
        "OdooBackupJob",
        {
            "odooInstanceRef": {"name": "shop"},
            "format": "dump",
            "destination": op.destination(bucket, "shop.dump", credentials),
        },
    )
    await shop.poke()
    done = await op.wait_job("OdooBackupJob", name)
    assert done["status"]["phase"] == "Completed", done["status"]
    await shop.wait_phase("Stopped")
    transitions = await shop.transitions()
    assert transitions[-2:] == ["Stopped->BackingUp", "BackingUp->Stopped"]
    assert shop.replicas("shop") == 0
    assert shop.replicas("shop-cron") == 0
