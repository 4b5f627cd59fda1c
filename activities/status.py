"""The `record_status` activity: edge actions, the instance status, Events.

Owns, in this order: finishing job resources (JobActions), the rollout
restart of the web Deployment after an upgrade, the merge patch of the
instance's `/status` (phase, ready, readyReplicas, url, targetReplicas,
selector, dbInitialized, observedGeneration, message, conditions Ready and
Progressing), and on a phase change a `PhaseChanged` Event (plus a Warning
`ConfigError` Event when entering Error, a Warning `JobFailed` Event for
each job resource finished as failed, and a Warning `DatabaseMissing` Event
when the database vanished under missingPolicy Recreate). Replacing the
finished auto-init of such an instance is converge_phase's job (jobs.py).

Retries are harmless: a condition's lastTransitionTime moves only when its
status changes (the current conditions are read first), the restart
annotation value is the activity's first scheduled time, and Events have
deterministic names (a 409 means an earlier attempt posted it).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from activities import api, clusters, failures, job_lifecycle, lookup, recorder
from model import naming
from model.crds import MissingPolicy
from model.payloads import RecordStatusInput
from model.phases import Phase
from model.settings import JobSettings, OperatorSettings
from specs import conditions, events, workloads

__all__ = ["StatusActivities", "missing_message", "now"]


def now() -> str:
    """The current time as Kubernetes writes it (conditions, Events)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusActivities:
    def __init__(
        self, kube: api.KubeApi, operator: OperatorSettings, job_settings: JobSettings
    ) -> None:
        self._kube = kube
        self._operator = operator
        self._job_settings = job_settings

    @activity.defn(name="record_status", no_thread_cancel_exception=True)
    def record_status(self, input: RecordStatusInput) -> None:
        with failures.boundary():
            self._record(input)

    def _record(self, input: RecordStatusInput) -> None:
        kube, ref = self._kube, input.ref
        for action in input.finish_jobs:
            job_lifecycle.finish(
                kube, ref.namespace, action, reporting_instance=self._operator.reporting_instance
            )
        for kind in sorted({action.kind for action in input.finish_jobs}):
            job_lifecycle.prune_history(kube, ref, kind, self._job_settings.history_limit)
        if input.restart_web:
            self._restart_web(input)
        live = lookup.read_instance(kube, ref)
        status: dict[str, Any] = {
            "phase": input.phase.value,
            "ready": input.phase is Phase.RUNNING,
            "readyReplicas": input.ready_replicas,
            "url": f"https://{input.spec.ingress.hosts[0]}",
            "targetReplicas": input.spec.replicas,
            "selector": f"app={naming.web_deployment_name(ref.name)}",
            "observedGeneration": input.generation,
            "message": input.message,  # None clears an old message
            "conditions": conditions.for_phase(
                input.phase,
                input.message,
                input.generation,
                list((live.get("status") or {}).get("conditions") or []),
                now(),
            ),
        }
        if input.db_initialized is not None:
            status["dbInitialized"] = input.db_initialized
        kube.merge_patch(api.INSTANCE, ref.namespace, ref.name, {"status": status}, sub="status")
        if input.previous_phase is not None and input.previous_phase is not input.phase:
            self._phase_events(input)

    def _restart_web(self, input: RecordStatusInput) -> None:
        # The same value on every attempt, so a retry does not restart twice.
        at = activity.info().scheduled_time.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {
            "spec": {
                "template": {"metadata": {"annotations": {workloads.RESTARTED_AT_ANNOTATION: at}}}
            }
        }
        with_ns = input.ref.namespace
        name = naming.web_deployment_name(input.ref.name)
        with contextlib.suppress(failures.NotFound):  # nothing to restart
            self._kube.merge_patch(api.DEPLOYMENT, with_ns, name, patch)

    def _phase_events(self, input: RecordStatusInput) -> None:
        ref, before = input.ref, input.previous_phase
        info = activity.info()
        # Unique per activity execution, identical across its attempts.
        unique = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
        recorder.post(
            self._kube,
            ref,
            name=events.event_name(ref, f"{before}-{input.phase}", input.generation, unique=unique),
            reason="PhaseChanged",
            message=f"Phase changed from {before} to {input.phase}",
            reporting_instance=self._operator.reporting_instance,
        )
        for action in input.finish_jobs:
            if not action.succeeded:
                recorder.post(
                    self._kube,
                    ref,
                    name=events.event_name(
                        ref, f"failed-{action.name}", input.generation, unique=unique
                    ),
                    reason="JobFailed",
                    message=f"{action.kind.resource_kind} {action.name} failed"
                    + (f": {action.message}" if action.message else ""),
                    warning=True,
                    reporting_instance=self._operator.reporting_instance,
                )
        if input.database_lost:
            recorder.post(
                self._kube,
                ref,
                name=events.event_name(ref, "databasemissing", input.generation, unique=unique),
                reason="DatabaseMissing",
                message=self._missing_message(input),
                warning=True,
                reporting_instance=self._operator.reporting_instance,
            )
        if input.phase is Phase.ERROR:
            recorder.post(
                self._kube,
                ref,
                name=events.event_name(ref, "configerror", input.generation, unique=unique),
                reason="ConfigError",
                message=input.message or "configuration error",
                warning=True,
                reporting_instance=self._operator.reporting_instance,
            )

    def _missing_message(self, input: RecordStatusInput) -> str:
        ref, spec = input.ref, input.spec
        database = naming.database_name(ref.uid, spec.database.name)
        try:
            cluster = lookup.load_cluster(self._kube, self._operator, spec).name
        except clusters.ClusterConfigError:
            cluster = spec.database.cluster or "(default)"
        return missing_message(database, cluster, spec.database.missing_policy)


def missing_message(database: str, cluster: str, policy: MissingPolicy) -> str:
    """The DatabaseMissing Event's text (reference wording, plus what happens next)."""
    text = f"Database {database} not found on cluster {cluster} (policy: {policy})"
    if policy is MissingPolicy.RECREATE:
        text += "; initializing it again"
    return text
