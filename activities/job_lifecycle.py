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

A job resource always says what happens (status.phase and status.message):
Pending and why it waits (`mark_pending`, the workflow's words: queued
behind another, scheduled, waiting for the instance), Running as its Job,
Completed or Failed with the outcome; while its Job runs, the step and how far
it came (`show_progress`, from activities.job_follow). Only resources whose
odooInstanceRef names the instance are written (activities.ownership).

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

from activities import api, failures, job_inputs, lookup, notify, ownership, recorder
from model import naming
from model.crds import OdooInstanceSpec
from model.payloads import ActiveJob, InstanceRef, JobAction, JobKind, JobProgress, JobRef
from model.phases import FINISHED_JOB_PHASES, NOT_STARTED_PREFIX, JobPhase
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
    "show_progress",
    "start",
]

REFUSED_PREFIX = NOT_STARTED_PREFIX
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
        # Replaced only when it is this instance's (one a user made under that
        # name stays: NotOwned), and so is its batch Job.
        ref = InstanceRef(namespace=inst.namespace, name=inst.name, uid=inst.uid)
        ownership.ensure_owned(existing, ref, untouched="no new auto-init was made")
        job_name = status.get("jobName")
        job = kube.find(api.JOB, inst.namespace, job_name) if job_name else None
        if job is not None and ownership.made_by(job, existing["metadata"]["uid"]):
            kube.delete(api.JOB, inst.namespace, job["metadata"]["name"], uid=_uid(job))
        kube.delete(resource, inst.namespace, body["metadata"]["name"], uid=_uid(existing))
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
    body = _own_resource(kube, resource, ref, active.name)
    if body is None:
        return  # deleted meanwhile (or re-made for another instance): the next snapshot sees it
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
        if existing is None or not ownership.made_by(existing, body["metadata"]["uid"]):
            raise
    running = {
        "phase": "Running",
        "jobName": job_name,
        "startTime": _now(),
        "message": f"running as Job {job_name}",
    }
    kube.merge_patch(resource, ref.namespace, active.name, {"status": running}, sub="status")


def finish(
    kube: api.KubeApi,
    namespace: str,
    action: JobAction,
    *,
    instance: InstanceRef | None = None,
    reporting_instance: str = naming.FIELD_MANAGER,
) -> None:
    """Write a job resource's terminal phase (webhook first), then let its batch Job expire.

    Completed clears status.step and status.progress; Failed keeps them.
    A failure also gets a Warning `JobFailed` Event on the resource, named
    after its uid (a retry finds it posted). Nothing is written over a
    resource already Completed or Failed, nor over one that no longer names
    `instance` (deleted and made again for another one).
    """
    resource = api.job_resource(action.kind.plural)
    if instance is not None:
        body = _own_resource(kube, resource, instance, action.name)
    else:
        body = kube.find(resource, namespace, action.name)
    if body is None:
        return  # the user deleted it: nothing to record
    current = body.get("status") or {}
    if current.get("phase") not in FINISHED_JOB_PHASES:
        status: dict[str, Any] = {
            "phase": "Completed" if action.succeeded else "Failed",
            "completionTime": _now(),
        }
        # Always a message: it replaces what the resource said while it waited or ran
        # (a saga's own outcome first, e.g. what it kept aside or why it rolled back).
        if action.succeeded:
            # A finished step's progress reads as stuck there; a failure keeps the
            # step it failed at (the message says how).
            status["step"] = status["progress"] = None
        if action.message:
            status["message"] = action.message
        elif action.succeeded:
            status["message"] = job_outcome.success_message(action.kind, body)
        else:
            status["message"] = f"{action.kind.resource_kind} failed"
        notify.notify(kube, body, {**current, **status})
        if not action.succeeded:  # before the phase: a retry after a crash posts it
            _failed_event(kube, body, status["message"], reporting_instance)
        kube.merge_patch(resource, namespace, action.name, {"status": status}, sub="status")
    job_name = current.get("jobName")
    job = kube.find(api.JOB, namespace, job_name) if job_name else None
    if job is not None and ownership.made_by(job, body["metadata"]["uid"]):
        ttl = {"spec": {"ttlSecondsAfterFinished": FINISHED_JOB_TTL_SECONDS}}
        with contextlib.suppress(failures.NotFound):  # deleted since the read
            kube.merge_patch(api.JOB, namespace, job["metadata"]["name"], ttl)


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


def mark_pending(kube: api.KubeApi, ref: InstanceRef, note: JobRef) -> None:
    """status.phase Pending and why (`note.message`) for a job resource of the instance
    that waits; nothing over one started or finished meanwhile."""
    resource = api.job_resource(note.kind.plural)
    body = _own_resource(kube, resource, ref, note.name)
    if body is None:
        return  # gone (or made again for another instance)
    status = body.get("status") or {}
    if status.get("jobName") or status.get("phase") in FINISHED_JOB_PHASES:
        return  # started or finished since the snapshot: its own status says the rest
    if (status.get("phase"), status.get("message")) == (JobPhase.PENDING, note.message):
        return  # says it already (a retry)
    pending = {"phase": JobPhase.PENDING.value, "message": note.message}
    kube.merge_patch(resource, ref.namespace, note.name, {"status": pending}, sub="status")


def show_progress(
    kube: api.KubeApi, ref: InstanceRef, kind: JobKind, name: str, job_name: str, shown: JobProgress
) -> None:
    """status.step and status.progress of a running job resource (activities.job_follow);
    nothing over one that finished, or whose batch Job is another one."""
    resource = api.job_resource(kind.plural)
    body = _own_resource(kube, resource, ref, name)
    if body is None:
        return
    status = body.get("status") or {}
    if status.get("jobName") != job_name or status.get("phase") in FINISHED_JOB_PHASES:
        return
    progress = {"step": shown.step, "progress": shown.amount() or None}
    kube.merge_patch(resource, ref.namespace, name, {"status": progress}, sub="status")


def _own_resource(
    kube: api.KubeApi, resource: api.Resource, ref: InstanceRef, name: str
) -> dict[str, Any] | None:
    """The job resource `name` when it names the instance `ref`; None when it is gone
    or was made again for another instance (not this instance's to write)."""
    body = kube.find(resource, ref.namespace, name)
    if body is None or not ownership.refers_to(body, ref.namespace, ref.name):
        return None
    return body


def prune_history(kube: api.KubeApi, ref: InstanceRef, kind: JobKind, limit: int) -> list[str]:
    """Delete finished resources of `kind` beyond the newest `limit`; return their names."""
    if limit <= 0:
        return []
    resource = api.job_resource(kind.plural)
    finished = [
        item
        for item in kube.list_of(resource, ref.namespace)
        if ownership.refers_to(item, ref.namespace, ref.name)
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
        name = item["metadata"]["name"]
        # The uid read: never a resource made again under that name meanwhile.
        with contextlib.suppress(failures.Conflict):
            if kube.delete(resource, ref.namespace, name, uid=_uid(item)):
                pruned.append(name)
    return pruned


def _kept_by_retention(item: dict[str, Any]) -> bool:
    """A completed scheduled backup: spec.backup.retention decides when it goes."""
    labels = (item.get("metadata") or {}).get("labels") or {}
    return (
        labels.get(SCHEDULED_LABEL) == "true"
        and (item.get("status") or {}).get("phase") == "Completed"
    )


def _uid(body: dict[str, Any]) -> str:
    return str(body["metadata"]["uid"])


def auto_init_name(ref: InstanceRef) -> str:
    return naming.auto_init_job_name(ref.name)
