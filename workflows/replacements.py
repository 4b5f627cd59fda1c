"""The operations that replace data, as the instance workflow runs them.

Owns, for the instance workflow that composes it (`Replacements(instance)`):
which phase runs which saga (Restoring: workflows.restore, Upgrading:
workflows.upgrade), turning a saga's outcome into the snapshot the phase
table reads (the job resource Succeeded only once the whole saga did, Failed
once it was undone, absent when it was deleted), removing what completed
operations kept aside (workflows.saga.discard_due) while the instance is
Running, and waking the workflow when that is due. (What a job resource
queued behind a running saga shows is ensure.waiting's, written during the
saga's waits by workflows.saga.)

A saga runs to its end inside one wake: its steps wait for their Jobs by
following them (the instance's follow_job, whose end wakes the workflow: no
poke comes when a Job ends; signals still arrive and are kept in
MachineState), and its activities are in the history, so a worker that dies
resumes it where it was. Its step shows in the workflow's current details.
The instance's scaling is the saga's while it runs (ensure() leaves the
replica counts of Restoring and Upgrading alone).

Must not: decide a phase (machine.TABLE does, from the outcome), keep state
of its own, or do I/O other than through workflows.calls.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from model.payloads import ActiveJob, JobKind, Snapshot
    from model.phases import JobState, Phase
    from workflows import backups, restore, saga, upgrade

__all__ = ["Replacements"]

Run = Callable[[backups.Instance, ActiveJob], Awaitable[saga.Outcome]]

_SAGAS: dict[Phase, tuple[JobKind, Run]] = {
    Phase.RESTORING: (JobKind.RESTORE, restore.run),
    Phase.UPGRADING: (JobKind.UPGRADE, upgrade.run),
}


class Replacements:
    """The restores and upgrades of one instance workflow; all state is the workflow's."""

    def __init__(self, instance: backups.Instance) -> None:
        self._instance = instance

    @staticmethod
    def runs_in(phase: Phase) -> bool:
        """Whether `phase` is the phase of a saga (its step is `run`)."""
        return phase in _SAGAS

    async def run(self, phase: Phase, snap: Snapshot) -> Snapshot:
        """Run the saga of `phase` for the active job resource of `snap` to its end;
        the snapshot the table then reads (see the module docstring)."""
        kind, run = _SAGAS[phase]
        active = snap.job(kind)
        if active is None:
            return snap
        outcome = await run(self._instance, active)
        self._instance.show_step(None)  # (a wake that failed: cleared by the next)
        after = await self._instance.look()
        if not outcome.succeeded:
            # Its Job may still run (a step failed while it ran): followed no more.
            self._instance.unfollow()
        current = after.job(kind)
        if outcome.succeeded is None or current is None or current.name != active.name:
            # Ours is gone (deleted meanwhile): the table takes its absent row; a newer
            # resource of the kind is seen by the next snapshot.
            return after.model_copy(update={kind.value: None})
        state = JobState.SUCCEEDED if outcome.succeeded else JobState.FAILED
        finished = current.model_copy(update={"state": state, "message": outcome.message})
        return after.model_copy(update={kind.value: finished})

    def next_due(self) -> datetime | None:
        """When something kept aside may be removed next (the workflow wakes then);
        None on hold (nothing is removed until resume)."""
        if self._instance.state.hold is not None:
            return None
        return saga.next_discard(self._instance)

    async def rest(self, phase: Phase) -> None:
        """While the instance rests in `phase`: remove what completed operations kept
        aside, when due (Running only: the instance serves on the new data; not on
        hold)."""
        state = self._instance.state
        if phase is Phase.RUNNING and state.kept_aside and state.hold is None:
            await saga.discard_due(self._instance)
            self._instance.show_step(None)
