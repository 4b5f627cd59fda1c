"""Phases of an OdooInstance and states of a job resource.

Owns the string values written to `status.phase`; nothing here decides when a
phase changes (that is workflows.machine).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["JobPhase", "JobState", "Phase"]


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
