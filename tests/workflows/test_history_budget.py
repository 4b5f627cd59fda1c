"""The history budget: how many events an instance adds to its workflow history.

Time-skipping server over the World's fake activities, with the operator's
default WorkflowSettings (a resync every 12 h, a re-apply once a day). Event
counts are deterministic (they do not depend on how fast anything ran), so
they are asserted against the budget README's "History budget" states:
- an idle instance adds at most 20 events a day (two resyncs, one of them
  applying the child objects again), counted over one day of workflow time
  between two resyncs;
- a backup cycle, from the Schedule's `backup` signal until the instance is
  back in Running with the OdooBackupJob Completed, at most 25 (the Job is
  followed by follow_job, whose end wakes the workflow: no poke, no polling);
- a reconcile after a spec change, from the `set_spec` signal until the new
  status is written, at most 15;
- an instance left alone for four months continues as new before its run
  reaches 2,000 events (WorkflowSettings.history_length_limit), and the next
  run carries its state.
The benchmark suite measures the same on the real control plane
(benchmarks/suite.py, `history` scenario).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.testing import WorkflowEnvironment

from model.payloads import BackupRequest, InstanceRef, JobKind, SpecUpdate, WorkflowSettings
from model.phases import JobPhase, Phase
from tests.phase_cases import make_spec
from tests.workflows.conftest import (
    SPEC_BACKUP,
    Handle,
    backup_running,
    eventually,
    new_ref,
    running_worker,
    start_instance,
)
from tests.workflows.world import World
from workflows.instance import OdooInstanceWorkflow

IDLE_DAY_BUDGET = 20
BACKUP_CYCLE_BUDGET = 25
SPEC_CHANGE_BUDGET = 15
RUN_LIMIT = 2_000

DEFAULTS = WorkflowSettings()
_FIRED = EventType.EVENT_TYPE_TIMER_FIRED
_CONTINUED = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
_TASK_COMPLETED = EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
# What a workflow task is, or asks for one.
_TASK_EVENTS = frozenset(
    {
        EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
        EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
        _TASK_COMPLETED,
        EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
        EventType.EVENT_TYPE_TIMER_FIRED,
    }
)


async def _idle(handle: Handle) -> int:
    """The history length once nothing is left to do: no activity pending, and the
    last workflow task completed with nothing after it that asks for another (the
    wake that was going on has written all its events)."""

    async def length() -> tuple[bool, int]:
        pending = (await handle.describe()).raw_description.pending_activities
        events = await _events(handle)
        tasks = [e.event_type for e in events if e.event_type in _TASK_EVENTS]
        idle = not pending and tasks[-1:] == [_TASK_COMPLETED]
        return idle, len(events)

    _, count = await eventually(length, lambda found: found[0], what="an idle workflow")
    return count


async def _events(handle: Handle) -> Sequence[HistoryEvent]:
    return (await handle.fetch_history()).events


def _at(event: HistoryEvent) -> datetime:
    return event.event_time.ToDatetime(tzinfo=UTC)


def _one_day(events: Sequence[HistoryEvent], after: datetime) -> list[HistoryEvent]:
    """The events of one day of workflow time from the first resync after `after`."""
    start = next(_at(e) for e in events if e.event_type == _FIRED and _at(e) > after)
    return [e for e in events if start <= _at(e) < start + timedelta(days=1)]


async def _serving(
    env: WorkflowEnvironment, world: World, task_queue: str, ref: InstanceRef
) -> Handle:
    """A Running instance with spec.backup, on the operator's default settings."""
    spec = make_spec(backup=SPEC_BACKUP)
    handle = await start_instance(env.client, task_queue, spec, ref=ref, settings=DEFAULTS)
    await _shows(world, Phase.RUNNING)
    return handle


async def _shows(world: World, phase: Phase) -> None:
    """Wait until the status written says `phase`. Read from the World, not queried:
    the time-skipping server answers a query with a workflow task of its own."""
    await eventually(lambda: asyncio.sleep(0, world.phase), lambda p: p is phase, what=phase)


@contextlib.asynccontextmanager
async def _measured(
    env: WorkflowEnvironment, task_queue: str
) -> AsyncIterator[tuple[World, InstanceRef, Handle, int]]:
    """A Running instance on the operator's settings, idle: its World, ref, handle and
    history length; terminated at the end."""
    world, ref = World.serving(), new_ref()
    async with running_worker(env.client, world, task_queue):
        handle = await _serving(env, world, task_queue, ref)
        yield world, ref, handle, await _idle(handle)
        await handle.terminate()


async def _runs(env: WorkflowEnvironment, handle: Handle, first: str) -> dict[str, int]:
    """Each run from `first` on (following continue-as-new) and its history length."""
    lengths: dict[str, int] = {}
    run_id: str | None = first
    while run_id is not None:
        run = env.client.get_workflow_handle(handle.id, run_id=run_id)
        events = (await run.fetch_history()).events
        lengths[run_id] = len(events)
        last = events[-1]
        continued = last.event_type == _CONTINUED
        attributes = last.workflow_execution_continued_as_new_event_attributes
        run_id = attributes.new_execution_run_id if continued else None
    return lengths


async def test_idle_instance_adds_at_most_20_events_a_day_when_nothing_happens(
    own_clock: WorkflowEnvironment, task_queue: str
) -> None:
    env = own_clock
    async with _measured(env, task_queue) as (world, _, handle, _):
        # A first day settles what a start leaves (the first re-apply, the Schedule).
        settled = await env.get_current_time() + timedelta(days=1)
        await env.sleep(timedelta(days=3))
        await _idle(handle)
        day = _one_day(await _events(handle), after=settled)

    assert world.calls["apply_children"] >= 2  # the day re-applied the children
    assert sum(e.event_type == _FIRED for e in day) == 2  # its two resyncs
    assert len(day) <= IDLE_DAY_BUDGET, [EventType.Name(e.event_type) for e in day]


async def test_backup_cycle_adds_at_most_25_events_when_the_schedule_asks(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    async with _measured(time_skipping_env, task_queue) as (world, _, handle, before):
        await handle.signal(OdooInstanceWorkflow.backup, BackupRequest(scheduled=True))
        await eventually(lambda: backup_running(world), bool, what="the backup's Job")
        world.finish_batch_job(JobKind.BACKUP, succeeded=True)  # no poke: follow_job sees it
        await eventually(
            lambda: _phases(world), lambda p: p == [JobPhase.COMPLETED], what="Completed"
        )
        await _shows(world, Phase.RUNNING)
        cycle = await _idle(handle) - before

    assert cycle <= BACKUP_CYCLE_BUDGET


async def _phases(world: World) -> list[JobPhase | None]:
    return [job.phase for job in world.jobs if job.kind is JobKind.BACKUP]


async def _generation(world: World) -> int | None:
    return world.statuses[-1].generation if world.statuses else None


async def test_spec_change_adds_at_most_15_events_when_reconciled(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    async with _measured(time_skipping_env, task_queue) as (world, ref, handle, before):
        spec = make_spec(image="odoo:18.0-20261201", backup=SPEC_BACKUP)
        await handle.signal(
            OdooInstanceWorkflow.set_spec, SpecUpdate(ref=ref, generation=2, spec=spec)
        )
        await eventually(
            lambda: _generation(world), lambda g: g == 2, what="the status of generation 2"
        )
        reconcile = await _idle(handle) - before

    assert reconcile <= SPEC_CHANGE_BUDGET


async def test_run_continues_as_new_before_2000_events_when_left_alone_for_months(
    own_clock: WorkflowEnvironment, task_queue: str
) -> None:
    env = own_clock
    async with _measured(env, task_queue) as (_, _, handle, _):
        first = (await handle.describe()).run_id
        # About 18 events a day: four months are more than one run may hold.
        await env.sleep(timedelta(days=120))
        await _idle(handle)
        runs = await _runs(env, handle, first)
        phase = await handle.query(OdooInstanceWorkflow.phase)

    assert len(runs) >= 2  # it continued as new
    assert max(runs.values()) < RUN_LIMIT, runs
    assert phase is Phase.RUNNING  # the state went along
