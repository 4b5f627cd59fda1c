"""Phases of an OdooInstance and states of a job resource.

Owns the string values written to `status.phase`, what a batch Job's status
means for its job resource (`batch_job_state`) and how many of a
Deployment's replicas count as ready (`deployment_replicas`), both read by
the snapshot and by the watcher, which pokes when they change; nothing here
decides when a phase changes (that is workflows.machine).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any

__all__ = [
    "FINISHED_JOB_PHASES",
    "NOT_STARTED_PREFIX",
    "JobPhase",
    "JobState",
    "Phase",
    "batch_job_state",
    "deployment_replicas",
]


class Phase(StrEnum):
    """`OdooInstance.status.phase`. Values are the CRD strings."""

    PROVISIONING = "Provisioning"
    UNINITIALIZED = "Uninitialized"
    INITIALIZING = "Initializing"
    INIT_FAILED = "InitFailed"
    STARTING = "Starting"
    RUNNING = "Running"
    DEGRADED = "Degraded"
    STOPPED = "Stopped"
    UPGRADING = "Upgrading"
    RESTORING = "Restoring"
    BACKING_UP = "BackingUp"
    ERROR = "Error"


class JobPhase(StrEnum):
    """`status.phase` of a job resource (OdooInitJob, OdooBackupJob, ...)."""

    PENDING = "Pending"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"

    @property
    def terminal(self) -> bool:
        return self in (JobPhase.COMPLETED, JobPhase.FAILED)


FINISHED_JOB_PHASES = frozenset(phase for phase in JobPhase if phase.terminal)
"""The terminal job-resource phases, to test a raw `status.phase` string against
(a StrEnum member equals its string)."""

NOT_STARTED_PREFIX = "not started: "
"""How status.message of a job resource refused before its Job was created begins
(a missing Secret, the instance in Error...)."""


class JobState(StrEnum):
    """What the snapshot knows about the active job resource of one kind.

    ABSENT: no non-terminal job resource; ACTIVE: one exists and its batch Job
    (if any) is still running; SUCCEEDED / FAILED: its batch Job finished.
    """

    ABSENT = "Absent"
    ACTIVE = "Active"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"

    @property
    def present(self) -> bool:
        return self is not JobState.ABSENT


def deployment_replicas(deployment: Mapping[str, Any]) -> tuple[int, int]:
    """A Deployment's spec.replicas (Kubernetes' default 1) and its ready replicas up
    to that number: a rolling update's surge Pod, or Pods still terminating after a
    scale down, serve nothing the instance asked for."""
    desired = int((deployment.get("spec") or {}).get("replicas", 1))
    ready = int((deployment.get("status") or {}).get("readyReplicas") or 0)
    return desired, min(ready, desired)


def batch_job_state(job: Mapping[str, Any] | None) -> tuple[JobState, str | None]:
    """The state of a job resource whose batch Job is `job` (None: not found), and
    why it failed.

    Reference §2.2, with the retry-budget fix the SPEC asks for: succeeded
    once `status.succeeded` counts a Pod or the Complete condition is True;
    failed on the Failed condition, when the Job is gone or being deleted, or
    when `status.failed` exceeds `spec.backoffLimit` (default 6, as the Job
    controller's); otherwise still running (ACTIVE): a Pod failure within the
    Job's retry budget is not a failure. SuccessCriteriaMet and FailureTarget
    come before the final conditions and are not final here.
    """
    if job is None:
        return JobState.FAILED, "the batch Job disappeared before it finished"
    status = job.get("status") or {}
    conditions = {
        c.get("type"): c for c in status.get("conditions") or [] if c.get("status") == "True"
    }
    if int(status.get("succeeded") or 0) > 0 or "Complete" in conditions:
        return JobState.SUCCEEDED, None
    if "Failed" in conditions:
        failed = conditions["Failed"]
        return JobState.FAILED, failed.get("message") or failed.get("reason") or "the Job failed"
    if (job.get("metadata") or {}).get("deletionTimestamp"):
        return JobState.FAILED, "the batch Job was deleted before it finished"
    backoff_limit = int((job.get("spec") or {}).get("backoffLimit", 6))
    if int(status.get("failed") or 0) > backoff_limit:
        return JobState.FAILED, "the Job's pods failed more often than its backoffLimit allows"
    return JobState.ACTIVE, None
