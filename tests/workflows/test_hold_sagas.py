"""A hold and the sagas: none starts on hold, one already running is followed to its end.

On the Temporal dev server (the hold is an Update) over the World's fakes,
with a live database and filestore ("v1"). Covers:
- an OdooRestoreJob applied with kubectl to a held instance: no saga starts
  (the instance stays Running, nothing prepared, no Job, the data as it
  was) until `resume`, then the restore runs;
- a hold that comes while a restore's Job runs: the saga goes on to its end
  (swapped in, started, Running on the restored data), the hold stays, and
  what the restore kept aside is removed only after `resume`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from temporalio.client import Client

from model import naming
from model.payloads import HoldResult, JobKind, Poke, Replicas, ResumeResult
from model.phases import JobPhase, Phase
from tests.phase_cases import make_spec
from tests.workflows.conftest import (
    Handle,
    eventually,
    new_ref,
    running_worker,
    start_instance,
    wait_phase,
)
from tests.workflows.world import JobResource, World
from workflows.instance import OdooInstanceWorkflow


@contextlib.asynccontextmanager
async def _live_instance(client: Client, task_queue: str) -> AsyncIterator[tuple[World, Handle]]:
    """A Running instance over a World with a live database and filestore "v1"."""
    ref = new_ref()
    world = World(db_initialized=True, auto_ready=True)
    world.database = naming.database_name(ref.uid)
    world.databases[world.database] = "v1"
    world.filestores[world.database] = "v1"
    world.web = Replicas(desired=1, ready=1, exists=True)
    world.cron = Replicas(desired=1, ready=1, exists=True)
    async with running_worker(client, world, task_queue):
        handle = await start_instance(
            client, task_queue, make_spec(), phase=Phase.RUNNING, ref=ref, applied=True
        )
        yield world, handle
        await handle.terminate()


async def _until(check: Callable[[], bool], what: str) -> None:
    await eventually(lambda: asyncio.sleep(0, check()), bool, what=what)


async def _poke(handle: Handle) -> None:
    await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="test"))


async def _restored(world: World, handle: Handle, resource: JobResource) -> None:
    """Let the restore's Job succeed once it started; wait for Running on the result."""
    await _until(lambda: resource.job_name is not None, "the restore Job")
    world.finish_batch_job(JobKind.RESTORE, succeeded=True, name=resource.name)
    await _poke(handle)
    await _until(lambda: resource.phase is JobPhase.COMPLETED, "the restore completed")
    await wait_phase(handle, Phase.RUNNING)


async def test_a_held_instance_starts_no_restore_until_resumed(
    temporal_client: Client, task_queue: str
) -> None:
    async with _live_instance(temporal_client, task_queue) as (world, handle):
        await handle.execute_update("hold", {"reason": "audit"}, result_type=HoldResult)
        resource = world.add_job(JobKind.RESTORE, "restore-1", safety_backup=False)
        await _poke(handle)
        await eventually(
            lambda: handle.query(OdooInstanceWorkflow.snapshot),
            lambda snap: snap is not None and snap.restore is not None,
            what="the snapshot seeing the queued restore",
        )
        assert await handle.query(OdooInstanceWorkflow.phase) is Phase.RUNNING
        assert world.calls["prepare_operation"] == 0
        assert not world.batch_jobs_created
        assert world.databases == {world.database: "v1"}

        await handle.execute_update("resume", {}, result_type=ResumeResult)
        await wait_phase(handle, Phase.RESTORING)
        await _restored(world, handle, resource)
    assert world.databases[world.database] == "restored"


async def test_a_restore_running_when_the_hold_comes_is_followed_to_its_end(
    temporal_client: Client, task_queue: str
) -> None:
    async with _live_instance(temporal_client, task_queue) as (world, handle):
        resource = world.add_job(JobKind.RESTORE, "restore-1", safety_backup=False)
        await _poke(handle)
        await wait_phase(handle, Phase.RESTORING)
        await _until(lambda: resource.job_name is not None, "the restore Job")
        await handle.execute_update("hold", {"reason": "incident"}, result_type=HoldResult)
        await _restored(world, handle, resource)
        assert world.databases[world.database] == "restored"
        assert await handle.query(OdooInstanceWorkflow.hold) is not None
        aside = naming.aside_database_name(world.database, resource.uid)
        await _poke(handle)
        await _until(lambda: world.calls["record_status"] > 0, "a wake on hold")
        assert aside in world.databases  # nothing removed while held

        await handle.execute_update("resume", {}, result_type=ResumeResult)
        await _until(lambda: aside not in world.databases, "the kept-aside data removed")
    assert world.databases == {world.database: "restored"}
