"""Records the workflow histories that test_replay.py replays.

`.venv/bin/python -m tests.workflows.record_histories` writes
histories/happy_path.json (an instance's life) and histories/replacements.json
(a restore that succeeds, then an upgrade that fails and is rolled back): the
command sequences of the current code, which the replay test then pins.
Until the first release the workflow changes directly and these histories are
re-recorded with the change (no patches); from the first release on a change
of a running workflow's command sequence goes through `workflow.patched()`
and the histories of released versions stay beside the new one (README,
"Changing the workflow"). Never re-record to silence a replay failure of a released
history: that failure means running workflows would break.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from model import naming
from model.crds import S3Config
from model.payloads import BackupRequest, DeleteRequest, JobKind, Poke, Replicas
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


async def record_replacements(env: WorkflowEnvironment) -> str:
    """A Running instance restored from a backup (safety backup first; what it
    replaced removed once Running), then upgraded to a new image by an upgrade
    that fails and is rolled back."""
    world = World()
    task_queue = f"record-{uuid.uuid4().hex}"
    ref = new_ref()
    world.database = naming.database_name(ref.uid)
    world.databases[world.database] = world.filestores[world.database] = "v1"
    world.db_initialized = world.auto_ready = True
    world.web = world.cron = Replicas(desired=1, ready=1, exists=True)
    safety = S3Config(bucket="safety", object_key="before.zip", endpoint="http://s3.example")
    async with running_worker(env.client, world, task_queue):
        handle = await start_instance(
            env.client, task_queue, make_spec(), phase=Phase.RUNNING, ref=ref, applied=True
        )
        world.add_job(JobKind.RESTORE, "restore-1", safety_destination=safety)
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="restore"))
        await wait_phase(handle, Phase.RESTORING)
        for kind, name in (
            (JobKind.BACKUP, naming.safety_backup_name("restore-1")),
            (JobKind.RESTORE, "restore-1"),
        ):
            job = naming.batch_job_name(name, kind.value)
            await _until(lambda job=job: job in world.batch_jobs, job)  # type: ignore[misc]
            world.finish_batch_job(kind, succeeded=True, name=name)
            await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="job"))
        await _until(lambda: any(e.reason == "PreviousDataRemoved" for e in world.events), "kept")
        world.add_job(JobKind.UPGRADE, "upgrade-1", image="odoo:19.0", safety_backup=False)
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="upgrade"))
        await _until(lambda: "upgrade-1-upgrade" in world.batch_jobs, "the upgrade Job")
        world.finish_batch_job(JobKind.UPGRADE, succeeded=False, name="upgrade-1")
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="job"))
        await _until(lambda: world.calls["drop_databases"] >= 2, "the rollback")
        await wait_phase(handle, Phase.RUNNING)
        history = await handle.fetch_history()
        await handle.terminate()
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
        (HISTORIES / "replacements.json").write_text(await record_replacements(env))
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main())
