"""Records the workflow history that test_replay.py replays.

`.venv/bin/python -m tests.workflows.record_histories` writes
histories/happy_path.json: the command sequence of the current code, which
the replay test then pins. Until the first release the workflow changes
directly and this history is re-recorded with the change (one history, no
patches); from the first release on a change of a running workflow's
command sequence goes through `workflow.patched()` and the histories of
released versions stay beside the new one (README, "Changing the
workflow"). Never re-record to silence a replay failure of a released
history: that failure means running workflows would break.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from model.payloads import BackupRequest, DeleteRequest, JobKind, Poke
from model.phases import Phase
from sandbox import processes
from tests.phase_cases import FINAL, make_spec
from tests.workflows.conftest import (
    Handle,
    eventually,
    new_ref,
    register_search_attributes,
    running_worker,
    start_instance,
    wait_phase,
)
from tests.workflows.world import World
from workflows.instance import OdooInstanceWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def record_happy_path(env: WorkflowEnvironment) -> str:
    """One instance's life: created (auto-init) to Running, one backup asked for
    by signal, then deleted: its final backup first, then the cleanup."""
    world = World()
    task_queue = f"record-{uuid.uuid4().hex}"
    ref = new_ref()
    async with running_worker(env.client, world, task_queue):
        handle = await start_instance(env.client, task_queue, make_spec(**FINAL), ref=ref)
        await wait_phase(handle, Phase.INITIALIZING)
        await _until(lambda: world.batch_jobs_created.total() == 1, "the init Job")
        world.finish_batch_job(JobKind.INIT, succeeded=True)
        await wait_phase(handle, Phase.STARTING)
        world.set_ready(1)
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="deployment"))
        await wait_phase(handle, Phase.RUNNING)
        await handle.signal(OdooInstanceWorkflow.backup, BackupRequest())
        await _backed_up(world, handle, jobs=2)
        await wait_phase(handle, Phase.RUNNING)
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        await _backed_up(world, handle, jobs=3)
        await handle.result()
        history = await handle.fetch_history()
    return history.to_json()


async def _backed_up(world: World, handle: Handle, *, jobs: int) -> None:
    """Let the backup whose Job is the `jobs`th one created succeed."""
    await _until(lambda: world.batch_jobs_created.total() == jobs, f"batch Job {jobs}")
    await wait_phase(handle, Phase.BACKING_UP)
    world.finish_batch_job(JobKind.BACKUP, succeeded=True)


async def _until(check: Callable[[], bool], what: str) -> None:
    await eventually(lambda: asyncio.sleep(0, check()), bool, what=what)


async def main() -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(processes.find_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
    )
    try:
        await register_search_attributes(env.client)
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / "happy_path.json").write_text(await record_happy_path(env))
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
