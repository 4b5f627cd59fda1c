"""Restores and upgrades asked for by Update, and where a new job resource stands in line.

Owns two activities and the queue position every operation Update answers with:

- `create_restore_job`: the OdooRestoreJob of a `restore` Update, under the
  fixed name the workflow chose (a retry finds it: 409 is success), after the
  same check the snapshot makes of a queued resource (activities.job_inputs:
  the S3 credentials Secret and its keys), so a request that could never run
  is refused at once (REQUEST_INVALID naming the request's field) instead of
  answered with a resource that fails later.
- `create_upgrade_job`: the OdooUpgradeJob of an `upgrade` Update, likewise.
- `queued_behind`: the unfinished job resources of the instance that run
  before a given one (`<Kind>/<name>`), read from the API right after the
  create: the one running now, then those the phase table takes first
  (RUN_ORDER) or that came earlier. A scheduled upgrade not yet due is not in
  the way. `in_run_order` sorts an instance's unfinished resources so (the
  plugin's status lists them that way).

Must not decide when anything runs (the phase table does; this only reports
the order it will take) nor touch an existing resource's spec.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import api, failures, job_inputs, job_lifecycle
from model import failures as failure_types
from model import naming
from model.crds import RestoreSourceType
from model.payloads import (
    CreateRestoreJobInput,
    CreateUpgradeJobInput,
    InstanceRef,
    JobKind,
    RestoreResult,
    UpgradeResult,
)
from model.phases import FINISHED_JOB_PHASES, JobPhase

__all__ = ["RUN_ORDER", "OperationActivities", "in_run_order", "queued_behind"]

RUN_ORDER = (JobKind.INIT, JobKind.RESTORE, JobKind.UPGRADE, JobKind.BACKUP)
"""Which queued kind the instance takes first: an init before anything, then the
priority of the phase table's serving rows (workflows.machine: restore > upgrade >
backup; tests/unit/test_operation_order.py keeps the two in step)."""


def queued_behind(kube: api.KubeApi, ref: InstanceRef, kind: JobKind, name: str) -> tuple[str, ...]:
    """The unfinished job resources of `ref` that run before `kind`/`name`, first first."""
    mine: dict[str, Any] | None = None
    others: list[tuple[JobKind, dict[str, Any]]] = []
    for other_kind in RUN_ORDER:
        for item in job_lifecycle.referencing(kube, other_kind, ref.namespace, ref.name):
            if (item.get("status") or {}).get("phase") in FINISHED_JOB_PHASES:
                continue
            if other_kind is kind and item["metadata"]["name"] == name:
                mine = item
            else:
                others.append((other_kind, item))
    mine_key = _created(mine) if mine is not None else ("~", name)
    now = datetime.now(UTC)
    ahead = [
        (other_kind, item)
        for other_kind, item in others
        if _running(item)
        or (
            _due(item, now)
            and (
                RUN_ORDER.index(other_kind) < RUN_ORDER.index(kind)
                or (other_kind is kind and _created(item) < mine_key)
            )
        )
    ]
    return tuple(f"{k.resource_kind}/{item['metadata']['name']}" for k, item in in_run_order(ahead))


def in_run_order(
    resources: Iterable[tuple[JobKind, dict[str, Any]]],
) -> list[tuple[JobKind, dict[str, Any]]]:
    """Unfinished job resources of one instance in the order it takes them: the
    running one, then by RUN_ORDER, then oldest first."""
    return sorted(
        resources,
        key=lambda pair: (not _running(pair[1]), RUN_ORDER.index(pair[0]), _created(pair[1])),
    )


def _running(item: dict[str, Any]) -> bool:
    status = item.get("status") or {}
    return status.get("phase") == JobPhase.RUNNING or bool(status.get("jobName"))


def _due(item: dict[str, Any], now: datetime) -> bool:
    scheduled = (item.get("spec") or {}).get("scheduledTime")
    if not scheduled:
        return True
    try:
        return datetime.fromisoformat(str(scheduled).replace("Z", "+00:00")) <= now
    except ValueError:
        return True


def _created(item: dict[str, Any]) -> tuple[str, str]:
    meta = item["metadata"]
    return (str(meta.get("creationTimestamp") or ""), str(meta["name"]))


class OperationActivities:
    def __init__(self, kube: api.KubeApi) -> None:
        self._kube = kube

    @activity.defn(name="create_restore_job", no_thread_cancel_exception=True)
    def create_restore_job(self, input: CreateRestoreJobInput) -> RestoreResult:
        with failures.boundary():
            request = input.request
            spec = {
                "odooInstanceRef": {"name": input.ref.name},
                "source": {
                    "type": RestoreSourceType.S3.value,
                    "s3": request.source.model_dump(mode="json", by_alias=True, exclude_none=True),
                },
                "format": request.backup_format.value,
                "neutralize": request.neutralize,
            }
            # job_inputs names the OdooRestoreJob's field; say where the user wrote it.
            self._create(input.ref, JobKind.RESTORE, input.name, spec, {"spec.source.s3": "source"})
            return RestoreResult(
                name=input.name,
                namespace=input.ref.namespace,
                queued_behind=queued_behind(self._kube, input.ref, JobKind.RESTORE, input.name),
            )

    @activity.defn(name="create_upgrade_job", no_thread_cancel_exception=True)
    def create_upgrade_job(self, input: CreateUpgradeJobInput) -> UpgradeResult:
        with failures.boundary():
            request = input.request
            spec: dict[str, Any] = {
                "odooInstanceRef": {"name": input.ref.name},
                "modules": list(request.modules),
                "modulesInstall": list(request.modules_install),
            }
            if request.scheduled_time is not None:
                spec["scheduledTime"] = request.scheduled_time.astimezone(UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                )
            self._create(input.ref, JobKind.UPGRADE, input.name, spec, {})
            return UpgradeResult(
                name=input.name,
                namespace=input.ref.namespace,
                queued_behind=queued_behind(self._kube, input.ref, JobKind.UPGRADE, input.name),
            )

    def _create(
        self,
        ref: InstanceRef,
        kind: JobKind,
        name: str,
        spec: dict[str, Any],
        fields: dict[str, str],
    ) -> None:
        body = {
            "apiVersion": naming.GROUP_VERSION,
            "kind": kind.resource_kind,
            "metadata": {
                "name": name,
                "namespace": ref.namespace,
                "labels": {naming.INSTANCE_LABEL: ref.name},
            },
            "spec": spec,
        }
        try:
            job_inputs.check(self._kube, kind, body)
        except job_inputs.Refused as err:
            message = str(err)
            for field, given in fields.items():
                message = message.replace(field, given, 1)
            raise ApplicationError(
                f"{kind.value} request refused: {message}",
                type=failure_types.REQUEST_INVALID,
                non_retryable=True,
                category=failures.BENIGN,
            ) from err
        resource = api.job_resource(kind.plural)
        # A 409 means an earlier attempt made it: the name is ours.
        with contextlib.suppress(failures.Conflict):
            self._kube.create(resource, ref.namespace, body)
