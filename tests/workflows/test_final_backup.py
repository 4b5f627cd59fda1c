"""The deletion's final backup (machine.DELETION_TABLE) through the instance workflow.

Time-skipping server over the World's fake activities. Covers:
- with spec.backup (finalBackup true) and an initialized database, deleting
  the instance makes one final OdooBackupJob, shows BackingUp, runs it, and
  drops the database (cleanup) only once it completed;
- backups queued before the final one run first, each finished once;
- a failed final backup keeps the database, a FinalBackupFailed Warning says
  why, a spec change tries another, and setting finalBackup false lets the
  deletion finish;
- no final backup for a database that was never set up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from model.payloads import DeleteRequest, InstanceRef, JobKind, Poke, Replicas, SpecUpdate
from model.phases import JobPhase, Phase
from tests.phase_cases import FINAL, NO_FINAL, make_spec
from tests.workflows.conftest import (
    Handle,
    eventually,
    new_ref,
    running_worker,
    start_instance,
    transitions_of,
    wait_phase,
)
from tests.workflows.world import World
from workflows.instance import OdooInstanceWorkflow


def serving_world() -> World:
    serving = Replicas(desired=1, ready=1, exists=True)
    return World(web=serving, cron=serving, db_initialized=True)


async def until(check: Callable[[], bool], what: str) -> None:
    await eventually(lambda: asyncio.sleep(0, check()), bool, what=what)


def finals(world: World) -> list[str]:
    return [name for name in world.created if "-final-" in name]


def phase_of(world: World, name: str) -> JobPhase | None:
    return next(j.phase for j in world.jobs if j.name == name)


def started(world: World, name: str) -> bool:
    return any(j.name == name and j.job_name is not None for j in world.jobs)


async def running(client: Client, task_queue: str, ref: InstanceRef) -> Handle:
    """A Running instance whose spec.backup asks for a final backup."""
    handle = await start_instance(client, task_queue, make_spec(**FINAL), ref=ref)
    await wait_phase(handle, Phase.RUNNING)
    return handle


async def finish_backup(world: World, handle: Handle, *, succeeded: bool) -> None:
    """The active backup's Job ends; its follow (follow_job) wakes the workflow."""
    world.finish_batch_job(JobKind.BACKUP, succeeded=succeeded)


async def test_final_backup_completes_before_the_database_is_dropped_when_deleted(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world, client, ref = serving_world(), time_skipping_env.client, new_ref()
    async with running_worker(client, world, task_queue):
        handle = await running(client, task_queue, ref)
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        await until(lambda: len(finals(world)) == 1 and started(world, finals(world)[0]), "final")
        await wait_phase(handle, Phase.BACKING_UP)
        assert world.cleaned_up == []  # the database stays while it runs
        await finish_backup(world, handle, succeeded=True)
        result = await handle.result()
    assert result.cleaned_up
    assert world.cleaned_up == [ref.uid]
    [final] = finals(world)
    assert phase_of(world, final) is JobPhase.COMPLETED
    assert world.statuses[-1].phase is Phase.BACKING_UP
    assert world.events == []


async def test_backups_queued_before_the_final_one_run_first_when_deleted(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world, client, ref = serving_world(), time_skipping_env.client, new_ref()
    async with running_worker(client, world, task_queue):
        handle = await running(client, task_queue, ref)
        world.add_job(JobKind.BACKUP, "by-hand")
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="backup resource"))
        await until(lambda: started(world, "by-hand"), "the queued backup's Job")
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        await until(lambda: len(finals(world)) == 1, "the final backup made")
        [final] = finals(world)
        assert not started(world, final)  # it waits for the one before it
        await finish_backup(world, handle, succeeded=False)
        await until(lambda: started(world, final), "the final backup's Job")
        assert world.cleaned_up == []
        await finish_backup(world, handle, succeeded=True)
        result = await handle.result()
    assert result.cleaned_up
    assert (phase_of(world, "by-hand"), phase_of(world, final)) == (
        JobPhase.FAILED,
        JobPhase.COMPLETED,
    )
    assert [e.name for e in world.edges if e.edge == "finish_job"] == ["by-hand", final]


async def test_failed_final_backup_keeps_the_database_until_final_backup_is_turned_off(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world, client, ref = serving_world(), time_skipping_env.client, new_ref()
    async with running_worker(client, world, task_queue):
        handle = await running(client, task_queue, ref)
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        for attempt, generation in ((1, 2), (2, 3)):
            await until(
                lambda n=attempt: len(finals(world)) == n and started(world, finals(world)[-1]),
                f"final backup {attempt} running",
            )
            await finish_backup(world, handle, succeeded=False)
            await until(lambda n=attempt: len(world.events) == n, f"warning {attempt}")
            warning = world.events[-1]
            assert (warning.reason, warning.warning) == ("FinalBackupFailed", True)
            assert f"final backup {finals(world)[-1]} failed, so database" in warning.message
            assert "is kept" in warning.message
            assert world.cleaned_up == []
            # A spec change: the first time the same spec (try again), then finalBackup false.
            spec = make_spec(**(FINAL if attempt == 1 else NO_FINAL))
            update = SpecUpdate(ref=ref, generation=generation, spec=spec)
            await handle.signal(OdooInstanceWorkflow.set_spec, update)
        result = await handle.result()
        transitions = await transitions_of(handle)
    assert result.cleaned_up
    assert world.cleaned_up == [ref.uid]
    assert [phase_of(world, name) for name in finals(world)] == [JobPhase.FAILED] * 2
    assert transitions[-1] == "Running->BackingUp:final_backup_wanted"


async def test_no_final_backup_when_the_database_was_never_set_up(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world, client, ref = World(), time_skipping_env.client, new_ref()
    spec = make_spec(**FINAL, init={"enabled": False})
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, spec, ref=ref)
        await wait_phase(handle, Phase.UNINITIALIZED)
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        result = await handle.result()
    assert result.cleaned_up
    assert world.created == []
