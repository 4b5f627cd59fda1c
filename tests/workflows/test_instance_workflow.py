"""The instance workflow on the time-skipping server, over fake activities.

Covers: every row of the table driven through the workflow (same cases as the
unit tier); replica counts after ensure() in every resting phase; the happy
path from Provisioning to Running through auto-init; level-based spec
signals (stale generations ignored); permanent problems enter Error and
fixing them leaves it; a database missing under missingPolicy Ignore is
reported by one status write per generation; resync timer wakes without
events; continue-as-new keeps the phase and the pending work; a worker
restart resumes without repeating a completed step or creating a second Job;
the search attributes follow the phase, the image, and the last backup and
operation with its outcome;
deletion cleans up and completes; a new incarnation (new uid) takes over
after cleanup.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from model import failures, naming
from model.payloads import (
    DeleteRequest,
    InstanceRef,
    InstanceWorkflowInput,
    JobAction,
    JobKind,
    MachineState,
    Poke,
    Replicas,
    RunEdgeActionsInput,
    SpecUpdate,
    WorkflowSettings,
)
from model.phases import JobPhase, Phase
from tests.phase_cases import CASES, RESTING, make_spec
from tests.workflows.conftest import (
    CrashAfter,
    Handle,
    eventually,
    new_ref,
    running_worker,
    start_instance,
    transitions_of,
    wait_phase,
)
from tests.workflows.world import World
from workflows import machine
from workflows.instance import SEARCH_ATTRIBUTES, OdooInstanceWorkflow
from workflows.replacements import Replacements

AUTO_INIT_PATH = [
    "Provisioning->Uninitialized:db_not_initialized",
    "Uninitialized->Initializing:init_present",
    "Initializing->Starting:init_succeeded",
    "Starting->Running:all_ready",
]


@pytest.mark.parametrize("row", machine.TABLE, ids=lambda row: row.id)
async def test_row_taken_by_workflow_when_its_case_holds(
    time_skipping_env: WorkflowEnvironment, task_queue: str, row: machine.Transition
) -> None:
    case = CASES[row.id]
    world = World.from_snapshot(case.snap)
    client = time_skipping_env.client
    async with running_worker(client, world, task_queue):
        handle = await start_instance(
            client, task_queue, case.build_spec(), phase=row.from_, applied=True
        )
        taken = await eventually(
            lambda: transitions_of(handle), bool, what=f"a transition out of {row.from_}"
        )
        assert taken[0] == row.id
        await handle.terminate()
    for action in row.actions:
        kind = action.job_kind
        if kind is not None:
            finished = [j for j in world.jobs if j.kind is kind and j.phase is not None]
            expected = JobPhase.COMPLETED if action.succeeded else JobPhase.FAILED
            assert finished, f"{action} not applied"
            assert finished[0].phase is expected, f"{action} not applied"
        elif action is machine.Action.MARK_DB_INITIALIZED:
            assert world.db_initialized
        elif action is machine.Action.MARK_DB_UNINITIALIZED:
            assert not world.db_initialized


# A restore's and an upgrade's scaling is their sagas' (tests/workflows/test_sagas.py).
@pytest.mark.parametrize("phase", [p for p in RESTING if not Replacements.runs_in(p)], ids=str)
async def test_replicas_match_scaling_rules_when_phase_is_ensured(
    time_skipping_env: WorkflowEnvironment, task_queue: str, phase: Phase
) -> None:
    case = RESTING[phase]
    spec = case.build_spec()
    world = World.from_snapshot(case.snap)
    # Start from counts no phase would choose, to see what ensure() sets.
    world.web = world.web.model_copy(update={"desired": 7})
    world.cron = Replicas(desired=7, exists=True)
    client = time_skipping_env.client
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, spec, phase=phase, applied=True)
        await eventually(lambda: _count(world, "record_status"), lambda n: n >= 1)
        assert await handle.query(OdooInstanceWorkflow.phase) is phase
        await handle.terminate()
    web = {
        Phase.STARTING: spec.replicas,
        Phase.RUNNING: spec.replicas,
        Phase.UPGRADING: 7,
        Phase.DEGRADED: spec.replicas,
        Phase.BACKING_UP: 7,
        Phase.ERROR: 7,
    }.get(phase, 0)
    cron = {
        Phase.STARTING: spec.cron.replicas,
        Phase.RUNNING: spec.cron.replicas,
        Phase.DEGRADED: spec.cron.replicas,
        Phase.BACKING_UP: 7,
        Phase.ERROR: 7,
    }.get(phase, 0)
    assert (world.web.desired, world.cron.desired) == (web, cron)


async def _count(world: World, name: str) -> int:
    return world.calls[name]


async def test_reaches_running_through_auto_init_when_created(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    client = time_skipping_env.client
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec())
        await wait_phase(handle, Phase.INITIALIZING)
        assert [j.name for j in world.jobs] == [f"{handle.id.split('/')[-1]}-auto-init"]
        await eventually(lambda: _jobs_created(world), lambda n: n == 1, what="the init Job")
        world.finish_batch_job(JobKind.INIT, succeeded=True)
        await wait_phase(handle, Phase.STARTING)
        assert world.db_initialized
        assert (world.web.desired, world.cron.desired) == (1, 1)
        world.set_ready(1)
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="deployment"))
        await wait_phase(handle, Phase.RUNNING)
        assert await transitions_of(handle) == AUTO_INIT_PATH
        assert world.statuses[-1].phase is Phase.RUNNING
        await handle.terminate()
    assert world.calls["apply_children"] == 1


async def _jobs_created(world: World) -> int:
    return sum(world.batch_jobs_created.values())


async def test_signal_with_start_reaches_the_running_workflow_when_sent_again(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World(db_initialized=True, web=Replicas(ready=1, desired=1, exists=True))
    client = time_skipping_env.client
    ref = new_ref()

    async def signal_with_start(generation: int, replicas: int) -> Handle:
        update = SpecUpdate(ref=ref, generation=generation, spec=make_spec(replicas=replicas))
        state = MachineState(ref=ref, spec=update.spec, generation=generation)
        return await client.start_workflow(
            OdooInstanceWorkflow.run,
            InstanceWorkflowInput(state=state),
            id=naming.workflow_id(ref.namespace, ref.name),
            task_queue=task_queue,
            start_signal="set_spec",
            start_signal_args=[update],
        )

    async with running_worker(client, world, task_queue):
        first = await signal_with_start(1, 1)
        await wait_phase(first, Phase.RUNNING)
        second = await signal_with_start(2, 0)
        assert second.result_run_id == first.result_run_id, "a second workflow was started"
        await wait_phase(first, Phase.STOPPED)
        await first.terminate()


async def test_search_attributes_follow_phase_image_and_backups_when_they_change(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World(db_initialized=True, web=Replicas(ready=1, desired=1, exists=True))
    client = time_skipping_env.client
    ref = new_ref()

    async def attributes() -> dict[str, object]:
        found = (await handle.describe()).typed_search_attributes
        return {key.name: found.get(key) for key in SEARCH_ATTRIBUTES}

    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), ref=ref)
        await wait_phase(handle, Phase.RUNNING)
        assert await attributes() == {
            "OdooPhase": "Running",
            "OdooNamespace": ref.namespace,
            "OdooInstanceName": ref.name,
            "OdooImage": "odoo:18.0",
            "OdooHeld": False,
            "OdooEnvironment": "Staging",
            "OdooLastBackup": None,
            "OdooLastOperation": None,
            "OdooLastOutcome": None,
        }
        new_image = SpecUpdate(ref=ref, generation=2, spec=make_spec(image="odoo:19.0"))
        await handle.signal(OdooInstanceWorkflow.set_spec, new_image)
        await eventually(attributes, lambda a: a["OdooImage"] == "odoo:19.0", what="OdooImage")
        # A backup that completes: when, and the last operation's kind and outcome.
        world.add_job(JobKind.BACKUP, "nightly")
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="OdooBackupJob added"))
        await eventually(
            lambda: asyncio.sleep(0, world.job_named("nightly").job_name),
            lambda job: job is not None,
            what="the backup's Job",
        )
        asked = await time_skipping_env.get_current_time()
        world.finish_batch_job(JobKind.BACKUP, succeeded=True)
        found = await eventually(
            attributes, lambda a: a["OdooLastOutcome"] is not None, what="OdooLastOutcome"
        )
        await handle.terminate()
    assert (found["OdooLastOperation"], found["OdooLastOutcome"]) == ("backup", "Succeeded")
    last_backup = found["OdooLastBackup"]
    assert isinstance(last_backup, datetime)
    assert last_backup >= asked.replace(microsecond=0)


async def test_latest_generation_wins_when_signals_arrive_out_of_order(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World(db_initialized=True, web=Replicas(ready=1, desired=1, exists=True))
    client = time_skipping_env.client
    ref = new_ref()
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), ref=ref)
        await wait_phase(handle, Phase.RUNNING)
        stop = SpecUpdate(ref=ref, generation=3, spec=make_spec(replicas=0))
        stale = SpecUpdate(ref=ref, generation=2, spec=make_spec(replicas=4))
        await handle.signal(OdooInstanceWorkflow.set_spec, stop)
        await handle.signal(OdooInstanceWorkflow.set_spec, stale)
        await wait_phase(handle, Phase.STOPPED)
        assert (world.web.desired, world.cron.desired) == (0, 0)
        await handle.terminate()


async def test_spec_signal_not_lost_when_it_arrives_during_a_status_write(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World(db_initialized=True, web=Replicas(ready=0, desired=1, exists=True))
    client = time_skipping_env.client
    ref = new_ref()
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), ref=ref)
        await wait_phase(handle, Phase.STARTING)
        world.hold_record_status.set()
        world.set_ready(1)
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="deployment"))
        # Starting -> Running is being recorded; the user stops the instance now.
        await eventually(_holding(world), bool, what="record_status in flight")
        stop = SpecUpdate(ref=ref, generation=2, spec=make_spec(replicas=0))
        await handle.signal(OdooInstanceWorkflow.set_spec, stop)
        world.hold_record_status.clear()
        world.release_record_status.set()
        await wait_phase(handle, Phase.STOPPED)
        assert (world.web.desired, world.cron.desired) == (0, 0)
        await handle.terminate()


def _holding(world: World) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        return world.record_status_waiting.is_set()

    return probe


async def test_enters_error_with_message_and_leaves_when_problem_fixed(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    problem = "Secret postgres-clusters has no cluster 'main': add it or fix spec.database.cluster"
    world = World(problems=(problem,))
    client = time_skipping_env.client
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(init={"enabled": False}))
        await wait_phase(handle, Phase.ERROR)
        assert world.statuses[-1].message == problem
        world.problems = ()
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="secret fixed"))
        await wait_phase(handle, Phase.UNINITIALIZED)
        assert world.statuses[-1].message is None
        await handle.terminate()


async def test_a_database_missing_under_ignore_is_reported_once_per_generation(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World(db_initialized=True, web=Replicas(ready=1, desired=1, exists=True))
    client = time_skipping_env.client
    ref = new_ref()

    async def reported() -> list[int]:
        return [s.generation for s in world.statuses if s.database_missing_ignored]

    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), ref=ref)
        await wait_phase(handle, Phase.RUNNING)
        world.database_missing_ignored = True
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="resync"))
        await eventually(reported, lambda r: r == [1], what="the report")
        gathered = world.calls["gather_snapshot"]
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="again"))
        await eventually(
            lambda: _count(world, "gather_snapshot"), lambda n: n > gathered, what="a look"
        )
        await handle.signal(
            OdooInstanceWorkflow.set_spec, SpecUpdate(ref=ref, generation=2, spec=make_spec())
        )
        await eventually(reported, lambda r: 2 in r, what="the report of generation 2")
        assert await reported() == [1, 2]
        assert await handle.query(OdooInstanceWorkflow.phase) is Phase.RUNNING
        await handle.terminate()


async def test_invalid_children_enter_error_until_a_new_generation_fixes_them(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World(db_initialized=True, apply_problem="spec.resources: limits below requests")
    client = time_skipping_env.client
    ref = new_ref()
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), ref=ref)
        await wait_phase(handle, Phase.ERROR)
        assert world.statuses[-1].message == "spec.resources: limits below requests"
        world.apply_problem = None
        fixed = SpecUpdate(ref=ref, generation=2, spec=make_spec())
        await handle.signal(OdooInstanceWorkflow.set_spec, fixed)
        await wait_phase(handle, Phase.STARTING)
        await handle.terminate()


async def test_stop_and_delete_served_when_the_api_refuses_the_apply_for_good(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    refusal = (
        "persistentvolumeclaims shop-filestore-pvc in namespace shop: forbidden: only "
        "dynamically provisioned pvc can be resized and the storageclass that provisions "
        "the pvc must support resize"
    )
    world = World(
        db_initialized=True,
        web=Replicas(ready=1, desired=1, exists=True),
        cron=Replicas(desired=1, exists=True),
        apply_problem=refusal,
        apply_problem_type=failures.API_REJECTED,
    )
    client = time_skipping_env.client
    ref = new_ref()
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), ref=ref)
        await wait_phase(handle, Phase.ERROR)
        assert world.statuses[-1].message == refusal
        assert (world.web.desired, world.cron.desired) == (1, 1)  # still serving
        stop = SpecUpdate(ref=ref, generation=2, spec=make_spec(replicas=0))
        await handle.signal(OdooInstanceWorkflow.set_spec, stop)
        await eventually(
            lambda: _now(world), lambda w: (w.web.desired, w.cron.desired) == (0, 0), what="stop"
        )
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        result = await handle.result()
    assert result.cleaned_up
    assert world.cleaned_up == [ref.uid]


async def test_delete_served_when_the_apply_is_still_retrying(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    world.apply_unavailable.set()
    client = time_skipping_env.client
    ref = new_ref()
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), ref=ref)
        await eventually(lambda: _count(world, "apply_children"), lambda n: n >= 1)
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        result = await handle.result()
    assert result.cleaned_up
    assert world.cleaned_up == [ref.uid]


async def _now(world: World) -> World:
    return world


async def test_resync_timer_looks_again_when_no_event_arrives(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World(db_initialized=True, web=Replicas(ready=0, desired=1, exists=True))
    client = time_skipping_env.client
    # A short resync period: the V1 test server only skips time while a client
    # awaits a result, so the timer runs on the real clock here.
    settings = WorkflowSettings(resync_interval=timedelta(seconds=1))
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), settings=settings)
        await wait_phase(handle, Phase.STARTING)
        gathered = world.calls["gather_snapshot"]
        world.set_ready(1)  # a readiness change whose event was missed: no signal
        await wait_phase(handle, Phase.RUNNING)
        assert world.calls["gather_snapshot"] > gathered
        await handle.terminate()


async def test_the_set_spec_of_the_defaults_generation_costs_no_second_apply_nor_wake(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    # apply_children writes the operator's defaults into the spec: a new
    # generation, which the watcher sends back. It was applied already.
    world = World(db_initialized=True, web=Replicas(ready=1, desired=1, exists=True))
    world.defaults_bump = 1
    client = time_skipping_env.client
    ref = new_ref()
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), ref=ref)
        await wait_phase(handle, Phase.RUNNING)
        gathered = world.calls["gather_snapshot"]
        await handle.signal(
            OdooInstanceWorkflow.set_spec,
            SpecUpdate(ref=ref, generation=2, spec=make_spec()),
        )
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="after it"))
        await eventually(
            lambda: asyncio.sleep(0, world.calls["gather_snapshot"]),
            lambda n: n > gathered,
            what="the poke's snapshot",
        )
        assert world.calls["apply_children"] == 1
        assert world.calls["gather_snapshot"] == gathered + 1  # the poke's, none for set_spec
        await handle.terminate()


async def test_workflow_ends_without_cleanup_when_the_instance_is_gone(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The snapshot is a local activity: its failure reaches the workflow as the
    # ApplicationError itself, not wrapped in an ActivityError.
    world = World(db_initialized=True, web=Replicas(ready=1, desired=1, exists=True))
    client = time_skipping_env.client
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec())
        await wait_phase(handle, Phase.RUNNING)
        world.instance_gone.set()
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="instance deleted"))
        result = await handle.result()
    assert not result.cleaned_up
    assert result.phase is Phase.RUNNING


async def test_a_converge_refused_for_good_is_shown_and_the_workflow_keeps_serving(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    world.refuse_converge.set()
    client = time_skipping_env.client
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec())
        await wait_phase(handle, Phase.ERROR)
        assert "403 forbidden" in (world.statuses[-1].message or "")
        world.refuse_converge.clear()
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="namespace fixed"))
        await wait_phase(handle, Phase.INITIALIZING)
        await handle.terminate()


async def test_resync_applies_the_children_again_only_once_reapply_interval_passed(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    # An idle instance must not cost a dozen API writes per resync: the resync
    # looks (one snapshot), and re-applies every reapply_interval only. Short
    # periods on the real clock (as in the test above): four resyncs come long
    # before the re-apply is due.
    world = World(db_initialized=True, web=Replicas(ready=1, desired=1, exists=True))
    client = time_skipping_env.client
    settings = WorkflowSettings(
        resync_interval=timedelta(seconds=0.5), reapply_interval=timedelta(seconds=8)
    )
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), settings=settings)
        await wait_phase(handle, Phase.RUNNING)
        applied, gathered = world.calls["apply_children"], world.calls["gather_snapshot"]
        assert applied == 1
        await eventually(
            lambda: asyncio.sleep(0, world.calls["gather_snapshot"]),
            lambda n: n >= gathered + 4,
            what="four resync snapshots",
        )
        assert world.calls["apply_children"] == applied
        await eventually(
            lambda: asyncio.sleep(0, world.calls["apply_children"]),
            lambda n: n == applied + 1,
            timeout=20,
            what="the re-apply after reapply_interval",
        )
        await handle.terminate()


async def test_continue_as_new_keeps_phase_and_pending_job(
    temporal_client: Client, task_queue: str
) -> None:
    # On the dev server: the time-skipping server leaves a query unanswered
    # when the run it waits on continues as new meanwhile (seen in about half
    # of the runs), and nothing here needs time to skip.
    world = World()
    settings = WorkflowSettings(continue_as_new_after=2)
    client = temporal_client
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), settings=settings)
        await wait_phase(handle, Phase.INITIALIZING)
        first_run = (await handle.describe()).run_id
        for i in range(3):
            await handle.signal(OdooInstanceWorkflow.poke, Poke(reason=f"nudge {i}"))
        follower = client.get_workflow_handle_for(OdooInstanceWorkflow.run, handle.id)
        await eventually(
            lambda: _run_id(follower), lambda run: run != first_run, what="continue-as-new"
        )
        assert await follower.query(OdooInstanceWorkflow.phase) is Phase.INITIALIZING
        world.finish_batch_job(JobKind.INIT, succeeded=True)
        await wait_phase(follower, Phase.STARTING)
        transitions = await transitions_of(follower)
        assert transitions[:2] == [
            "Provisioning->Uninitialized:db_not_initialized",
            "Uninitialized->Initializing:init_present",
        ], "the transition history was not carried over"
        await follower.terminate()
    assert await _jobs_created(world) == 1


async def _run_id(handle: Handle) -> str | None:
    return (await handle.describe()).run_id


async def test_worker_restart_resumes_without_repeating_a_completed_step(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    world.add_job(JobKind.INIT, "manual-init")
    world.fail_record_status.set()  # the status write after the Job creation fails
    client = time_skipping_env.client
    async with running_worker(client, world, task_queue, cache=False):
        handle = await start_instance(client, task_queue, make_spec(), phase=Phase.INITIALIZING)
        await eventually(lambda: _count(world, "record_status"), lambda n: n >= 1)
    # The worker is gone between converge_phase (done) and record_status.
    assert world.calls["converge_phase"] == 1
    world.fail_record_status.clear()
    async with running_worker(client, world, task_queue, cache=False):
        # The retry (backoff 1 s, 2 s, ...) lands on the new worker.
        await eventually(lambda: _recorded(world), bool, timeout=30, what="the status write")
        world.finish_batch_job(JobKind.INIT, succeeded=True)
        await wait_phase(handle, Phase.STARTING)
        await handle.terminate()
    assert world.calls["converge_phase"] >= 1
    assert dict(world.batch_jobs_created) == {naming.batch_job_name("manual-init", "init"): 1}


async def test_init_failed_says_which_job_failed_and_why_for_as_long_as_it_lasts(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    client = time_skipping_env.client
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec())
        await wait_phase(handle, Phase.INITIALIZING)
        await eventually(lambda: _jobs_created(world), lambda n: n == 1, what="the init Job")
        world.finish_batch_job(JobKind.INIT, succeeded=False)
        await wait_phase(handle, Phase.INIT_FAILED)
        failed = world.statuses[-1]
        assert failed.phase is Phase.INIT_FAILED
        assert failed.message is not None
        assert f"OdooInitJob {handle.id.split('/')[-1]}-auto-init failed" in failed.message
        # A later write in the same phase (a new generation) keeps saying it.
        written = len(world.statuses)
        await handle.signal(
            OdooInstanceWorkflow.set_spec,
            SpecUpdate(ref=failed.ref, generation=2, spec=make_spec(replicas=2)),
        )
        await eventually(lambda: asyncio.sleep(0, len(world.statuses)), lambda n: n > written)
        assert world.statuses[-1].phase is Phase.INIT_FAILED
        assert world.statuses[-1].message == failed.message
        await handle.terminate()


async def test_a_job_finished_before_a_worker_crash_is_not_forgotten(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    # The edge actions that finish the init job (OdooInitJob Completed,
    # dbInitialized true) are done, then the workflow task crashes before the
    # worker reports it (a worker killed, or a task timed out under load). The
    # retried task must know the write happened: as a local activity its
    # result was lost with the task, the snapshot taken again saw the job
    # finished but not the phase, and Initializing became Uninitialized for
    # good (seen with an evicting workflow cache at N = 100).
    world = World()
    crash = CrashAfter(_finishes_a_job)
    client = time_skipping_env.client
    async with running_worker(client, world, task_queue, interceptors=[crash]):
        handle = await start_instance(client, task_queue, make_spec())
        await wait_phase(handle, Phase.INITIALIZING)
        await eventually(lambda: _jobs_created(world), lambda n: n == 1, what="the init Job")
        world.finish_batch_job(JobKind.INIT, succeeded=True)
        await eventually(
            lambda: asyncio.sleep(0, crash.crashed), bool, what="the crashed workflow task"
        )
        await wait_phase(handle, Phase.STARTING)
        world.set_ready(1)
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="deployment"))
        await wait_phase(handle, Phase.RUNNING)
        assert await transitions_of(handle) == AUTO_INIT_PATH
        await handle.terminate()


def _finishes_a_job(name: str, args: Sequence[Any]) -> bool:
    return any(
        isinstance(a, RunEdgeActionsInput) and any(isinstance(e, JobAction) for e in a.actions)
        for a in args
    )


async def _recorded(world: World) -> int:
    return len(world.statuses)


async def test_deletion_cleans_up_and_completes(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World(db_initialized=True, web=Replicas(ready=1, desired=1, exists=True))
    client = time_skipping_env.client
    ref = new_ref()
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), ref=ref)
        await wait_phase(handle, Phase.RUNNING)
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid="other"))
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        result = await handle.result()
    assert result.cleaned_up
    assert world.cleaned_up == [ref.uid]


async def test_new_incarnation_takes_over_after_old_cleanup(
    temporal_client: Client, task_queue: str
) -> None:
    # On the dev server: the old run continues as new, and the time-skipping
    # server may leave a query of the new run unanswered (as in the test above).
    world = World(db_initialized=True, web=Replicas(ready=1, desired=1, exists=True))
    client = temporal_client
    old = new_ref()
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), ref=old)
        await wait_phase(handle, Phase.RUNNING)
        new = InstanceRef(namespace=old.namespace, name=old.name, uid="new-uid")
        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=old.uid))
        await handle.signal(
            OdooInstanceWorkflow.set_spec,
            SpecUpdate(ref=new, generation=1, spec=make_spec(replicas=0)),
        )
        follower = client.get_workflow_handle_for(OdooInstanceWorkflow.run, handle.id)
        await wait_phase(follower, Phase.STOPPED)
        assert world.cleaned_up == [old.uid]
        await follower.terminate()
