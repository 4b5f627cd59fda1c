"""Restores and upgrades as sagas, on the time-skipping server over the World's fakes.

The workflow's reactions to a failure at each step of a restore and of an
upgrade (the fault matrix of issue 18, at the level where only the
orchestration is under test: the swap's statements are tested against the
real PostgreSQL in tests/activities/test_database_swap.py, the Job steps as
local processes in tests/scripts/, and a handful end to end in tests/jobs/).
The World holds a live database and filestore ("v1"); each cell checks that
afterwards the live database and filestore hold exactly what they held
(failure) or the new data (success), that nothing the operation made is
left (no `<db>_restoring`, `<db>_pre_*`, `<db>_failed_*`, staged or
kept-aside filestore), that the instance is Running again on them within a
bound, that the job resource has one batch Job, and what its status and the
instance's status.message say. Each cell prints `MATRIX <cell> <s>`: the
workflow time from the failure to Running again (for the worker killed, and
for a fault while what was kept aside is removed: to Running and that
removal done).

Covers, for a restore: success (kept aside, then removed once Running, or
kept for keepPreviousFor), a backup without filestore (Warning), no live
database before (Uninitialized again on failure, never auto-initialized
after a failed restore of an initialized instance), the safety backup
failing (its process killed, PostgreSQL or S3 down, its deadline: nothing
touched), the Job failing at each of its steps with each fault that can
stop that step (its message, a deadline's), a session of another role on
the copy delaying its drop, the swap with PostgreSQL down 30 s (resumed) or
for longer, a session it may not end, a conflict, half done between its
renames (given up and undone), the health check failing, PostgreSQL down
30 s during it (only delayed), a session on the restored database delaying
the swap back, the worker killed after each step (and while the Job runs,
and at the health check), PostgreSQL down while the leftovers are dropped,
a filestore undo that fails first, the removal of what was kept aside
through a failed discard Job or PostgreSQL down, an activity failing for
good mid-restore (a failure like any other: undone), a newer spec during
the saga (it waits for the saga's end, nothing rolled back), and the
deletion during the saga (undone first). For an upgrade: success with a
new image (the copy kept aside, then removed), the safety backup failing,
the Job failing or past its deadline (the copy swapped back), the health
check failing on the new image (image and database back), PostgreSQL down
30 s or a session of another role at the health check, PostgreSQL down at
the image switch, the copy failing, or retried while PostgreSQL is down,
a database really gone (said, never initialized), the worker killed after
each step, and the rollback's swap through PostgreSQL down, a session of
another role, or the worker killed. And a restore or upgrade queued while
another operation runs says which it waits for ("queued behind <Kind>
<name>", also while a saga runs).

Each cell's place in the fault matrix of issue 18 is tests/saga_matrix.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from model import failures, naming
from model.crds import S3Config
from model.payloads import (
    DeleteRequest,
    InstanceRef,
    JobKind,
    Poke,
    Replicas,
    SpecUpdate,
    WorkflowSettings,
)
from model.phases import JobPhase, Phase
from sandbox import temporal
from tests.phase_cases import make_spec
from tests.workflows.conftest import (
    CrashAfter,
    Handle,
    eventually,
    new_ref,
    register_search_attributes,
    running_worker,
    start_instance,
    transitions_of,
    wait_phase,
)
from tests.workflows.world import JobResource, World
from workflows import calls
from workflows.instance import OdooInstanceWorkflow
from workflows.restore import FILESTORE_EMPTY


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def saga_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server of this module's own: its cells skip time
    (retry backoffs, the swap's give-up, the health check's timeout), and the V1
    test server was seen to keep time locked after tests that end with a workflow
    task in flight, as other modules' may (then `skip` times out)."""
    env = await temporal.start_time_skipping_env()
    await register_search_attributes(env.client)
    yield env
    await env.shutdown()


SETTINGS = WorkflowSettings(
    resync_interval=timedelta(minutes=30),
    job_poll_interval=timedelta(seconds=10),
    start_timeout=timedelta(minutes=3),
)
BOUND = 30.0
"""Seconds (of the test's clock) within which the instance is Running again."""
SAFETY = S3Config(bucket="safety", object_key="before.zip", endpoint="http://s3.example")
DOWN = ApplicationError("connection refused", type=failures.POSTGRES_UNAVAILABLE)
HELD = ApplicationError(
    "sessions of role 'monitor' (monitoring-agent) hold it and the admin may not end them",
    type=failures.POSTGRES_UNAVAILABLE,
)
"""A session of another role the admin may not end (activities.databases)."""
NEW = {JobKind.RESTORE: "restored", JobKind.UPGRADE: "upgraded"}
"""What the live database holds once a restore's or an upgrade's Job succeeded."""


@dataclass
class Case:
    """One instance under a worker, with a live database and filestore "v1"."""

    env: WorkflowEnvironment
    world: World
    handle: Handle
    ref: InstanceRef

    @property
    def db(self) -> str:
        return self.world.database

    async def poke(self) -> None:
        await self.handle.signal(OdooInstanceWorkflow.poke, Poke(reason="test"))

    async def started(self, name: str, kind: JobKind) -> None:
        job = naming.batch_job_name(name, kind.value)
        await _until(lambda: job in self.world.batch_jobs, f"the Job {job}")

    async def finish(
        self, kind: JobKind, name: str, *, succeeded: bool = True, message: str = ""
    ) -> None:
        await self.started(name, kind)
        self.world.finish_batch_job(kind, succeeded=succeeded, name=name, message=message)
        await self.poke()

    async def called(self, activity: str, times: int = 1) -> None:
        await _until(lambda: self.world.calls[activity] >= times, f"{activity} x{times}")

    async def skip(self, duration: timedelta) -> None:
        """Let workflow time pass (timers, retry backoffs, give-ups)."""
        await self.env.sleep(duration)

    async def running_again(self, cell: str, since: datetime) -> None:
        """Wait for Running; print the workflow time from `since` (the failure) to the
        transition into Running (the fakes take no time: this is the saga's own waits,
        the retries' backoff and give-ups, the health check's timeout)."""
        await wait_phase(self.handle, Phase.RUNNING, timeout=BOUND)
        at = await self.running_at()
        print(f"MATRIX {cell} {(at - since).total_seconds():.0f}s of workflow time to Running")

    async def running_at(self) -> datetime:
        """The workflow time of the last transition into Running."""
        records = await self.handle.query(OdooInstanceWorkflow.transitions)
        return datetime.fromisoformat(
            next(r.at for r in reversed(records) if r.to_phase is Phase.RUNNING)
        )

    async def done(self, cell: str, since: datetime, resource: JobResource) -> None:
        """Wait for Running and what `resource` kept aside removed; print the workflow
        time from `since` to the later of the two (a fault during the removal comes
        after Running)."""
        await wait_phase(self.handle, Phase.RUNNING, timeout=BOUND)
        await self.removed(resource)
        removed = max(r.previous_removed_at for r in self.world.records if r.previous_removed_at)
        at = max(await self.running_at(), removed)
        print(f"MATRIX {cell} {(at - since).total_seconds():.0f}s of workflow time to done")

    def resource(self, name: str) -> JobResource:
        return next(j for j in self.world.jobs if j.name == name)

    def leftovers(self) -> dict[str, list[str]]:
        with self.world.lock:
            return {
                "databases": sorted(n for n in self.world.databases if n != self.db),
                "filestores": sorted(n for n in self.world.filestores if n != self.db),
            }

    def assert_unchanged(self) -> None:
        """The live database and filestore hold exactly what they held, nothing left."""
        assert self.world.databases == {self.db: "v1"}, self.world.databases
        assert self.world.filestores == {self.db: "v1"}, self.world.filestores

    def message(self) -> str:
        return self.world.statuses[-1].message or ""

    async def removed(self, resource: JobResource) -> None:
        """Wait until what `resource` kept aside is gone: discard_due ran to its last
        activity (a test must not end with one in flight: the time-skipping server
        stops skipping time until an activity it handed out completes)."""
        aside = naming.aside_database_name(self.db, resource.uid)
        await _until(
            lambda: (
                aside not in self.world.databases
                and any(
                    e.reason == "PreviousDataRemoved" and f" {resource.name}:" in e.message
                    for e in self.world.events
                )
            ),
            "the kept-aside data removed",
        )

    async def end(self) -> None:
        """Terminate the workflow once it rests (no activity and no workflow task in
        flight), after one short skip of time: the V1 test server was seen to keep
        time locked after a test that never skipped any, so that the next test's
        `skip` timed out."""

        async def rests() -> bool:
            raw = (await self.handle.describe()).raw_description
            return not raw.pending_activities and not raw.HasField("pending_workflow_task")

        await eventually(rests, bool, what="the workflow resting", timeout=BOUND)
        await self.env.sleep(timedelta(seconds=1))
        await self.handle.terminate()

    def jobs_of(self, name: str) -> list[str]:
        return [job for job in self.world.batch_jobs_created if job.startswith(f"{name}-")]


async def _until(check: Callable[[], bool], what: str, timeout: float = BOUND) -> None:
    await eventually(lambda: asyncio.sleep(0, check()), bool, what=what, timeout=timeout)


async def _case(
    env: WorkflowEnvironment,
    task_queue: str,
    world: World,
    *,
    live: bool = True,
    replicas: int = 1,
    **spec: Any,
) -> Case:
    ref = new_ref()
    world.database = naming.database_name(ref.uid)
    if live:
        world.databases[world.database] = "v1"
        world.filestores[world.database] = "v1"
    world.db_initialized = live
    world.auto_ready = True
    # The cells skip workflow time while Jobs run: follows end now and then (see World).
    world.follow_for = 0.2
    world.web = Replicas(desired=replicas, ready=replicas, exists=True)
    world.cron = Replicas(desired=1, ready=1, exists=True)
    handle = await start_instance(
        env.client,
        task_queue,
        make_spec(replicas=replicas, **spec),
        phase=Phase.RUNNING if live else Phase.UNINITIALIZED,
        ref=ref,
        settings=SETTINGS,
        applied=True,
    )
    return Case(env, world, handle, ref)


# --- restore ---------------------------------------------------------------------------


async def _operation(case: Case, kind: JobKind, name: str, **options: Any) -> JobResource:
    """Queue the job resource of a restore or upgrade; wait until its phase runs it."""
    resource = case.world.add_job(kind, name, **options)
    await case.poke()
    phase = Phase.RESTORING if kind is JobKind.RESTORE else Phase.UPGRADING
    await wait_phase(case.handle, phase, timeout=BOUND)
    return resource


async def _restore(case: Case, name: str = "restore-1", **options: Any) -> JobResource:
    return await _operation(case, JobKind.RESTORE, name, **options)


async def test_restore_swaps_in_keeps_aside_then_removes_once_running(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_destination=SAFETY)
        await case.finish(JobKind.BACKUP, naming.safety_backup_name("restore-1"))
        # Web and cron stopped before the safety backup and the Job.
        assert (world.web.desired, world.cron.desired) == (0, 0)
        await case.finish(JobKind.RESTORE, "restore-1")
        await wait_phase(case.handle, Phase.RUNNING)
        await case.removed(resource)
        transitions = await transitions_of(case.handle)
        await case.end()
    assert transitions[-3:] == [
        "Running->Restoring:restore_present",
        "Restoring->Starting:restore_succeeded",
        "Starting->Running:all_ready",
    ]
    assert world.databases == {case.db: "restored"}
    assert world.filestores == {case.db: f"restored:{resource.uid}"}
    assert resource.phase is JobPhase.COMPLETED
    assert world.db_initialized
    assert case.jobs_of("restore-1") == [
        naming.batch_job_name("restore-1-safety", "backup"),
        naming.batch_job_name("restore-1", "restore"),
        naming.batch_job_name("restore-1", "filestore-discard-1"),
    ]
    aside = naming.aside_database_name(case.db, resource.uid)
    recorded = {k: v for r in world.records for k, v in r.model_dump(exclude_none=True).items()}
    assert recorded["safety_backup"] == naming.safety_backup_name("restore-1")
    assert recorded["previous_database"] == aside
    assert recorded["previous_filestore"] == naming.filestore_aside_dir(case.db, resource.uid)
    assert "previous_removed_at" in recorded
    assert [e.reason for e in world.events] == ["PreviousDataRemoved"]


async def test_restore_keeps_the_previous_data_for_keep_previous_for(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, keep_previous=timedelta(hours=6), safety_destination=SAFETY)
        await case.finish(JobKind.BACKUP, naming.safety_backup_name("restore-1"))
        await case.finish(JobKind.RESTORE, "restore-1")
        await wait_phase(case.handle, Phase.RUNNING)
        aside = naming.aside_database_name(case.db, resource.uid)
        await case.skip(timedelta(hours=5))
        assert world.databases[aside] == "v1"  # swappable back by hand until then
        await case.skip(timedelta(hours=2))
        await case.removed(resource)
        await case.end()
    assert world.databases == {case.db: "restored"}
    assert [e.reason for e in world.events] == ["PreviousDataRemoved"]


async def test_without_a_safety_backup_destination_the_previous_data_stays_a_week(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The kept-aside database is then the only copy of what was replaced: a
    keepPreviousFor of 0s (the default) does not drop it at once."""
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case)
        await case.finish(JobKind.RESTORE, "restore-1")
        await wait_phase(case.handle, Phase.RUNNING)
        aside = naming.aside_database_name(case.db, resource.uid)
        await case.skip(timedelta(days=6, hours=23))
        assert world.databases[aside] == "v1"
        await case.skip(timedelta(hours=2))
        await case.removed(resource)
        await case.end()
    assert world.databases == {case.db: "restored"}
    skipped, removed = world.events
    assert (skipped.reason, removed.reason) == ("SafetyBackupSkipped", "PreviousDataRemoved")
    assert "kept aside at least 7 days" in skipped.message


async def test_a_backup_without_filestore_replaces_it_by_an_empty_one_with_a_warning(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    world.outputs["restore-1"] = (f"{FILESTORE_EMPTY}: the backup holds no filestore",)
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_backup=False)
        await case.finish(JobKind.RESTORE, "restore-1")
        await wait_phase(case.handle, Phase.RUNNING)
        await case.removed(resource)
        await case.end()
    warning = next(e for e in world.events if e.reason == "RestoreWithoutFilestore")
    assert warning.warning
    assert "replaced by an empty one" in warning.message
    # safetyBackup: false is said too, with what then keeps the replaced data.
    skipped = next(e for e in world.events if e.reason == "SafetyBackupSkipped")
    assert not skipped.warning
    assert skipped.message == (
        "OdooRestoreJob restore-1 runs without a safety backup of database "
        f"{case.db} and its filestore, as safetyBackup is false; what it replaces is "
        "dropped once the instance serves again (keepPreviousFor 0s)"
    )


async def test_a_failed_restore_onto_no_database_leaves_it_uninitialized_not_initialized(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world, live=False, init={"enabled": False})
        await _restore(case)
        await case.finish(JobKind.RESTORE, "restore-1", succeeded=False, message="step load failed")
        await wait_phase(case.handle, Phase.UNINITIALIZED)
        await case.end()
    assert world.databases == {}
    assert not world.db_initialized
    assert "the instance has no database, as before" in case.message()


_DEADLINE = "deadline of 3600 s exceeded at step {}"
_KILLED = "step {} failed (exit code 137)"
_NO_POSTGRES = (
    "step {} failed (exit code 1): restore-{}: error: cannot connect to PostgreSQL at "
    "pg.example:5432 as odoo.shop"
)
RESTORE_JOB_FAILURES = {
    # cell (step:fault): the Job's failure message, as job_outcome words it
    "download:process-killed": _KILLED.format("download"),
    "download:s3-down": "step download failed (exit code 1): restore-download: error: cannot "
    "reach the S3 endpoint http://s3.example",
    "download:deadline": _DEADLINE.format("download"),
    "extract:process-killed": _KILLED.format("extract"),
    "extract:deadline": _DEADLINE.format("extract"),
    "load:process-killed": _KILLED.format("load"),
    "load:postgres-down": _NO_POSTGRES.format("load", "load"),
    "load:deadline": _DEADLINE.format("load"),
    "neutralize:process-killed": _KILLED.format("neutralize"),
    # odoo neutralize failing is reported by the verify step that follows it.
    "neutralize:postgres-down": _NO_POSTGRES.format("verify", "verify"),
    "neutralize:deadline": _DEADLINE.format("neutralize"),
    "verify:process-killed": _KILLED.format("verify"),
    "verify:postgres-down": _NO_POSTGRES.format("verify", "verify"),
    "verify:deadline": _DEADLINE.format("verify"),
    "filestore:process-killed": _KILLED.format("filestore"),
    "filestore:deadline": _DEADLINE.format("filestore"),
}
_COPY_MADE = ("load", "neutralize", "verify", "filestore")
"""The steps that run once `<db>_restoring` exists (a kill leaves it)."""


@pytest.mark.parametrize("cell", sorted(RESTORE_JOB_FAILURES))
async def test_restore_job_failing_at_any_step_leaves_the_instance_as_it_was(
    saga_env: WorkflowEnvironment, task_queue: str, cell: str
) -> None:
    world = World()
    step = cell.split(":")[0]
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_backup=False)
        await case.started("restore-1", JobKind.RESTORE)
        with world.lock:
            if step in _COPY_MADE:  # the load made its copy before the Job died
                world.databases[naming.restore_database_name(case.db)] = "half"
            if step == "filestore":  # killed after the filestore's swap, before its report
                world._restored(resource)
        since = await saga_env.get_current_time()
        await case.finish(
            JobKind.RESTORE, "restore-1", succeeded=False, message=RESTORE_JOB_FAILURES[cell]
        )
        await case.running_again(f"restore:{cell}", since)
        await case.end()
    case.assert_unchanged()
    assert resource.phase is JobPhase.FAILED
    assert RESTORE_JOB_FAILURES[cell] in (resource.message or "")
    assert "rolled back: the instance keeps its previous database and filestore" in case.message()
    assert world.db_initialized
    assert case.jobs_of("restore-1") == [
        naming.batch_job_name("restore-1", "restore"),
        naming.batch_job_name("restore-1", "filestore-undo-1"),
    ]
    assert world.calls["swap_database"] == 0  # the live database was never renamed


async def test_a_session_on_the_copy_delays_its_drop_until_it_ends(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    """A monitoring agent connected to `<db>_restoring` while it was loaded, and the
    Job then failed: the undo's drop is refused (retryable) until the session ended."""
    world = World()
    world.fail_calls("drop_databases", HELD, times=3)
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_backup=False)
        await case.started("restore-1", JobKind.RESTORE)
        with world.lock:
            world.databases[naming.restore_database_name(case.db)] = "half"
        since = await saga_env.get_current_time()
        message = "step verify failed (exit code 1): neutralization incomplete"
        await case.finish(JobKind.RESTORE, "restore-1", succeeded=False, message=message)
        await case.called("drop_databases")
        await case.skip(timedelta(minutes=1))  # the retries' backoff
        await case.running_again("restore:copy:foreign-session", since)
        await case.end()
    case.assert_unchanged()
    assert resource.phase is JobPhase.FAILED
    assert world.calls["drop_databases"] == 4


async def test_an_activity_failing_for_good_mid_restore_is_a_failure_rolled_back(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    refused = "OdooRestoreJob restore-1 is not this instance's: not read"
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_backup=False)
        await case.started("restore-1", JobKind.RESTORE)
        with world.lock:  # the load step made its copy before the read failed
            world.databases[naming.restore_database_name(case.db)] = "half"
        since = await saga_env.get_current_time()
        world.always_failing["describe_job"] = ApplicationError(
            refused, type=failures.CONFIG_INVALID, non_retryable=True
        )
        await case.poke()
        await case.running_again("restore:restore-job:activity-refused", since)
        await case.end()
    case.assert_unchanged()
    assert resource.phase is JobPhase.FAILED
    assert refused in (resource.message or "")
    assert "failed at the restore Job step, rolled back" in case.message()


SAFETY_FAILURES = {
    # fault: the safety backup Job's failure message
    "process-killed": "step upload failed (exit code 137)",
    "postgres-down": "step dump failed (exit code 1): backup-dump: error: cannot connect to "
    "PostgreSQL at pg.example:5432 as odoo.shop",
    "s3-down": "step upload failed: cannot reach the S3 endpoint",
    "deadline": "deadline of 5400 s exceeded at step upload",
}


@pytest.mark.parametrize("fault", sorted(SAFETY_FAILURES))
@pytest.mark.parametrize("kind", [JobKind.RESTORE, JobKind.UPGRADE], ids=str)
async def test_a_failed_safety_backup_fails_the_operation_before_anything_changes(
    saga_env: WorkflowEnvironment, task_queue: str, kind: JobKind, fault: str
) -> None:
    world = World()
    name = f"{kind.value}-1"
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _operation(case, kind, name, safety_destination=SAFETY)
        since = await saga_env.get_current_time()
        await case.finish(
            JobKind.BACKUP,
            naming.safety_backup_name(name),
            succeeded=False,
            message=SAFETY_FAILURES[fault],
        )
        await case.running_again(f"{kind.value}:safety-backup:{fault}", since)
        await case.end()
    case.assert_unchanged()  # an upgrade made no copy either
    assert resource.phase is JobPhase.FAILED
    assert f"safety backup {name}-safety failed" in (resource.message or "")
    assert SAFETY_FAILURES[fault] in (resource.message or "")
    assert case.jobs_of(name) == [naming.batch_job_name(f"{name}-safety", "backup")]
    assert (world.web.desired, world.cron.desired) == (1, 1)  # serving again, cron too


@pytest.mark.parametrize(
    ("cell", "failing", "outcome"),
    [
        # PostgreSQL down for 30 s: a few failed attempts, then the swap goes through.
        ("swap:postgres-down-30s", 3, "restored"),
        # Down past the give-up (5 min), or a session the admin may not end: undone.
        ("swap:postgres-down-long", None, "v1"),
        ("swap:foreign-session", None, "v1"),
    ],
)
async def test_swap_failures_resume_or_undo(
    saga_env: WorkflowEnvironment,
    task_queue: str,
    cell: str,
    failing: int | None,
    outcome: str,
) -> None:
    world = World()
    message = "connection refused" if "postgres" in cell else "sessions of role 'monitor' hold it"
    error = ApplicationError(message, type=failures.POSTGRES_UNAVAILABLE)
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_backup=False)
        if failing is None:
            world.always_failing["swap_database"] = error
        else:
            world.fail_calls("swap_database", error, times=failing)
        since = await saga_env.get_current_time()
        await case.finish(JobKind.RESTORE, "restore-1")
        await case.called("swap_database")
        await case.skip(calls.SWAP_GIVE_UP + timedelta(minutes=1))
        await case.running_again(f"restore:{cell}", since)
        if outcome != "v1":
            await case.removed(resource)
        await case.end()
    if outcome == "v1":
        case.assert_unchanged()
        assert resource.phase is JobPhase.FAILED
        assert message in (resource.message or "")
    else:
        assert world.databases[case.db] == "restored"
        assert resource.phase is JobPhase.COMPLETED


@pytest.mark.parametrize("then", ["resume", "undo"])
async def test_a_swap_stopped_between_its_renames_is_completed_or_undone(
    saga_env: WorkflowEnvironment, task_queue: str, then: str
) -> None:
    world = World()
    world.half_swap = True  # the first attempt dies after renaming the live database aside
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_backup=False)
        await case.finish(JobKind.RESTORE, "restore-1")
        aside = naming.aside_database_name(case.db, resource.uid)
        await case.called("swap_database")
        since = await saga_env.get_current_time()
        if then == "undo":  # and PostgreSQL stays away past the give-up
            world.always_failing["swap_database"] = DOWN
        await case.skip(calls.SWAP_GIVE_UP + timedelta(minutes=1))
        await case.running_again(f"restore:between-renames:{then}", since)
        if then == "resume":
            await case.removed(resource)
        await case.end()
    if then == "undo":
        case.assert_unchanged()
        assert resource.phase is JobPhase.FAILED
    else:
        assert world.databases == {case.db: "restored"}
        assert resource.phase is JobPhase.COMPLETED
    assert aside not in world.databases


async def test_a_swap_that_cannot_be_done_is_undone(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    conflict = ApplicationError(
        "a database odoo_x_pre_1 exists already", type=failures.SWAP_CONFLICT, non_retryable=True
    )
    world.always_failing["swap_database"] = conflict
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_backup=False)
        since = await saga_env.get_current_time()
        await case.finish(JobKind.RESTORE, "restore-1")
        await case.running_again("restore:swap:conflict", since)
        await case.end()
    case.assert_unchanged()
    assert "exists already" in (resource.message or "")
    assert world.calls["swap_database"] == 1  # not retried


async def test_a_restore_the_instance_does_not_start_on_is_rolled_back(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_backup=False)
        # The instance does not start on the restored data; it does on its own.
        world.unhealthy_when = lambda w: w.databases.get(case.db) == "restored"
        await case.finish(JobKind.RESTORE, "restore-1")
        await case.called("swap_database")
        since = await saga_env.get_current_time()
        await case.skip(SETTINGS.start_timeout + timedelta(seconds=30))
        await case.running_again("restore:health-check:unhealthy", since)
        await case.end()
    case.assert_unchanged()
    assert "0 of 1 web replicas ready on the new data after 180 s" in (resource.message or "")
    assert "failed at the start step" in case.message()


async def test_leftovers_are_dropped_once_postgres_answers_again(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    world.fail_calls("drop_databases", DOWN, times=4)
    world.filestore_failures["undo"] = 1
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_backup=False)
        await case.started("restore-1", JobKind.RESTORE)
        with world.lock:  # the load step made its copy before the Job died
            world.databases[naming.restore_database_name(case.db)] = "half"
        since = await saga_env.get_current_time()
        await case.finish(JobKind.RESTORE, "restore-1", succeeded=False, message="killed")
        await case.called("drop_databases")
        await case.skip(timedelta(minutes=2))  # the retries' backoff
        await case.called("drop_databases", 5)
        await case.skip(timedelta(minutes=1))  # the failed filestore undo's retry
        await case.running_again("restore:undo:postgres-down", since)
        await case.end()
    case.assert_unchanged()
    assert resource.phase is JobPhase.FAILED
    # The first undo Job failed: a second attempt, under its own name.
    assert case.jobs_of("restore-1")[1:] == [
        naming.batch_job_name("restore-1", "filestore-undo-1"),
        naming.batch_job_name("restore-1", "filestore-undo-2"),
    ]


async def test_deleting_the_instance_during_a_restore_undoes_it_before_the_cleanup(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        world.unhealthy_when = lambda w: w.databases.get(case.db) == "restored"
        await _restore(case, safety_backup=False)
        await case.finish(JobKind.RESTORE, "restore-1")
        await case.called("swap_database")  # swapped in, waiting for the health check
        await case.handle.signal(
            OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=case.ref.uid)
        )
        result = await case.handle.result()
    assert result.cleaned_up
    case.assert_unchanged()  # undone before the cleanup ran


async def test_a_newer_spec_during_a_restore_waits_for_its_end(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_backup=False)
        await case.started("restore-1", JobKind.RESTORE)
        await case.handle.signal(
            OdooInstanceWorkflow.set_spec,
            SpecUpdate(ref=case.ref, generation=2, spec=make_spec(replicas=2)),
        )
        await case.skip(SETTINGS.newer_spec_grace + timedelta(minutes=1))
        await case.finish(JobKind.RESTORE, "restore-1")
        await _until(lambda: resource.phase is JobPhase.COMPLETED, "the restore completed")
        await _until(lambda: world.web.desired == 2, "the newer spec applied")
        await wait_phase(case.handle, Phase.RUNNING)
        await case.removed(resource)
        await case.end()
    assert world.databases == {case.db: "restored"}  # not rolled back for the new spec
    assert world.calls["swap_database_back"] == 0


# --- the worker killed after each step ------------------------------------------------


Crash = Callable[[str, Sequence[Any]], bool]


def _after(activity: str) -> Crash:
    return lambda name, _: name == activity


def _polling(kind: JobKind) -> Crash:
    """While the operation's own Job runs (its steps go on without the worker)."""
    return lambda name, args: name == "describe_job" and args[0].kind is kind


def _health_check(name: str, args: Sequence[Any]) -> bool:
    """Once the web replicas are started on the new data (the first scaling up)."""
    return name == "converge_phase" and bool(args[0].web_replicas)


RESTORE_CRASHES: dict[str, Crash] = {
    "prepare_operation": _after("prepare_operation"),
    "create_backup_job": _after("create_backup_job"),
    "converge_phase": _after("converge_phase"),
    "restore-job-running": _polling(JobKind.RESTORE),
    "swap_database": _after("swap_database"),
    "health-check": _health_check,
    "run_edge_actions": _after("run_edge_actions"),
    "drop_databases": _after("drop_databases"),
    "run_filestore_step": _after("run_filestore_step"),
}
"""Where the worker is killed: right after the activity (or the call) named."""


@pytest.mark.parametrize("step", list(RESTORE_CRASHES))
async def test_a_restore_resumes_after_the_worker_is_killed_after_any_step(
    saga_env: WorkflowEnvironment, task_queue: str, step: str
) -> None:
    world = World()
    crash = CrashAfter(RESTORE_CRASHES[step])
    async with running_worker(saga_env.client, world, task_queue, interceptors=[crash]):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_destination=SAFETY)
        await case.finish(JobKind.BACKUP, naming.safety_backup_name("restore-1"))
        await case.finish(JobKind.RESTORE, "restore-1")
        await _until(lambda: crash.at is not None, "the worker killed")
        assert crash.at is not None
        await case.done(f"restore:worker-killed:{step}", crash.at, resource)
        await case.end()
    assert crash.crashed
    assert world.databases == {case.db: "restored"}
    assert world.filestores == {case.db: f"restored:{resource.uid}"}
    assert resource.phase is JobPhase.COMPLETED
    assert world.batch_jobs_created[naming.batch_job_name("restore-1", "restore")] == 1
    assert world.batch_jobs_created[naming.batch_job_name("restore-1-safety", "backup")] == 1


# --- faults at the health check, and at what is kept aside -----------------------------


async def _at_the_health_check(case: Case, kind: JobKind) -> JobResource:
    """A restore, or an upgrade to odoo:19.0, whose Job succeeded: the new data
    (and image) in place, its web replicas being started."""
    name = f"{kind.value}-1"
    image = {"image": "odoo:19.0"} if kind is JobKind.UPGRADE else {}
    resource = await _operation(case, kind, name, safety_backup=False, **image)
    await case.finish(kind, name)
    await case.called("swap_database" if kind is JobKind.RESTORE else "set_instance_image")
    return resource


@pytest.mark.parametrize("kind", [JobKind.RESTORE, JobKind.UPGRADE], ids=str)
async def test_postgres_down_30s_at_the_health_check_only_delays_it(
    saga_env: WorkflowEnvironment, task_queue: str, kind: JobKind
) -> None:
    world = World()
    world.unhealthy = True  # Odoo cannot reach PostgreSQL: no web replica is ready
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _at_the_health_check(case, kind)
        since = await saga_env.get_current_time()
        await case.skip(timedelta(seconds=30))
        world.unhealthy = False
        world.set_ready(1)  # PostgreSQL answers again: the readiness probe passes
        await case.running_again(f"{kind.value}:health-check:postgres-down-30s", since)
        await case.removed(resource)
        await case.end()
    assert world.databases == {case.db: NEW[kind]}
    assert resource.phase is JobPhase.COMPLETED
    assert world.calls["swap_database_back"] == 0


@pytest.mark.parametrize("kind", [JobKind.RESTORE, JobKind.UPGRADE], ids=str)
async def test_a_foreign_session_on_the_new_data_delays_the_rollback_until_it_ends(
    saga_env: WorkflowEnvironment, task_queue: str, kind: JobKind
) -> None:
    """Not healthy on the new data, and a monitoring agent connected to it: the swap
    back is refused (retryable) until the session ended, then the instance runs what
    it ran before."""
    world = World()
    rollback = "swap_database_back" if kind is JobKind.RESTORE else "swap_database"
    world.fail_calls(rollback, HELD, times=3)
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        world.unhealthy_when = lambda w: w.databases.get(case.db) == NEW[kind]
        resource = await _at_the_health_check(case, kind)
        since = await saga_env.get_current_time()
        await case.skip(SETTINGS.start_timeout + timedelta(seconds=30))
        await case.called(rollback)
        await case.skip(timedelta(minutes=1))  # the retries' backoff
        await case.running_again(f"{kind.value}:health-check:foreign-session", since)
        await case.end()
    assert world.databases == {case.db: "v1"}, world.databases
    assert resource.phase is JobPhase.FAILED
    assert world.calls[rollback] == 4
    assert world.image in (None, "odoo:18.0")  # an upgrade's image back too


CLEANUP_FAULTS: dict[str, tuple[str | None, ApplicationError | None]] = {
    # fault: (the first filestore discard Job's failure, the drops' first 3 failures)
    "process-killed": ("step filestore failed (exit code 137)", None),
    "deadline": ("deadline of 3600 s exceeded at step filestore", None),
    "postgres-down-30s": (None, DOWN),
}


@pytest.mark.parametrize("fault", list(CLEANUP_FAULTS))
async def test_what_a_restore_kept_aside_is_removed_through_a_fault(
    saga_env: WorkflowEnvironment, task_queue: str, fault: str
) -> None:
    """The removal of what a completed restore kept aside, while the instance is
    Running on the restored data: a discard Job that failed is run again as a new
    attempt, a drop refused while PostgreSQL is down is retried."""
    world = World()
    failed_job, refused = CLEANUP_FAULTS[fault]
    if failed_job is not None:
        world.filestore_failures["discard"] = 1
        world.filestore_failure = failed_job
    if refused is not None:
        world.fail_calls("drop_databases", refused, times=3)
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _restore(case, safety_backup=False)
        await case.finish(JobKind.RESTORE, "restore-1")
        await wait_phase(case.handle, Phase.RUNNING)
        since = await case.running_at()
        await case.skip(timedelta(minutes=1))  # a new attempt's wait, the retries' backoff
        await case.done(f"restore:cleanup:{fault}", since, resource)
        await case.end()
    assert world.databases == {case.db: "restored"}
    assert world.filestores == {case.db: f"restored:{resource.uid}"}
    assert resource.phase is JobPhase.COMPLETED
    discards = [job for job in case.jobs_of("restore-1") if "discard" in job]
    assert len(discards) == (2 if failed_job else 1)


# --- operations that wait for another ----------------------------------------------


async def test_a_restore_waits_for_a_running_backup_and_says_so(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        world.add_job(JobKind.BACKUP, "nightly")
        await case.poke()
        await wait_phase(case.handle, Phase.BACKING_UP)
        await case.started("nightly", JobKind.BACKUP)
        world.add_job(JobKind.RESTORE, "restore-1", safety_backup=False)
        await case.poke()
        note = "queued behind OdooBackupJob nightly"
        await _until(lambda: case.resource("restore-1").message == note, "the note")
        assert world.databases == {case.db: "v1"}  # nothing started meanwhile
        await case.finish(JobKind.BACKUP, "nightly")
        await wait_phase(case.handle, Phase.RESTORING)
        await case.finish(JobKind.RESTORE, "restore-1")
        await wait_phase(case.handle, Phase.RUNNING)
        await case.removed(case.resource("restore-1"))
        await case.end()
    assert world.databases == {case.db: "restored"}


async def test_an_upgrade_queued_during_a_restore_says_it_waits_for_it(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        await _restore(case, safety_backup=False)
        await case.started("restore-1", JobKind.RESTORE)
        world.add_job(JobKind.UPGRADE, "upgrade-1", safety_backup=False)
        await case.poke()
        note = "queued behind OdooRestoreJob restore-1"
        await _until(lambda: case.resource("upgrade-1").message == note, "the note")
        await case.finish(JobKind.RESTORE, "restore-1")
        await wait_phase(case.handle, Phase.UPGRADING)
        await case.finish(JobKind.UPGRADE, "upgrade-1")
        await wait_phase(case.handle, Phase.RUNNING)
        await case.removed(case.resource("upgrade-1"))
        await case.end()
    assert world.databases == {case.db: "upgraded"}


# --- upgrade ---------------------------------------------------------------------------


async def _upgrade(case: Case, name: str = "upgrade-1", **options: Any) -> JobResource:
    return await _operation(case, JobKind.UPGRADE, name, **options)


async def test_upgrade_to_a_new_image_copies_aside_then_serves_it(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _upgrade(case, image="odoo:19.0", safety_destination=SAFETY)
        # The safety backup runs while web still serves; cron is stopped.
        await _until(lambda: world.cron.desired == 0, "cron stopped")
        assert world.web.desired == 1
        await case.finish(JobKind.BACKUP, naming.safety_backup_name("upgrade-1"))
        await case.started("upgrade-1", JobKind.UPGRADE)
        copy = naming.aside_database_name(case.db, resource.uid)
        assert world.databases[copy] == "v1"  # copied before odoo -u, web stopped
        assert world.web.desired == 0
        await case.finish(JobKind.UPGRADE, "upgrade-1")
        await wait_phase(case.handle, Phase.RUNNING)
        await case.removed(resource)
        await case.end()
    assert world.databases == {case.db: "upgraded"}
    assert world.image == "odoo:19.0"
    assert resource.phase is JobPhase.COMPLETED
    recorded = {k: v for r in world.records for k, v in r.model_dump(exclude_none=True).items()}
    assert recorded["previous_database"] == copy
    assert recorded["previous_image"] == "odoo:18.0"


UPGRADE_FAILURES = {
    "upgrade-job:failed": "step upgrade failed (exit code 1): odoo (stand-in): upgrade failed",
    "upgrade-job:deadline": "deadline of 3600 s exceeded at step upgrade",
    "upgrade-job:process-killed": "step upgrade failed (exit code 137)",
    "upgrade-job:postgres-down": "step upgrade failed (exit code 1): could not connect",
}


async def _failed_upgrade_job(case: Case, message: str) -> tuple[JobResource, datetime]:
    """An upgrade to odoo:19.0 whose Job failed half-way (`message`); the workflow
    time of the failure."""
    resource = await _upgrade(case, image="odoo:19.0", safety_backup=False)
    await case.started("upgrade-1", JobKind.UPGRADE)
    with case.world.lock:  # odoo -u got half-way
        case.world.databases[case.db] = "half-upgraded"
    since = await case.env.get_current_time()
    await case.finish(JobKind.UPGRADE, "upgrade-1", succeeded=False, message=message)
    return resource, since


@pytest.mark.parametrize("cell", sorted(UPGRADE_FAILURES))
async def test_a_failed_upgrade_swaps_the_copy_back(
    saga_env: WorkflowEnvironment, task_queue: str, cell: str
) -> None:
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource, since = await _failed_upgrade_job(case, UPGRADE_FAILURES[cell])
        await case.running_again(f"upgrade:{cell}", since)
        await case.end()
    assert world.databases == {case.db: "v1"}, world.databases
    assert world.image is None  # spec.image never changed
    assert resource.phase is JobPhase.FAILED
    assert UPGRADE_FAILURES[cell] in (resource.message or "")
    assert "database as it was before the upgrade on image odoo:18.0" in case.message()
    assert case.jobs_of("upgrade-1") == [naming.batch_job_name("upgrade-1", "upgrade")]
    # status.previousDatabase no longer names the copy: it is the live database again.
    assert world.records[-1].previous_database_gone


async def test_an_upgrade_not_healthy_on_its_image_rolls_image_and_database_back(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _upgrade(case, image="odoo:19.0", safety_backup=False)
        world.unhealthy_when = lambda w: w.image == "odoo:19.0"  # it does not start on 19
        await case.finish(JobKind.UPGRADE, "upgrade-1")
        await case.called("set_instance_image")
        since = await saga_env.get_current_time()
        await case.skip(SETTINGS.start_timeout + timedelta(seconds=30))
        await case.running_again("upgrade:health-check:unhealthy", since)
        await case.end()
    assert world.databases == {case.db: "v1"}
    assert world.image == "odoo:18.0"  # back
    assert resource.phase is JobPhase.FAILED


COPY_FAILURES = {
    "postgres-error": ApplicationError("out of disk space", type=failures.POSTGRES_ERROR),
    # A session the admin may not end sits on the live database (retryable, then given up).
    "foreign-session": ApplicationError(
        "sessions of role 'monitor' hold it", type=failures.POSTGRES_UNAVAILABLE
    ),
}


@pytest.mark.parametrize("cell", sorted(COPY_FAILURES))
async def test_an_upgrade_whose_copy_cannot_be_made_changes_nothing(
    saga_env: WorkflowEnvironment, task_queue: str, cell: str
) -> None:
    world = World()
    world.always_failing["copy_database"] = COPY_FAILURES[cell]
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _upgrade(case, safety_backup=False)
        await case.called("copy_database")
        since = await saga_env.get_current_time()
        await case.skip(timedelta(minutes=10))  # COPY_ATTEMPTS attempts, given up
        await case.running_again(f"upgrade:copy:{cell}", since)
        await case.end()
    assert world.databases == {case.db: "v1"}
    assert resource.phase is JobPhase.FAILED
    assert COPY_FAILURES[cell].message in (resource.message or "")
    assert world.calls["copy_database"] == calls.COPY_ATTEMPTS
    assert not case.jobs_of("upgrade-1")  # the upgrade Job never started


async def test_an_upgrade_copy_retried_while_postgres_is_down_30s_goes_through(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    world.fail_calls("copy_database", DOWN, times=3)
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _upgrade(case, safety_backup=False)
        since = await saga_env.get_current_time()
        await case.called("copy_database", 2)
        await case.skip(timedelta(minutes=1))
        await case.finish(JobKind.UPGRADE, "upgrade-1")
        await case.running_again("upgrade:copy:postgres-down-30s", since)
        await case.removed(resource)
        await case.end()
    assert world.databases[case.db] == "upgraded"
    assert resource.phase is JobPhase.COMPLETED


async def test_an_upgrade_of_a_database_really_gone_says_so_and_initializes_nothing(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        with world.lock:
            world.databases.clear()  # dropped out of band
        resource = await _upgrade(case)
        await wait_phase(case.handle, Phase.RUNNING, timeout=BOUND)
        await case.end()
    assert resource.phase is JobPhase.FAILED
    assert "does not exist (asked of PostgreSQL)" in (resource.message or "")
    assert not any(j.kind is JobKind.INIT for j in world.jobs)  # never auto-initialized
    assert world.db_initialized


UPGRADE_CRASHES: dict[str, Crash] = {
    "prepare_operation": _after("prepare_operation"),
    "create_backup_job": _after("create_backup_job"),
    "copy_database": _after("copy_database"),
    "converge_phase": _after("converge_phase"),
    "upgrade-job-running": _polling(JobKind.UPGRADE),
    "set_instance_image": _after("set_instance_image"),
    "apply_children": _after("apply_children"),
    "health-check": _health_check,
    "drop_databases": _after("drop_databases"),
}


@pytest.mark.parametrize("step", list(UPGRADE_CRASHES))
async def test_an_upgrade_resumes_after_the_worker_is_killed_after_any_step(
    saga_env: WorkflowEnvironment, task_queue: str, step: str
) -> None:
    world = World()
    crash = CrashAfter(UPGRADE_CRASHES[step])
    async with running_worker(saga_env.client, world, task_queue, interceptors=[crash]):
        case = await _case(saga_env, task_queue, world)
        resource = await _upgrade(case, image="odoo:19.0", safety_destination=SAFETY)
        await case.finish(JobKind.BACKUP, naming.safety_backup_name("upgrade-1"))
        await case.finish(JobKind.UPGRADE, "upgrade-1")
        await _until(lambda: crash.at is not None, "the worker killed")
        assert crash.at is not None
        await case.done(f"upgrade:worker-killed:{step}", crash.at, resource)
        await case.end()
    assert crash.crashed
    assert world.databases == {case.db: "upgraded"}
    assert world.image == "odoo:19.0"
    assert world.batch_jobs_created[naming.batch_job_name("upgrade-1", "upgrade")] == 1
    assert world.batch_jobs_created[naming.batch_job_name("upgrade-1-safety", "backup")] == 1


async def test_postgres_down_30s_at_the_image_switch_only_delays_it(
    saga_env: WorkflowEnvironment, task_queue: str
) -> None:
    """The Deployments applied with the new image: the apply's PostgreSQL step (the
    instance's role) refused while PostgreSQL is down, retried."""
    world = World()
    async with running_worker(saga_env.client, world, task_queue):
        case = await _case(saga_env, task_queue, world)
        resource = await _upgrade(case, image="odoo:19.0", safety_backup=False)
        await case.started("upgrade-1", JobKind.UPGRADE)
        world.fail_calls("apply_children", DOWN, times=3)
        await case.finish(JobKind.UPGRADE, "upgrade-1")
        await case.called("set_instance_image")
        since = await saga_env.get_current_time()
        await case.called("apply_children")
        await case.skip(timedelta(minutes=1))  # the retries' backoff
        await case.running_again("upgrade:image-switch:postgres-down-30s", since)
        await case.removed(resource)
        await case.end()
    assert world.databases == {case.db: "upgraded"}
    assert world.image == "odoo:19.0"
    assert resource.phase is JobPhase.COMPLETED


ROLLBACK_FAULTS: dict[str, ApplicationError | None] = {
    "postgres-down-30s": DOWN,
    "foreign-session": HELD,
    "worker-killed": None,
}


@pytest.mark.parametrize("fault", list(ROLLBACK_FAULTS))
async def test_an_upgrade_rollback_goes_through_a_fault_at_its_swap(
    saga_env: WorkflowEnvironment, task_queue: str, fault: str
) -> None:
    """The upgrade Job failed; the swap that puts the copy back meets PostgreSQL
    down, a session of another role on the upgraded database (both refused,
    retryable, a few times), or the worker killed once it is done."""
    world = World()
    crash = CrashAfter(_after("swap_database"))
    refused = ROLLBACK_FAULTS[fault]
    if refused is not None:
        world.fail_calls("swap_database", refused, times=3)
    interceptors = [crash] if refused is None else []
    async with running_worker(saga_env.client, world, task_queue, interceptors=interceptors):
        case = await _case(saga_env, task_queue, world)
        resource, since = await _failed_upgrade_job(case, UPGRADE_FAILURES["upgrade-job:failed"])
        await case.called("swap_database")
        await case.skip(timedelta(minutes=1))  # the retries' backoff
        await case.running_again(f"upgrade:rollback:{fault}", since)
        await case.end()
    assert world.databases == {case.db: "v1"}, world.databases
    assert world.image is None  # spec.image never changed
    assert resource.phase is JobPhase.FAILED
    assert crash.crashed is (refused is None)
    assert world.calls["swap_database"] == (4 if refused is not None else 1)
