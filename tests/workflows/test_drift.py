"""Drift on the time-skipping server: child objects deleted or changed out of band.

Covers: a poke saying a child changed makes the next snapshot read the
children, any other poke does not (the API requests are paid only when
asked); a child found missing is restored by a re-apply told what it repairs
(the activity posts the Event), the instance staying Running; restores are
rate-limited by restore_interval: meanwhile the instance is Degraded and
status.message names the object, and the restore comes when the interval
has passed, without another event; a child being deleted is not re-applied
while it goes, and is restored once it is gone; a changed credentials
Secret is followed by a re-apply without leaving Running; the periodic
re-apply of a resync reads the children first (a missed deletion event is
caught and reported), a plain resync does not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest_asyncio
from temporalio.testing import WorkflowEnvironment

from model.payloads import ChildDrift, Drift, Poke, RecordStatusInput, Replicas, WorkflowSettings
from model.phases import Phase
from sandbox import temporal
from tests.phase_cases import make_spec
from tests.workflows.conftest import (
    Handle,
    eventually,
    register_search_attributes,
    running_worker,
    start_instance,
    wait_phase,
)
from tests.workflows.world import World
from workflows.instance import OdooInstanceWorkflow

CHANGED = Poke(reason="Service erp changed", children_changed=True)
SLOW_RESTORES = WorkflowSettings(
    resync_interval=timedelta(hours=2), restore_interval=timedelta(hours=1)
)


@pytest_asyncio.fixture
async def own_clock() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own, whose clock it moves with sleep():
    on the session's, a sleep may never return once earlier tests' workflows ran."""
    env = await temporal.start_time_skipping_env()
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@asynccontextmanager
async def running(
    env: WorkflowEnvironment, world: World, task_queue: str, **start: Any
) -> AsyncIterator[Handle]:
    """An instance Running over `world` (start_instance's `start`), terminated after."""
    async with running_worker(env.client, world, task_queue):
        handle = await start_instance(env.client, task_queue, make_spec(), **start)
        await wait_phase(handle, Phase.RUNNING)
        yield handle
        await handle.terminate()


def _serving() -> World:
    return World(db_initialized=True, web=Replicas(ready=1, desired=1, exists=True))


async def _count(world: World, call: str) -> int:
    return world.calls[call]


async def _restored(world: World) -> list[ChildDrift]:
    return list(world.restored)


async def _degraded(world: World) -> RecordStatusInput:
    async def last() -> RecordStatusInput | None:
        return world.statuses[-1] if world.statuses else None

    status = await eventually(last, lambda s: s is not None and s.phase is Phase.DEGRADED)
    assert status is not None
    return status


async def test_children_are_read_only_when_a_poke_says_one_changed(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = _serving()
    async with running(time_skipping_env, world, task_queue, applied=True) as handle:
        reads, gathered = world.calls["read_children"], world.calls["gather_snapshot"]
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="Deployment erp changed"))
        await eventually(
            lambda: _count(world, "gather_snapshot"), lambda n: n > gathered, what="a snapshot"
        )
        assert world.calls["read_children"] == reads
        await handle.signal(OdooInstanceWorkflow.poke, CHANGED)
        await eventually(lambda: _count(world, "read_children"), lambda n: n > reads, what="a read")


async def test_missing_child_restored_at_once_and_reported_when_a_poke_says_it_changed(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = _serving()
    async with running(time_skipping_env, world, task_queue, applied=True) as handle:
        world.delete_child("Service", "erp")
        await handle.signal(OdooInstanceWorkflow.poke, CHANGED)
        restored = await eventually(lambda: _restored(world), bool, what="the restore")
        assert restored == [ChildDrift(kind="Service", name="erp", drift=Drift.MISSING)]
        assert ("Service", "erp") in world.children
        assert world.calls["apply_children"] == 1
    # Restored before any status was written about it: never Degraded, nothing to say.
    assert [(s.phase, s.message) for s in world.statuses if s.phase is not Phase.STARTING] == [
        (Phase.RUNNING, None)
    ]


async def test_missing_child_named_and_instance_degraded_until_restore_interval_passed(
    own_clock: WorkflowEnvironment, task_queue: str
) -> None:
    world = _serving()
    # Not applied yet: the first wake applies, so restores wait an hour.
    async with running(own_clock, world, task_queue, settings=SLOW_RESTORES) as handle:
        assert world.calls["apply_children"] == 1
        world.delete_child("ConfigMap", "erp-config")
        await handle.signal(OdooInstanceWorkflow.poke, CHANGED)
        degraded = await _degraded(world)
        assert degraded.message == "ConfigMap erp-config is missing; restoring it"
        assert world.calls["apply_children"] == 1  # not yet: rate-limited
        await wait_phase(handle, Phase.DEGRADED)  # the wake is over: the timer waits
        await own_clock.sleep(timedelta(hours=1))
        await wait_phase(handle, Phase.RUNNING)
        assert world.restored == [
            ChildDrift(kind="ConfigMap", name="erp-config", drift=Drift.MISSING)
        ]
        assert world.calls["apply_children"] == 2
        assert world.statuses[-1].message is None


async def test_child_being_deleted_waits_until_gone_then_is_restored(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = _serving()
    async with running(time_skipping_env, world, task_queue, applied=True) as handle:
        key = ("Deployment", "erp-cron")
        with world.lock:
            world.deleting.add(key)  # held by a finalizer
        await handle.signal(OdooInstanceWorkflow.poke, CHANGED)
        degraded = await _degraded(world)
        assert degraded.message == (
            "Deployment erp-cron is being deleted; restoring it once it is gone"
        )
        assert world.calls["apply_children"] == 0
        with world.lock:
            world.deleting.discard(key)
            world.children.pop(key)
        await handle.signal(OdooInstanceWorkflow.poke, CHANGED)  # its DELETED event
        await wait_phase(handle, Phase.RUNNING)
        assert world.restored == [
            ChildDrift(kind="Deployment", name="erp-cron", drift=Drift.MISSING)
        ]


async def test_changed_credentials_secret_followed_by_a_reapply_while_running(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = _serving()
    async with running(time_skipping_env, world, task_queue, applied=True) as handle:
        with world.lock:
            world.children[("Secret", "erp-db-password")] = "new password"
        await handle.signal(OdooInstanceWorkflow.poke, CHANGED)
        restored = await eventually(lambda: _restored(world), bool, what="the re-apply")
        assert restored == [ChildDrift(kind="Secret", name="erp-db-password", drift=Drift.CHANGED)]
    assert Phase.DEGRADED not in {s.phase for s in world.statuses}


async def test_reapply_of_a_resync_reads_the_children_and_reports_one_whose_deletion_was_missed(
    own_clock: WorkflowEnvironment, task_queue: str
) -> None:
    world = _serving()
    settings = WorkflowSettings(
        resync_interval=timedelta(minutes=5), reapply_interval=timedelta(minutes=9)
    )
    # Applied at start: the resync at 5 minutes only looks, the one at 10 re-applies.
    async with running(own_clock, world, task_queue, settings=settings):
        reads, gathered = world.calls["read_children"], world.calls["gather_snapshot"]
        world.delete_child("Service", "erp")  # no poke: the event was missed
        await own_clock.sleep(timedelta(minutes=5))
        await eventually(
            lambda: _count(world, "gather_snapshot"),
            lambda n: n > gathered,
            what="the first resync",
        )
        assert world.calls["read_children"] == reads
        assert world.restored == []
        await own_clock.sleep(timedelta(minutes=5))
        restored = await eventually(lambda: _restored(world), bool, what="the restore")
        assert restored == [ChildDrift(kind="Service", name="erp", drift=Drift.MISSING)]


async def test_a_refused_restore_is_an_error_retried_on_resyncs_not_in_a_loop(
    own_clock: WorkflowEnvironment, task_queue: str
) -> None:
    world = _serving()
    # Restores at once (no rate limit), after a first apply at start.
    settings = WorkflowSettings(resync_interval=timedelta(minutes=5), restore_interval=timedelta())
    async with running(own_clock, world, task_queue, settings=settings) as handle:
        world.delete_child("Service", "erp")
        world.apply_problem = "Service erp exists and was not created by odoo-operator"
        await handle.signal(OdooInstanceWorkflow.poke, CHANGED)
        await wait_phase(handle, Phase.ERROR)
        assert world.statuses[-1].message == (
            "Service erp exists and was not created by odoo-operator; "
            "Service erp is missing; restoring it"
        )
        tried = world.calls["apply_children"]
        await own_clock.sleep(timedelta(minutes=10))
        # One more try per resync (two), not one per restore_interval (60).
        await eventually(
            lambda: _count(world, "apply_children"), lambda n: n >= tried + 2, what="retries"
        )
        assert world.calls["apply_children"] <= tried + 3
