"""What each phase wants to exist: the level-triggered outputs of a phase.

`ensure(spec, snapshot)` is pure: it returns `Desired`, and the workflow
converges the cluster to it through idempotent activities. The web/cron
replica counts follow the scaling table of SPEC.md; `None` means "leave the
Deployment's replica count as it is":

| Phase | Web | Cron |
|---|---|---|
| Initializing, InitFailed, Stopped, Uninitialized | 0 | 0 |
| Starting, Running, Degraded | spec.replicas | spec.cron.replicas |
| BackingUp, Provisioning | unchanged | unchanged |
| Restoring, Upgrading | the saga's (workflows.restore, workflows.upgrade) | same |
| Error | unchanged; 0 and 0 when spec.replicas is 0 | same |

A restore or an upgrade scales the instance itself, step by step (a restore:
0 and 0 from its start; an upgrade: cron 0 during its safety backup, then
both 0; both: the spec once the new data is in place, for the health check),
and starts its own Jobs: ensure() leaves both alone in their phases.

Degraded scales to the spec like Running (raising spec.replicas while
Degraded must add pods). Error keeps what runs (a permanent problem such as
a refused volume expansion must not take the site down) but still honours a
stop: spec.replicas 0 scales both Deployments to 0.

Every phase also says what the job resources that wait show (`waiting`,
the same for all phases): in Error each is refused, Failed with the
instance's problem (`Desired.refuse`, run as edge actions: webhook, JobFailed
Events); otherwise each shows Pending and why (`Desired.notes`, only those
whose status says something else now):

| The resource | status.message |
|---|---|
| the phase runs another one, or an older one of its kind is next | queued behind <Kind> <name> |
| an upgrade whose scheduledTime is ahead | scheduled for <time> |
| anything else (the phase does not take it yet) | waiting for the instance (phase <P>) |

The one the phase is starting gets no note: starting it writes Running.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC

from model.crds import OdooInstanceSpec
from model.payloads import ActiveJob, JobAction, JobKind, JobRef, Snapshot
from model.phases import NOT_STARTED_PREFIX, JobPhase, Phase

__all__ = ["ENSURE", "Desired", "EnsureFn", "ensure", "waiting"]


@dataclass(frozen=True)
class Desired:
    """Outputs one phase wants: replica counts, work to start, what waiting job
    resources show (`notes`) and the ones refused (`refuse`)."""

    web: int | None = None
    cron: int | None = None
    create_auto_init: bool = False
    start_job: JobKind | None = None
    notes: tuple[JobRef, ...] = ()
    refuse: tuple[JobAction, ...] = ()


EnsureFn = Callable[[OdooInstanceSpec, Snapshot], Desired]

_DOWN = Desired(web=0, cron=0)
_UNCHANGED = Desired()


def _serving(spec: OdooInstanceSpec, snap: Snapshot) -> Desired:
    return Desired(web=spec.replicas, cron=spec.cron.replicas)


def _error(spec: OdooInstanceSpec, snap: Snapshot) -> Desired:
    return _DOWN if spec.replicas == 0 else _UNCHANGED


def _uninitialized(spec: OdooInstanceSpec, snap: Snapshot) -> Desired:
    # The auto OdooInitJob is created only for a database nobody has set up
    # and when no init or restore is already queued (a restore pre-empts it).
    wants_init = (
        spec.init.enabled and not snap.db_initialized and snap.init is None and snap.restore is None
    )
    return Desired(web=0, cron=0, create_auto_init=wants_init)


def _running_job(kind: JobKind, desired: Desired) -> EnsureFn:
    """Start the batch Job of the active resource of `kind` once."""

    def ensure_fn(spec: OdooInstanceSpec, snap: Snapshot) -> Desired:
        active = snap.job(kind)
        start = kind if active is not None and active.job_name is None else None
        return Desired(web=desired.web, cron=desired.cron, start_job=start)

    return ensure_fn


ENSURE: Mapping[Phase, EnsureFn] = {
    Phase.PROVISIONING: lambda spec, snap: _UNCHANGED,
    Phase.UNINITIALIZED: _uninitialized,
    Phase.INITIALIZING: _running_job(JobKind.INIT, _DOWN),
    Phase.INIT_FAILED: lambda spec, snap: _DOWN,
    Phase.STARTING: _serving,
    Phase.RUNNING: _serving,
    Phase.DEGRADED: _serving,
    Phase.STOPPED: lambda spec, snap: _DOWN,
    Phase.UPGRADING: lambda spec, snap: _UNCHANGED,
    Phase.RESTORING: lambda spec, snap: _UNCHANGED,
    Phase.BACKING_UP: _running_job(JobKind.BACKUP, _UNCHANGED),
    Phase.ERROR: _error,
}


def ensure(phase: Phase, spec: OdooInstanceSpec, snap: Snapshot) -> Desired:
    notes, refuse = waiting(phase, snap)
    return replace(ENSURE[phase](spec, snap), notes=notes, refuse=refuse)


# The job resource a phase runs: while it runs, every other one is queued behind it.
_PHASE_JOBS = {
    Phase.INITIALIZING: JobKind.INIT,
    Phase.UPGRADING: JobKind.UPGRADE,
    Phase.RESTORING: JobKind.RESTORE,
    Phase.BACKING_UP: JobKind.BACKUP,
}


def waiting(phase: Phase, snap: Snapshot) -> tuple[tuple[JobRef, ...], tuple[JobAction, ...]]:
    """What the waiting job resources (snap.waiting_jobs) show in `phase`: the
    notes to write (Pending and why; those already showing it left out) and, in
    Error, the refusals (see the module docstring)."""
    if phase is Phase.ERROR and snap.problems:  # (none: it leaves Error on this snapshot)
        message = f"{NOT_STARTED_PREFIX}the instance is in Error: {'; '.join(snap.problems)}"
        return (), tuple(
            JobAction(kind=job.kind, name=job.name, succeeded=False, message=message)
            for job in snap.waiting_jobs
        )
    kind = _PHASE_JOBS.get(phase)
    running = snap.job(kind) if kind is not None else None
    notes: list[JobRef] = []
    for job in snap.waiting_jobs:
        why = _why_waiting(phase, running, snap.job(job.kind), job)
        if why is not None and (job.phase, job.message) != (JobPhase.PENDING, why):
            notes.append(job.model_copy(update={"phase": JobPhase.PENDING, "message": why}))
    return tuple(notes), ()


def _why_waiting(
    phase: Phase, running: ActiveJob | None, next_of_kind: ActiveJob | None, job: JobRef
) -> str | None:
    """Why `job` waits; None for the one the phase is starting."""
    for ahead in (running, next_of_kind):
        if ahead is not None and (ahead.kind, ahead.name) != (job.kind, job.name):
            return f"queued behind {ahead.kind.resource_kind} {ahead.name}"
    if running is not None:
        return None  # it is the phase's job: starting it writes Running
    if next_of_kind is not None and next_of_kind.scheduled_time is not None:
        at = next_of_kind.scheduled_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"scheduled for {at}"
    return f"waiting for the instance (phase {phase})"
