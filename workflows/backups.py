"""The backups of the instance workflow: asked for by signal, Update, schedule and deletion.

Owns, for the instance workflow that composes it (`Backups(instance)`):
- the deterministic names of a request (`queue`: workflow time and workflow
  randomness, so a replay and a retried activity find the same OdooBackupJob);
- backup requests: the `backup` signal queues one in MachineState (the main
  loop makes it an OdooBackupJob, `create_requested`; a request refused for
  good becomes a BackupRequestRefused Warning Event), the `backup` Update
  makes it at once and answers with its name (`create_now`, `validate`).
  Both take the raw payload and parse it here (`decoded`): a request that
  does not parse fails the Update with a non-retryable BackupRequestInvalid
  naming the fields, and a signal, which cannot answer, leaves the same
  message as a BackupRequestRefused Warning Event (MachineState.
  refused_requests, posted by the main loop). The Update's validator
  refuses what it can see (no destination, a deletion); its handler asks
  check_backup_request (the S3 credentials Secret and its keys) before it
  makes anything;
- keeping the instance's Temporal Schedule in step with spec.backup
  (`sync_schedule`; a removed spec.backup, or a deletion, deletes it;
  paused while the instance is on hold); a
  Schedule Temporal refuses is MachineState.schedule_problem, shown as the
  instance's problem until spec.backup changes;
- the deletion's final backup (`final_backup`): machine.DELETION_TABLE, run
  from Deleting until CleaningUp. With spec.backup.finalBackup and an
  initialized database a final backup runs first (after any queued before
  it); the database is dropped only once it completed. While it fails the
  database stays, a FinalBackupFailed Warning says why, and another is tried
  on each resync or spec change; setting finalBackup false lets the deletion
  proceed.
Pruning by spec.backup.retention is an edge action of the phase table
(PruneScheduledBackups, built by machine.edge_actions).

Must not: keep state of its own (everything that outlives a wake is in the
workflow's MachineState, so continue-as-new carries it), decide a phase of
the living instance (machine.TABLE does), or do I/O other than through
workflows.calls.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import timedelta
from typing import Any, Protocol

from temporalio import workflow
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from model import failures, naming
    from model.crds import BackupFormat, ScheduledBackups
    from model.payloads import (
        BackupRequest,
        BackupRequested,
        ConvergePhaseInput,
        CreateBackup,
        CreateBackupJobInput,
        EdgeAction,
        Hold,
        JobKind,
        MachineState,
        PostEventInput,
        PostWarning,
        QueuedBackup,
        RunEdgeActionsInput,
        Snapshot,
        SyncBackupScheduleInput,
        WorkflowSettings,
    )
    from model.phases import Phase
    from workflows import calls, machine, requests
    from workflows.ensure import ensure

__all__ = ["Backups", "Instance", "decoded"]


class Instance(Protocol):
    """The instance workflow, as its backups see it."""

    @property
    def state(self) -> MachineState:
        """The current state (signals replace it while an activity runs)."""
        ...

    @property
    def settings(self) -> WorkflowSettings: ...

    def merge_state(self, **changes: object) -> None:
        """Merge `changes` into the current state."""

    async def look(self) -> Snapshot:
        """A new snapshot, also answered by the `snapshot` query."""
        ...

    async def write_status(
        self, snap: Snapshot, phase: Phase, guard: str | None, edges: Sequence[EdgeAction] = ()
    ) -> None:
        """Write the status of `phase` read on `snap`; `guard` names the row of a
        phase change, and `edges` are what that row ran."""

    async def nap(self, timeout: timedelta, *, why: str) -> None:
        """Wait for a signal or `timeout`, whichever comes first; `why`: what is
        done then (the timer's summary, workflows.story.wait)."""

    async def nap_until(self, done: asyncio.Future[Any]) -> None:
        """Wait for a signal or `done`, whichever comes first (no timer)."""

    def note_finished(self, edges: Sequence[EdgeAction]) -> None:
        """The job resources `edges` finish: the last operation, the last good backup
        (the current details and search attributes say them)."""

    def unfollow(self) -> None:
        """Cancel the follow_job that runs, if one does (its Job is no longer waited for)."""

    def show_step(self, step: str | None) -> None:
        """Show `step` (a saga's, in words) in the current details; None: no step."""

    def follow(self, kind: JobKind, name: str, job_name: str) -> asyncio.Future[bool]:
        """The follow_job of batch Job `job_name` of job resource `name` (the one that
        runs, or a new one): True once the Job ended, False when the follow ran its
        time or failed (the Job may still run); the workflow is woken then."""
        ...


class Backups:
    """The backups of one instance workflow; all state is the workflow's."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance

    # --- requests -------------------------------------------------------------

    def queue(self, request: BackupRequest, *, final: bool = False) -> QueuedBackup:
        """Deterministic names for a request: workflow time and workflow randomness."""
        state = self._instance.state
        scheduled = state.spec.backup
        stamp = workflow.now().strftime("%Y%m%d%H%M%S")
        suffix = workflow.uuid4().hex[:4]
        fmt = request.format or (scheduled.format if scheduled else BackupFormat.ZIP)
        prefix = scheduled.destination.prefix if scheduled else ""
        return QueuedBackup(
            request=request,
            name=naming.backup_resource_name(state.ref.name, stamp, suffix, final=final),
            object_key=naming.backup_object_key(
                prefix, state.ref.namespace, state.ref.name, stamp, suffix, fmt.value
            ),
            final=final,
        )

    def request(self, raw: RawValue) -> bool:
        """The `backup` signal: queue the request, or the Warning saying why it does
        not parse; False while deleting (dropped)."""
        state = self._instance.state
        if state.deleting:
            return False
        try:
            request = decoded(raw)
        except ApplicationError as err:
            refused = PostWarning(
                key=f"refused-signal-{workflow.uuid4().hex[:8]}",
                reason="BackupRequestRefused",
                message=f"{err.message}. (A signal cannot answer; the backup Update "
                "refuses such a request at once.)",
            )
            self._instance.merge_state(refused_requests=(*state.refused_requests, refused))
            return True
        self._instance.merge_state(backup_requests=(*state.backup_requests, self.queue(request)))
        return True

    def validate(self, raw: RawValue) -> None:
        """The `backup` Update's validator: refuse what could never be made."""
        request = decoded(raw)
        state = self._instance.state
        if state.deleting:
            raise _invalid("the instance is being deleted")
        if request.destination is None and state.spec.backup is None:
            raise _invalid(
                "destination: no destination given and the instance has no spec.backup: "
                "give one in the request, or set spec.backup on the instance"
            )

    async def create_now(self, raw: RawValue) -> BackupRequested:
        """The `backup` Update: check the request, make the OdooBackupJob, answer with
        its name; a request that cannot run fails the Update, never the workflow."""
        state = self._instance.state
        input = CreateBackupJobInput(
            ref=state.ref, spec=state.spec, queued=self.queue(decoded(raw))
        )
        try:
            await calls.check_backup_request(input)
        except calls.ACTIVITY_FAILED as err:
            if calls.error_type(err) != failures.BACKUP_REQUEST_INVALID:
                raise
            raise _invalid(calls.error_message(err)) from None
        return await calls.create_backup_job(input)

    async def create_requested(self) -> None:
        """Post the Warnings of refused signals, then make the queued requests
        OdooBackupJobs, oldest first."""
        while self._instance.state.refused_requests:
            state = self._instance.state
            refused = state.refused_requests[0]
            await calls.post_event(
                PostEventInput(
                    ref=state.ref,
                    key=refused.key,
                    reason=refused.reason,
                    message=refused.message,
                    warning=True,
                )
            )
            self._instance.merge_state(refused_requests=self._instance.state.refused_requests[1:])
        while self._instance.state.backup_requests:
            state = self._instance.state
            queued = state.backup_requests[0]
            try:
                await calls.create_backup_job(
                    CreateBackupJobInput(ref=state.ref, spec=state.spec, queued=queued)
                )
            except calls.ACTIVITY_FAILED as err:
                if calls.error_type(err) != failures.BACKUP_REQUEST_INVALID:
                    raise
                await calls.post_event(
                    PostEventInput(
                        ref=state.ref,
                        key=f"refused-{queued.name}",
                        reason="BackupRequestRefused",
                        message=f"backup request {queued.name} refused: {calls.error_message(err)}",
                        warning=True,
                    )
                )
            # Signals only append: the first request is still the one just made.
            self._instance.merge_state(backup_requests=self._instance.state.backup_requests[1:])

    # --- the schedule ---------------------------------------------------------

    async def sync_schedule(
        self, backup: ScheduledBackups | None, hold: Hold | None = None
    ) -> None:
        """Bring the Temporal Schedule in step with `backup` (None: delete it),
        paused while `hold` lasts."""
        state = self._instance.state
        digest = _digest(backup, hold)
        if backup is None and not state.schedule_synced:
            if state.schedule_problem is not None:
                self._instance.merge_state(schedule_problem=None, schedule_digest=digest)
            return  # none was made: nothing to delete
        if digest == state.schedule_digest:
            return
        try:
            await calls.sync_backup_schedule(
                SyncBackupScheduleInput(ref=state.ref, backup=backup, hold=hold)
            )
        except calls.ACTIVITY_FAILED as err:
            if calls.error_type(err) not in failures.PERMANENT:
                raise
            # Refused for good (Temporal's INVALID_ARGUMENT): a problem of the
            # instance until spec.backup changes, not a retry of the same input.
            self._instance.merge_state(
                schedule_digest=digest, schedule_problem=calls.error_message(err)
            )
            return
        self._instance.merge_state(
            schedule_synced=backup is not None, schedule_digest=digest, schedule_problem=None
        )

    # --- the deletion ---------------------------------------------------------

    async def final_backup(self) -> None:
        """Run DELETION_TABLE from Deleting; return at CleaningUp (see the docstring)."""
        instance = self._instance
        step = machine.DeletionStep.DELETING
        final: QueuedBackup | None = None
        while True:
            state = instance.state
            try:
                snap = await instance.look()
            except calls.ACTIVITY_FAILED as err:
                if calls.error_type(err) == failures.INSTANCE_GONE:
                    return  # nothing left to back up
                raise
            row = machine.evaluate_deletion(step, state.spec, snap)
            edges: list[EdgeAction] = list(snap.refused_jobs)  # they cannot run: Failed
            for action in row.actions if row is not None else ():
                if action is machine.Action.CREATE_FINAL_BACKUP:
                    final = self.queue(BackupRequest(), final=True)
                    edges.append(CreateBackup(queued=final))
                elif action is machine.Action.WARN_FINAL_BACKUP_FAILED:
                    edges.append(self._final_backup_failed(snap, final))
                else:
                    edges.extend(machine.edge_actions((action,), state.spec, snap))
            if edges:
                await calls.run_edge_actions(
                    RunEdgeActionsInput(ref=state.ref, spec=state.spec, actions=tuple(edges))
                )
            if row is None:
                # Resting in FinalBackup: start the active backup's Job, or wait for it.
                start = ensure(Phase.BACKING_UP, state.spec, snap).start_job
                if start is not None:
                    await calls.converge_phase(
                        ConvergePhaseInput(
                            ref=state.ref, spec=state.spec, start_job=snap.job(start)
                        )
                    )
                else:
                    await instance.nap(
                        instance.settings.job_poll_interval, why="look at the final backup"
                    )
                continue
            step = row.to
            if step.phase is not None and step.phase is not state.phase:
                await instance.write_status(snap, step.phase, row.guard_name, edges)
            if step is machine.DeletionStep.CLEANING_UP:
                return
            if step is machine.DeletionStep.FINAL_BACKUP_FAILED:
                await instance.nap(
                    instance.settings.resync_interval, why="look at the deletion again"
                )

    def _final_backup_failed(self, snap: Snapshot, final: QueuedBackup | None) -> PostWarning:
        """The FinalBackupFailed Warning of the final backup `snap` shows failed or gone."""
        state = self._instance.state
        active = snap.backup
        if active is not None:
            name, why = active.name, active.message or "the backup failed"
        else:
            name = final.name if final is not None else "(none)"
            refused = next((job for job in snap.refused_jobs if job.name == name), None)
            why = (
                refused.message or "the backup cannot run"
                if refused is not None
                else "the backup resource was deleted before it finished"
            )
        database = naming.database_name(state.ref.uid, state.spec.database.name)
        return PostWarning(
            key=f"finalbackupfailed-{name}",
            reason="FinalBackupFailed",
            message=(
                f"final backup {name} failed, so database {database} is kept: {why}. "
                f"Another is tried in {self._instance.settings.resync_interval} or on a "
                "spec change; set spec.backup.finalBackup to false to delete without one."
            ),
        )


def decoded(raw: RawValue) -> BackupRequest:
    """The BackupRequest a `backup` signal or Update carries, or a non-retryable
    BackupRequestInvalid naming the fields that do not parse (never their values)."""
    return requests.decoded(raw, BackupRequest, "backup request", failures.BACKUP_REQUEST_INVALID)


def _invalid(message: str) -> ApplicationError:
    return requests.refusal(message, failures.BACKUP_REQUEST_INVALID)


def _digest(backup: ScheduledBackups | None, hold: Hold | None = None) -> str:
    text = backup.model_dump_json() if backup is not None else "none"
    if hold is not None and backup is not None:
        text += f"; held {hold.model_dump_json()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]
