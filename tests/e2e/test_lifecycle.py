"""One instance's whole life with every part of the operator in its own process.

`odoo-operator watch` and `odoo-operator worker` run as child processes
against the API emulator process, the Temporal dev server and embedded
PostgreSQL; the test plays the kubelet and Odoo's init (tests.e2e.cluster.Kubelet)
and only ever writes the OdooInstance, as a user with kubectl would.

Covers: create -> Running through the automatic OdooInitJob (one batch Job,
the job resource Completed, the database created by the role); replicas 0 ->
Stopped with web and cron at 0, replicas 1 -> Running again; a new image
rolls both Deployments (pod template image) and the instance is Running at
the new generation; delete -> the instance, everything labelled with it, the
PostgreSQL role and database are gone and the workflow is COMPLETED (one
run: the delete event after it started no second one); both
processes end on SIGTERM within 10 s (fixture teardown).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from activities import api
from odoo_operator.model import naming
from odoo_operator.sandbox import postgres
from tests.activities import kube_instance as ki
from tests.e2e.cluster import Kubelet
from tests.e2e.conftest import Operator
from tests.lifecycle.driver import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
DEADLINE = 60.0
OWNED = (
    api.DEPLOYMENT,
    api.SERVICE,
    api.INGRESS,
    api.HTTP_ROUTE,
    api.CONFIG_MAP,
    api.SECRET,
    api.PVC,
    api.SERVICE_ACCOUNT,
    api.ROLE,
    api.ROLE_BINDING,
    api.JOB,
    api.job_resource("odooinitjobs"),
)


async def test_instance_runs_stops_rolls_and_is_cleaned_up_when_driven_through_processes(
    operator: Operator,
    kubelet: Kubelet,
    kube: api.KubeApi,
    namespace: str,
    e2e_client: Client,
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    ref, _ = ki.create_instance(kube, namespace, "shop")

    def instance() -> dict[str, Any]:
        return kube.get(api.INSTANCE, namespace, "shop")

    def settled(phase: str) -> Callable[[], dict[str, Any] | None]:
        """The instance in `phase` with its latest generation observed."""

        def check() -> dict[str, Any] | None:
            body = instance()
            status = body.get("status") or {}
            done = (
                status.get("phase") == phase
                and status.get("observedGeneration") == body["metadata"]["generation"]
            )
            return body if done else None

        return check

    def templates() -> dict[str, tuple[int, str]]:
        return {
            d["metadata"]["name"]: (
                int(d["spec"]["replicas"]),
                d["spec"]["template"]["spec"]["containers"][0]["image"],
            )
            for d in kube.list_of(api.DEPLOYMENT, namespace)
        }

    running = await eventually(settled("Running"), "Running", DEADLINE)
    assert running["status"]["dbInitialized"] is True
    image = running["spec"]["image"]
    assert templates() == {"shop": (1, image), "shop-cron": (1, image)}
    assert [j["metadata"]["name"] for j in kube.list_of(api.JOB, namespace)] == [
        "shop-auto-init-init"
    ]
    init = kube.get(api.job_resource("odooinitjobs"), namespace, "shop-auto-init")
    assert init["status"]["phase"] == "Completed"

    kube.merge_patch(api.INSTANCE, namespace, "shop", {"spec": {"replicas": 0}})
    await eventually(settled("Stopped"), "Stopped", DEADLINE)
    await eventually(
        lambda: templates() == {"shop": (0, image), "shop-cron": (0, image)},
        "web and cron at 0",
        DEADLINE,
    )

    kube.merge_patch(api.INSTANCE, namespace, "shop", {"spec": {"replicas": 1}})
    await eventually(settled("Running"), "Running again", DEADLINE)

    kube.merge_patch(api.INSTANCE, namespace, "shop", {"spec": {"image": "odoo:18.0-e2e"}})
    await eventually(
        lambda: templates() == {"shop": (1, "odoo:18.0-e2e"), "shop-cron": (1, "odoo:18.0-e2e")},
        "both Deployments rolled to the new image",
        DEADLINE,
    )
    await eventually(settled("Running"), "Running on the new image", DEADLINE)

    kube.delete(api.INSTANCE, namespace, "shop")
    await eventually(
        lambda: kube.find(api.INSTANCE, namespace, "shop") is None, "instance gone", DEADLINE
    )
    selector = f"{naming.INSTANCE_LABEL}=shop"
    assert [
        f"{res.plural}/{item['metadata']['name']}"
        for res in OWNED
        for item in kube.list_of(res, namespace, label_selector=selector)
    ] == []
    assert not ki.role_exists(postgres_server, naming.role_name(namespace, "shop"))
    assert not ki.database_exists(postgres_server, naming.database_name(ref.uid))
    workflow_id = naming.workflow_id(namespace, "shop")
    handle = e2e_client.get_workflow_handle(workflow_id)
    # The workflow completes right after it removed the finalizer.
    deadline = time.monotonic() + DEADLINE
    while (await handle.describe()).status != WorkflowExecutionStatus.COMPLETED:
        assert time.monotonic() < deadline, "the workflow did not complete"
        await asyncio.sleep(0.05)
    runs = [w.status async for w in e2e_client.list_workflows(f"WorkflowId = '{workflow_id}'")]
    assert runs == [WorkflowExecutionStatus.COMPLETED]  # deleting started no second run
