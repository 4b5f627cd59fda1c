"""One instance's whole life with every part of the operator in its own process.

`odoo-operator watch` and `odoo-operator worker` run as child processes,
as a ServiceAccount holding only the chart's RBAC rules, against the real
control plane (its Deployment, ReplicaSet and Job controllers, the simulated
kubelet running the Pods, init Pods creating the database as Odoo's init
does), the Temporal dev server and embedded PostgreSQL. The test only ever
writes the OdooInstance, as a user with kubectl would.

Covers: create -> Running through the automatic OdooInitJob (one batch Job,
Complete, the job resource Completed, the database created by the role); no
password (the role's, the inline master password, the cluster admin's) in
what `kubectl get -o yaml` shows of any object in the namespace, Kopf's
last-handled-configuration annotation included (but for the adminPassword
the user wrote in the OdooInstance itself);
replicas 0 -> Stopped with web and cron at 0 and no Pod left, replicas 1 ->
Running again; a new image rolls both Deployments (the controllers replace
the Pods: every Pod runs the new image) and the instance is Running at the
new generation; delete -> the instance, everything labelled with it, the
PostgreSQL role and database are gone and the workflow is COMPLETED (one
run: the delete event after it started no second one); both processes end
on SIGTERM within 10 s and no request of theirs was refused (fixture
teardown).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from activities import api, failures
from model import naming
from sandbox import postgres
from tests.activities import kube_instance as ki
from tests.e2e.cluster import Operator
from tests.lifecycle.driver import eventually, leaks, object_texts

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
DEADLINE = 60.0
PODS = api.Resource("v1", "pods")
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
    PODS,
)


async def test_instance_runs_stops_rolls_and_is_cleaned_up_when_driven_through_processes(
    operator: Operator,
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

    def pod_images() -> list[str]:
        """Images of the live web and cron Pods (not the Job's, not those going away)."""
        return sorted(
            p["spec"]["containers"][0]["image"]
            for p in kube.list_of(PODS, namespace, label_selector=selector)
            if not _job_pod(p) and not p["metadata"].get("deletionTimestamp")
        )

    selector = f"{naming.INSTANCE_LABEL}=shop"
    running = await eventually(settled("Running"), "Running", DEADLINE)
    assert running["status"]["dbInitialized"] is True
    image = running["spec"]["image"]
    assert templates() == {"shop": (1, image), "shop-cron": (1, image)}
    assert [j["metadata"]["name"] for j in kube.list_of(api.JOB, namespace)] == [
        "shop-auto-init-init"
    ]
    job = kube.get(api.JOB, namespace, "shop-auto-init-init")
    assert {c["type"] for c in job["status"]["conditions"] if c["status"] == "True"} >= {"Complete"}
    init = kube.get(api.job_resource("odooinitjobs"), namespace, "shop-auto-init")
    assert init["status"]["phase"] == "Completed"
    assert database_owner(postgres_server, naming.database_name(ref.uid)) == naming.role_name(
        namespace, "shop"
    )
    annotations = instance()["metadata"].get("annotations") or {}
    assert "bemade.org/last-handled-configuration" in annotations  # Kopf's, to be scanned
    secrets = (
        ki.db_password(kube, namespace, "shop"),
        ki.ADMIN_PASSWORD,
        postgres_server.admin_password,
    )
    texts = object_texts(kube, namespace, inline_password_of="shop")
    assert leaks(secrets, {"kubectl get -o yaml": texts}) == []

    kube.merge_patch(api.INSTANCE, namespace, "shop", {"spec": {"replicas": 0}})
    await eventually(settled("Stopped"), "Stopped", DEADLINE)
    await eventually(
        lambda: templates() == {"shop": (0, image), "shop-cron": (0, image)},
        "web and cron at 0",
        DEADLINE,
    )
    await eventually(lambda: pod_images() == [], "no web or cron Pod left", DEADLINE)

    kube.merge_patch(api.INSTANCE, namespace, "shop", {"spec": {"replicas": 1}})
    await eventually(settled("Running"), "Running again", DEADLINE)

    kube.merge_patch(api.INSTANCE, namespace, "shop", {"spec": {"image": "odoo:18.0-e2e"}})
    await eventually(
        lambda: templates() == {"shop": (1, "odoo:18.0-e2e"), "shop-cron": (1, "odoo:18.0-e2e")},
        "both Deployments rolled to the new image",
        DEADLINE,
    )
    await eventually(settled("Running"), "Running on the new image", DEADLINE)
    await eventually(
        lambda: pod_images() == ["odoo:18.0-e2e"] * 2, "every Pod on the new image", DEADLINE
    )

    kube.delete(api.INSTANCE, namespace, "shop")
    await eventually(
        lambda: kube.find(api.INSTANCE, namespace, "shop") is None, "instance gone", DEADLINE
    )

    def leftovers() -> list[str]:
        found = []
        for res in OWNED:
            try:
                items = kube.list_of(res, namespace, label_selector=selector)
            except failures.NotFound:  # not served here (no Gateway API CRDs)
                continue
            found += [f"{res.plural}/{item['metadata']['name']}" for item in items]
        return found

    # The garbage collector removes the owned objects (and their Pods) just after.
    await eventually(lambda: not leftovers(), "nothing labelled with the instance", DEADLINE)
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


def _job_pod(pod: dict[str, Any]) -> bool:
    return any(ref["kind"] == "Job" for ref in pod["metadata"].get("ownerReferences") or [])


def database_owner(server: postgres.EmbeddedPostgres, database: str) -> str | None:
    with ki.superuser(server) as conn:
        row = conn.execute(
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
    return None if row is None else str(row[0])
