"""kill -9 of the worker in the middle of an upgrade, a backup and a restore, and of an apply.

The worker runs as its own process (`odoo-operator worker`), the test plays
the watcher and the kubelet runs the Job Pods for real (tests/jobs/harness.py).
Each Job's Pod is held Pending until the worker has been killed with SIGKILL;
a new worker process then carries on from the workflows' histories. Covers:
exactly one batch Job per job resource and step (and one Pod run), each
resource Completed, each instance back to Running (the restored one
initialized), and the backup's object complete under its key (its sha256
metadata matches its content): nothing half-written. It prints `MATRIX
<cell> <s>`: from the kill to every resource Completed and every instance
Running. A worker killed while apply_children
runs (held in its PostgreSQL step by a server that accepts connections and
never answers) has the activity retried by the next worker once the
heartbeat timeout passed: the retried attempt's last failure is a heartbeat
timeout, not the 2-minute start-to-close one.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import kubernetes
import pytest
from temporalio.api.enums.v1 import EventType, TimeoutType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from activities import api
from model import naming
from model.crds import OdooInstanceSpec
from model.payloads import InstanceRef, InstanceWorkflowInput, MachineState
from sandbox import kubelet, podrunner, postgres, processes, s3, temporal
from tests.hanging import unanswering_server
from tests.jobs import harness
from tests.lifecycle import driver
from workflows.instance import OdooInstanceWorkflow

pytestmark = pytest.mark.timeout(600)


@contextlib.contextmanager
def worker_process(
    server: temporal.TemporalDevServer,
    kubeconfig: Path,
    namespace: str,
    task_queue: str,
    log: Path,
) -> Iterator[subprocess.Popen[bytes]]:
    command = [
        str(Path(sys.executable).parent / "odoo-operator"),
        "worker",
        "--temporal-address",
        server.address,
        "--task-queue",
        task_queue,
        "--operator-namespace",
        namespace,
        "--tools-image",
        harness.TOOLS_IMAGE,
        "--probe-port",
        "0",
        "--pod-name",
        "killed-worker",
    ]
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            processes.stop_process(process, timeout=10)


def jobs_owned_by(op: harness.Operator, kind: str, name: str) -> list[str]:
    uid = op.job(kind, name)["metadata"]["uid"]
    return [
        job["metadata"]["name"]
        for job in op.kube.list_of(api.JOB, op.namespace)
        if uid in {o.get("uid") for o in job["metadata"].get("ownerReferences") or []}
    ]


async def test_worker_killed_mid_job_resumes_each_kind_exactly_once(
    temporal_client: Client,
    temporal_dev_server: temporal.TemporalDevServer,
    api_client: kubernetes.client.ApiClient,
    kubeconfig: Path,
    kube_kubelet: kubelet.KubeletThread,
    namespace: str,
    task_queue: str,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    job_pods: podrunner.LocalPodRunner,
    bucket: str,
    tmp_path: Path,
) -> None:
    op = harness.Operator(
        temporal_client, api_client, namespace, task_queue, postgres_server, s3_server, job_pods
    )
    await asyncio.to_thread(
        op.kube.create, api.SECRET, namespace, harness.clusters_secret(postgres_server)
    )
    credentials = op.s3_secret()
    log = tmp_path / "worker.log"
    start = (temporal_dev_server, kubeconfig, namespace, task_queue, log)

    with worker_process(*start) as first:
        prod = await op.running_instance("prod")
        for i in range(8):  # 8 MiB of files: the upload takes a few parts
            path = prod.filestore / f"{i:02x}" / f"file{i}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(1024 * 1024))
        source_key = "seed/prod.zip"
        seed = op.create_job(
            "OdooBackupJob",
            {
                "odooInstanceRef": {"name": "prod"},
                "destination": op.destination(bucket, source_key, credentials),
            },
            name="seed",
        )
        await prod.poke()
        assert (await op.wait_job("OdooBackupJob", seed))["status"]["phase"] == "Completed"
        await prod.wait_phase("Running")
        other = await op.running_instance("other")
        staging = await op.create_instance("staging", init={"enabled": False})
        await staging.wait_phase("Uninitialized")

        work = {
            ("OdooUpgradeJob", "upgrade-1"): {
                "odooInstanceRef": {"name": "other"},
                "modules": ["base"],
            },
            ("OdooBackupJob", "backup-1"): {
                "odooInstanceRef": {"name": "prod"},
                "destination": op.destination(bucket, "prod/killed.zip", credentials),
            },
            ("OdooRestoreJob", "restore-1"): {
                "odooInstanceRef": {"name": "staging"},
                "source": {"type": "s3", "s3": op.destination(bucket, source_key, credentials)},
            },
        }
        for _, name in work:
            kube_kubelet.hold(kubelet.pod_matcher(namespace, prefix=f"{name}-"))
        for (kind, name), spec in work.items():
            op.create_job(kind, spec, name=name)
        for instance in (prod, other, staging):
            await instance.poke()
        # Each batch Job made and its resource Running, its Pod held: kill now.
        for kind, name in work:
            await op.wait_job(kind, name, "Running")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed = time.monotonic()

    kube_kubelet.release()
    with worker_process(*start):
        for kind, name in work:
            done = await op.wait_job(kind, name, "Completed", "Failed")
            assert done["status"]["phase"] == "Completed", (name, done["status"])
        await prod.wait_phase("Running")
        await other.wait_phase("Running")
        ready = await staging.wait_phase("Running")
        took = time.monotonic() - killed
        print(f"MATRIX jobs:worker-killed:mid-job {took:.1f}s to all Completed and Running")
        assert ready["dbInitialized"] is True
        # The restore's last step, once Running: what it kept aside removed.
        await harness.eventually(
            lambda: op.job("OdooRestoreJob", "restore-1")["status"].get("previousRemovedAt"),
            "the restore's kept-aside filestore removed",
        )

    # One batch Job per job resource and step: its own Job once, and a restore's
    # filestore step that removes what it kept aside (a step of its own).
    steps = {"OdooRestoreJob": {"restore-1-filestore-discard-1"}}
    for kind, name in work:
        job = f"{name}-{kind.removeprefix('Odoo').removesuffix('Job').lower()}"
        owned = jobs_owned_by(op, kind, name)
        assert sorted(owned) == sorted({job, *steps.get(kind, set())}), (name, owned)
        started = [
            p for p in kube_kubelet.kubelet.started_pods if p.startswith(f"{namespace}/{job}-")
        ]  # type: ignore[union-attr]
        assert len(started) == 1, (name, started)
    client = s3_server.client()
    head = client.head_object(bucket, "prod/killed.zip") or {}
    content = client.get_object(bucket, "prod/killed.zip")
    assert hashlib.sha256(content).hexdigest() == head["x-amz-meta-sha256"]
    assert client.list_multipart_uploads(bucket) == []


def _apply_children_started(events: list[HistoryEvent]) -> list[HistoryEvent]:
    """The ActivityTaskStarted events of apply_children (written when an attempt ends)."""
    scheduled = {
        e.event_id
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "apply_children"
    }
    return [
        e
        for e in events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and e.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]


async def test_worker_killed_mid_apply_is_retried_once_its_heartbeat_times_out(
    temporal_client: Client,
    temporal_dev_server: temporal.TemporalDevServer,
    api_client: kubernetes.client.ApiClient,
    kubeconfig: Path,
    namespace: str,
    task_queue: str,
    postgres_server: postgres.EmbeddedPostgres,
    tmp_path: Path,
) -> None:
    kube = api.KubeApi(api_client)
    start = (temporal_dev_server, kubeconfig, namespace, task_queue, tmp_path / "worker.log")
    with unanswering_server() as (hanging, accepted):
        address = hanging.getsockname()[:2]
        secret = harness.clusters_secret(postgres_server, address=address)
        await asyncio.to_thread(kube.create, api.SECRET, namespace, secret)
        body = {
            "apiVersion": naming.GROUP_VERSION,
            "kind": "OdooInstance",
            "metadata": {"name": "shop", "namespace": namespace},
            "spec": {"adminPassword": "pw", "ingress": {"hosts": ["shop.example.com"]}},
        }
        created = await asyncio.to_thread(kube.create, api.INSTANCE, namespace, body)
        ref = InstanceRef(namespace=namespace, name="shop", uid=created["metadata"]["uid"])
        spec = OdooInstanceSpec.model_validate(created["spec"]).redacted()
        with worker_process(*start) as first:
            handle = await temporal_client.start_workflow(
                OdooInstanceWorkflow.run,
                InstanceWorkflowInput(
                    state=MachineState(ref=ref, spec=spec, generation=1), settings=harness.FAST
                ),
                id=naming.workflow_id(namespace, "shop"),
                task_queue=task_queue,
            )
            # apply_children is connecting to the cluster (the last step): kill now.
            await harness.eventually(lambda: accepted.is_set() or None, "apply in PostgreSQL")
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        fixed = harness.clusters_secret(postgres_server)
        await asyncio.to_thread(kube.replace, api.SECRET, namespace, fixed)

    with worker_process(*start):
        # Well before the 2-minute start-to-close timeout that retried it before.
        async def applied() -> list[HistoryEvent]:
            events = [e async for e in handle.fetch_history_events()]
            return [
                e
                for e in _apply_children_started(events)
                if e.activity_task_started_event_attributes.attempt > 1
            ]

        retried = await driver.eventually_async(applied, "apply_children retried", deadline=60)
    last_failure = retried[0].activity_task_started_event_attributes.last_failure
    assert last_failure.timeout_failure_info.timeout_type == TimeoutType.TIMEOUT_TYPE_HEARTBEAT
    await handle.terminate()
