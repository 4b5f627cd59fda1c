"""The operations asked for by Update besides backups: restore, upgrade, hold and resume.

Owns, for the instance workflow that composes it (`Operations(instance)`):
- the `restore` and `upgrade` Updates: the validator parses the request
  (workflows.requests) and refuses what it can see (a deletion, a hold); the
  handler makes the OdooRestoreJob or OdooUpgradeJob under a deterministic
  name (workflow time and randomness, so a replay and a retried activity
  find the same one) and answers with its name and what it waits for. A
  request that could never run fails the Update, non-retryable, naming the
  field (REQUEST_INVALID); one made while another operation runs is queued
  behind it (the answer names it): the resource exists either way, so kubectl
  shows what the temporal CLI was told. The job resources then run exactly
  as if applied with kubectl (the phase table takes them).
- the hold: `hold` puts MachineState.hold (why, since when), `resume` clears
  it and has the spec applied again (what was changed by hand meanwhile is
  put back); each posts an Event (Held, Resumed) and sets the OdooHeld
  search attribute and the workflow's current details. What a held instance
  still does is `held_view` and `held_desired`: the operator applies nothing,
  starts no job (a queued one stays queued, one already running is followed
  to its end) and scales nothing, except a stop (spec.replicas 0 scales both
  Deployments to 0) and the deletion (workflows.instance runs it whatever
  the hold); its backup Schedule is paused (workflows.backups). Backup,
  restore and upgrade Updates are refused while it lasts (INSTANCE_HELD);
  job resources applied with kubectl wait, Pending.

Must not: keep state of its own (everything is the workflow's MachineState),
decide a phase (machine.TABLE does) or do I/O other than through
workflows.calls.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Protocol, TypeVar

from temporalio import workflow
from temporalio.common import RawValue, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from model import failures, naming
    from model.crds import OdooInstanceSpec
    from model.payloads import (
        CreateRestoreJobInput,
        CreateUpgradeJobInput,
        Hold,
        HoldInput,
        HoldRecord,
        HoldResult,
        JobKind,
        MachineState,
        PostEventInput,
        RestoreInput,
        RestoreResult,
        ResumeInput,
        ResumeResult,
        Snapshot,
        UpgradeInput,
        UpgradeResult,
    )
    from model.phases import JobPhase
    from workflows import calls, requests
    from workflows.ensure import Desired

__all__ = [
    "HELD_ATTR",
    "Instance",
    "Operations",
    "held_desired",
    "held_note",
    "held_view",
    "show_details",
]

_R = TypeVar("_R")

HELD_ATTR = SearchAttributeKey.for_bool("OdooHeld")
"""True while the instance is on hold: `temporal workflow list --query 'OdooHeld = true'`."""


HOLDS_KEPT = 20
"""How many holds MachineState.holds keeps (the newest)."""


class Instance(Protocol):
    """The instance workflow, as its operations see it."""

    @property
    def state(self) -> MachineState: ...

    def merge_state(self, **changes: object) -> None:
        """Merge `changes` into the current state."""


class Operations:
    """The restore, upgrade, hold and resume Updates of one instance workflow."""

    def __init__(self, instance: Instance) -> None:
        self._instance = instance

    # --- restore and upgrade --------------------------------------------------

    def validate_restore(self, raw: RawValue) -> None:
        self._refuse_now("restore request")
        requests.decoded(raw, RestoreInput, "restore request", failures.REQUEST_INVALID)

    def validate_upgrade(self, raw: RawValue) -> None:
        self._refuse_now("upgrade request")
        requests.decoded(raw, UpgradeInput, "upgrade request", failures.REQUEST_INVALID)

    async def restore(self, raw: RawValue) -> RestoreResult:
        request = requests.decoded(raw, RestoreInput, "restore request", failures.REQUEST_INVALID)
        ref, name = self._instance.state.ref, self._name(JobKind.RESTORE)
        made = calls.create_restore_job(CreateRestoreJobInput(ref=ref, name=name, request=request))
        return await _answer(made, "restore")

    async def upgrade(self, raw: RawValue) -> UpgradeResult:
        request = requests.decoded(raw, UpgradeInput, "upgrade request", failures.REQUEST_INVALID)
        ref, name = self._instance.state.ref, self._name(JobKind.UPGRADE)
        made = calls.create_upgrade_job(CreateUpgradeJobInput(ref=ref, name=name, request=request))
        return await _answer(made, "upgrade")

    def refuse_if_held(self, what: str) -> None:
        """An operation Update's validator: refuse it while the instance is on hold."""
        hold = self._instance.state.hold
        if hold is not None:
            raise requests.refusal(
                f"{what} refused: the instance is on hold since "
                f"{hold.since.strftime('%Y-%m-%dT%H:%M:%SZ')} ({hold.reason}); resume it "
                "first (kubectl odoo resume, or the resume Update)",
                failures.INSTANCE_HELD,
            )

    def _refuse_now(self, what: str) -> None:
        if self._instance.state.deleting:
            raise requests.refusal(
                f"{what} refused: the instance is being deleted", failures.REQUEST_INVALID
            )
        self.refuse_if_held(what)

    def _name(self, kind: JobKind) -> str:
        stamp = workflow.now().strftime("%Y%m%d%H%M%S")
        suffix = workflow.uuid4().hex[:4]
        return naming.operation_resource_name(
            self._instance.state.ref.name, kind.value, stamp, suffix
        )

    # --- hold and resume ------------------------------------------------------

    def validate_hold(self, raw: RawValue) -> None:
        if self._instance.state.deleting:
            raise requests.refusal(
                "hold refused: the instance is being deleted", failures.REQUEST_INVALID
            )
        requests.decoded(raw, HoldInput, "hold request", failures.REQUEST_INVALID)

    def validate_resume(self, raw: RawValue) -> None:
        requests.decoded(raw, ResumeInput, "resume request", failures.REQUEST_INVALID)

    async def hold(self, raw: RawValue) -> HoldResult:
        request = requests.decoded(raw, HoldInput, "hold request", failures.REQUEST_INVALID)
        state = self._instance.state
        before = state.hold
        hold = Hold(
            reason=request.reason, since=before.since if before is not None else workflow.now()
        )
        holds = state.holds
        if before is None:
            record = HoldRecord(reason=hold.reason, since=hold.since)
            holds = (*holds, record)[-HOLDS_KEPT:]
        else:  # the reason replaced: the record of the hold that goes on says the new one
            holds = (*holds[:-1], holds[-1].model_copy(update={"reason": hold.reason}))
        self._instance.merge_state(hold=hold, holds=holds)
        _show(hold)
        await self._event("Held", f"On hold: {hold.reason}")
        return HoldResult(hold=hold, already_held=before is not None)

    async def resume(self, raw: RawValue) -> ResumeResult:
        requests.decoded(raw, ResumeInput, "resume request", failures.REQUEST_INVALID)
        ended = self._instance.state.hold
        if ended is None:
            return ResumeResult()
        holds = self._instance.state.holds
        if holds and holds[-1].until is None:
            holds = (*holds[:-1], holds[-1].model_copy(update={"until": workflow.now()}))
        # Apply the spec again: what was changed by hand during the hold is put back.
        self._instance.merge_state(hold=None, holds=holds, applied_generation=0)
        _show(None)
        await self._event("Resumed", f"Resumed; the hold was: {ended.reason}")
        return ResumeResult(ended=ended)

    async def _event(self, reason: str, message: str) -> None:
        state = self._instance.state
        await calls.post_event(
            PostEventInput(
                ref=state.ref,
                key=f"{reason.lower()}-{workflow.uuid4().hex[:8]}",
                reason=reason,
                message=message,
            )
        )


async def _answer(made: Awaitable[_R], what: str) -> _R:
    """The answer of a create, or the Update's refusal when it failed for good (a request
    that could never run, a spec the API refuses); anything else fails the Update as it came."""
    try:
        return await made
    except calls.ACTIVITY_FAILED as err:
        if calls.error_type(err) not in (failures.REQUEST_INVALID, *failures.PERMANENT):
            raise
        message = calls.error_message(err)
        if not message.startswith(f"{what} request refused"):
            message = f"{what} request refused: {message}"
        raise requests.refusal(message, failures.REQUEST_INVALID) from None


def _show(hold: Hold | None) -> None:
    """Where the Temporal UI and CLI show a hold: a search attribute, the current details."""
    workflow.upsert_search_attributes([HELD_ATTR.value_set(hold is not None)])
    show_details(hold)


def show_details(hold: Hold | None) -> None:
    """The workflow's current details of a hold (a run starts without: continue-as-new
    calls this again)."""
    if hold is not None:
        since = hold.since.strftime("%Y-%m-%dT%H:%M:%SZ")
        workflow.set_current_details(f"**On hold** since {since}: {hold.reason}")
    else:
        workflow.set_current_details("")


# --- what a held instance still does --------------------------------------------


def held_view(snap: Snapshot) -> Snapshot:
    """`snap` as the phase table of a held instance sees it: the queued job resources
    (not started) hidden, so no phase starts one; those already running stay."""
    hidden = {
        kind.value: None
        for kind in JobKind
        if (active := snap.job(kind)) is not None and active.job_name is None
    }
    return snap.model_copy(update=hidden) if hidden else snap


def held_desired(desired: Desired, spec: OdooInstanceSpec, snap: Snapshot, hold: Hold) -> Desired:
    """What a held instance still converges: a stop (spec.replicas 0) scales both
    Deployments to 0; nothing else is scaled, created or started. The job resources
    that wait show Pending and the hold's reason (`held_note`), so kubectl says why."""
    why = held_note(hold)
    notes = tuple(
        job.model_copy(update={"phase": JobPhase.PENDING, "message": why})
        for job in snap.waiting_jobs
        if (job.phase, job.message) != (JobPhase.PENDING, why)
    )
    if spec.replicas != 0:
        return Desired(notes=notes)
    return Desired(
        web=0 if desired.web == 0 else None,
        cron=0 if desired.cron == 0 else None,
        notes=notes,
    )


def held_note(hold: Hold) -> str:
    """What a job resource that waits for a held instance says."""
    return f"waiting: the instance is on hold ({hold.reason}); kubectl odoo resume to go on"
