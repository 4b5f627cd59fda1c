"""The `run_edge_actions` activity: the one-shot effects of a transition.

Owns running, in the order given, the typed edge actions of one transition
(model.payloads.EdgeAction; workflows.machine.Action names them in the
tables): finishing a job resource (job_lifecycle.finish: webhook, terminal
phase, the batch Job's TTL, a JobFailed Warning on a failed one; for a failed
backup also aborting the unfinished multipart uploads of its object, which an
upload step killed before it could abort them leaves) and then
keeping the newest `history_limit` (JobSettings) finished ones of its kind, writing
status.dbInitialized (and, when it becomes true, Odoo's report.url and
web.base.url: activities.odoo_settings), the rollout restart of the web Deployment, pruning
the completed scheduled backups by spec.backup.retention, and for a
deletion making its final OdooBackupJob and posting the FinalBackupFailed
Warning (the last three through backup_resources). It decides nothing: the
workflow chose the actions from its tables. It writes no other status field
and posts no other Event about the instance (record_status does, after it).

The workflow runs it as a regular activity, never a local one: its
completion must be in the history, or a worker crash after it would leave a
workflow that no longer knows it finished a job (workflows.calls).

Retries are harmless: a finished resource is not written again, the restart
annotation's value is the activity's scheduled time (the same on every
attempt), dbInitialized is a plain value. A prune that keeps failing (S3
down) is given up after PRUNE_ATTEMPTS attempts of the activity, with a
warning in the log: the next scheduled backup prunes again, and the
transition must not wait for S3.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import (
    api,
    backup_resources,
    databases,
    failures,
    heartbeats,
    job_lifecycle,
    lookup,
    odoo_settings,
    ownership,
)
from model import naming
from model.payloads import (
    CreateBackup,
    CreateBackupJobInput,
    EdgeAction,
    InstanceRef,
    JobAction,
    JobKind,
    MarkDatabase,
    PostEventInput,
    PostWarning,
    PruneBackupsInput,
    PruneScheduledBackups,
    RestartWeb,
    RunEdgeActionsInput,
)
from model.settings import JobSettings, OperatorSettings
from specs import workloads

__all__ = ["ABORT_ATTEMPTS", "PRUNE_ATTEMPTS", "EdgeActivities"]

PRUNE_ATTEMPTS = 8
"""Attempts of the activity after which a failing prune is left to the next backup."""
ABORT_ATTEMPTS = 3
"""Attempts of the activity after which the unfinished uploads of a failed backup are
left in S3 (unreachable), with a warning in the log."""

_log = logging.getLogger(__name__)


class EdgeActivities:
    def __init__(
        self,
        kube: api.KubeApi,
        operator: OperatorSettings,
        job_settings: JobSettings,
        backups: backup_resources.BackupActivities,
        postgres: databases.Databases,
    ) -> None:
        self._kube = kube
        self._operator = operator
        self._job_settings = job_settings
        self._backups = backups
        self._postgres = postgres

    @activity.defn(name="run_edge_actions", no_thread_cancel_exception=True)
    def run_edge_actions(self, input: RunEdgeActionsInput) -> None:
        with heartbeats.heartbeating(), failures.boundary():
            for action in input.actions:
                self._run(input, action)
            finished = {action.kind for action in input.actions if isinstance(action, JobAction)}
            for kind in sorted(finished):
                job_lifecycle.prune_history(
                    self._kube, input.ref, kind, self._job_settings.history_limit
                )

    def _run(self, input: RunEdgeActionsInput, action: EdgeAction) -> None:
        ref = input.ref
        match action:
            case JobAction():
                job_lifecycle.finish(
                    self._kube,
                    ref.namespace,
                    action,
                    instance=ref,
                    reporting_instance=self._operator.reporting_instance,
                )
                if action.kind is JobKind.BACKUP and not action.succeeded:
                    self._abort_uploads(ref, action.name)
            case MarkDatabase(initialized=initialized):
                lookup.read_instance(self._kube, ref)  # gone or re-created: InstanceGone
                patch = {"status": {"dbInitialized": initialized}}
                self._kube.merge_patch(api.INSTANCE, ref.namespace, ref.name, patch, sub="status")
                if initialized:  # by an init or a restore: its URLs, now (never fatal)
                    odoo_settings.keep_live(
                        self._kube, self._operator, self._postgres, ref, input.spec
                    )
            case RestartWeb():
                self._restart_web(ref)
            case PruneScheduledBackups():
                self._prune(ref, action)
            case CreateBackup(queued=queued):
                # A fixed name: a retry finds the one an earlier attempt made.
                self._backups.create_backup_job(
                    CreateBackupJobInput(ref=ref, spec=input.spec, queued=queued)
                )
            case PostWarning(key=key, reason=reason, message=message):
                self._backups.post_event(
                    PostEventInput(ref=ref, key=key, reason=reason, message=message, warning=True)
                )

    def _restart_web(self, ref: InstanceRef) -> None:
        # The same value on every attempt, so a retry does not restart twice.
        at = activity.info().scheduled_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {
            "spec": {
                "template": {"metadata": {"annotations": {workloads.RESTARTED_AT_ANNOTATION: at}}}
            }
        }
        name = naming.web_deployment_name(ref.name)
        live = self._kube.find(api.DEPLOYMENT, ref.namespace, name)
        try:
            ownership.ensure_owned(live, ref, untouched="not restarted")
        except ownership.NotOwned as err:
            # Someone else's Deployment of that name: never restarted. A report,
            # not a failure: the transition's other actions stand.
            reporting = self._operator.reporting_instance
            ownership.report(self._kube, ref, err, reporting_instance=reporting)
            return
        if live is not None:  # absent: nothing to restart
            with contextlib.suppress(failures.NotFound):  # deleted since the read
                self._kube.merge_patch(api.DEPLOYMENT, ref.namespace, name, patch)

    def _abort_uploads(self, ref: InstanceRef, name: str) -> None:
        try:
            self._backups.abort_uploads(ref.namespace, name)
        except ApplicationError as err:
            # Retried with the activity a few times (S3 unreachable), then left with
            # a warning: the failure's transition must not wait for S3.
            if not err.non_retryable and activity.info().attempt < ABORT_ATTEMPTS:
                raise
            _log.warning(
                "aborting the unfinished uploads of %s/%s failed, left in S3: %s",
                ref.namespace, name, err.message,
            )  # fmt: skip

    def _prune(self, ref: InstanceRef, action: PruneScheduledBackups) -> None:
        try:
            self._backups.prune_backups(PruneBackupsInput(ref=ref, retention=action.retention))
        except ApplicationError as err:
            # Retried with the activity (what ran before is idempotent) for a
            # while; then the next scheduled backup's prune catches up.
            if not err.non_retryable and activity.info().attempt < PRUNE_ATTEMPTS:
                raise
            _log.warning(
                "pruning the scheduled backups of %s/%s failed, left to the next backup: %s",
                ref.namespace, ref.name, err.message,
            )  # fmt: skip
