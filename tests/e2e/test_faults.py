"""Twenty instances driven through crashes and outages of the operator's processes.

Same processes as test_lifecycle (least-privileged ServiceAccount, real
controllers, simulated kubelet). Covers, for 20 instances at once: the worker
killed with SIGKILL while every instance is mid-init (its init Job's Pod
exists and the kubelet holds it Pending, its follow_job waits for the Job)
and started again -> all reach Running once the Pods run (the follows
interrupted go on after their heartbeat timeout); the Temporal server stopped for 10 seconds
(history kept in sqlite) while 5 instances are scaled to 2 -> the watcher's
update handler fails temporarily and is retried, the worker reconnects, and
those 5 run 2 ready replicas; the watcher stopped (SIGTERM, exits within
10 s) while 5 other instances are scaled to 0, then started again -> they
are Stopped (level-based resume). At the end every instance has exactly one
Job (its auto-init Job), no job resource is left Running, every instance has
observed its latest generation, both processes end on SIGTERM and no request
of theirs was refused.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from temporalio.client import Client

from activities import api
from model import naming
from sandbox import kubelet, temporal
from tests.activities import kube_instance as ki
from tests.e2e.cluster import Operator
from tests.lifecycle.driver import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
COUNT = 20
DEADLINE = 60.0
OUTAGE_SECONDS = 10.0
"""How long Temporal stays down: the scenario itself, not a wait for a condition."""
NAMES = [f"shop-{n:02d}" for n in range(COUNT)]
SCALED_UP = NAMES[:5]  # replicas 2 while Temporal is down
STOPPED = NAMES[5:10]  # replicas 0 while the watcher is down
PODS = api.Resource("v1", "pods")
JOB_POD = "batch.kubernetes.io/job-name"
"""Label the Job controller puts on its Pods."""


async def test_every_instance_converges_once_when_worker_temporal_and_watcher_fail(
    operator: Operator,
    kube_kubelet: kubelet.KubeletThread,
    kube: api.KubeApi,
    namespace: str,
    e2e_client: Client,
    temporal_down_then_up: temporal.TemporalDevServer,
) -> None:
    server = temporal_down_then_up
    expected = dict.fromkeys(NAMES, ("Running", 1))

    def lagging() -> list[str]:
        """Instances not (yet) in their expected phase at their latest generation."""
        items = kube.list_of(api.INSTANCE, namespace)
        late = [] if len(items) == COUNT else [f"{COUNT - len(items)} instances missing"]
        for item in items:
            name, status = item["metadata"]["name"], item.get("status") or {}
            phase, replicas = expected[name]
            if (
                status.get("phase") != phase
                or status.get("observedGeneration") != item["metadata"]["generation"]
                or int(status.get("readyReplicas", 0)) != (replicas if phase == "Running" else 0)
            ):
                late.append(
                    f"{name}: {status.get('phase')} ready {status.get('readyReplicas')} "
                    f"observed {status.get('observedGeneration')} "
                    f"generation {item['metadata']['generation']}"
                )
        return late

    async def converge(what: str) -> None:
        try:
            await eventually(lambda: not lagging(), what, DEADLINE, interval=0.2)
        except TimeoutError as err:
            raise AssertionError(f"{what}: {lagging()}") from err

    # 1. Every instance mid-init: its init Job's Pod exists, held Pending by the kubelet.
    with ki.holding(kube_kubelet, kubelet.pod_matcher(namespace)):
        for name in NAMES:
            ki.create_instance(kube, namespace, name)
        await eventually(
            lambda: len(kube.list_of(PODS, namespace, label_selector=JOB_POD)) == COUNT,
            "an init Pod per instance",
            DEADLINE,
            interval=0.2,
        )
        await idle_workflows(e2e_client, namespace)
        operator.worker.kill()
        await asyncio.to_thread(operator.worker.start)
    await converge("Running after the worker crash")

    # 2. Temporal down for OUTAGE_SECONDS while instances change.
    await asyncio.to_thread(server.stop)
    for name in SCALED_UP:
        kube.merge_patch(api.INSTANCE, namespace, name, {"spec": {"replicas": 2}})
        expected[name] = ("Running", 2)
    await asyncio.sleep(OUTAGE_SECONDS)  # the outage itself (see OUTAGE_SECONDS)
    await asyncio.to_thread(server.start)
    await converge("scaled to 2 after the Temporal outage")
    assert "'send-spec-update' failed temporarily" in operator.watcher.log_file.read_text()

    # 3. The watcher down while instances change: applied after its restart.
    assert operator.watcher.stop() != -9, "the watcher ignored SIGTERM"
    for name in STOPPED:
        kube.merge_patch(api.INSTANCE, namespace, name, {"spec": {"replicas": 0}})
        expected[name] = ("Stopped", 0)
    await asyncio.to_thread(operator.watcher.start)
    await converge("Stopped after the watcher restart")

    jobs = sorted(j["metadata"]["name"] for j in kube.list_of(api.JOB, namespace))
    assert jobs == [f"{name}-auto-init-init" for name in NAMES]
    init_jobs = kube.list_of(api.job_resource("odooinitjobs"), namespace)
    assert sorted((j["status"] or {}).get("phase") for j in init_jobs) == ["Completed"] * COUNT


async def idle_workflows(client: Client, namespace: str) -> None:
    """Wait until no instance workflow has an activity in flight but follow_job.

    Killing the worker then interrupts no activity (whose start-to-close
    timeout, not a retry, would decide when it runs again). follow_job runs as
    long as its Job does and heartbeats: the worker killed under it is noticed
    after its heartbeat timeout, and the restarted worker follows the Job on.
    """
    until = time.monotonic() + DEADLINE
    while True:
        busy: list[str] = []
        for name in NAMES:
            handle = client.get_workflow_handle(naming.workflow_id(namespace, name))
            description = await handle.describe()
            pending = description.raw_description.pending_activities
            if any(a.activity_type.name != "follow_job" for a in pending):
                busy.append(name)
        if not busy:
            return
        assert time.monotonic() < until, f"activities still running in {busy}"
        await asyncio.sleep(0.2)
