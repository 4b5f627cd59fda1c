"""Errors retrying cannot fix never wedge an instance, and a newer spec is never held back.

On the time-skipping server over the World's fakes. Covers: a backup
Schedule Temporal refuses (INVALID_ARGUMENT, e.g. "61 2 * * *" in a spec
admitted before the rules existed) is tried once per spec.backup, puts the
instance in Error with Temporal's message in status.message, and a later
stop (`replicas: 0`) is applied while the bad schedule stays; a spec.backup
that Temporal takes clears it. A wake whose activity retries for ever with
the old spec (the Schedule sync answering a transient error) is cancelled
once a newer generation has waited newer_spec_grace, and the new spec (a
stop without the schedule) is applied.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.testing import WorkflowEnvironment

from model.payloads import Replicas, SpecUpdate
from model.phases import Phase
from tests.phase_cases import make_spec
from tests.workflows.conftest import FAST, eventually, new_ref, running_worker, start_instance
from tests.workflows.world import World
from workflows.instance import OdooInstanceWorkflow

REFUSAL = (
    "spec.backup.schedule: Temporal refused the backup Schedule ('0 2 * * *'): "
    "Invalid schedule spec: Minute is not in range [0-59]"
)


def _backup(schedule: str = "0 2 * * *") -> dict[str, Any]:
    return {"schedule": schedule, "destination": {"bucket": "b", "endpoint": "http://s3:9000"}}


def _serving() -> World:
    return World(
        db_initialized=True,
        web=Replicas(ready=1, desired=1, exists=True),
        cron=Replicas(desired=1, exists=True),
    )


async def _world(world: World) -> World:
    return world


async def test_a_schedule_temporal_refuses_is_an_error_tried_once_and_a_stop_still_applies(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = _serving()
    world.schedule_refusal = REFUSAL
    client = time_skipping_env.client
    ref = new_ref()
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(backup=_backup()), ref=ref)
        await eventually(
            lambda: handle.query(OdooInstanceWorkflow.phase),
            lambda phase: phase is Phase.ERROR,
            what="Error",
        )
        assert world.statuses[-1].message == REFUSAL
        stop = SpecUpdate(ref=ref, generation=2, spec=make_spec(replicas=0, backup=_backup()))
        await handle.signal(OdooInstanceWorkflow.set_spec, stop)
        await eventually(
            lambda: _world(world),
            lambda w: (w.web.desired, w.cron.desired) == (0, 0),
            what="the stop applied",
        )
        # The same spec.backup is not sent to Temporal again.
        assert world.calls["sync_backup_schedule"] == 1
        assert world.statuses[-1].message == REFUSAL

        world.schedule_refusal = None
        fixed = make_spec(replicas=0, backup=_backup("0 3 * * *"))
        await handle.signal(
            OdooInstanceWorkflow.set_spec, SpecUpdate(ref=ref, generation=3, spec=fixed)
        )
        await eventually(
            lambda: handle.query(OdooInstanceWorkflow.phase),
            lambda phase: phase is Phase.STOPPED,
            what="Stopped once the schedule is taken",
        )
        assert world.calls["sync_backup_schedule"] == 2
        assert world.statuses[-1].message is None
        await handle.terminate()


async def test_a_newer_spec_cancels_a_wake_whose_activity_retries_with_the_old_one(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = _serving()
    world.schedule_unavailable.set()
    client = time_skipping_env.client
    ref = new_ref()
    settings = FAST.model_copy(update={"newer_spec_grace": timedelta(seconds=1)})
    async with running_worker(client, world, task_queue):
        handle = await start_instance(
            client, task_queue, make_spec(backup=_backup()), ref=ref, settings=settings
        )
        await eventually(
            lambda: asyncio.sleep(0, world.calls["sync_backup_schedule"]),
            lambda calls: calls >= 1,
            what="the schedule sync retrying",
        )
        stop = SpecUpdate(ref=ref, generation=2, spec=make_spec(replicas=0))
        await handle.signal(OdooInstanceWorkflow.set_spec, stop)
        await eventually(
            lambda: handle.query(OdooInstanceWorkflow.phase),
            lambda phase: phase is Phase.STOPPED,
            what="the stop applied past the retrying sync",
        )
        assert (world.web.desired, world.cron.desired) == (0, 0)
        # The old spec.backup was never synced; none was made, so none is deleted.
        assert all(backup is not None for backup in world.schedules_synced)
        await handle.terminate()
