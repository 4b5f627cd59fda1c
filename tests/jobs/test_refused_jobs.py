"""Job resources that cannot run as written: refused before any Job, saying which field.

The real workflow and activities (tests/jobs/harness.py). Covers:
- a restore whose S3 credentials Secret does not exist: no batch Job, the
  resource Failed with "not started: spec.source.s3.s3CredentialsSecretRef:
  Secret <ns>/<name> not found", and the instance never leaves
  Uninitialized for it (refused by the snapshot, before the phase table);
- a backup whose Secret lacks secretKey: Failed naming the missing key, the
  instance back to Running, untouched;
- restores that cannot run on a Running instance (a missing S3 credentials
  Secret, a missing master password Secret of a live-Odoo source): each
  Failed with its field and a Warning JobFailed Event on the resource, the
  instance still Running with its database, and the web and cron
  Deployments' spec.replicas never changing (every value recorded by a watch
  over the whole episode, up to a marker written after it);
- a restore from an S3 object that is not there (with good credentials):
  Failed at once, not started, naming spec.source.s3 and the object; the
  instance never leaves Running and its replicas never change;
- a backup of an instance in Error (its database cluster is not in the
  clusters Secret): Failed at the next wake, its message the instance's
  problem, a Warning JobFailed Event on it, no batch Job; the instance stays
  in Error.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import kubernetes
import pytest

from activities import api
from tests.jobs import harness

pytestmark = pytest.mark.timeout(600)


async def test_missing_credentials_refuse_the_job_and_name_the_field(
    op: harness.Operator, bucket: str
) -> None:
    staging = await op.create_instance("staging", init={"enabled": False})
    await staging.wait_phase("Uninitialized")
    restore = op.create_job(
        "OdooRestoreJob",
        {
            "odooInstanceRef": {"name": "staging"},
            "source": {"type": "s3", "s3": op.destination(bucket, "any.zip", "nowhere")},
        },
    )
    await staging.poke()
    failed = await op.wait_job("OdooRestoreJob", restore)
    assert failed["status"]["phase"] == "Failed"
    assert failed["status"]["message"] == (
        "not started: spec.source.s3.s3CredentialsSecretRef: "
        f"Secret {op.namespace}/nowhere not found"
    )
    assert op.kube.find(api.JOB, op.namespace, f"{restore}-restore") is None
    status = await staging.wait_phase("Uninitialized")
    assert not status.get("dbInitialized")
    assert "Uninitialized->Restoring" not in await staging.transitions()

    prod = await op.running_instance("prod")
    await asyncio.to_thread(
        op.kube.create,
        api.SECRET,
        op.namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "half"},
            "stringData": {"accessKey": "AK"},
        },
    )
    backup = op.create_job(
        "OdooBackupJob",
        {"odooInstanceRef": {"name": "prod"}, "destination": op.destination(bucket, "x", "half")},
    )
    await prod.poke()
    failed = await op.wait_job("OdooBackupJob", backup)
    assert failed["status"]["message"] == (
        f"not started: spec.destination.s3CredentialsSecretRef: Secret {op.namespace}/half "
        "has no key secretKey"
    )
    await prod.wait_phase("Running")


_MARKER = "test.bemade.org/marker"


class ReplicaLog:
    """Every spec.replicas the namespace's Deployments take, by a watch from a listing.

    `settle()` writes a marker annotation on one Deployment and waits until the
    watch delivers it: events of a namespace's Deployments arrive in
    resourceVersion order, so everything written before the marker was seen.
    """

    def __init__(self, api_client: kubernetes.client.ApiClient, namespace: str) -> None:
        self._apps = kubernetes.client.AppsV1Api(api_client)
        self._namespace = namespace
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._seen: dict[str, set[int]] = {}
        self._markers: set[str] = set()
        self._error: BaseException | None = None
        listing = self._apps.list_namespaced_deployment(namespace)
        for item in listing.items:
            self._record(item.metadata.name, item.spec.replicas, item.metadata.annotations)
        self._version = listing.metadata.resource_version
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _record(self, name: str, replicas: int | None, annotations: dict[str, str] | None) -> None:
        with self._lock:
            self._seen.setdefault(name, set()).add(1 if replicas is None else replicas)
            if annotations and _MARKER in annotations:
                self._markers.add(annotations[_MARKER])

    def _watch(self) -> None:
        try:
            while not self._stop.is_set():
                watch = kubernetes.watch.Watch()
                for event in watch.stream(
                    self._apps.list_namespaced_deployment,
                    self._namespace,
                    resource_version=self._version,
                    timeout_seconds=2,
                ):
                    if event["type"] == "ERROR":
                        raise RuntimeError(f"the Deployment watch failed: {event['raw_object']}")
                    obj = event["raw_object"]
                    meta, spec = obj["metadata"], obj.get("spec") or {}
                    self._version = meta["resourceVersion"]
                    self._record(meta["name"], spec.get("replicas"), meta.get("annotations"))
        except BaseException as err:  # surfaced by settle()
            self._error = err

    async def settle(self, deployment: str) -> dict[str, set[int]]:
        """Every value seen so far, once the watch has caught up with now."""
        marker = uuid.uuid4().hex
        patch = {"metadata": {"annotations": {_MARKER: marker}}}
        await asyncio.to_thread(
            self._apps.patch_namespaced_deployment, deployment, self._namespace, patch
        )

        def caught_up() -> bool:
            if self._error is not None:
                raise self._error
            with self._lock:
                return marker in self._markers

        await harness.eventually(caught_up, "the Deployment watch caught up")
        with self._lock:
            return {name: set(values) for name, values in self._seen.items()}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def _failed_events(op: harness.Operator, kind: str, name: str) -> list[dict[str, Any]]:
    return [
        event
        for event in op.kube.list_of(api.EVENT, op.namespace)
        if event["involvedObject"].get("kind") == kind
        and event["involvedObject"].get("name") == name
        and event["type"] == "Warning"
        and event["reason"] == "JobFailed"
    ]


async def test_replicas_never_change_when_a_restore_cannot_run_on_a_running_instance(
    op: harness.Operator, bucket: str
) -> None:
    prod = await op.running_instance("prod")
    log = await asyncio.to_thread(ReplicaLog, op.api_client, op.namespace)
    try:
        from_s3 = op.create_job(
            "OdooRestoreJob",
            {
                "odooInstanceRef": {"name": "prod"},
                "source": {"type": "s3", "s3": op.destination(bucket, "any.zip", "nowhere")},
            },
        )
        from_odoo = op.create_job(
            "OdooRestoreJob",
            {
                "odooInstanceRef": {"name": "prod"},
                "source": {
                    "type": "odoo",
                    "odoo": {
                        "url": "http://odoo.example.com",
                        "masterPasswordSecretRef": {"name": "no-master", "key": "password"},
                    },
                },
            },
        )
        await prod.poke()
        s3_failed = await op.wait_job("OdooRestoreJob", from_s3)
        odoo_failed = await op.wait_job("OdooRestoreJob", from_odoo)
        await prod.poke()  # one more wake: nothing left to act on
        await prod.wait_phase("Running")
        seen = await log.settle("prod")
    finally:
        await asyncio.to_thread(log.stop)

    assert s3_failed["status"]["phase"] == "Failed"
    assert s3_failed["status"]["message"] == (
        "not started: spec.source.s3.s3CredentialsSecretRef: "
        f"Secret {op.namespace}/nowhere not found"
    )
    assert odoo_failed["status"]["phase"] == "Failed"
    assert odoo_failed["status"]["message"] == (
        "not started: spec.source.odoo.masterPasswordSecretRef: Secret no-master not found"
    )
    for name in (from_s3, from_odoo):
        events = await asyncio.to_thread(_failed_events, op, "OdooRestoreJob", name)
        assert len(events) == 1, events
        assert "not started: spec.source." in events[0]["message"]
    assert seen == {"prod": {1}, "prod-cron": {1}}
    transitions = await prod.transitions()
    assert not [t for t in transitions if t.startswith("Running->")]
    assert prod.status()["dbInitialized"] is True


async def test_a_restore_from_a_backup_that_is_not_there_fails_before_stopping_anything(
    op: harness.Operator, bucket: str
) -> None:
    prod = await op.running_instance("prod")
    source = {"type": "s3", "s3": op.destination(bucket, "prod/nope.zip", op.s3_secret())}
    log = await asyncio.to_thread(ReplicaLog, op.api_client, op.namespace)
    try:
        missing = op.create_job(
            "OdooRestoreJob",
            {"odooInstanceRef": {"name": "prod"}, "source": source},
        )
        await prod.poke()
        failed = await op.wait_job("OdooRestoreJob", missing)
        running = await prod.wait_phase("Running")
        seen = await log.settle("prod")
    finally:
        await asyncio.to_thread(log.stop)

    assert failed["status"]["phase"] == "Failed"
    assert failed["status"]["message"] == (
        f"not started: spec.source.s3: the backup s3://{bucket}/prod/nope.zip does not exist "
        f"at {op.s3.endpoint}"
    )
    assert seen == {"prod": {1}, "prod-cron": {1}}
    assert not [t for t in await prod.transitions() if t.startswith("Running->")]
    assert running["dbInitialized"] is True


async def test_a_job_resource_of_an_instance_in_error_is_refused_with_the_problem(
    op: harness.Operator, bucket: str
) -> None:
    broken = await op.create_instance("broken", database={"cluster": "nowhere"})
    status = await broken.wait_phase("Error")
    problem = status["message"]
    assert "nowhere" in problem
    backup = op.create_job(
        "OdooBackupJob",
        {
            "odooInstanceRef": {"name": "broken"},
            "destination": op.destination(bucket, "broken.zip", op.s3_secret()),
        },
    )
    await broken.poke()  # what the watcher does when the resource appears
    failed = await op.wait_job("OdooBackupJob", backup)
    assert failed["status"]["phase"] == "Failed"
    assert failed["status"]["message"] == f"not started: the instance is in Error: {problem}"
    events = await asyncio.to_thread(_failed_events, op, "OdooBackupJob", backup)
    assert len(events) == 1, events
    assert problem in events[0]["message"]
    assert op.kube.find(api.JOB, op.namespace, f"{backup}-backup") is None
    assert broken.status()["phase"] == "Error"
