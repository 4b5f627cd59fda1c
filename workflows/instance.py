"""The instance workflow: one long-running workflow per OdooInstance.

Entity-workflow shape (Temporal samples): all state in one `MachineState`,
signals only mutate it and set `_wake`, the main loop waits on
`_wake` with a timer (resync, or job polling while a batch Job runs), and
continues-as-new carrying only `MachineState` when the SDK suggests it, even
with signals pending: what they wrote is in `MachineState`, a pending wake
is not lost (every run starts awake), so a steady stream of pokes cannot
grow one run's history until Temporal terminates it.

One wake: apply child objects if the generation moved, gather one snapshot,
converge the phase's ensure() output, evaluate the table, run the edge
actions of a transition (one regular activity, run_edge_actions, so the
history keeps that they ran) and record the status (a local activity). A
transition is followed at once by the next phase's step: on the same
snapshot when the row had no edge action (only the phase changed), on a new
one otherwise.

Drift (model.children): the snapshot reads the child objects only when asked
(an API request each): after a poke saying a child changed, on the first
wake of a run, and before the periodic re-apply of a resync; an apply
answers what was asked before it started (it wrote them all). A plain
resync stays one snapshot: the watch pokes, and a restarted watcher pokes
for every child it lists. The snapshot reports the children gone, being
deleted or changed; the workflow carries what it found into the snapshots
that do not read them. Drift is restored by a re-apply told what it repairs
(apply_children posts a ChildRestored Event per object), at most once per
WorkflowSettings.restore_interval after the last apply (a fight with another
controller cannot loop hot; a timer wakes the workflow when it is due). Until
then status.message names each object, and one missing keeps the instance
out of Running (machine.child_missing). An object being deleted is restored
once it is gone (its deletion pokes).

Permanent failures never wedge or end the workflow: an activity failing with
a type of failures.PERMANENT (a spec the API refuses, 400/403/404/409
immutable, an object another instance owns) becomes a problem: status.message
and the Error phase (whose ensure() still honours spec.replicas 0), retried
on the next wake. A refused apply stays a problem until an apply succeeds; a
refused converge_phase (e.g. creating the auto OdooInitJob in a namespace
being terminated) is a problem of the wake it happened in, which then
records Error. A delete_instance signal cancels a wake whose activity is
still retrying (e.g. the API answering 5xx) and goes to the deletion; a
set_spec of a newer generation cancels it after newer_spec_grace and the
next wake takes the new spec. A backup Schedule Temporal refuses is a
problem the same way (MachineState.schedule_problem, workflows.backups), and
so is a spec that does not parse (SpecUpdate.problem, sent by the watcher:
MachineState.spec_problem; nothing is applied until one that parses comes).

The deletion (the final backup of machine.DELETION_TABLE), backup requests
and the backup Schedule are workflows.backups' (`Backups`, which sees this
workflow through its `Instance` protocol: state, settings, look, write_status,
nap); the restore, upgrade, hold and resume Updates, and what a held instance
still does, are workflows.operations' (`Operations`); restores and upgrades
themselves are workflows.replacements' sagas (`Replacements`, through the
same protocol), each run to its end within the wake that entered Restoring
or Upgrading (a newer spec does not cancel that wake; a deletion does, and
waits for the saga's undo), its outcome then read by the table; this class
keeps the message handlers, whose wire names never change.

A held instance (MachineState.hold) applies nothing and converges only what
operations.held_desired leaves (a stop), on a snapshot whose queued job
resources operations.held_view hides, so it starts no saga (one already
running is followed to its end); its backup Schedule is paused.

A running batch Job is followed by the follow_job activity (one at a time,
started after the wake that saw it running, or by the saga that started it):
its heartbeats carry the Job's progress, and it returns when the Job ends,
which wakes the workflow (the end of a Job the operator made does not poke
it); a saga's wait for its Job is that follow. One timer is kept across
wakes (the resync, or an earlier wake-up when one is due: a scheduled
upgrade, drift to restore, a Job that no follow watches), so a wake by a
signal costs no timer events.

The history tells the story (workflows.story): every activity and timer has a
summary, the status write of a transition names it and its guard, and the
current details say the phase, the operation, a hold, the last backup and
the last operation. A run continues as new once its history reaches
WorkflowSettings.history_length_limit, and the search attributes (the
`SEARCH_ATTRIBUTES`, each upserted only when it changes) answer fleet
questions: phase, image, environment, last backup, last operation and its
outcome, hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RawValue, SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from model import failures, naming
    from model.payloads import (
        ApplyChildrenInput,
        BackupRequested,
        ChildDrift,
        CleanupInput,
        ConvergePhaseInput,
        DeleteRequest,
        Drift,
        EdgeAction,
        FollowJobInput,
        GatherSnapshotInput,
        Hold,
        HoldRecord,
        HoldResult,
        InstanceWorkflowInput,
        InstanceWorkflowResult,
        JobAction,
        JobKind,
        LastOperation,
        MachineState,
        MarkDatabase,
        Poke,
        RecordStatusInput,
        Replicas,
        RestoreResult,
        ResumeResult,
        RunEdgeActionsInput,
        Snapshot,
        SpecUpdate,
        TransitionRecord,
        UpgradeResult,
        WorkflowSettings,
    )
    from model.phases import JobState, Phase
    from workflows import backups, calls, machine, operations, replacements, story
    from workflows.ensure import Desired, ensure

__all__ = ["SEARCH_ATTRIBUTES", "OdooInstanceWorkflow"]

PHASE_ATTR = SearchAttributeKey.for_keyword("OdooPhase")
NAMESPACE_ATTR = SearchAttributeKey.for_keyword("OdooNamespace")
INSTANCE_ATTR = SearchAttributeKey.for_keyword("OdooInstanceName")
IMAGE_ATTR = SearchAttributeKey.for_keyword("OdooImage")
ENVIRONMENT_ATTR = SearchAttributeKey.for_keyword("OdooEnvironment")
LAST_BACKUP_ATTR = SearchAttributeKey.for_datetime("OdooLastBackup")
"""When the last backup completed: `OdooLastBackup < "<36 h ago>"` finds the stale ones."""
LAST_OPERATION_ATTR = SearchAttributeKey.for_keyword("OdooLastOperation")
"""The kind of the last job resource finished (init, upgrade, restore, backup)."""
LAST_OUTCOME_ATTR = SearchAttributeKey.for_keyword("OdooLastOutcome")
"""How it ended: Succeeded or Failed."""
SEARCH_ATTRIBUTES = (
    PHASE_ATTR,
    NAMESPACE_ATTR,
    INSTANCE_ATTR,
    IMAGE_ATTR,
    operations.HELD_ATTR,
    ENVIRONMENT_ATTR,
    LAST_BACKUP_ATTR,
    LAST_OPERATION_ATTR,
    LAST_OUTCOME_ATTR,
)

# Phases in which a batch Job runs: while no follow_job watches it, poll at
# job_poll_interval. Every other phase waits for events and the resync timer.
_JOB_PHASES = frozenset({Phase.INITIALIZING, Phase.UPGRADING, Phase.RESTORING, Phase.BACKING_UP})
# The timer is started again only for a wake-up earlier than this before the one
# it has (a later resync than needed costs nothing; a timer started again, two events).
_TIMER_SLACK = timedelta(seconds=1)
# A wake follows at most this many transitions before waiting again, so a
# table bug can never spin a workflow.
_MAX_STEPS_PER_WAKE = 8


@workflow.defn(name="OdooInstance")
class OdooInstanceWorkflow:
    @workflow.init
    def __init__(self, input: InstanceWorkflowInput) -> None:
        self._state: MachineState = input.state
        self._settings: WorkflowSettings = input.settings
        self._wake = True
        self._snapshot: Snapshot | None = None
        self._apply_problem: str | None = input.state.apply_problem
        self._wakes = 0
        # True while the pending wake came from set_spec alone.
        self._spec_only = False
        # Drift (model.children): the children are read when asked more often than
        # read (a drift poke, a resync, the first wake of a run); an apply answers
        # what was asked before it started. What the last read or apply found is
        # carried into the snapshots that do not read them.
        self._drift_asked, self._drift_read = 1, 0
        self._drift: tuple[ChildDrift, ...] = ()
        # Restore and upgrade sagas started by this run (a wake that started one is
        # not cancelled by a newer spec: _tick_until_deleted).
        self._sagas = 0
        self._backups = backups.Backups(self)
        self._operations = operations.Operations(self)
        # The one timer (see the module docstring), when it fires, and the follow
        # of a running Job (its batch Job's name).
        self._timer: asyncio.Future[None] | None = None
        self._timer_due: datetime | None = None
        self._follow: tuple[str, asyncio.Future[bool]] | None = None
        # The step of the saga that runs (workflows.saga), in words.
        self._step: str | None = None
        self._replacements = replacements.Replacements(self)

    # --- messages -------------------------------------------------------------

    @workflow.signal(name="set_spec")
    def set_spec(self, update: SpecUpdate) -> None:
        state = self._state
        if update.ref.uid != state.ref.uid:
            # A new incarnation under the same name: the old one must finish its
            # cleanup first, then the new one takes over (continue-as-new).
            if state.successor is None or update.generation >= state.successor.generation:
                self._state = state.model_copy(update={"deleting": True, "successor": update})
        elif update.generation >= state.generation and update.problem is not None:
            # A spec that does not parse: shown as a problem, nothing of it applied;
            # `spec` stays the last one that parsed.
            self._state = state.model_copy(
                update={"generation": update.generation, "spec_problem": update.problem}
            )
        elif update.generation >= state.generation:
            # Level based: only the latest generation matters; older ones coalesce.
            self._state = state.model_copy(
                update={"spec": update.spec, "generation": update.generation, "spec_problem": None}
            )
            if update.generation <= state.applied_generation:
                return  # applied already (the operator's own defaults patch)
            if not self._wake:
                self._spec_only = True  # see _apply_children
        self._wake = True

    @workflow.signal(name="poke")
    def poke(self, poke: Poke) -> None:
        if poke.children_changed:
            self._drift_asked += 1
        self._wake, self._spec_only = True, False

    @workflow.signal(name="delete_instance")
    def delete_instance(self, request: DeleteRequest) -> None:
        if request.uid == self._state.ref.uid:
            self._state = self._state.model_copy(update={"deleting": True})
            self._wake, self._spec_only = True, False

    # The backup signal and Update take the raw payload (a BackupRequest as JSON):
    # workflows.backups parses it, so what does not parse is reported (an Event,
    # or the Update's non-retryable error) instead of dropped by the SDK.

    @workflow.signal(name="backup")
    def backup(self, request: RawValue) -> None:
        """Back up now: the main loop makes the request an OdooBackupJob."""
        if self._backups.request(request):
            self._wake, self._spec_only = True, False

    @workflow.update(name="backup")
    async def request_backup(self, request: RawValue) -> BackupRequested:
        """Back up now and answer with the OdooBackupJob's name (a script can wait on it)."""
        result = await self._backups.create_now(request)
        self._wake, self._spec_only = True, False
        return result

    @request_backup.validator
    def _validate_backup(self, request: RawValue) -> None:
        self._backups.validate(request)
        self._operations.refuse_if_held("backup request")

    # restore, upgrade, hold and resume: workflows.operations parses and answers.

    @workflow.update(name="restore")
    async def request_restore(self, request: RawValue) -> RestoreResult:
        """Restore a backup from S3 now: answer with the OdooRestoreJob made."""
        result = await self._operations.restore(request)
        self._wake, self._spec_only = True, False
        return result

    @request_restore.validator
    def _validate_restore(self, request: RawValue) -> None:
        self._operations.validate_restore(request)

    @workflow.update(name="upgrade")
    async def request_upgrade(self, request: RawValue) -> UpgradeResult:
        """Update or install modules now: answer with the OdooUpgradeJob made."""
        result = await self._operations.upgrade(request)
        self._wake, self._spec_only = True, False
        return result

    @request_upgrade.validator
    def _validate_upgrade(self, request: RawValue) -> None:
        self._operations.validate_upgrade(request)

    @workflow.update(name="hold")
    async def hold_instance(self, request: RawValue) -> HoldResult:
        """Stop acting on the instance (a stop and the deletion excepted) until resume."""
        result = await self._operations.hold(request)
        self._wake, self._spec_only = True, False
        return result

    @hold_instance.validator
    def _validate_hold(self, request: RawValue) -> None:
        self._operations.validate_hold(request)

    @workflow.update(name="resume")
    async def resume_instance(self, request: RawValue) -> ResumeResult:
        """End a hold: the spec is applied again and queued work runs."""
        result = await self._operations.resume(request)
        self._wake, self._spec_only = True, False
        return result

    @resume_instance.validator
    def _validate_resume(self, request: RawValue) -> None:
        self._operations.validate_resume(request)

    @workflow.query(name="phase")
    def phase(self) -> Phase:
        return self._state.phase

    @workflow.query(name="snapshot")
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    @workflow.query(name="transitions")
    def transitions(self) -> list[TransitionRecord]:
        return list(self._state.transitions)

    @workflow.query(name="holds")
    def holds(self) -> list[HoldRecord]:
        """The holds (the newest operations.HOLDS_KEPT), each with when it ended."""
        return list(self._state.holds)

    @workflow.query(name="hold")
    def hold(self) -> Hold | None:
        return self._state.hold

    # --- main loop ---------------------------------------------------------------

    @workflow.run
    async def run(self, input: InstanceWorkflowInput) -> InstanceWorkflowResult:
        self._upsert_search_attributes()
        self._show_details()  # a hold, the last backup: across continue-as-new too
        while True:
            timed_out = await self._wait()  # True: the resync (or job polling) timer
            self._wake, self._spec_only = False, False
            self._wakes += 1
            self._step = None  # a saga's, shown while it runs
            if self._state.deleting:
                return await self._finish()
            try:
                await self._tick_until_deleted(resync=timed_out)
            except calls.ACTIVITY_FAILED as err:
                if calls.error_type(err) == failures.INSTANCE_GONE:
                    # Deleted without our finalizer (or it was removed by hand):
                    # nothing is left to clean up.
                    return InstanceWorkflowResult(
                        ref=self._state.ref, phase=self._state.phase, cleaned_up=False
                    )
                if calls.error_type(err) not in failures.PERMANENT:
                    raise
                # Shown on the next wake (status.message, Error); never fatal.
                self._apply_problem = calls.error_message(err)
                self._wake, self._spec_only = True, False
            if self._state.deleting:
                return await self._finish()
            self._follow_running_job(self._snapshot)
            self._show_details()
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                # Read after the wait: signals handled meanwhile are in the state.
                carried = self._state.model_copy(update={"apply_problem": self._apply_problem})
                workflow.continue_as_new(
                    InstanceWorkflowInput(state=carried, settings=self._settings)
                )

    async def _tick_until_deleted(self, *, resync: bool) -> None:
        """Run one wake (the requested backups, then the tick), cancelled as soon
        as the instance is being deleted, or once a newer generation has waited
        newer_spec_grace for it: an activity retrying with the old spec (one
        Temporal or the API refuses) must not hold back the spec that fixes or
        stops it. The cancelled wake's work is level-based: the next one redoes
        what is still needed. A wake that ran a restore or upgrade saga is not:
        only a deletion cancels it (the saga then undoes what it did, and the
        cancellation waits for that); a newer spec waits for its end."""
        generation = self._state.generation
        sagas = self._sagas
        tick = asyncio.ensure_future(self._wake_once(resync=resync))

        def newer_spec() -> bool:
            return self._state.generation > generation and self._sagas == sagas

        await workflow.wait_condition(lambda: tick.done() or self._state.deleting or newer_spec())
        if not tick.done() and not self._state.deleting:
            # A wake usually finishes within the grace (the set_spec of the
            # operator's own defaults patch arrives during the apply).
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: tick.done() or self._state.deleting or self._sagas != sagas,
                    timeout=self._settings.newer_spec_grace,
                    timeout_summary="give up this wake for the newer spec",
                )
        if self._sagas != sagas:  # a saga started in this wake: followed to its end
            await workflow.wait_condition(lambda: tick.done() or self._state.deleting)
        if not tick.done():
            tick.cancel()
            with contextlib.suppress(asyncio.CancelledError, *calls.ACTIVITY_FAILED):
                await tick  # abandoned for the cleanup
            return
        await tick  # re-raise what it raised

    async def _wake_once(self, *, resync: bool) -> None:
        await self._backups.create_requested()
        await self._tick(resync=resync)

    async def _wait(self) -> bool:
        """Wait for a wake or the timer; True when the timer fired.

        The timer outlives the wakes (see the module docstring): it is started
        again only when none runs or a wake-up is due earlier than it fires."""
        period, why = self._sleep_for()
        due = workflow.now() + period
        timer = self._timer
        if (
            timer is None
            or timer.done()
            or (self._timer_due is not None and due < self._timer_due - _TIMER_SLACK)
        ):
            if timer is not None and not timer.done():
                timer.cancel()
            timer = asyncio.ensure_future(
                workflow.sleep(period, summary=story.wait(period, why=why))
            )
            self._timer, self._timer_due = timer, due
        fired = timer
        await workflow.wait_condition(lambda: self._wake or fired.done())
        if not fired.done():
            return False
        self._timer = self._timer_due = None
        return True

    def _sleep_for(self) -> tuple[timedelta, str]:
        """How long until the next look, and why then."""
        following = self._follow is not None and not self._follow[1].done()
        if self._state.phase in _JOB_PHASES and not following:
            period, why = self._settings.job_poll_interval, "look at the running Job"
        else:
            period, why = self._settings.resync_interval, "resync"
        wake_at = self._snapshot.wake_at if self._snapshot is not None else None
        if wake_at is not None:
            why = "look at the scheduled upgrade"
        applied_at = self._state.applied_at
        if self._restorable() and applied_at is not None and self._apply_problem is None:
            # Drift waiting for restore_interval: restore it when that has passed
            # (a refused apply is retried on the next event or resync instead).
            restore_at = applied_at + self._settings.restore_interval
            if wake_at is None or restore_at < wake_at:
                wake_at, why = restore_at, "restore the drifted child objects"
        due = self._replacements.next_due()
        if due is not None and (wake_at is None or due < wake_at):
            wake_at, why = due, "remove what an operation kept aside"
        if wake_at is not None:
            # A scheduled upgrade, a restore of drift, or what an operation kept
            # aside: look again when due (never a zero timer).
            soon = max(wake_at - workflow.now(), timedelta(seconds=1))
            if soon < period:
                return soon, why
            why = "resync"
        return period, why

    def _should_continue_as_new(self) -> bool:
        # Whatever is pending: a wake is carried (the next run starts awake) and
        # so is everything signals wrote (MachineState), so a steady stream of
        # signals can never hold the run back until the history limit.
        forced = self._settings.continue_as_new_after
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._settings.history_length_limit
            or (forced > 0 and self._wakes >= forced)
        )

    def _follow_running_job(self, snap: Snapshot | None) -> None:
        """Follow the batch Job `snap` shows running, unless a follow runs already
        (a Job of an instance runs after another: one follow at a time)."""
        if snap is None or (self._follow is not None and not self._follow[1].done()):
            return
        running = next(
            (
                job
                for kind in JobKind
                if (job := snap.job(kind)) is not None
                and job.job_name is not None
                and job.state is JobState.ACTIVE
            ),
            None,
        )
        if running is not None and running.job_name is not None:
            self.follow(running.kind, running.name, running.job_name)

    def follow(self, kind: JobKind, name: str, job_name: str) -> asyncio.Future[bool]:
        """The follow of batch Job `job_name` (of job resource `name`): the one that
        runs, or a new one. Done when the Job ended (True), the follow ran its time
        (False, the Job still runs) or failed for good (False); it wakes the
        workflow then."""
        if self._follow is not None and self._follow[0] == job_name and not self._follow[1].done():
            return self._follow[1]
        follow = FollowJobInput(ref=self._state.ref, kind=kind, name=name, job_name=job_name)
        task = asyncio.ensure_future(self._follow_job(follow))
        self._follow = (job_name, task)
        return task

    def unfollow(self) -> None:
        if self._follow is not None and not self._follow[1].done():
            self._follow[1].cancel()
        self._follow = None

    async def _follow_job(self, follow: FollowJobInput) -> bool:
        """Follow until the Job ends (or the follow's time is up), then wake: look again."""
        try:
            ended = (await calls.follow_job(follow)).ended
        except asyncio.CancelledError:
            return False  # unfollowed: nothing to look at
        except calls.ACTIVITY_FAILED as err:
            if calls.cancelled(err):
                return False
            ended = False  # refused for good: look again
        self._wake, self._spec_only = True, False
        return ended

    def _show_details(self) -> None:
        """The current details the UI shows (workflows.story.details)."""
        following = self._follow[0] if self._follow is not None else None
        if self._follow is not None and self._follow[1].done():
            following = None
        workflow.set_current_details(
            story.details(
                self._state, self._snapshot, workflow.now(), following=following, step=self._step
            )
        )

    async def _tick(self, *, resync: bool = False) -> None:
        state = self._state
        if state.hold is not None or state.schedule_held:
            await self._sync_held_schedule()
        # Apply on a new generation and while an apply problem is pending (the
        # cause may be fixed outside the spec); after the first look, when it
        # found a child gone or changed (at most once per restore_interval), and
        # on a resync once the last apply is reapply_interval old. Nothing is
        # applied while the newest spec does not parse, nor on hold.
        may_apply = state.spec_problem is None and state.hold is None
        applied = may_apply and (
            state.applied_generation != state.generation or self._apply_problem is not None
        )
        if applied:
            await self._apply_children(self._restorable())
        reapply = may_apply and resync and not applied and self._reapply_due()
        if reapply:
            self._drift_asked += 1  # look first: its Events then say what it restored
        snap: Snapshot | None = None
        for _ in range(_MAX_STEPS_PER_WAKE):
            state = self._state
            if snap is None:
                snap = await self._gather()
                restoring = self._restorable()
                if may_apply and not applied and (reapply or (restoring and self._restore_due())):
                    applied = True
                    await self._apply_children(restoring)
                    if restoring:
                        snap = await self._gather()  # what the restore left
            for problem in (state.spec_problem, self._apply_problem, state.schedule_problem):
                if problem is not None and problem not in snap.problems:
                    snap = snap.model_copy(update={"problems": (*snap.problems, problem)})
            if self._replacements.runs_in(state.phase) and not snap.problems:
                # A restore or upgrade: its saga runs to its end (workflows.replacements);
                # on hold, one not started yet is not started (held_view hides it).
                self._sagas += 1
                snap = await self._replacements.run(state.phase, _seen(state, snap))
                state = self._state
                self._wake = True  # its naps took the wakes of the signals it saw
            desired = _quiet_notes(state, snap, _desired(state, snap))
            if desired.refuse:
                # In Error nothing waits: the waiting job resources fail now, with
                # the instance's problem (run with the edge actions, in _record).
                refused = (*snap.refused_jobs, *desired.refuse)
                snap = snap.model_copy(update={"refused_jobs": refused, "waiting_jobs": ()})
            self._snapshot = snap
            if _needs_converge(desired, snap):
                try:
                    await calls.converge_phase(
                        ConvergePhaseInput(
                            ref=state.ref,
                            spec=state.spec,
                            web_replicas=_changed(desired.web, snap.web),
                            cron_replicas=_changed(desired.cron, snap.cron),
                            create_auto_init=desired.create_auto_init,
                            start_job=snap.job(desired.start_job) if desired.start_job else None,
                            mark_pending=desired.notes,
                        )
                    )
                except calls.ACTIVITY_FAILED as err:
                    # Refused for good (a create in a terminating namespace, RBAC):
                    # a problem of this wake, so the table goes to Error and the
                    # status says why, instead of failing the wake over and over.
                    if calls.error_type(err) not in failures.PERMANENT:
                        raise
                    problem = calls.error_message(err)
                    snap = snap.model_copy(update={"problems": (*snap.problems, problem)})
                    self._snapshot = snap
                else:
                    if desired.create_auto_init:
                        snap = None  # it made a job resource the snapshot has not seen
                        continue
                    snap = _converged(snap, desired)  # the Job it started included
                    self._snapshot = snap
            row = machine.evaluate(state.phase, state.spec, _seen(state, snap))
            await self._record(snap, row)
            if row is None:
                await self._replacements.rest(state.phase)
                return
            # A transition without edge actions changed only the phase: the next
            # phase is evaluated on what was just read (one snapshot less per
            # step). Edge actions (a job finished, dbInitialized written) change
            # what a snapshot reads: look again.
            # (refused_jobs were failed just now.)
            snap = None if row.actions else snap.model_copy(update={"refused_jobs": ()})
        # Still moving after many steps: look again on the next timer, not now.

    async def _sync_held_schedule(self) -> None:
        """Pause the backup Schedule while on hold; unpause it once resumed."""
        state = self._state
        await self._backups.sync_schedule(state.spec.backup, hold=state.hold)
        self.merge_state(schedule_held=self._state.hold is not None)

    def _reapply_due(self) -> bool:
        applied_at = self._state.applied_at
        return applied_at is None or workflow.now() - applied_at >= self._settings.reapply_interval

    def _restore_due(self) -> bool:
        """restore_interval has passed since the last apply (the rate limit of restores)."""
        applied_at = self._state.applied_at
        return applied_at is None or workflow.now() - applied_at >= self._settings.restore_interval

    def _restorable(self) -> tuple[ChildDrift, ...]:
        """Known drift a re-apply repairs (one being deleted waits until it is gone)."""
        return tuple(d for d in self._drift if d.drift is not Drift.DELETING)

    async def _gather(self) -> Snapshot:
        """One snapshot; it reads the children when asked since the last read (see
        __init__), else it carries the drift found before."""
        state = self._state
        asked = self._drift_asked
        read = asked > self._drift_read
        snap = await calls.gather_snapshot(
            GatherSnapshotInput(
                ref=state.ref, spec=state.spec, children=state.children if read else None
            )
        )
        if read:
            self._drift, self._drift_read = snap.drift, max(self._drift_read, asked)
        elif self._drift:
            snap = snap.model_copy(update={"drift": self._drift})
        return snap

    async def _apply_children(self, restoring: tuple[ChildDrift, ...] = ()) -> None:
        state = self._state
        asked = self._drift_asked
        apply = ApplyChildrenInput(
            ref=state.ref, spec=state.spec, generation=state.generation, restoring=restoring
        )
        try:
            applied = await calls.apply_children(
                apply, summary=story.apply(apply, len(state.children))
            )
        except calls.ACTIVITY_FAILED as err:
            if calls.error_type(err) not in failures.PERMANENT:
                raise
            self._apply_problem = calls.error_message(err)
            return
        self._apply_problem = None
        if applied.namespace_terminating:
            # The namespace goes, and the instance with it (delete_instance comes
            # next): restore nothing, and try again no sooner than restore_interval.
            self._state = self._state.model_copy(update={"applied_at": workflow.now()})
            return
        # It wrote every child: what was asked before it started is answered (an
        # object being deleted stays so until its deletion pokes).
        self._drift_read = max(self._drift_read, asked)
        self._drift = tuple(d for d in self._drift if d.drift is Drift.DELETING)
        # Update the current state, not `state`: signals may have changed it
        # while the activity ran.
        generation = max(state.generation, applied.generation)
        self._state = self._state.model_copy(
            update={
                "applied_generation": generation,
                "applied_at": workflow.now(),
                "children": applied.children,
            }
        )
        if self._spec_only and self._state.generation <= generation:
            # Woken only by the set_spec of the generation just applied (the
            # defaults patch arrives while the apply runs): nothing new to see.
            self._wake = self._spec_only = False
        await self._backups.sync_schedule(state.spec.backup)
        # Keep OdooImage current when the image changes without a phase change.
        self._upsert_search_attributes()

    async def _record(self, snap: Snapshot, row: machine.Transition[Phase] | None) -> None:
        """Run a transition's edge actions, write the status, move the phase."""
        state = self._state
        actions = row.actions if row is not None else ()
        # Job resources that cannot run are failed without moving the phase
        # (the snapshot refused them).
        edges = (*snap.refused_jobs, *machine.edge_actions(actions, state.spec, snap))
        if edges:
            await calls.run_edge_actions(
                RunEdgeActionsInput(ref=state.ref, spec=state.spec, actions=edges)
            )
        if row is None:
            await self.write_status(snap, state.phase, None, edges)
        else:
            await self.write_status(snap, row.to, row.guard_name, edges)

    async def _finish(self) -> InstanceWorkflowResult:
        """Clean up a deleted instance (after its final backup: workflows.backups);
        hand over to a successor if one waits."""
        await self._backups.sync_schedule(None)
        await self._backups.final_backup()
        state = self._state
        await calls.cleanup_instance(CleanupInput(ref=state.ref, spec=state.spec))
        # Read after the await: a new incarnation may have signalled meanwhile.
        successor = self._state.successor
        if successor is not None:
            await workflow.wait_condition(workflow.all_handlers_finished)
            workflow.continue_as_new(
                InstanceWorkflowInput(
                    state=MachineState(
                        ref=successor.ref,
                        spec=successor.spec,
                        generation=successor.generation,
                        spec_problem=successor.problem,
                    ),
                    settings=self._settings,
                )
            )
        return InstanceWorkflowResult(ref=state.ref, phase=state.phase, cleaned_up=True)

    # --- what workflows.backups sees (backups.Instance) -------------------------

    @property
    def state(self) -> MachineState:
        return self._state

    @property
    def settings(self) -> WorkflowSettings:
        return self._settings

    def merge_state(self, **changes: object) -> None:
        self._state = self._state.model_copy(update=changes)

    async def look(self) -> Snapshot:
        state = self._state
        snap = await calls.gather_snapshot(GatherSnapshotInput(ref=state.ref, spec=state.spec))
        self._snapshot = snap
        self._follow_running_job(snap)  # the deletion's final backup
        return snap

    async def write_status(
        self, snap: Snapshot, phase: Phase, guard: str | None, edges: Sequence[EdgeAction] = ()
    ) -> None:
        """Write the status of `phase` read on `snap` and move the phase there.

        `guard` names the row of a transition (recorded for the `transitions`
        query, and the status is written whatever it was); without one the
        write is skipped when it would write what the last one did. `edges`
        are what the transition ran: the jobs it failed and a database it found
        lost get their Warnings.
        """
        self.note_finished(edges)
        state = self._state
        failed = tuple(e for e in edges if isinstance(e, JobAction) and not e.succeeded)
        failure = state.failure
        if guard is not None:
            # A phase a failed job led to says which job and why, for as long as it lasts.
            failure = (
                next((_failure(job) for job in failed), None)
                if phase is Phase.INIT_FAILED
                else None
            )
        record = RecordStatusInput(
            ref=state.ref,
            phase=phase,
            previous_phase=state.phase if guard is not None else None,
            generation=state.generation,
            spec=state.spec,
            ready_replicas=snap.web.ready,
            # A configuration problem first, then drift, a failed job's phase, and
            # last what the last restore or upgrade said about itself.
            message="; ".join(
                p for p in (*snap.problems, *(d.describe() for d in snap.drift), failure) if p
            )
            or state.notice,
            failed_jobs=failed,
            # Uninitialized because the database vanished: record_status says so.
            database_lost=snap.database_missing
            and any(isinstance(e, MarkDatabase) and not e.initialized for e in edges),
            # Reported once: in the digest, so the next write comes with a new generation.
            database_missing_ignored=snap.database_missing_ignored,
            hold=state.hold,
        )
        digest = _status_digest(record)
        if guard is None and digest == state.recorded_status:
            self._upsert_search_attributes()  # a job finished without a status change
            return
        transition = story.transition(state.phase, phase, guard, snap) if guard else None
        await calls.record_status(record, transition=transition)
        update: dict[str, object] = {"recorded_status": digest, "phase": phase, "failure": failure}
        if guard is not None:
            entry = TransitionRecord(
                from_phase=state.phase,
                to_phase=phase,
                guard=guard,
                at=workflow.now().isoformat(),
                generation=state.generation,
            )
            limit = self._settings.history_limit
            update["transitions"] = (*self._state.transitions, entry)[-limit:]
        # Merge into the current state: a signal may have brought a new spec
        # while record_status ran, and it must not be lost.
        self.merge_state(**update)
        self._upsert_search_attributes()

    def note_finished(self, edges: Sequence[EdgeAction]) -> None:
        """The job resources `edges` finish: the last operation, the last good backup."""
        now = workflow.now().replace(microsecond=0)  # as a Datetime attribute keeps it
        for edge in edges:
            if not isinstance(edge, JobAction):
                continue
            last = LastOperation(kind=edge.kind, name=edge.name, succeeded=edge.succeeded, at=now)
            self.merge_state(last_operation=last)
            if edge.kind is JobKind.BACKUP and edge.succeeded:
                self.merge_state(last_backup=now)

    async def nap(self, timeout: timedelta, *, why: str) -> None:
        self._wake = False
        with contextlib.suppress(TimeoutError):
            await workflow.wait_condition(
                lambda: self._wake, timeout=timeout, timeout_summary=story.wait(timeout, why=why)
            )

    def show_step(self, step: str | None) -> None:
        self._step = step
        self._show_details()

    async def nap_until(self, done: asyncio.Future[Any]) -> None:
        self._wake = False
        await workflow.wait_condition(lambda: self._wake or done.done())

    def _upsert_search_attributes(self) -> None:
        """Upsert the search attributes that changed (each upsert is a history event)."""
        state = self._state
        last = state.last_operation
        wanted: list[tuple[SearchAttributeKey[Any], Any]] = [
            (PHASE_ATTR, state.phase.value),
            (NAMESPACE_ATTR, state.ref.namespace),
            (INSTANCE_ATTR, state.ref.name),
            (IMAGE_ATTR, state.spec.image or ""),
            (operations.HELD_ATTR, state.hold is not None),
            (ENVIRONMENT_ATTR, state.spec.environment.value),
            (LAST_BACKUP_ATTR, state.last_backup),
            (LAST_OPERATION_ATTR, last.kind.value if last is not None else None),
            (LAST_OUTCOME_ATTR, last.outcome if last is not None else None),
        ]
        current = workflow.info().typed_search_attributes
        pairs: list[SearchAttributeUpdate[Any]] = [
            key.value_set(value) if value is not None else key.value_unset()
            for key, value in wanted
            if current.get(key) != value
        ]
        if pairs:
            workflow.upsert_search_attributes(pairs)


# On hold, the phase table sees no queued job (none starts) and only a stop is
# converged; the `snapshot` query still shows what waits.


def _seen(state: MachineState, snap: Snapshot) -> Snapshot:
    return operations.held_view(snap) if state.hold is not None else snap


def _desired(state: MachineState, snap: Snapshot) -> Desired:
    desired = ensure(state.phase, state.spec, _seen(state, snap))
    if state.hold is not None:
        desired = operations.held_desired(desired, state.spec, snap, state.hold)
    return desired


def _quiet_notes(state: MachineState, snap: Snapshot, desired: Desired) -> Desired:
    """`desired` without its notes when the phase changes on `snap` anyway and they are
    all it would converge: the next phase's say why the job resources wait (a backup
    requested in Running is started at once, not first shown waiting)."""
    if not desired.notes or _needs_converge(dataclasses.replace(desired, notes=()), snap):
        return desired
    if machine.evaluate(state.phase, state.spec, _seen(state, snap)) is None:
        return desired
    return dataclasses.replace(desired, notes=())


def _needs_converge(desired: Desired, snap: Snapshot) -> bool:
    return (
        (desired.web is not None and desired.web != snap.web.desired)
        or (desired.cron is not None and desired.cron != snap.cron.desired)
        or desired.create_auto_init
        or desired.start_job is not None
        or bool(desired.notes)
    )


def _changed(desired: int | None, current: Replicas) -> int | None:
    """A replica count to write, or None when the Deployment already has it."""
    return None if desired == current.desired else desired


def _converged(snap: Snapshot, desired: Desired) -> Snapshot:
    """`snap` as converge_phase left it: replica counts set, waiting jobs noted, the
    Job it started running (under its fixed name; one refused instead is seen when
    its follow finds no Job)."""
    web, cron = snap.web, snap.cron
    if desired.web is not None:
        web = web.model_copy(update={"desired": desired.web})
    if desired.cron is not None:
        cron = cron.model_copy(update={"desired": desired.cron})
    noted = {(note.kind, note.name): note for note in desired.notes}
    waiting = tuple(noted.get((job.kind, job.name), job) for job in snap.waiting_jobs)
    update: dict[str, object] = {"web": web, "cron": cron, "waiting_jobs": waiting}
    started = snap.job(desired.start_job) if desired.start_job is not None else None
    if started is not None:
        job_name = naming.batch_job_name(started.name, started.kind.value)
        update[started.kind.value] = started.model_copy(
            update={"job_name": job_name, "state": JobState.ACTIVE}
        )
        update["waiting_jobs"] = tuple(
            job for job in waiting if (job.kind, job.name) != (started.kind, started.name)
        )
    return snap.model_copy(update=update)


def _status_digest(record: RecordStatusInput) -> str:
    """Digest of the status a record writes, without what it reports once (the
    previous phase, the jobs failed, a lost database): the step after a
    transition writes nothing new."""
    status = record.model_copy(
        update={"previous_phase": None, "failed_jobs": (), "database_lost": False}
    )
    return hashlib.sha256(status.model_dump_json().encode()).hexdigest()[:16]


def _failure(job: JobAction) -> str:
    """A failed job resource in the words of status.message."""
    text = f"{job.kind.resource_kind} {job.name} failed"
    said = job.message and job.message != f"{job.kind.resource_kind} failed"
    return f"{text}: {job.message}" if said else text
