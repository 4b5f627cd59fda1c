"""The steps of a saga that replaces data, and their undo: what restores and upgrades share.

SPEC "Operations that replace data ... are sagas". Owns, for one operation
(one job resource) of the instance workflow that composes it, the steps a
restore (workflows.restore) and an upgrade (workflows.upgrade) are made of,
so staging copies and restore drills can be built from the same pieces:

- `scale`: the web and cron Deployments (converge_phase);
- `safety_backup`: an OdooBackupJob `<resource>-safety` of what is about to be
  replaced, run to its end before anything changes (its batch Job started
  and waited for here: the instance is not in BackingUp), then finished
  like any backup; a failed one fails the operation;
- `run_job`: the operation's own batch Job, started and waited for;
- `swap_in` / `swap_back`: activities.databases' resumable swap, through the
  cluster's admin login (regular activities: the history says on which side
  of the swap the instance is); `copy`: a template copy kept aside;
  `drop`: the operation's copies and leftovers, retried until PostgreSQL
  answers;
- `filestore`: a restore's filestore Job (undo, discard), retried as a new
  attempt until it succeeds;
- `healthy`: scale to the spec and wait for every web replica to be ready
  on the new data (WorkflowSettings.start_timeout), else `Failed`;
- `keep_aside`: record in MachineState what the operation replaced, removed
  by `discard_due` once the instance is Running and keepPreviousFor passed.

A step that cannot succeed raises `Failed` with the cause (an activity that
failed for good counts as its step's failure); the operation then runs its
undo (`uncancellable`: a deletion that cancels the wake waits for
it) and reports the failure. Every step is idempotent: a saga started again
from its beginning (a new run of the workflow) finds what the earlier one
made and goes on.

Must not: decide phases (machine.TABLE does, from the outcome the operation
returns), keep state outside the workflow's MachineState, or do I/O other
than through workflows.calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from model import failures, naming
    from model.crds import BackupFormat
    from model.crds.job_resources import KEEP_WITHOUT_SAFETY_BACKUP
    from model.payloads import (
        ActiveJob,
        BackupRequest,
        ConvergePhaseInput,
        CopyDatabaseInput,
        CreateBackupJobInput,
        DatabaseSwap,
        DescribeJobInput,
        DropDatabasesInput,
        FilestoreStepInput,
        JobAction,
        JobKind,
        KeptAside,
        OperationPlan,
        OperationRecord,
        PostEventInput,
        PrepareOperationInput,
        QueuedBackup,
        RecordOperationInput,
        RunEdgeActionsInput,
        SwapDatabaseInput,
    )
    from model.phases import JobState
    from workflows import backups, calls, ensure, story

__all__ = [
    "Failed",
    "Outcome",
    "Saga",
    "discard_due",
    "next_discard",
    "uncancellable",
]

T = TypeVar("T")

_FINISHED = (JobState.SUCCEEDED, JobState.FAILED)
_FILESTORE_RETRY = timedelta(seconds=30)
"""Wait before another attempt of a failed filestore step (the volume may be busy)."""


@dataclass(frozen=True)
class Outcome:
    """How an operation ended: succeeded, failed (and undone) with `message`, or
    None when its job resource is gone."""

    succeeded: bool | None
    message: str | None = None


class Failed(Exception):
    """A step of an operation failed for good: undo, and fail the operation with `reason`."""

    def __init__(self, step: str, reason: str) -> None:
        super().__init__(f"{step}: {reason}")
        self.step = step
        self.reason = reason

    @classmethod
    def of(cls, step: str, err: BaseException) -> Failed:
        """`err` as the failure of `step`: itself when it is one, else an activity's
        error (one that failed for good, or gave up) in its own words."""
        if isinstance(err, Failed):
            return err
        if isinstance(err, calls.ACTIVITY_FAILED):
            return cls(step, calls.error_message(err))
        return cls(step, str(err))


async def uncancellable(awaitable: Coroutine[Any, Any, T]) -> T:
    """Run `awaitable` to its end even when the caller is cancelled meanwhile (a
    deletion cancels the wake); the cancellation is raised once it is done."""
    task = asyncio.ensure_future(awaitable)
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                raise
            cancelled = True
            continue
        break
    if cancelled:
        raise asyncio.CancelledError
    return result


@dataclass
class Saga:
    """The steps of one operation (`kind`, job resource `name`) on `instance`."""

    instance: backups.Instance
    kind: JobKind
    name: str
    # The follow of the Job waited for last (`follow`).
    _following: asyncio.Future[bool] | None = field(default=None, init=False)

    def at(self, step: str) -> str:
        """`step`, now the operation's step (the workflow's current details show it)."""
        self.instance.show_step(f"{self.kind.value} {self.name}: {step}")
        return step

    def fail(self, failure: Failed, done: str) -> Outcome:
        """The failed outcome of this operation: the job resource's message leads with
        the cause (what to fix), then what the rollback did; the instance's notice
        (status.message) names the operation first."""
        self.instance.merge_state(
            notice=f"{self.kind.value} {self.name} failed at the {failure.step} step, "
            f"{done}: {failure.reason}"
        )
        return Outcome(succeeded=False, message=f"{failure.reason} ({done})")

    # --- reading --------------------------------------------------------------

    async def prepare(self) -> OperationPlan | None:
        """The job resource's uid and options; None when it is gone."""
        state = self.instance.state
        try:
            return await calls.prepare_operation(
                PrepareOperationInput(
                    ref=state.ref, spec=state.spec, kind=self.kind, name=self.name
                )
            )
        except calls.ACTIVITY_FAILED as err:
            if calls.error_type(err) != failures.CONFIG_INVALID:
                raise
            raise Failed("prepare", calls.error_message(err)) from err

    async def wait_job(self, kind: JobKind, name: str) -> ActiveJob | None:
        """Wait for the batch Job of job resource `name` to finish; None once the resource
        is gone. The Job is followed (`follow`), which wakes the workflow when it ends."""
        while True:
            job = await calls.describe_job(
                DescribeJobInput(ref=self.instance.state.ref, kind=kind, name=name)
            )
            if job is None or job.state in _FINISHED:
                # Seen ended before its follow did (a poke came first): the follow
                # ends within seconds; the saga goes on without one running.
                following = self._following
                while following is not None and not following.done():
                    await self.instance.nap_until(following)
                return job
            await self.follow(kind, name, job.job_name)

    async def follow(self, kind: JobKind, name: str, job_name: str | None) -> None:
        """Until batch Job `job_name` of job resource `name` ended, its follow ran its
        time, or a wake: the instance's follow_job of it (its progress in the job
        resource's status and the heartbeat; no poke comes when a Job ends). A wake (a
        poke: a job resource applied, or deleted) notes the job resources queued behind
        this operation (ensure.waiting, as a resting phase's wake writes them), and the
        caller looks again. A Job not started yet, or a follow that failed, is looked
        at again after job_poll_interval."""
        instance = self.instance
        if job_name is not None:
            follow = self._following = instance.follow(kind, name, job_name)
            await instance.nap_until(follow)
            if not follow.done():
                await self.note_waiting()
                return
            if follow.result():
                return
        await instance.nap(
            instance.settings.job_poll_interval, why=f"look at {kind.resource_kind} {name}"
        )
        await self.note_waiting()

    async def note_waiting(self) -> None:
        state = self.instance.state
        notes, _ = ensure.waiting(state.phase, await self.instance.look())
        if notes:
            await calls.converge_phase(
                ConvergePhaseInput(ref=state.ref, spec=state.spec, mark_pending=notes)
            )

    # --- Kubernetes -------------------------------------------------------------

    async def scale(self, web: int | None, cron: int | None) -> None:
        state = self.instance.state
        await calls.converge_phase(
            ConvergePhaseInput(ref=state.ref, spec=state.spec, web_replicas=web, cron_replicas=cron)
        )

    async def start_job(self, kind: JobKind, name: str) -> None:
        """Start the batch Job of job resource `name` (job_lifecycle.start: once)."""
        state = self.instance.state
        active = ActiveJob(kind=kind, name=name, state=JobState.ACTIVE)
        await calls.converge_phase(
            ConvergePhaseInput(ref=state.ref, spec=state.spec, start_job=active)
        )

    async def run_job(self, step: str) -> ActiveJob:
        """The operation's own batch Job: started, waited for; Failed with its message."""
        await self.start_job(self.kind, self.name)
        job = await self.wait_job(self.kind, self.name)
        if job is None:
            raise Failed(step, f"the {self.kind.resource_kind} was deleted before it finished")
        if job.state is JobState.FAILED:
            raise Failed(step, job.message or "the Job failed")
        return job

    async def record(self, **fields: Any) -> None:
        state = self.instance.state
        await calls.record_operation(
            RecordOperationInput(
                ref=state.ref, kind=self.kind, name=self.name, record=OperationRecord(**fields)
            )
        )

    async def warn(self, key: str, reason: str, message: str, *, warning: bool = True) -> None:
        await calls.post_event(
            PostEventInput(
                ref=self.instance.state.ref,
                key=f"{key}-{self.name}",
                reason=reason,
                message=message,
                warning=warning,
            )
        )

    async def safety_backup(self, plan: OperationPlan, what: str) -> str | None:
        """Back up `what` (the data about to be replaced) first; its name, or None when
        none is wanted (a Normal Event says what then keeps the data), there is nothing
        to back up, or nowhere to put it (a Warning)."""
        if not plan.live_exists:
            return None
        if not plan.safety_backup:
            kept = (
                f"kept aside {story.age(plan.keep_previous)} after the instance serves again"
                if plan.keep_previous
                else "dropped once the instance serves again (keepPreviousFor 0s)"
            )
            await self.warn(
                "safetyskipped",
                "SafetyBackupSkipped",
                f"{self.kind.resource_kind} {self.name} runs without a safety backup of "
                f"{what}, as safetyBackup is false; what it replaces is {kept}",
                warning=False,
            )
            return None
        state = self.instance.state
        if self._nowhere_to_back_up(plan):
            days = KEEP_WITHOUT_SAFETY_BACKUP.days
            await self.warn(
                "safetyskipped",
                "SafetyBackupSkipped",
                f"{self.kind.resource_kind} {self.name} runs without a safety backup of "
                f"{what}: the instance has no spec.backup and the job names no "
                f"safetyBackupDestination; what it replaces is kept aside at least {days} days "
                "instead (set a destination, or safetyBackup: false to silence this)",
            )
            return None
        queued = self._safety_request(plan)
        request = CreateBackupJobInput(ref=state.ref, spec=state.spec, queued=queued)
        await calls.create_backup_job(request, summary=story.safety_backup(request, what))
        await self.record(safety_backup=queued.name)
        await self.start_job(JobKind.BACKUP, queued.name)
        job = await self.wait_job(JobKind.BACKUP, queued.name)
        succeeded = job is not None and job.state is JobState.SUCCEEDED
        cause = "it was deleted before it finished" if job is None else job.message
        finished = JobAction(
            kind=JobKind.BACKUP,
            name=queued.name,
            succeeded=succeeded,
            message=None if succeeded else cause,
        )
        await calls.run_edge_actions(
            RunEdgeActionsInput(ref=state.ref, spec=self.instance.state.spec, actions=(finished,))
        )
        self.instance.note_finished((finished,))
        if not succeeded:
            raise Failed("safety backup", f"safety backup {queued.name} failed: {cause}")
        return queued.name

    def _nowhere_to_back_up(self, plan: OperationPlan) -> bool:
        """A safety backup is wanted, there is data to back up, and no destination."""
        wanted = plan.safety_backup and plan.live_exists
        return (
            wanted and plan.safety_destination is None and self.instance.state.spec.backup is None
        )

    def _safety_request(self, plan: OperationPlan) -> QueuedBackup:
        state = self.instance.state
        scheduled = state.spec.backup
        prefix = scheduled.destination.prefix if scheduled is not None else ""
        stamp = workflow.now().strftime("%Y%m%d%H%M%S")
        return QueuedBackup(
            request=BackupRequest(
                destination=plan.safety_destination, format=BackupFormat.ZIP, with_filestore=True
            ),
            name=naming.safety_backup_name(self.name),
            object_key=naming.backup_object_key(
                prefix,
                state.ref.namespace,
                state.ref.name,
                stamp,
                f"before-{naming.operation_tag(plan.uid)}",
                BackupFormat.ZIP.value,
            ),
        )

    # --- PostgreSQL -------------------------------------------------------------

    async def swap_in(self, swap: DatabaseSwap, step: str) -> None:
        """Swap, or Failed when it cannot be done now (the caller swaps back)."""
        state = self.instance.state
        try:
            await uncancellable(
                calls.swap_database(SwapDatabaseInput(ref=state.ref, spec=state.spec, swap=swap))
            )
        except calls.ACTIVITY_FAILED as err:
            raise Failed(step, calls.error_message(err)) from err

    async def swap_until_done(self, swap: DatabaseSwap) -> None:
        """Swap, trying again whatever stops it: an undo has no way back."""
        while True:
            try:
                await self.swap_in(swap, "rollback")
            except Failed as failure:
                workflow.logger.warning("the rollback swap failed, trying again: %s", failure)
                await self.instance.nap(
                    self.instance.settings.job_poll_interval, why="try the rollback swap again"
                )
                continue
            return

    async def swap_back(self, swap: DatabaseSwap) -> None:
        state = self.instance.state
        await uncancellable(
            calls.swap_database_back(SwapDatabaseInput(ref=state.ref, spec=state.spec, swap=swap))
        )

    async def copy(self, source: str, copy_name: str, mark: str, step: str) -> None:
        state = self.instance.state
        try:
            await uncancellable(
                calls.copy_database(
                    CopyDatabaseInput(
                        ref=state.ref,
                        spec=state.spec,
                        source=source,
                        copy_name=copy_name,
                        mark=mark,
                    )
                )
            )
        except calls.ACTIVITY_FAILED as err:
            raise Failed(step, calls.error_message(err)) from err

    async def drop(self, *names: str) -> None:
        state = self.instance.state
        await uncancellable(
            calls.drop_databases(DropDatabasesInput(ref=state.ref, spec=state.spec, names=names))
        )

    # --- the filestore (a restore's) ------------------------------------------

    async def filestore(self, uid: str, action: str) -> None:
        """Run the filestore Job `action` to success, a new attempt after each failure."""
        attempt = 1
        while True:
            state = self.instance.state
            result = await calls.run_filestore_step(
                FilestoreStepInput(
                    ref=state.ref,
                    spec=state.spec,
                    name=self.name,
                    uid=uid,
                    action=action,
                    attempt=attempt,
                )
            )
            if result.state is JobState.SUCCEEDED:
                return
            if result.state is JobState.FAILED:
                workflow.logger.warning(
                    "filestore %s of %s failed (attempt %d): %s",
                    action, self.name, attempt, result.message,
                )  # fmt: skip
                attempt += 1
                await self.instance.nap(_FILESTORE_RETRY, why=f"try the filestore {action} again")
                continue
            await self.follow(JobKind.RESTORE, self.name, result.job_name)

    # --- serving again ------------------------------------------------------------

    async def healthy(self, step: str) -> None:
        """Scale to the spec and wait for every web replica to be ready; Failed after
        WorkflowSettings.start_timeout. An instance stopped (replicas 0) has nothing
        to wait for."""
        spec = self.instance.state.spec
        await self.scale(spec.replicas, spec.cron.replicas)
        if spec.replicas == 0:
            return
        timeout = self.instance.settings.start_timeout
        until = workflow.now() + timeout
        while True:
            snap = await self.instance.look()
            wanted = self.instance.state.spec.replicas
            if snap.web.ready >= wanted:
                return
            left = until - workflow.now()
            if left <= timedelta(0):
                raise Failed(
                    step,
                    f"{snap.web.ready} of {wanted} web replicas ready on the new data after "
                    f"{int(timeout.total_seconds())} s",
                )
            await self.instance.nap(
                min(self.instance.settings.job_poll_interval, left),
                why="look whether the web replicas are ready on the new data",
            )

    def keep_aside(
        self, plan: OperationPlan, databases: tuple[str, ...], filestore: str | None
    ) -> None:
        """What the operation replaced stays until discard_due removes it: keepPreviousFor
        after now, at least KEEP_WITHOUT_SAFETY_BACKUP when the kept-aside data is the
        only copy (the safety backup had nowhere to go)."""
        keep = plan.keep_previous
        if self._nowhere_to_back_up(plan):
            keep = max(keep, KEEP_WITHOUT_SAFETY_BACKUP)
        kept = KeptAside(
            kind=self.kind,
            name=self.name,
            uid=plan.uid,
            databases=databases,
            filestore=filestore,
            not_before=workflow.now() + keep,
        )
        state = self.instance.state
        self.instance.merge_state(kept_aside=(*state.kept_aside, kept))


# --- what completed operations kept aside ------------------------------------------


def next_discard(instance: backups.Instance) -> datetime | None:
    """When the next kept-aside data may go, or None."""
    due = [kept.not_before for kept in instance.state.kept_aside]
    return min(due) if due else None


async def discard_due(instance: backups.Instance) -> None:
    """Remove what completed operations kept aside once their keepPreviousFor passed
    (the caller calls this only while the instance is Running on the new data)."""
    for kept in instance.state.kept_aside:
        if workflow.now() < kept.not_before:
            continue
        saga = Saga(instance, kept.kind, kept.name)
        saga.at("remove what it kept aside")
        await saga.drop(*kept.databases)
        if kept.filestore is not None:
            await saga.filestore(kept.uid, "discard")
        await saga.record(previous_removed_at=workflow.now())
        what = " and ".join(
            [*(f"database {name}" for name in kept.databases)]
            + ([f"filestore {kept.filestore}"] if kept.filestore else [])
        )
        await saga.warn(
            "previousremoved",
            "PreviousDataRemoved",
            f"{kept.kind.resource_kind} {kept.name}: removed what it kept aside ({what})",
            warning=False,
        )
        remaining = tuple(k for k in instance.state.kept_aside if k.uid != kept.uid)
        instance.merge_state(kept_aside=remaining)
