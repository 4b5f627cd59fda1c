"""A database dropped out of band, under spec.database.missingPolicy Recreate,
through the real workflow, worker, control plane (with the simulated kubelet)
and PostgreSQL.

Covers: a Running instance whose database disappears goes back to
Uninitialized (dbInitialized false, transition guard database_lost, a
Warning DatabaseMissing Event); the finished `<name>-auto-init` is replaced
by a fresh one whose new batch Job runs (the old Job's success is not
adopted: its Pod is held Pending until the test has created the database);
once that init succeeds the instance is Running again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import kubernetes
from psycopg import sql
from temporalio.client import Client

from activities import api
from model import naming
from odoo_operator import worker
from sandbox import kubelet, postgres
from tests.activities import kube_instance as ki
from tests.fixtures import operator_settings
from tests.lifecycle.driver import Watcher, eventually, eventually_async, start_workflow
from workflows.instance import OdooInstanceWorkflow

INIT_JOBS = api.job_resource("odooinitjobs")


async def test_instance_is_initialized_again_when_its_database_vanishes_under_recreate(
    temporal_client: Client,
    api_client: kubernetes.client.ApiClient,
    kube_kubelet: kubelet.KubeletThread,
    namespace: str,
    task_queue: str,
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    kube = api.KubeApi(api_client)
    await asyncio.to_thread(
        ki.create_clusters_secret, kube, namespace, ki.ClusterAddress.of(postgres_server)
    )
    ref, spec = await asyncio.to_thread(
        ki.create_instance, kube, namespace, "shop", database={"missingPolicy": "Recreate"}
    )
    settings = operator_settings.for_test(namespace, task_queue)

    def in_phase(phase: str) -> Callable[[], dict[str, Any] | None]:
        def check() -> dict[str, Any] | None:
            status = kube.get(api.INSTANCE, namespace, "shop").get("status") or {}
            return dict(status) if status.get("phase") == phase else None

        return check

    def init_job_of(resource_uid: str) -> dict[str, Any] | None:
        job = kube.find(api.JOB, namespace, "shop-auto-init-init")
        owners = ((job or {}).get("metadata") or {}).get("ownerReferences") or []
        return job if any(o["uid"] == resource_uid for o in owners) else None

    async def initialize(watcher: Watcher) -> None:
        """Play Odoo's init: the Job creates the database as the role, then succeeds.

        Its Pod is held Pending until the database exists (the caller holds it)."""
        resource = await eventually(
            lambda: kube.find(INIT_JOBS, namespace, "shop-auto-init"), "auto-init"
        )
        await watcher.poke()
        await eventually(lambda: init_job_of(resource["metadata"]["uid"]), "its batch Job")
        finished = await asyncio.to_thread(ki.job_finished, kube, namespace, "shop-auto-init-init")
        assert finished is None  # its Pod is held Pending
        odoo = await asyncio.to_thread(ki.create_database_as_role, postgres_server, kube, ref)
        odoo.close()
        kube_kubelet.release()
        await eventually(
            lambda: (
                (job := init_job_of(resource["metadata"]["uid"])) is not None
                and ki.job_finished(kube, namespace, job["metadata"]["name"]) == "Complete"
            ),
            "the new Job Complete",
        )
        await watcher.poke()
        await eventually(in_phase("Starting"), "Starting")
        await eventually(
            lambda: ki.ready_replicas(kube, namespace, "shop") == 1, "the web Pod Ready"
        )
        await watcher.poke()
        await eventually(in_phase("Running"), "Running")

    init_pods = kubelet.pod_matcher(namespace, "shop-auto-init-init-")

    async with worker.build_worker(temporal_client, settings, api.KubeApi(api_client)):
        handle = await start_workflow(temporal_client, task_queue, ref, spec)
        watcher = Watcher(kube, ref, handle)
        await eventually(in_phase("Uninitialized"), "Uninitialized")
        await watcher.send_spec()  # the operator defaults made generation 2
        kube_kubelet.hold(init_pods)
        await initialize(watcher)
        first = await asyncio.to_thread(kube.get, INIT_JOBS, namespace, "shop-auto-init")

        with ki.superuser(postgres_server) as su:
            su.execute(
                sql.SQL("DROP DATABASE {} WITH (FORCE)").format(
                    sql.Identifier(naming.database_name(ref.uid))
                )
            )
        kube_kubelet.hold(init_pods)  # the fresh init's Pod waits for the test again
        await watcher.poke()

        await eventually(
            lambda: (
                (r := kube.find(INIT_JOBS, namespace, "shop-auto-init"))
                and r["metadata"]["uid"] != first["metadata"]["uid"]
            ),
            "a fresh auto-init",
        )
        status = (await asyncio.to_thread(kube.get, api.INSTANCE, namespace, "shop"))["status"]
        assert status["dbInitialized"] is False
        await initialize(watcher)

        async def guards() -> list[str] | None:
            # record_status writes the status first; the workflow records the
            # transition when that activity completes, a moment later.
            transitions = await handle.query(OdooInstanceWorkflow.transitions)
            found = [f"{t.from_phase}->{t.to_phase}:{t.guard}" for t in transitions]
            return found if found[-1] == "Starting->Running:all_ready" else None

        found = await eventually_async(guards, "the workflow recorded Starting->Running")
        assert "Running->Uninitialized:database_lost" in found
        await handle.terminate("test over")

    events = await asyncio.to_thread(kube.list_of, api.EVENT, namespace)
    [warning] = [e for e in events if e["reason"] == "DatabaseMissing"]
    assert warning["type"] == "Warning"
    assert "(policy: Recreate)" in warning["message"]
