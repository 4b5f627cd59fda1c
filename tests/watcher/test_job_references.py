"""Job resources whose spec.odooInstanceRef does not resolve end Failed, saying why.

The real watcher (Kopf) and the real worker, without the admission webhook
(which refuses these at creation; a cluster may run without it). Covers:
- one job resource of each kind naming an instance that does not exist:
  each Failed with "spec.odooInstanceRef.name: no OdooInstance named ghost in
  namespace <ns>" and a Warning JobFailed Event on it; the check workflow
  then ends (nothing retries a refusal that is for good);
- a job naming an instance in another namespace: Failed, naming both;
- a job queued (Pending) on an instance that is deleted later: Failed with
  the same message once the instance is gone;
- the watcher's pinned wire names match the OdooJobReferences workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import kubernetes
import pytest
from temporalio import client as temporal_client
from temporalio.client import WorkflowExecutionStatus

from activities import api
from model import naming
from odoo_operator import worker
from sandbox import postgres
from tests.activities import kube_instance as ki
from tests.fixtures import operator_settings
from tests.watcher.conftest import JOB_SPECS, RunWatcher, eventually, job_resource
from watcher import signals as watcher_temporal
from workflows.job_references import JobReferencesWorkflow

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def operator(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    task_queue: str,
) -> Callable[[], contextlib.AbstractAsyncContextManager[None]]:
    """The watcher, and inside it the worker: the worker stops first (stopping
    Kopf cancels what runs on the loop, an activity of the worker included)."""
    settings = operator_settings.for_test(namespace, task_queue)

    @contextlib.asynccontextmanager
    async def running() -> AsyncIterator[None]:
        async with (
            run_watcher(),
            worker.build_worker(temporal_client, settings, api.KubeApi(api_client)),
        ):
            yield

    return running


def _create_job(
    kube: api.KubeApi, namespace: str, kind: str, name: str, ref: dict[str, str]
) -> None:
    kube.create(api.job_resource(kind.lower() + "s"), namespace, job_resource(kind, name, ref))


async def _status_in(
    kube: api.KubeApi, namespace: str, kind: str, name: str, *phases: str
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        body = await asyncio.to_thread(
            kube.get, api.job_resource(kind.lower() + "s"), namespace, name
        )
        status = dict(body.get("status") or {})
        return status if status.get("phase") in phases else None

    return await eventually(check, f"{kind} {name} in {phases}")


def _failed_events(kube: api.KubeApi, namespace: str, kind: str, name: str) -> list[str]:
    return [
        event["message"]
        for event in kube.list_of(api.EVENT, namespace)
        if event["involvedObject"].get("kind") == kind
        and event["involvedObject"].get("name") == name
        and event["type"] == "Warning"
        and event["reason"] == "JobFailed"
    ]


def test_wire_names_match_the_job_references_workflow_when_pinned_as_strings() -> None:
    defn = JobReferencesWorkflow.__temporal_workflow_definition  # type: ignore[attr-defined]
    assert defn.name == watcher_temporal.JOB_REFERENCES_WORKFLOW_TYPE
    assert watcher_temporal.CHECK_REFERENCES_SIGNAL in defn.signals


Operator = Callable[[], contextlib.AbstractAsyncContextManager[None]]


async def test_every_job_kind_failed_naming_the_reference_when_its_instance_does_not_exist(
    operator: Operator,
    temporal_client: temporal_client.Client,
    kube: api.KubeApi,
    namespace: str,
) -> None:
    expected = f"spec.odooInstanceRef.name: no OdooInstance named ghost in namespace {namespace}"
    handle = temporal_client.get_workflow_handle(
        naming.job_references_workflow_id(namespace, "ghost")
    )

    async def ended() -> bool:  # nothing retries a refusal that is for good
        description = await handle.describe()
        return description.status == WorkflowExecutionStatus.COMPLETED

    async with operator():
        for kind in JOB_SPECS:
            await asyncio.to_thread(
                _create_job, kube, namespace, kind, f"{kind.lower()}-1", {"name": "ghost"}
            )
        statuses = {
            kind: await _status_in(kube, namespace, kind, f"{kind.lower()}-1", "Failed")
            for kind in JOB_SPECS
        }
        await eventually(ended, "the reference check ended")
    for kind, status in statuses.items():
        assert status["message"] == expected, kind
        events = await asyncio.to_thread(_failed_events, kube, namespace, kind, f"{kind.lower()}-1")
        assert events == [f"{kind} {kind.lower()}-1 failed: {expected}"]


async def test_job_failed_naming_both_namespaces_when_its_reference_names_another(
    operator: Operator, kube: api.KubeApi, namespace: str
) -> None:
    async with operator():
        await asyncio.to_thread(
            _create_job,
            kube,
            namespace,
            "OdooBackupJob",
            "elsewhere",
            {"name": "shop", "namespace": "production"},
        )
        status = await _status_in(kube, namespace, "OdooBackupJob", "elsewhere", "Failed")
    assert status["message"] == (
        f"spec.odooInstanceRef.namespace: must be the job's own namespace {namespace}, "
        "not production"
    )
    events = await asyncio.to_thread(_failed_events, kube, namespace, "OdooBackupJob", "elsewhere")
    assert len(events) == 1


async def test_pending_job_failed_when_its_instance_is_deleted_later(
    operator: Operator,
    kube: api.KubeApi,
    namespace: str,
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    address = ki.ClusterAddress.of(postgres_server)
    await asyncio.to_thread(ki.create_clusters_secret, kube, namespace, address)
    async with operator():
        await asyncio.to_thread(
            ki.create_instance, kube, namespace, "shop", init={"enabled": False}
        )

        async def uninitialized() -> bool:
            body = await asyncio.to_thread(kube.get, api.INSTANCE, namespace, "shop")
            return (body.get("status") or {}).get("phase") == "Uninitialized"

        await eventually(uninitialized, "shop Uninitialized")
        # An upgrade waits while the database is not initialized: queued, Pending.
        await asyncio.to_thread(
            _create_job, kube, namespace, "OdooUpgradeJob", "later", {"name": "shop"}
        )
        await _status_in(kube, namespace, "OdooUpgradeJob", "later", "Pending")
        await asyncio.to_thread(kube.delete, api.INSTANCE, namespace, "shop")
        status = await _status_in(kube, namespace, "OdooUpgradeJob", "later", "Failed")
    assert status["message"] == (
        f"spec.odooInstanceRef.name: no OdooInstance named shop in namespace {namespace}"
    )
    events = await asyncio.to_thread(_failed_events, kube, namespace, "OdooUpgradeJob", "later")
    assert len(events) == 1
