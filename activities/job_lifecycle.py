"""Job resources and their batch Jobs: start one, finish one.

Owns creating (or replacing a finished) auto OdooInitJob, starting the batch Job of an active job
resource (deterministic name: a retried activity finds its Job instead of
creating a second) and mirroring its outcome into the job resource's status.
The workflow decides when; this module only does it, idempotently.

A batch Job is created without ttlSecondsAfterFinished so its outcome cannot
be garbage-collected before the workflow has read it; `finish()` sets the
TTL (900 s) once the outcome is written to the job resource.

Every batch Job comes from specs.jobs: OdooInitJob's directly; upgrade,
backup and restore ones through activities.job_inputs (which also prepares
their Secrets). A
resource that cannot run as written (a missing credentials Secret) is marked
Failed with a message naming the field instead of starting a Job.

`finish()` also fires the resource's webhook (at least once: before the
terminal phase is written, so a retry after a crash calls it again), posts
a Warning `JobFailed` Event on a resource it marks Failed (so `kubectl
describe` of the job says why, whatever the instance does), and
`prune_history()` keeps the newest `history_limit` (JobSettings) finished resources
per instance and kind, deleting older ones (their batch Jobs go with them);
backups made by spec.backup's schedule are left to its retention instead.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from activities import api, failures, job_inputs, lookup, notify, recorder
from model import naming
from model.crds import OdooInstanceSpec
from model.payloads import ActiveJob, InstanceRef, JobAction, JobKind
from model.phases import FINISHED_JOB_PHASES
from model.settings import JobSettings, OperatorSettings
from specs import events, facts, job_outcome, jobs

__all__ = [
    "FINAL_LABEL",
    "FINISHED_JOB_TTL_SECONDS",
    "REFUSED_PREFIX",
    "SCHEDULED_LABEL",
    "create_auto_init",
    "finish",
    "mark_pending",
    "prune_history",
    "referencing",
    "start",
]

REFUSED_PREFIX = "not started: "
"""status.message of a resource whose Job was never created (a missing Secret...)."""

SCHEDULED_LABEL = "bemade.org/scheduled-backup"
"""On OdooBackupJobs made by spec.backup's schedule: their retention, not the
history limit, decides when they go."""

FINAL_LABEL = "bemade.org/final-backup"
"""On the OdooBackupJob made for an instance's deletion (spec.backup.finalBackup):
the snapshot reports it `final`, and the deletion waits for it."""

FINISHED_JOB_TTL_SECONDS = 900


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_auto_init(kube: api.KubeApi, inst: facts.Instance) -> None:
    """Create `<name>-auto-init`; an active one already there is fine.

    A finished one (Completed or Failed) is replaced: the workflow asks for an
    auto-init only when the database is not initialized, so a finished one is
    history from before the database was lost (missingPolicy Recreate) or
    dropped by a failed restore (reference QUIRK §2.12, where the 409 repeats
    forever). Its batch Job is deleted first: the new resource's Job gets the
    same deterministic name and must not find the old one. If the old object
    is still being deleted, the create's 409 propagates and is retried.
    """
    resource = api.job_resource(JobKind.INIT.plural)
    body = jobs.auto_init_job(inst)
    try:
        kube.create(resource, inst.namespace, body)
    except failures.Conflict:
        existing = kube.find(resource, inst.namespace, body["metadata"]["name"])
    else:
        return
    status = (existing or {}).get("status") or {}
    if existing is not None and status.get("phase") not in FINISHED_JOB_PHASES:
        return  # active: the next snapshot sees it
    if existing is not None:
        if status.get("jobName"):
            kube.delete(api.JOB, inst.namespace, status["jobName"])
        kube.delete(resource, inst.namespace, body["metadata"]["name"])
    kube.create(resource, inst.namespace, body)


def start(
    kube: api.KubeApi,
    operator: OperatorSettings,
    job_settings: JobSettings,
    ref: InstanceRef,
    spec: OdooInstanceSpec,
    active: ActiveJob,
) -> None:
    """Create the batch Job of `active` and mark the resource Running (both idempotent)."""
    resource = api.job_resource(active.kind.plural)
    body = kube.find(resource, ref.namespace, active.name)
    if body is None:
        return  # deleted meanwhile: the next snapshot sees it absent
    status = body.get("status") or {}
    if status.get("jobName"):
        return  # started by an earlier attempt
    cluster = lookup.load_cluster(kube, operator, spec)
    inst = lookup.instance_facts(ref, spec, cluster)
    if active.kind is JobKind.INIT:
        job_spec: dict[str, Any] = body.get("spec") or {}
        job = jobs.init_job(
            inst,
            resource_name=active.name,
            resource_uid=body["metadata"]["uid"],
            modules=list(job_spec.get("modules") or ["base"]),
            demo=bool(job_spec.get("demo", False)),
            deadline=job_spec.get("activeDeadlineSeconds"),
        )
    else:
        try:
            job = job_inputs.batch_job(kube, job_settings, inst, active.kind, body)
        except job_inputs.Refused as refused:
            # No Job: the resource records the Job it would have run and why
            # it did not; the snapshot reports it Failed with that message, so
            # the phase machine takes its failure edge (and finish() notifies).
            job_name = naming.batch_job_name(active.name, active.kind.value)
            refusal = {
                "phase": "Running",
                "jobName": job_name,
                "startTime": _now(),
                "message": f"{REFUSED_PREFIX}{refused}",
            }
            kube.merge_patch(
                resource, ref.namespace, active.name, {"status": refusal}, sub="status"
            )
            return
    job_name = job["metadata"]["name"]
    try:
        kube.create(api.JOB, ref.namespace, job)
    except failures.Conflict:
        # Ours from an earlier attempt, or a replaced resource's Job still
        # being deleted (retry until it is gone; never adopt its outcome).
        existing = kube.find(api.JOB, ref.namespace, job_name)
        owners = ((existing or {}).get("metadata") or {}).get("ownerReferences") or []
        if existing is None or body["metadata"]["uid"] not in {o.get("uid") for o in owners}:
            raise
    kube.merge_patch(
        resource,
        ref.namespace,
        active.name,
        # (message None: a "waiting for ..." note of a queued operation is over.)
        {"status": {"phase": "Running", "jobName": job_name, "startTime": _now(), "message": None}},
        sub="status",
    )


def finish(
    kube: api.KubeApi,
    namespace: str,
    action: JobAction,
    *,
    reporting_instance: str = naming.FIELD_MANAGER,
) -> None:
    """Write a job resource's terminal phase (webhook first), then let its batch Job expire.

    A failure also gets a Warning `JobFailed` Event on the resource, named
    after its uid (a retry finds it posted). Nothing is written over a
    resource already Completed or Failed.
    """
    resource = api.job_resource(action.kind.plural)
    body = kube.find(resource, namespace, action.name)
    if body is None:
        return  # the user deleted it: nothing to record
    current = body.get("status") or {}
    if current.get("phase") not in FINISHED_JOB_PHASES:
        status: dict[str, Any] = {
            "phase": "Completed" if action.succeeded else "Failed",
            "completionTime": _now(),
        }
        message = action.message or (
            job_outcome.success_message(action.kind, body) if action.succeeded else None
        )
        if message:
            status["message"] = message
        notify.notify(kube, body, {**current, **status})
        if not action.succeeded:  # before the phase: a retry after a crash posts it
            _failed_event(kube, body, message or "failed", reporting_instance)
        kube.merge_patch(resource, namespace, action.name, {"status": status}, sub="status")
    job_name = current.get("jobName")
    if job_name:
        with contextlib.suppress(failures.NotFound):
            kube.merge_patch(
                api.JOB,
                namespace,
                job_name,
                {"spec": {"ttlSecondsAfterFinished": FINISHED_JOB_TTL_SECONDS}},
            )


def _failed_event(
    kube: api.KubeApi, body: dict[str, Any], message: str, reporting_instance: str
) -> None:
    meta = body["metadata"]
    about = InstanceRef(namespace=meta["namespace"], name=meta["name"], uid=meta["uid"])
    recorder.post(
        kube,
        about,
        name=events.event_name(about, "failed", unique=meta["uid"]),
        reason="JobFailed",
        message=f"{body.get('kind') or 'job'} {meta['name']} failed: {message}",
        warning=True,
        reporting_instance=reporting_instance,
        kind=str(body.get("kind") or ""),
    )


def referencing(
    kube: api.KubeApi, kind: JobKind, namespace: str, name: str
) -> list[dict[str, Any]]:
    """The job resources of `kind` in `namespace` whose spec.odooInstanceRef.name is `name`
    (whatever its namespace says: callers apply their own rule to that)."""
    resource = api.job_resource(kind.plural)
    try:
        items = kube.list_of(
            resource, namespace, field_selector=f"spec.odooInstanceRef.name={name}"
        )
    except failures.ApiError as err:
        if err.status not in (400, 422):
            raise
        # A server without selectableFields: filter on our side only.
        items = kube.list_of(resource, namespace)
    return [
        item
        for item in items
        if ((item.get("spec") or {}).get("odooInstanceRef") or {}).get("name") == name
    ]


def mark_pending(kube: api.KubeApi, namespace: str, kind: JobKind, name: str) -> None:
    """status.phase Pending for a job resource the instance has seen but not started."""
    resource = api.job_resource(kind.plural)
    body = kube.find(resource, namespace, name)
    if body is None or (body.get("status") or {}).get("phase"):
        return  # gone, or already Pending/Running/finished
    kube.merge_patch(resource, namespace, name, {"status": {"phase": "Pending"}}, sub="status")


def prune_history(kube: api.KubeApi, ref: InstanceRef, kind: JobKind, limit: int) -> list[str]:
    """Delete finished resources of `kind` beyond the newest `limit`; return their names."""
    if limit <= 0:
        return []
    resource = api.job_resource(kind.plural)
    finished = [
        item
        for item in kube.list_of(resource, ref.namespace)
        if ((item.get("spec") or {}).get("odooInstanceRef") or {}).get("name") == ref.name
        and (item.get("status") or {}).get("phase") in FINISHED_JOB_PHASES
        and not _kept_by_retention(item)
    ]
    finished.sort(
        key=lambda i: (
            (i.get("status") or {}).get("completionTime") or "",
            i["metadata"].get("creationTimestamp") or "",
            i["metadata"]["name"],
        ),
        reverse=True,
    )
    pruned = []
    for item in finished[limit:]:
        if kube.delete(resource, ref.namespace, item["metadata"]["name"]):
            pruned.append(item["metadata"]["name"])
    return pruned


def _kept_by_retention(item: dict[str, Any]) -> bool:
    """A completed scheduled backup: spec.backup.retention decides when it goes."""
    labels = (item.get("metadata") or {}).get("labels") or {}
    return (
        labels.get(SCHEDULED_LABEL) == "true"
        and (item.get("status") or {}).get("phase") == "Completed"
    )


def auto_init_name(ref: InstanceRef) -> str:
    return naming.auto_init_job_name(ref.name)
