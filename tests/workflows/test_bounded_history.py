"""History stays bounded whatever the signal rate (fake activities, dev server).

Covers: under a steady stream of pokes (several senders, back to back) the
instance workflow still continues as new once its threshold is reached (a
test knob standing in for the SDK's suggestion), again and again; a spec
sent in the middle of the stream is applied (Running -> Stopped, web scaled
to 0) and a problem announced by the last poke of the stream is seen (Error)
with no resync timer to fall back on; an apply refused for good survives a
continue-as-new (the instance stays in Error in the new runs).

On the dev server: the time-skipping server leaves a query unanswered when
the run it waits on continues as new meanwhile, and nothing here needs time
to skip.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from temporalio.client import Client

from model.payloads import InstanceRef, Poke, SpecUpdate, WorkflowSettings
from model.phases import Phase
from tests.phase_cases import make_spec
from tests.workflows.conftest import (
    Handle,
    eventually,
    new_ref,
    running_worker,
    start_instance,
    wait_phase,
)
from tests.workflows.world import World
from workflows.instance import OdooInstanceWorkflow

# Continue as new every few wakes; no resync within the test (a lost poke
# would not be made up for by the timer).
SETTINGS = WorkflowSettings(continue_as_new_after=3, resync_interval=timedelta(hours=1))
SENDERS = 3


@contextlib.asynccontextmanager
async def poke_stream(handle: Handle) -> AsyncIterator[list[int]]:
    """Pokes sent back to back by SENDERS tasks until the block ends; yields the count."""
    stop = asyncio.Event()
    sent = [0]

    async def send() -> None:
        while not stop.is_set():
            await handle.signal(OdooInstanceWorkflow.poke, Poke(reason=f"steady {sent[0]}"))
            sent[0] += 1

    senders = [asyncio.create_task(send()) for _ in range(SENDERS)]
    try:
        yield sent
    finally:
        stop.set()
        await asyncio.gather(*senders)


class NewRuns:
    """The runs of one workflow after its first, as seen by polling its latest run."""

    def __init__(self, handle: Handle, first_run: str) -> None:
        self.handle, self._first, self._seen = handle, first_run, set[str]()

    async def _count(self) -> int:
        run = (await self.handle.describe()).run_id
        if run is not None and run != self._first:
            self._seen.add(run)
        return len(self._seen)

    async def wait(self, count: int, what: str) -> None:
        await eventually(self._count, lambda n: n >= count, timeout=30, what=what)


async def _start(
    client: Client,
    task_queue: str,
    settings: WorkflowSettings,
    *,
    ref: InstanceRef | None = None,
    applied: bool = False,
) -> NewRuns:
    """A Running instance; its latest run's handle (whichever run it is) and its new runs."""
    started = await start_instance(
        client,
        task_queue,
        make_spec(),
        phase=Phase.RUNNING,
        ref=ref,
        settings=settings,
        applied=applied,
    )
    assert started.result_run_id is not None
    latest = client.get_workflow_handle_for(OdooInstanceWorkflow.run, started.id)
    return NewRuns(latest, started.result_run_id)


async def test_runs_continue_as_new_under_a_steady_poke_stream_and_no_spec_or_poke_is_lost(
    temporal_client: Client, task_queue: str
) -> None:
    world = World.serving()
    client = temporal_client
    ref = new_ref()
    async with running_worker(client, world, task_queue):
        runs = await _start(client, task_queue, SETTINGS, ref=ref)
        handle = runs.handle
        await wait_phase(handle, Phase.RUNNING)
        async with poke_stream(handle) as sent:
            await runs.wait(2, "two new runs while pokes keep coming")
            assert sent[0] > 0
            update = SpecUpdate(ref=ref, generation=2, spec=make_spec(replicas=0))
            await handle.signal(OdooInstanceWorkflow.set_spec, update)
            await wait_phase(handle, Phase.STOPPED, timeout=30)
            assert world.web.desired == 0
            await runs.wait(3, "another new run after the spec")
            with world.lock:
                world.problems = ("spec.database.cluster: cluster 'gone' is not configured",)
            # The last poke of the stream announces it.
            await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="last"))
        await wait_phase(handle, Phase.ERROR, timeout=30)
        assert "cluster 'gone'" in (world.statuses[-1].message or "")
        await handle.terminate()


async def test_an_apply_refused_for_good_survives_a_continue_as_new(
    temporal_client: Client, task_queue: str
) -> None:
    # The children were applied at this generation; a re-apply on the resync
    # timer is refused (a ConfigMap of the same name made by someone else).
    # Nothing in the snapshot says so: only the carried problem keeps the new
    # runs in Error instead of going back to Running.
    world = World.serving()
    world.apply_problem = "ConfigMap shop-odoo-conf exists and was not created by odoo-operator"
    settings = SETTINGS.model_copy(
        update={"resync_interval": timedelta(seconds=1), "reapply_interval": timedelta(0)}
    )
    client = temporal_client
    async with running_worker(client, world, task_queue):
        runs = await _start(client, task_queue, settings, applied=True)
        handle = runs.handle
        await wait_phase(handle, Phase.ERROR)
        async with poke_stream(handle):
            await runs.wait(2, "two new runs")
        assert await handle.query(OdooInstanceWorkflow.phase) is Phase.ERROR
        transitions = await handle.query(OdooInstanceWorkflow.transitions)
        assert [(t.from_phase, t.to_phase) for t in transitions] == [
            (Phase.RUNNING, Phase.ERROR)
        ], "a new run forgot the refused apply"
        assert "shop-odoo-conf" in (world.statuses[-1].message or "")
        await handle.terminate()
