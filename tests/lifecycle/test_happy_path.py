"""The whole happy path: the real workflow and the real activities, one instance.

A worker from odoo_operator.worker runs on the Temporal dev server against the
API emulator; the test plays the watcher (set_spec and poke signals) and the
kubelet (Job and Deployment status). Covers: Provisioning -> Uninitialized
(auto OdooInitJob) -> Initializing (one batch Job) -> Starting -> Running;
replicas 0 -> Stopped with both Deployments at 0; replicas 2 -> Starting ->
Running; one pod lost -> Degraded -> Running again; the instance status
(phase, conditions, readyReplicas, observedGeneration) at each step; exactly
one init Job created.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import kubernetes
from temporalio.client import Client, WorkflowHandle

from activities import api
from odoo_operator import worker
from odoo_operator.model import naming
from odoo_operator.model.payloads import (
    InstanceRef,
    InstanceWorkflowInput,
    MachineState,
    Poke,
    SpecUpdate,
)
from odoo_operator.sandbox import kubelet
from odoo_operator.settings import Settings
from tests.activities import kube_instance as ki
from workflows.instance import OdooInstanceWorkflow

_T = TypeVar("_T")
_DEADLINE = 20.0


async def eventually(check: Callable[[], _T | None], what: str) -> _T:
    """Poll `check` (run in a thread: it calls the API) until truthy, with a deadline."""
    deadline = time.monotonic() + _DEADLINE
    while True:
        result = await asyncio.to_thread(check)
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {_DEADLINE}s: {what}")
        await asyncio.sleep(0.02)  # poll interval of a condition wait, not a timing guess


class Watcher:
    """What the Kopf watcher would send: the whole spec with its generation, and pokes."""

    def __init__(self, kube: api.KubeApi, ref: InstanceRef, handle: WorkflowHandle[Any, Any]):
        self.kube, self.ref, self.handle = kube, ref, handle

    async def send_spec(self) -> int:
        body = await asyncio.to_thread(
            self.kube.get, api.INSTANCE, self.ref.namespace, self.ref.name
        )
        generation = int(body["metadata"]["generation"])
        update = SpecUpdate(ref=self.ref, generation=generation, spec=ki.redacted_spec(body))
        await self.handle.signal(OdooInstanceWorkflow.set_spec, update)
        return generation

    async def poke(self) -> None:
        await self.handle.signal(OdooInstanceWorkflow.poke, Poke(reason="test"))

    async def patch_spec(self, patch: dict[str, Any]) -> int:
        await asyncio.to_thread(
            self.kube.merge_patch, api.INSTANCE, self.ref.namespace, self.ref.name, {"spec": patch}
        )
        return await self.send_spec()


async def test_instance_goes_from_provisioning_to_running_and_scales_when_all_goes_well(
    temporal_client: Client,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    task_queue: str,
) -> None:
    kube = api.KubeApi(api_client)
    await asyncio.to_thread(ki.create_clusters_secret, kube, namespace)
    ref, spec = await asyncio.to_thread(ki.create_instance, kube, namespace, "shop")
    settings = Settings(operator_namespace=namespace, task_queue=task_queue, pod_name="test")

    def status() -> dict[str, Any]:
        return dict(kube.get(api.INSTANCE, namespace, "shop").get("status") or {})

    def in_phase(phase: str) -> Callable[[], dict[str, Any] | None]:
        return lambda: s if (s := status()).get("phase") == phase else None

    def replicas(name: str) -> int:
        return int(kube.get(api.DEPLOYMENT, namespace, name)["spec"]["replicas"])

    async with worker.build_worker(temporal_client, settings, api_client):
        handle = await temporal_client.start_workflow(
            OdooInstanceWorkflow.run,
            InstanceWorkflowInput(state=MachineState(ref=ref, spec=spec, generation=1)),
            id=naming.workflow_id(namespace, "shop"),
            task_queue=task_queue,
        )
        watcher = Watcher(kube, ref, handle)

        # Provisioning -> Uninitialized; the operator defaults made generation 2.
        await eventually(in_phase("Uninitialized"), "Uninitialized")
        generation = await watcher.send_spec()
        assert generation == 2
        await eventually(
            lambda: kube.find(api.job_resource("odooinitjobs"), namespace, "shop-auto-init"),
            "auto OdooInitJob",
        )

        # The watcher sees the OdooInitJob: Initializing, one batch Job.
        await watcher.poke()
        initializing = await eventually(in_phase("Initializing"), "Initializing")
        assert {c["type"]: c["status"] for c in initializing["conditions"]} == {
            "Ready": "False",
            "Progressing": "True",
        }
        job = await eventually(
            lambda: kube.find(api.JOB, namespace, "shop-auto-init-init"), "init batch Job"
        )
        assert job["spec"]["template"]["spec"]["containers"][0]["args"][:2] == ["-i", "base"]

        # The Job succeeds: Starting, web and cron scaled to their spec.
        await asyncio.to_thread(
            kubelet.fake_job_succeeded, api_client, namespace, job["metadata"]["name"]
        )
        await watcher.poke()
        starting = await eventually(in_phase("Starting"), "Starting")
        assert starting["dbInitialized"] is True
        await eventually(lambda: replicas("shop") == 1 and replicas("shop-cron") == 1, "scaled up")
        init = await asyncio.to_thread(
            kube.get, api.job_resource("odooinitjobs"), namespace, "shop-auto-init"
        )
        assert init["status"]["phase"] == "Completed"

        # The web pod becomes ready: Running.
        await asyncio.to_thread(kubelet.fake_deployment_ready, api_client, namespace, "shop", 1)
        await watcher.poke()
        running = await eventually(in_phase("Running"), "Running")
        assert running["ready"] is True
        assert running["readyReplicas"] == 1
        assert running["observedGeneration"] == 2
        conditions = {c["type"]: c for c in running["conditions"]}
        assert (conditions["Ready"]["status"], conditions["Ready"]["reason"]) == ("True", "Running")
        assert conditions["Progressing"]["status"] == "False"
        assert await handle.query(OdooInstanceWorkflow.phase) == "Running"

        # replicas 0: Stopped, both Deployments at 0.
        generation = await watcher.patch_spec({"replicas": 0})
        stopped = await eventually(in_phase("Stopped"), "Stopped")
        await eventually(
            lambda: replicas("shop") == 0 and replicas("shop-cron") == 0, "scaled down"
        )
        assert stopped["ready"] is False
        assert stopped["targetReplicas"] == 0
        await asyncio.to_thread(kubelet.fake_deployment_ready, api_client, namespace, "shop", 0)

        # replicas 2: Starting, then Running once both pods are ready.
        generation = await watcher.patch_spec({"replicas": 2})
        await eventually(in_phase("Starting"), "Starting again")
        await eventually(lambda: replicas("shop") == 2, "web at 2")
        await asyncio.to_thread(kubelet.fake_deployment_ready, api_client, namespace, "shop", 2)
        await watcher.poke()
        running = await eventually(in_phase("Running"), "Running at 2")
        assert running["readyReplicas"] == 2
        assert running["observedGeneration"] == generation

        # One pod lost: Degraded; back: Running.
        await asyncio.to_thread(kubelet.fake_deployment_ready, api_client, namespace, "shop", 1)
        await watcher.poke()
        degraded = await eventually(in_phase("Degraded"), "Degraded")
        assert degraded["readyReplicas"] == 1
        assert {c["type"]: c["status"] for c in degraded["conditions"]}["Ready"] == "False"
        await asyncio.to_thread(kubelet.fake_deployment_ready, api_client, namespace, "shop", 2)
        await watcher.poke()
        await eventually(in_phase("Running"), "Running again")

        jobs = await asyncio.to_thread(kube.list_of, api.JOB, namespace)
        assert [j["metadata"]["name"] for j in jobs] == ["shop-auto-init-init"]
        transitions = await handle.query(OdooInstanceWorkflow.transitions)
        assert [(t.from_phase, t.to_phase) for t in transitions][:5] == [
            ("Provisioning", "Uninitialized"),
            ("Uninitialized", "Initializing"),
            ("Initializing", "Starting"),
            ("Starting", "Running"),
            ("Running", "Stopped"),
        ]
        await handle.terminate("test over")
