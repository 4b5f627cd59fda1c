"""Job resources and their batch Jobs: start one, finish one.

Owns creating (or replacing a finished) auto OdooInitJob, starting the batch Job of an active job
resource (deterministic name: a retried activity finds its Job instead of
creating a second) and mirroring its outcome into the job resource's status.
The workflow decides when; this module only does it, idempotently.

A batch Job is created without ttlSecondsAfterFinished so its outcome cannot
be garbage-collected before the workflow has read it; `finish()` sets the
TTL (900 s) once the outcome is written to the job resource.

Only OdooInitJob has a batch Job builder so far. Upgrade, restore and backup
resources are not supported yet: `start()` marks them Failed with a message
saying so (rather than failing the workflow), and the phase machine leaves
the phase through its "job absent" edge.
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from activities import api, context, failures, manifests
from activities.config import OperatorConfig
from odoo_operator.model import naming
from odoo_operator.model.crds import OdooInstanceSpec
from odoo_operator.model.payloads import ActiveJob, InstanceRef, JobAction, JobKind

__all__ = ["FINISHED_JOB_TTL_SECONDS", "create_auto_init", "finish", "start"]

FINISHED_JOB_TTL_SECONDS = 900

_TERMINAL = ("Completed", "Failed")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_auto_init(kube: api.KubeApi, inst: manifests.Instance) -> None:
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
    body = manifests.auto_init_job(inst)
    try:
        kube.create(resource, inst.namespace, body)
    except failures.Conflict:
        existing = kube.find(resource, inst.namespace, body["metadata"]["name"])
    else:
        return
    status = (existing or {}).get("status") or {}
    if existing is not None and status.get("phase") not in _TERMINAL:
        return  # active: the next snapshot sees it
    if existing is not None:
        if status.get("jobName"):
            kube.delete(api.JOB, inst.namespace, status["jobName"])
        kube.delete(resource, inst.namespace, body["metadata"]["name"])
    kube.create(resource, inst.namespace, body)


def start(
    kube: api.KubeApi,
    config: OperatorConfig,
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
    if active.kind is not JobKind.INIT:
        kube.merge_patch(
            resource,
            ref.namespace,
            active.name,
            {
                "status": {
                    "phase": "Failed",
                    "completionTime": _now(),
                    "message": f"{active.kind.resource_kind} is not supported yet by this "
                    "operator version",
                }
            },
            sub="status",
        )
        return
    cluster = context.load_cluster(kube, config, spec)
    inst = context.instance_facts(ref, spec, cluster)
    job_spec: dict[str, Any] = body.get("spec") or {}
    job = manifests.init_job(
        inst,
        resource_name=active.name,
        resource_uid=body["metadata"]["uid"],
        modules=list(job_spec.get("modules") or ["base"]),
        demo=bool(job_spec.get("demo", False)),
    )
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
        {"status": {"phase": "Running", "jobName": job_name, "startTime": _now()}},
        sub="status",
    )


def finish(kube: api.KubeApi, namespace: str, action: JobAction) -> None:
    """Write a job resource's terminal phase, then let its batch Job expire."""
    resource = api.job_resource(action.kind.plural)
    body = kube.find(resource, namespace, action.name)
    if body is None:
        return  # the user deleted it: nothing to record
    status: dict[str, Any] = {
        "phase": "Completed" if action.succeeded else "Failed",
        "completionTime": _now(),
    }
    current = body.get("status") or {}
    if current.get("phase") in ("Completed", "Failed"):
        status = {}  # a retry: keep the first completionTime
    elif action.message:
        status["message"] = action.message
    if status:
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


def auto_init_name(ref: InstanceRef) -> str:
    return naming.auto_init_job_name(ref.name)
