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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from model.crds import OdooInstanceSpec
from model.payloads import JobKind, Snapshot
from model.phases import Phase

__all__ = ["ENSURE", "Desired", "EnsureFn", "ensure"]


@dataclass(frozen=True)
class Desired:
    """Outputs one phase wants: replica counts and work to start."""

    web: int | None = None
    cron: int | None = None
    create_auto_init: bool = False
    start_job: JobKind | None = None


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
    return ENSURE[phase](spec, snap)
