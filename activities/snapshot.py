"""The `gather_snapshot` activity: every read one wake of the workflow needs.

Owns the mapping from cluster state to the `Snapshot` the phase machine
reads: both Deployments, `status.dbInitialized`, the active job resource of
each kind and the state of its batch Job, whether a scheduled upgrade is due,
and the permanent configuration problems that put an instance in Error.

Database missing check (reference §2.1 step 9): when status.dbInitialized is
true and no init or restore resource is active, it asks PostgreSQL whether
the database exists. Missing under missingPolicy Recreate sets
`Snapshot.database_missing` (the phase machine goes back to Uninitialized);
under Ignore it sets `Snapshot.database_missing_ignored`, and the status
write reports it (record_status posts the Warning `DatabaseMissing` Event,
once per generation). A PostgreSQL error is logged and read as "unknown",
never as missing.

Drift (model.children): when the input lists the objects the last apply
wrote (`GatherSnapshotInput.children`; the workflow asks after a drift poke
or on a resync, not on every wake), each is read by name and reported in
`Snapshot.drift` when it is gone, has a deletionTimestamp, or its
fingerprint differs from the one recorded at the apply.

Runs as a local activity (cheap, no history events of its own). It only
reads: it writes nothing, posts no Event, and never writes to PostgreSQL.

Job resources that cannot run (activities.job_inputs.check: a missing credentials
Secret, a spec the model refuses) are refused here, before they can become
active: the oldest runnable resource of a kind is the active one, and those
older than it that cannot run are reported in `Snapshot.refused_jobs` for
the workflow to mark Failed. So a restore or upgrade that would never start
never moves the phase, and the Deployments keep their replicas.

Job state: no `status.jobName` -> Active; otherwise what the batch Job says
(`model.phases.batch_job_state`, reference §2.2: succeeded,
failed, gone or being deleted, or within its retry budget and still Active).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from activities import (
    api,
    clusters,
    databases,
    failures,
    job_inputs,
    job_lifecycle,
    lookup,
    ownership,
)
from model import children, naming
from model.crds import MissingPolicy
from model.payloads import (
    ActiveJob,
    AppliedChild,
    ChildDrift,
    Drift,
    GatherSnapshotInput,
    JobAction,
    JobKind,
    JobRef,
    Replicas,
    Snapshot,
)
from model.phases import (
    FINISHED_JOB_PHASES,
    JobPhase,
    JobState,
    batch_job_state,
    deployment_replicas,
)
from model.settings import OperatorSettings
from specs import job_outcome

__all__ = ["ProblemCheck", "SnapshotActivities", "describe"]

_log = logging.getLogger(__name__)

ProblemCheck = Callable[[GatherSnapshotInput], Sequence[str]]
"""An extra source of configuration problems (the PostgreSQL side plugs in here)."""

POD = api.POD


class SnapshotActivities:
    def __init__(
        self,
        kube: api.KubeApi,
        operator: OperatorSettings,
        postgres: databases.Databases,
        extra_checks: Sequence[ProblemCheck] = (),
    ) -> None:
        self._kube = kube
        self._operator = operator
        self._postgres = postgres
        self._extra_checks = tuple(extra_checks)

    @activity.defn(name="gather_snapshot", no_thread_cancel_exception=True)
    def gather_snapshot(self, input: GatherSnapshotInput) -> Snapshot:
        with failures.boundary():
            return self._gather(input)

    def _gather(self, input: GatherSnapshotInput) -> Snapshot:
        ref = input.ref
        instance = lookup.read_instance(self._kube, ref)
        jobs: dict[str, ActiveJob] = {}
        pending_backups = 0
        waiting: list[JobRef] = []
        refused: list[JobAction] = []
        wake_at: datetime | None = None
        for kind in JobKind:
            active, pending, not_started, cannot_run = self._active_job(input, kind)
            waiting.extend(not_started)
            refused.extend(cannot_run)
            if active is not None:
                jobs[kind.value] = active
                if kind is JobKind.UPGRADE and not active.due:
                    wake_at = active.scheduled_time
            if kind is JobKind.BACKUP:
                pending_backups = pending
        problems: list[str] = []
        cluster: clusters.Cluster | None = None
        try:
            cluster = lookup.load_cluster(self._kube, self._operator, input.spec)
        except clusters.ClusterConfigError as err:
            problems.append(err.message)
        problems.extend(self._problems(input))
        db_initialized = bool((instance.get("status") or {}).get("dbInitialized", False))
        gone = (
            db_initialized
            and cluster is not None
            and not {JobKind.INIT.value, JobKind.RESTORE.value} & jobs.keys()
            and self._database_gone(input, cluster)
        )
        recreate = input.spec.database.missing_policy is MissingPolicy.RECREATE
        return Snapshot(
            web=self._replicas(ref.namespace, ref.name),
            cron=self._replicas(ref.namespace, naming.cron_deployment_name(ref.name)),
            db_initialized=db_initialized,
            pending_backups=pending_backups,
            problems=tuple(problems),
            database_missing=gone and recreate,
            database_missing_ignored=gone and not recreate,
            waiting_jobs=tuple(waiting),
            wake_at=wake_at,
            refused_jobs=tuple(refused),
            drift=self._drift(ref.namespace, input.children or ()),
            **jobs,
        )

    def _drift(self, namespace: str, applied: Sequence[AppliedChild]) -> tuple[ChildDrift, ...]:
        """The objects of the last apply that are gone, going or changed (one GET each)."""
        found: list[ChildDrift] = []
        for child in applied:
            live = self._read_child(namespace, child)
            if live is None:
                drift: Drift | None = Drift.MISSING
            elif (live.get("metadata") or {}).get("deletionTimestamp"):
                drift = Drift.DELETING
            elif children.fingerprint(live) != child.fingerprint:
                drift = Drift.CHANGED
            else:
                drift = None
            if drift is not None:
                found.append(ChildDrift(kind=child.kind, name=child.name, drift=drift))
        return tuple(found)

    def _read_child(self, namespace: str, child: AppliedChild) -> dict[str, Any] | None:
        plural = children.KINDS[child.kind].plural
        for res in (
            api.SERVICE_ACCOUNT,
            api.ROLE,
            api.ROLE_BINDING,
            api.CONFIG_MAP,
            api.SECRET,
            api.SERVICE,
            api.PVC,
            api.INGRESS,
            api.HTTP_ROUTE,
            api.DEPLOYMENT,
        ):
            if res.plural == plural:
                return self._kube.find(res, namespace, child.name)
        raise ValueError(f"not a child kind: {child.kind}")

    def _database_gone(self, input: GatherSnapshotInput, cluster: clusters.Cluster) -> bool:
        """True when PostgreSQL says the database does not exist (see the docstring)."""
        ref, spec = input.ref, input.spec
        try:
            database = databases.database_name_for(ref.uid, spec.database.name)
            return not self._postgres.database_exists(cluster, database)
        except databases.PostgresError as err:
            # Unknown is not missing: a PostgreSQL outage must never re-initialize.
            _log.warning(
                "cannot tell whether the database of %s/%s exists: %s",
                ref.namespace,
                ref.name,
                err.message,
            )
            return False

    def _replicas(self, namespace: str, name: str) -> Replicas:
        """The Deployment's replicas as model.phases.deployment_replicas counts them
        (the watcher pokes when they change)."""
        body = self._kube.find(api.DEPLOYMENT, namespace, name)
        if body is None:
            return Replicas()
        desired, ready = deployment_replicas(body)
        return Replicas(desired=desired, ready=ready, exists=True)

    def _active_job(
        self, input: GatherSnapshotInput, kind: JobKind
    ) -> tuple[ActiveJob | None, int, list[JobRef], list[JobAction]]:
        """The oldest runnable non-terminal job resource of `kind`, how many are
        pending, those not started yet (with what their status says), and the
        older ones that cannot run (refused: see the module docstring)."""
        ref = input.ref
        pending = [
            item
            for item in job_lifecycle.referencing(self._kube, kind, ref.namespace, ref.name)
            if ownership.refers_to(item, ref.namespace, ref.name)
            and (item.get("status") or {}).get("phase") not in FINISHED_JOB_PHASES
        ]
        # One already started comes first whatever its age: creationTimestamp counts
        # whole seconds, so two made in one second would otherwise go by name, and a
        # younger name could pass the running one and start a second Job beside it.
        pending.sort(
            key=lambda i: (
                not _started(i),
                i["metadata"].get("creationTimestamp", ""),
                i["metadata"]["name"],
            )
        )
        refused: list[JobAction] = []
        while pending and (reason := self._refusal(input, kind, pending[0])) is not None:
            refused.append(
                JobAction(kind=kind, name=pending.pop(0)["metadata"]["name"], succeeded=False,
                          message=f"{job_lifecycle.REFUSED_PREFIX}{reason}")
            )  # fmt: skip
        if not pending:
            return None, 0, [], refused
        not_started = [_waiting(kind, item) for item in pending if not _started(item)]
        oldest = pending[0]
        return describe(self._kube, kind, oldest), len(pending), not_started, refused

    def _refusal(
        self, input: GatherSnapshotInput, kind: JobKind, item: dict[str, Any]
    ) -> str | None:
        """Why a job resource not started yet cannot run; None when it can (or started)."""
        if _started(item):
            return None  # started, or refused by job_lifecycle.start: its state says the rest
        try:
            job_inputs.check(self._kube, kind, item, input.spec.backup)
        except job_inputs.Refused as refused:
            return str(refused)
        return None

    def _problems(self, input: GatherSnapshotInput) -> list[str]:
        problems: list[str] = []
        operator = self._operator
        pull = input.spec.image_pull_secret
        if pull and self._kube.find(api.SECRET, operator.namespace, pull) is None:
            problems.append(
                f"spec.imagePullSecret: Secret {pull} not found in the operator namespace "
                f"{operator.namespace}; create it there or remove the field"
            )
        for check in self._extra_checks:
            problems.extend(check(input))
        return problems


def describe(kube: api.KubeApi, kind: JobKind, item: dict[str, Any]) -> ActiveJob:
    """A job resource of `kind` as the workflow sees it: its state (from its batch
    Job, see the module docstring), why it failed, what a succeeded Job's steps
    reported (their termination messages), an upgrade's due time."""
    name = item["metadata"]["name"]
    job_name = (item.get("status") or {}).get("jobName") or None
    message: str | None = None
    outputs: tuple[str, ...] = ()
    if job_name is None:
        state = JobState.ACTIVE
    else:
        namespace = item["metadata"]["namespace"]
        job = kube.find(api.JOB, namespace, job_name)
        state, message = batch_job_state(job)
        recorded = (item.get("status") or {}).get("message") or ""
        if job is None and recorded.startswith(job_lifecycle.REFUSED_PREFIX):
            message = recorded  # never started: the reason is on the resource
        elif state is not JobState.ACTIVE and job is not None:
            pods = kube.list_of(POD, namespace, label_selector=f"job-name={job_name}")
            if state is JobState.FAILED:
                # The failing step and its log tail, for the resource's status.message.
                message = job_outcome.failure_message(job, pods)
            else:
                outputs = job_outcome.step_outputs(pods)
    labels = (item.get("metadata") or {}).get("labels") or {}
    due, scheduled = True, None
    if kind is JobKind.UPGRADE:
        scheduled = _parse_time((item.get("spec") or {}).get("scheduledTime"))
        due = scheduled is None or scheduled <= datetime.now(UTC)
    return ActiveJob(
        kind=kind,
        name=name,
        state=state,
        job_name=job_name,
        due=due,
        message=message,
        scheduled_time=None if due else scheduled,
        scheduled=labels.get(job_lifecycle.SCHEDULED_LABEL) == "true",
        final=labels.get(job_lifecycle.FINAL_LABEL) == "true",
        outputs=outputs,
    )


def _started(item: dict[str, Any]) -> bool:
    """Whether the job resource's batch Job was made (or refused by job_lifecycle.start)."""
    return bool((item.get("status") or {}).get("jobName"))


def _waiting(kind: JobKind, item: dict[str, Any]) -> JobRef:
    status = item.get("status") or {}
    phase = status.get("phase")
    return JobRef(
        kind=kind,
        name=item["metadata"]["name"],
        phase=JobPhase(phase) if phase in set(JobPhase) else None,
        message=status.get("message") or None,
    )


def _parse_time(scheduled: object) -> datetime | None:
    """An upgrade's scheduledTime; None (run now) when unset or unparseable."""
    if not isinstance(scheduled, str) or not scheduled:
        return None
    try:
        when = datetime.fromisoformat(scheduled.replace("Z", "+00:00"))
    except ValueError:
        _log.warning("unparseable scheduledTime %r: running the upgrade now", scheduled)
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when
