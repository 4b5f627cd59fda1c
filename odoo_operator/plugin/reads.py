"""What `status` and `history` show, read from Kubernetes and the instance's workflow.

Owns one read of an instance (`read_instance`): the OdooInstance, the
connection facts of its ConfigMap (host, port, database, role; never a
password), every job resource naming it, and the workflow's `phase`,
`transitions` and `hold` queries. Temporal that cannot be reached, or no
workflow for the instance, is a note in the view, not a failure: Kubernetes
alone still says most of it. Must not write anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError, RPCStatusCode

from activities import api, job_lifecycle
from model import naming
from model.payloads import Hold, HoldRecord, JobKind, TransitionRecord
from model.phases import FINISHED_JOB_PHASES, Phase
from odoo_operator.plugin import session as sessions
from specs import job_outcome

__all__ = ["InstanceView", "JobView", "NotFound", "WorkflowView", "job_view", "read_instance"]

KINDS = (JobKind.INIT, JobKind.RESTORE, JobKind.UPGRADE, JobKind.BACKUP)


class NotFound(Exception):
    """The object a command names does not exist."""


@dataclass(frozen=True)
class JobView:
    """One job resource, as the plugin shows it."""

    kind: JobKind
    name: str
    phase: str | None
    created: datetime | None
    started: datetime | None
    finished: datetime | None
    message: str | None
    job_name: str | None
    location: str | None
    """`s3://bucket/key` of a backup's destination or a restore's source."""
    body: dict[str, Any] = field(repr=False, compare=False)

    @property
    def ref(self) -> str:
        return f"{self.kind.resource_kind}/{self.name}"

    @property
    def finished_phase(self) -> bool:
        return self.phase in FINISHED_JOB_PHASES


@dataclass(frozen=True)
class WorkflowView:
    """What the instance's workflow answers; `problem` says why it could not."""

    phase: Phase | None = None
    transitions: tuple[TransitionRecord, ...] = ()
    hold: Hold | None = None
    holds: tuple[HoldRecord, ...] = ()
    problem: str | None = None


@dataclass(frozen=True)
class InstanceView:
    name: str
    namespace: str
    body: dict[str, Any]
    connection: dict[str, str]
    jobs: tuple[JobView, ...]
    workflow: WorkflowView

    @property
    def spec(self) -> dict[str, Any]:
        return dict(self.body.get("spec") or {})

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.body.get("status") or {})


def _time(value: object) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def job_view(kind: JobKind, body: dict[str, Any]) -> JobView:
    spec, status = body.get("spec") or {}, body.get("status") or {}
    where = job_outcome.backup_destination(body) or (spec.get("source") or {}).get("s3")
    return JobView(
        kind=kind,
        name=body["metadata"]["name"],
        phase=status.get("phase"),
        created=_time(body["metadata"].get("creationTimestamp")),
        started=_time(status.get("startTime")),
        finished=_time(status.get("completionTime")),
        message=status.get("message"),
        job_name=status.get("jobName"),
        location=f"s3://{where['bucket']}/{where.get('objectKey', '')}" if where else None,
        body=body,
    )


async def read_instance(session: sessions.Session, name: str) -> InstanceView:
    """Everything status and history show of the instance `name` (see the module docstring)."""
    kube, namespace = session.kube, session.namespace
    body = kube.find(api.INSTANCE, namespace, name)
    if body is None:
        raise NotFound(f"no OdooInstance {name} in namespace {namespace}")
    config = kube.find(api.CONFIG_MAP, namespace, naming.config_map_name(name)) or {}
    data = config.get("data") or {}
    connection = {k: str(v) for k, v in data.items() if k.startswith("db_")}
    jobs = tuple(
        job_view(kind, item)
        for kind in KINDS
        for item in job_lifecycle.referencing(kube, kind, namespace, name)
    )
    return InstanceView(name, namespace, body, connection, jobs, await _workflow(session, name))


async def _workflow(session: sessions.Session, name: str) -> WorkflowView:
    try:
        handle = await session.workflow(name)
        phase = await handle.query("phase", result_type=Phase)
        transitions = await handle.query("transitions", result_type=list[TransitionRecord])
        hold = await handle.query("hold", result_type=Hold | None)  # type: ignore[arg-type]
        holds = await handle.query("holds", result_type=list[HoldRecord])
    except sessions.TemporalUnreachable as err:
        return WorkflowView(problem=str(err))
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            return WorkflowView(
                problem=f"no workflow {naming.workflow_id(session.namespace, name)}"
            )
        return WorkflowView(problem=f"Temporal: {err.message}")
    except WorkflowQueryFailedError as err:
        return WorkflowView(problem=f"the workflow did not answer: {err}")
    return WorkflowView(phase=phase, transitions=tuple(transitions), hold=hold, holds=tuple(holds))
