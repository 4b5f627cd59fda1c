"""The `record_status` activity: the instance status and the Events about it.

Owns the merge patch of the instance's `/status` (phase, ready,
readyReplicas, url, targetReplicas, selector, observedGeneration, message,
conditions Ready and Progressing, and Held with the message's first words
while the instance is on hold), and on a phase change a `PhaseChanged`
Event (plus a Warning `ConfigError` Event when entering Error, a Warning
`JobFailed` Event for each job resource the transition marked failed, and a
Warning `DatabaseMissing` Event when the database vanished under
missingPolicy Recreate). It also reports what the snapshot found but left
alone: a database gone under missingPolicy Ignore gets a Warning
`DatabaseMissing` Event once per generation (whether or not the phase
changes; gather_snapshot only reads). It runs no edge action: run_edge_actions
(activities.edge_actions) did them before, and writes status.dbInitialized.
Replacing the finished auto-init of an instance whose database vanished is
converge_phase's job (job_lifecycle).

Retries are harmless: a condition's lastTransitionTime moves only when its
status changes (the current conditions are read first), and Events have
deterministic names (a 409 means an earlier attempt posted it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from temporalio import activity

from activities import api, clusters, failures, lookup, recorder
from model import naming
from model.crds import MissingPolicy
from model.payloads import RecordStatusInput
from model.phases import Phase
from model.settings import OperatorSettings
from specs import conditions, config, events

__all__ = ["StatusActivities", "missing_message", "now"]


def now() -> str:
    """The current time as Kubernetes writes it (conditions, Events)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class StatusActivities:
    def __init__(self, kube: api.KubeApi, operator: OperatorSettings) -> None:
        self._kube = kube
        self._operator = operator

    @activity.defn(name="record_status", no_thread_cancel_exception=True)
    def record_status(self, input: RecordStatusInput) -> None:
        with failures.boundary():
            self._record(input)

    def _record(self, input: RecordStatusInput) -> None:
        kube, ref = self._kube, input.ref
        live = lookup.read_instance(kube, ref)
        message = input.message
        if input.hold is not None:
            held = conditions.hold_message(input.hold, ref.name)
            message = f"{held}; {message}" if message else held
        status: dict[str, Any] = {
            "phase": input.phase.value,
            "ready": input.phase is Phase.RUNNING,
            "readyReplicas": input.ready_replicas,
            "url": config.public_url(input.spec),
            "targetReplicas": input.spec.replicas,
            "selector": f"app={naming.web_deployment_name(ref.name)}",
            "observedGeneration": input.generation,
            "message": message,  # None clears an old message
            "conditions": [
                *conditions.for_phase(
                    input.phase,
                    input.message,
                    input.generation,
                    list((live.get("status") or {}).get("conditions") or []),
                    now(),
                ),
                *conditions.held(input.hold, ref.name, input.generation),
            ],
        }
        kube.merge_patch(api.INSTANCE, ref.namespace, ref.name, {"status": status}, sub="status")
        if input.previous_phase is not None and input.previous_phase is not input.phase:
            self._phase_events(input)
        if input.database_missing_ignored:
            # Named by generation only: once per generation, whichever write posts it.
            missing = self._missing_message(input)
            self._post(input, "databasemissing", "DatabaseMissing", missing)

    def _phase_events(self, input: RecordStatusInput) -> None:
        before = input.previous_phase
        info = activity.info()
        # Unique per activity execution, identical across its attempts.
        unique = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
        self._post(
            input,
            f"{before}-{input.phase}",
            "PhaseChanged",
            f"Phase changed from {before} to {input.phase}",
            warning=False,
            unique=unique,
        )
        for action in input.failed_jobs:
            message = f"{action.kind.resource_kind} {action.name} failed"
            if action.message:
                message += f": {action.message}"
            self._post(input, f"failed-{action.name}", "JobFailed", message, unique=unique)
        if input.database_lost:
            missing = self._missing_message(input)
            self._post(input, "databasemissing", "DatabaseMissing", missing, unique=unique)
        if input.phase is Phase.ERROR:
            problem = input.message or "configuration error"
            self._post(input, "configerror", "ConfigError", problem, unique=unique)

    def _post(
        self,
        input: RecordStatusInput,
        key: str,
        reason: str,
        message: str,
        *,
        warning: bool = True,
        unique: str = "",
    ) -> None:
        """An Event about the instance, named from `key`, the generation and `unique`
        (the same name on a retry: posted once)."""
        recorder.post(
            self._kube,
            input.ref,
            name=events.event_name(input.ref, key, input.generation, unique=unique),
            reason=reason,
            message=message,
            warning=warning,
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
