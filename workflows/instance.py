"""The instance workflow: one long-running workflow per OdooInstance.

Entity-workflow shape (Temporal samples): all state in one `MachineState`,
signals only mutate it and set `_wake`, the main loop waits on
`_wake` with a timer (resync, or job polling while a batch Job runs), and
continues-as-new carrying only `MachineState` when the SDK suggests it.

One wake: apply child objects if the generation moved, gather one snapshot,
converge the phase's ensure() output, evaluate the table, run the edge
actions of a transition (one regular activity, run_edge_actions, so the
history keeps that they ran) and record the status (a local activity). A
transition is followed at once by the next phase's step: on the same
snapshot when the row had no edge action (only the phase changed), on a new
one otherwise.

Permanent failures never wedge or end the workflow: an activity failing with
a type of failures.PERMANENT (a spec the API refuses, 400/403/404/409
immutable, an object another instance owns) becomes a problem: status.message
and the Error phase (whose ensure() still honours spec.replicas 0), retried
on the next wake. A refused apply stays a problem until an apply succeeds; a
refused converge_phase (e.g. creating the auto OdooInitJob in a namespace
being terminated) is a problem of the wake it happened in, which then
records Error. A delete_instance signal cancels a wake whose activity is
still retrying (e.g. the API answering 5xx) and goes to the deletion.

The deletion (the final backup of machine.DELETION_TABLE), backup requests
and the backup Schedule are workflows.backups' (`Backups`, which sees this
workflow through its `Instance` protocol: state, settings, look, write_status,
nap); restores and upgrades are workflows.replacements' sagas (the same
protocol), each run to its end within the wake that entered Restoring or
Upgrading, its outcome then read by the table; this class keeps the message
handlers, whose wire names never change.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Sequence
from datetime import timedelta

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

with workflow.unsafe.imports_passed_through():
    from model import failures
    from model.payloads import (
        ApplyChildrenInput,
        BackupRequest,
        BackupRequested,
        CleanupInput,
        ConvergePhaseInput,
        DeleteRequest,
        EdgeAction,
        GatherSnapshotInput,
        InstanceWorkflowInput,
        InstanceWorkflowResult,
        JobAction,
        MachineState,
        MarkDatabase,
        Poke,
        RecordStatusInput,
        Replicas,
        RunEdgeActionsInput,
        Snapshot,
        SpecUpdate,
        TransitionRecord,
        WorkflowSettings,
    )
    from model.phases import Phase
    from workflows import backups, calls, machine, replacements
    from workflows.ensure import Desired, ensure

__all__ = ["SEARCH_ATTRIBUTES", "OdooInstanceWorkflow"]

PHASE_ATTR = SearchAttributeKey.for_keyword("OdooPhase")
NAMESPACE_ATTR = SearchAttributeKey.for_keyword("OdooNamespace")
INSTANCE_ATTR = SearchAttributeKey.for_keyword("OdooInstance")
IMAGE_ATTR = SearchAttributeKey.for_keyword("OdooImage")
SEARCH_ATTRIBUTES = (PHASE_ATTR, NAMESPACE_ATTR, INSTANCE_ATTR, IMAGE_ATTR)

# Phases in which a batch Job runs: poll at job_poll_interval in case a Job
# event is missed. Every other phase waits for events and the resync timer.
_JOB_PHASES = frozenset({Phase.INITIALIZING, Phase.UPGRADING, Phase.RESTORING, Phase.BACKING_UP})
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
        self._apply_problem: str | None = None
        self._wakes = 0
        # True while the pending wake came from set_spec alone.
        self._spec_only = False
        self._backups = backups.Backups(self)
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
        elif update.generation >= state.generation:
            # Level based: only the latest generation matters; older ones coalesce.
            self._state = state.model_copy(
                update={"spec": update.spec, "generation": update.generation}
            )
            if update.generation <= state.applied_generation:
                return  # applied already (the operator's own defaults patch)
            if not self._wake:
                self._spec_only = True  # see _apply_children
        self._wake = True

    @workflow.signal(name="poke")
    def poke(self, poke: Poke) -> None:
        self._wake, self._spec_only = True, False

    @workflow.signal(name="delete_instance")
    def delete_instance(self, request: DeleteRequest) -> None:
        if request.uid == self._state.ref.uid:
            self._state = self._state.model_copy(update={"deleting": True})
            self._wake, self._spec_only = True, False

    @workflow.signal(name="backup")
    def backup(self, request: BackupRequest) -> None:
        """Back up now: the main loop makes the request an OdooBackupJob."""
        if self._backups.request(request):
            self._wake, self._spec_only = True, False

    @workflow.update(name="backup")
    async def request_backup(self, request: BackupRequest) -> BackupRequested:
        """Back up now and answer with the OdooBackupJob's name (a script can wait on it)."""
        result = await self._backups.create_now(request)
        self._wake, self._spec_only = True, False
        return result

    @request_backup.validator
    def _validate_backup(self, request: BackupRequest) -> None:
        self._backups.validate(request)

    @workflow.query(name="phase")
    def phase(self) -> Phase:
        return self._state.phase

    @workflow.query(name="snapshot")
    def snapshot(self) -> Snapshot | None:
        return self._snapshot

    @workflow.query(name="transitions")
    def transitions(self) -> list[TransitionRecord]:
        return list(self._state.transitions)

    # --- main loop ---------------------------------------------------------------

    @workflow.run
    async def run(self, input: InstanceWorkflowInput) -> InstanceWorkflowResult:
        self._upsert_search_attributes()
        while True:
            timed_out = False
            try:
                await workflow.wait_condition(lambda: self._wake, timeout=self._sleep_for())
            except TimeoutError:
                timed_out = True  # resync / job polling timer
            self._wake, self._spec_only = False, False
            self._wakes += 1
            if self._state.deleting:
                return await self._finish()
            try:
                await self._backups.create_requested()
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
            if self._should_continue_as_new():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    InstanceWorkflowInput(state=self._state, settings=self._settings)
                )

    async def _tick_until_deleted(self, *, resync: bool) -> None:
        """Run one wake, cancelled as soon as the instance is being deleted."""
        tick = asyncio.ensure_future(self._tick(resync=resync))
        await workflow.wait_condition(lambda: tick.done() or self._state.deleting)
        if not tick.done():
            tick.cancel()
            with contextlib.suppress(asyncio.CancelledError, *calls.ACTIVITY_FAILED):
                await tick  # abandoned for the cleanup
            return
        await tick  # re-raise what it raised

    def _sleep_for(self) -> timedelta:
        if self._state.phase in _JOB_PHASES:
            period = self._settings.job_poll_interval
        else:
            period = self._settings.resync_interval
        wake_at = self._snapshot.wake_at if self._snapshot is not None else None
        due = self._replacements.next_due()
        for when in (wake_at, due):
            if when is not None:
                # A scheduled upgrade, or what an operation kept aside: look again when
                # it becomes due (never a zero timer).
                period = min(period, max(when - workflow.now(), timedelta(seconds=1)))
        return period

    def _should_continue_as_new(self) -> bool:
        if self._wake:
            return False  # finish the pending work first; it is cheap to carry
        forced = self._settings.continue_as_new_after
        return workflow.info().is_continue_as_new_suggested() or (
            forced > 0 and self._wakes >= forced
        )

    async def _tick(self, *, resync: bool = False) -> None:
        state = self._state
        # Apply on a new generation, while an apply problem is pending (the
        # cause may be fixed outside the spec), and on a resync once the last
        # apply is reapply_interval old (children deleted out of band come back).
        if (
            state.applied_generation != state.generation
            or self._apply_problem
            or (resync and self._reapply_due())
        ):
            await self._apply_children()
        snap: Snapshot | None = None
        for _ in range(_MAX_STEPS_PER_WAKE):
            state = self._state
            if snap is None:
                snap = await calls.gather_snapshot(
                    GatherSnapshotInput(ref=state.ref, spec=state.spec)
                )
            if self._apply_problem is not None and self._apply_problem not in snap.problems:
                snap = snap.model_copy(update={"problems": (*snap.problems, self._apply_problem)})
            if self._replacements.runs_in(state.phase) and not snap.problems:
                # A restore or upgrade: its saga runs to its end (workflows.replacements).
                snap = await self._replacements.run(state.phase, snap)
                state = self._state
                self._wake = True  # its naps took the wakes of the signals it saw
            self._snapshot = snap
            desired = ensure(state.phase, state.spec, snap)
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
                            mark_pending=snap.unmarked_jobs,
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
                    if desired.create_auto_init or desired.start_job is not None:
                        snap = None  # it created something the snapshot has not seen
                        continue
                    snap = _converged(snap, desired)
            row = machine.evaluate(state.phase, state.spec, snap)
            await self._record(snap, row)
            if row is None:
                await self._replacements.rest(state.phase, snap)
                return
            # A transition without edge actions changed only the phase: the next
            # phase is evaluated on what was just read (one snapshot less per
            # step). Edge actions (a job finished, dbInitialized written) change
            # what a snapshot reads: look again.
            # (refused_jobs were failed just now.)
            snap = None if row.actions else snap.model_copy(update={"refused_jobs": ()})
        # Still moving after many steps: look again on the next timer, not now.

    def _reapply_due(self) -> bool:
        applied_at = self._state.applied_at
        return applied_at is None or workflow.now() - applied_at >= self._settings.reapply_interval

    async def _apply_children(self) -> None:
        state = self._state
        try:
            applied = await calls.apply_children(
                ApplyChildrenInput(ref=state.ref, spec=state.spec, generation=state.generation)
            )
        except calls.ACTIVITY_FAILED as err:
            if calls.error_type(err) not in failures.PERMANENT:
                raise
            self._apply_problem = calls.error_message(err)
            return
        self._apply_problem = None
        # Update the current state, not `state`: signals may have changed it
        # while the activity ran.
        generation = max(state.generation, applied.generation)
        self._state = self._state.model_copy(
            update={"applied_generation": generation, "applied_at": workflow.now()}
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
                        ref=successor.ref, spec=successor.spec, generation=successor.generation
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
        state = self._state
        record = RecordStatusInput(
            ref=state.ref,
            phase=phase,
            previous_phase=state.phase if guard is not None else None,
            generation=state.generation,
            spec=state.spec,
            ready_replicas=snap.web.ready,
            message="; ".join(snap.problems) or state.notice,
            failed_jobs=tuple(e for e in edges if isinstance(e, JobAction) and not e.succeeded),
            # Uninitialized because the database vanished: record_status says so.
            database_lost=snap.database_missing
            and any(isinstance(e, MarkDatabase) and not e.initialized for e in edges),
            # Reported once: in the digest, so the next write comes with a new generation.
            database_missing_ignored=snap.database_missing_ignored,
        )
        digest = _status_digest(record)
        if guard is None and digest == state.recorded_status:
            return
        await calls.record_status(record)
        update: dict[str, object] = {"recorded_status": digest, "phase": phase}
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
        if phase is not state.phase:
            self._upsert_search_attributes()

    async def nap(self, timeout: timedelta) -> None:
        self._wake = False
        try:
            await workflow.wait_condition(lambda: self._wake, timeout=timeout)
        except TimeoutError:
            return

    def _upsert_search_attributes(self) -> None:
        state = self._state
        pairs: list[SearchAttributeUpdate[str]] = [
            PHASE_ATTR.value_set(state.phase.value),
            NAMESPACE_ATTR.value_set(state.ref.namespace),
            INSTANCE_ATTR.value_set(state.ref.name),
            IMAGE_ATTR.value_set(state.spec.image or ""),
        ]
        workflow.upsert_search_attributes(pairs)


def _needs_converge(desired: Desired, snap: Snapshot) -> bool:
    return (
        (desired.web is not None and desired.web != snap.web.desired)
        or (desired.cron is not None and desired.cron != snap.cron.desired)
        or desired.create_auto_init
        or desired.start_job is not None
        or bool(snap.unmarked_jobs)
    )


def _changed(desired: int | None, current: Replicas) -> int | None:
    """A replica count to write, or None when the Deployment already has it."""
    return None if desired == current.desired else desired


def _converged(snap: Snapshot, desired: Desired) -> Snapshot:
    """`snap` as converge_phase left it: replica counts set, fresh jobs marked Pending."""
    web, cron = snap.web, snap.cron
    if desired.web is not None:
        web = web.model_copy(update={"desired": desired.web})
    if desired.cron is not None:
        cron = cron.model_copy(update={"desired": desired.cron})
    return snap.model_copy(update={"web": web, "cron": cron, "unmarked_jobs": ()})


def _status_digest(record: RecordStatusInput) -> str:
    """Digest of the status a record writes, without what it reports once (the
    previous phase, the jobs failed, a lost database): the step after a
    transition writes nothing new."""
    status = record.model_copy(
        update={"previous_phase": None, "failed_jobs": (), "database_lost": False}
    )
    return hashlib.sha256(status.model_dump_json().encode()).hexdigest()[:16]
