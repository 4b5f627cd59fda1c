"""Backups asked for outside kubectl: from the temporal CLI, spec.backup's schedule, deletion.

Owns four activities and the prune that run_edge_actions runs:

- `create_backup_job`: the OdooBackupJob of a backup request, under the
  fixed name the workflow chose (a retry finds it: 409 is success), with
  spec.backup's destination and a generated key when the request names none;
  labelled `bemade.org/scheduled-backup` when the schedule asked (its
  retention then decides when it goes, not the history limit); the answer
  names the unfinished job resources it waits for
  (activities.operation_resources.queued_behind).
- `check_backup_request`: what the `backup` Update asks before it makes
  anything: a destination (the request's or spec.backup's) and an S3
  credentials Secret that exists with accessKey and secretKey
  (activities.job_inputs' check of an OdooBackupJob), else
  BACKUP_REQUEST_INVALID naming the field, so the Update fails at once
  instead of answering with a job that fails later.
- `prune_backups` (not an activity of its own: the PruneScheduledBackups
  edge action, activities.edge_actions): spec.backup.retention over the
  completed scheduled backups of an instance (model.retention); each one not
  kept loses its S3 object first (with the credentials its own spec names),
  then its resource. An object already gone is fine; an S3 error is retried.
- `sync_backup_schedule` (async: it talks to Temporal through the worker's
  client): the Temporal Schedule `odoo-backup/<ns>/<name>` that starts the
  OdooScheduledBackup workflow on spec.backup.schedule; paused while
  spec.backup.suspend is true or the instance is on hold; deleted when spec.backup is removed or the
  instance goes away. Temporal refusing the Schedule (INVALID_ARGUMENT, e.g.
  a cron field out of range that slipped past admission) is CONFIG_INVALID,
  never retried with the same input.
- `post_event`: one Event about the instance (e.g. FinalBackupFailed).
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.client import (
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities import (
    api,
    failures,
    job_inputs,
    job_lifecycle,
    lookup,
    operation_resources,
    ownership,
    recorder,
    s3,
)
from model import failures as failure_types
from model import naming, retention
from model.crds import BackupFormat, S3Config
from model.payloads import (
    BackupRequested,
    CreateBackupJobInput,
    JobKind,
    PostEventInput,
    PruneBackupsInput,
    PruneBackupsResult,
    ScheduledBackupInput,
    SyncBackupScheduleInput,
)
from model.settings import OperatorSettings
from specs import events, job_outcome

__all__ = ["SCHEDULED_BACKUP_WORKFLOW", "BackupActivities", "backup_spec"]

SCHEDULED_BACKUP_WORKFLOW = "OdooScheduledBackup"
"""Workflow type the Schedule starts (workflows.scheduled_backup)."""

FINAL_LABEL = job_lifecycle.FINAL_LABEL
_log = logging.getLogger(__name__)
_BACKUPS = api.job_resource(JobKind.BACKUP.plural)


def backup_spec(input: CreateBackupJobInput) -> tuple[dict[str, Any], S3Config]:
    """The OdooBackupJob spec of a queued request, and where it goes."""
    request, spec = input.queued.request, input.spec
    scheduled = spec.backup
    if request.destination is not None:
        destination = request.destination
    elif scheduled is not None:
        destination = scheduled.destination.location(input.queued.object_key)
    else:
        raise ApplicationError(
            "destination: a backup request needs one (no destination given and no "
            "spec.backup): give one, or set spec.backup",
            type=failure_types.BACKUP_REQUEST_INVALID,
            non_retryable=True,
            category=failures.BENIGN,
        )
    fmt = request.format or (scheduled.format if scheduled else BackupFormat.ZIP)
    with_filestore = request.with_filestore
    if with_filestore is None:
        with_filestore = scheduled.with_filestore if scheduled else True
    body = {
        "odooInstanceRef": {"name": input.ref.name},
        "destination": destination.model_dump(mode="json", by_alias=True, exclude_none=True),
        "format": fmt.value,
        "withFilestore": with_filestore,
    }
    return body, destination


class BackupActivities:
    def __init__(self, kube: api.KubeApi, operator: OperatorSettings) -> None:
        self._kube = kube
        self._operator = operator

    # --- create ---------------------------------------------------------------

    @activity.defn(name="create_backup_job", no_thread_cancel_exception=True)
    def create_backup_job(self, input: CreateBackupJobInput) -> BackupRequested:
        with failures.boundary():
            return self._create(input)

    def _create(self, input: CreateBackupJobInput) -> BackupRequested:
        ref, queued = input.ref, input.queued
        spec, destination = backup_spec(input)
        labels = {naming.INSTANCE_LABEL: ref.name}
        if queued.request.scheduled:
            labels[job_lifecycle.SCHEDULED_LABEL] = "true"
        if queued.final:
            labels[FINAL_LABEL] = "true"
        # What asked for it; the watcher does not poke the workflow for its creation.
        requested = (
            "deletion" if queued.final else "schedule" if queued.request.scheduled else "request"
        )
        body = {
            "apiVersion": naming.GROUP_VERSION,
            "kind": "OdooBackupJob",
            "metadata": {
                "name": queued.name,
                "namespace": ref.namespace,
                "labels": labels,
                "annotations": {naming.REQUESTED_ANNOTATION: requested},
            },
            "spec": spec,
        }
        # A 409 means an earlier attempt made it: the name is ours.
        with contextlib.suppress(failures.Conflict):
            self._kube.create(_BACKUPS, ref.namespace, body)
        return BackupRequested(
            name=queued.name,
            namespace=ref.namespace,
            bucket=destination.bucket,
            object_key=destination.object_key,
            queued_behind=operation_resources.queued_behind(
                self._kube, ref, JobKind.BACKUP, queued.name
            ),
        )

    @activity.defn(name="check_backup_request", no_thread_cancel_exception=True)
    def check_backup_request(self, input: CreateBackupJobInput) -> None:
        with failures.boundary():
            spec, _ = backup_spec(input)
            body = {
                "metadata": {"namespace": input.ref.namespace, "name": input.queued.name},
                "spec": spec,
            }
            try:
                job_inputs.check(self._kube, JobKind.BACKUP, body)
            except job_inputs.Refused as err:
                # job_inputs names the OdooBackupJob's field; say where the user wrote it.
                given = input.queued.request.destination is not None
                where = "destination" if given else "spec.backup.destination"
                raise ApplicationError(
                    str(err).replace("spec.destination", where, 1),
                    type=failure_types.BACKUP_REQUEST_INVALID,
                    non_retryable=True,
                    category=failures.BENIGN,
                ) from err

    # --- prune ----------------------------------------------------------------

    def prune_backups(self, input: PruneBackupsInput) -> PruneBackupsResult:
        with failures.boundary():
            return self._prune(input)

    def _prune(self, input: PruneBackupsInput) -> PruneBackupsResult:
        ref, kube = input.ref, self._kube
        completed = [
            item
            for item in kube.list_of(
                _BACKUPS, ref.namespace, label_selector=f"{job_lifecycle.SCHEDULED_LABEL}=true"
            )
            if ownership.refers_to(item, ref.namespace, ref.name)
            and (item.get("status") or {}).get("phase") == "Completed"
        ]
        policy = retention.Policy(
            keep_last=input.retention.keep_last,
            daily=input.retention.daily,
            weekly=input.retention.weekly,
            monthly=input.retention.monthly,
        )
        keep = retention.retained((_dated(item) for item in completed), policy)
        deleted: list[str] = []
        for item in completed:
            name = item["metadata"]["name"]
            if name in keep:
                continue
            self._delete_object(ref.namespace, item)
            # The uid read: never a resource made again under that name meanwhile.
            with contextlib.suppress(failures.Conflict):
                if kube.delete(_BACKUPS, ref.namespace, name, uid=item["metadata"]["uid"]):
                    deleted.append(name)
        return PruneBackupsResult(deleted=tuple(sorted(deleted)))

    def _delete_object(self, namespace: str, item: dict[str, Any]) -> None:
        target, client = self._client(namespace, item)
        try:
            client.delete_object(target.bucket, target.object_key)
        except s3.S3Error as err:
            if err.status != 404:
                raise ApplicationError(
                    f"cannot delete s3://{target.bucket}/{target.object_key}: {err.message}",
                    type=failure_types.S3_ERROR,
                ) from err
        except s3.S3Unavailable as err:
            raise ApplicationError(str(err), type=failure_types.S3_UNAVAILABLE) from err

    def abort_uploads(self, namespace: str, name: str) -> list[str]:
        """Abort the unfinished multipart uploads of the failed OdooBackupJob `name`'s
        object (its upload step was killed before it could): the upload ids aborted."""
        item = self._kube.find(_BACKUPS, namespace, name)
        if item is None or not job_outcome.backup_destination(item):
            return []  # gone, or refused before it had somewhere to upload
        target, client = self._client(namespace, item)
        try:
            uploads = client.multipart_uploads(target.bucket, target.object_key)
            for key, upload_id in uploads:
                if key == target.object_key:
                    client.abort_multipart_upload(target.bucket, key, upload_id)
        except s3.S3Error as err:
            if err.status == 404:
                return []  # the bucket is gone: nothing to abort
            # Refused (403: the credentials the backup failed with): retrying cannot help.
            raise ApplicationError(
                f"cannot abort the uploads of s3://{target.bucket}/{target.object_key}: "
                f"{err.message}",
                type=failure_types.S3_ERROR,
                non_retryable=400 <= err.status < 500,
            ) from err
        except s3.S3Unavailable as err:
            raise ApplicationError(str(err), type=failure_types.S3_UNAVAILABLE) from err
        return [upload_id for key, upload_id in uploads if key == target.object_key]

    def _client(self, namespace: str, item: dict[str, Any]) -> tuple[S3Config, s3.S3Client]:
        target = S3Config.model_validate(job_outcome.backup_destination(item))
        return target, lookup.s3_client(self._kube, namespace, target)

    # --- events ---------------------------------------------------------------

    @activity.defn(name="post_event", no_thread_cancel_exception=True)
    def post_event(self, input: PostEventInput) -> None:
        with failures.boundary():
            info = activity.info()
            recorder.post(
                self._kube,
                input.ref,
                name=events.event_name(
                    input.ref, input.key, unique=f"{info.workflow_id}/{info.workflow_run_id}"
                ),
                reason=input.reason,
                message=input.message,
                warning=input.warning,
                reporting_instance=self._operator.reporting_instance,
            )

    # --- the Temporal Schedule -------------------------------------------------

    @activity.defn(name="sync_backup_schedule", no_thread_cancel_exception=True)
    async def sync_backup_schedule(self, input: SyncBackupScheduleInput) -> None:
        client = activity.client()
        ref = input.ref
        handle = client.get_schedule_handle(naming.backup_schedule_id(ref.namespace, ref.name))
        if input.backup is None:
            try:
                await handle.delete()
            except RPCError as err:
                if err.status is not RPCStatusCode.NOT_FOUND:
                    raise
            return
        note = ""
        if input.hold is not None:
            note = f"the instance is on hold: {input.hold.reason}"
        elif input.backup.suspend:
            note = "spec.backup.suspend"
        schedule = Schedule(
            action=ScheduleActionStartWorkflow(
                SCHEDULED_BACKUP_WORKFLOW,
                ScheduledBackupInput(namespace=ref.namespace, name=ref.name),
                id=naming.scheduled_backup_workflow_id(ref.namespace, ref.name),
                task_queue=activity.info().task_queue,
                execution_timeout=timedelta(hours=1),
            ),
            spec=ScheduleSpec(cron_expressions=[input.backup.schedule], time_zone_name="UTC"),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            state=ScheduleState(paused=input.backup.suspend or input.hold is not None, note=note),
        )

        def update(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        try:
            try:
                await client.create_schedule(handle.id, schedule)
            except ScheduleAlreadyRunningError:
                await handle.update(update)  # it exists: bring it up to date
        except RPCError as err:
            if err.status is not RPCStatusCode.INVALID_ARGUMENT:
                raise
            # The same input is refused on every retry: a problem for the user
            # (status.message, Error), not a retry for ever.
            raise ApplicationError(
                f"spec.backup.schedule: Temporal refused the backup Schedule "
                f"({input.backup.schedule!r}): {err.message}",
                type=failure_types.CONFIG_INVALID,
                non_retryable=True,
            ) from err


def _dated(item: dict[str, Any]) -> retention.Backup:
    status = item.get("status") or {}
    stamp = status.get("completionTime") or item["metadata"].get("creationTimestamp")
    try:
        taken = datetime.fromisoformat(str(stamp).replace("Z", "+00:00"))
    except ValueError:
        taken = datetime.now(UTC)
    return retention.Backup(item["metadata"]["name"], taken)
