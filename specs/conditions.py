"""The instance status conditions: Ready and Progressing for a phase, Held for a hold.

Owns which phases count as progressing, the message each phase shows when
there is no other to say, the two phase conditions, whose lastTransitionTime
moves only when their status changes, and the Held condition of an instance
on hold (present only while it is; its time is when the hold began), with
the words status.message gives a hold (`hold_message`). Pure: the caller
passes the current conditions and the time (activities.status reads both).
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from model.payloads import Hold
from model.phases import Phase

__all__ = ["HELD", "PROGRESSING_PHASES", "for_phase", "held", "hold_message"]

HELD = "Held"
"""The condition type of an instance on hold (the `hold` Update)."""

PROGRESSING_PHASES = frozenset(
    {
        Phase.PROVISIONING,
        Phase.INITIALIZING,
        Phase.STARTING,
        Phase.UPGRADING,
        Phase.RESTORING,
        Phase.BACKING_UP,
    }
)

_MESSAGES = {
    Phase.PROVISIONING: "Creating the instance's resources",
    Phase.UNINITIALIZED: "Waiting for database initialization",
    Phase.INITIALIZING: "Database initialization in progress",
    Phase.INIT_FAILED: "Database initialization failed",
    Phase.STARTING: "Waiting for web pods to become ready",
    Phase.RUNNING: "Instance is running",
    Phase.DEGRADED: "Ready replicas below desired count",
    Phase.STOPPED: "Instance is stopped (replicas=0)",
    Phase.UPGRADING: "Module upgrade in progress",
    Phase.RESTORING: "Database restore in progress",
    Phase.BACKING_UP: "Backup in progress",
    Phase.ERROR: "Configuration error",
}
"""The conditions' message when the status carries none."""


def for_phase(
    phase: Phase,
    message: str | None,
    generation: int,
    current: list[dict[str, Any]],
    now: str,
) -> list[dict[str, Any]]:
    """Ready and Progressing for `phase`; lastTransitionTime kept unless status changes."""
    previous = {c.get("type"): c for c in current}
    text = message or _MESSAGES[phase]
    wanted = {
        "Ready": phase is Phase.RUNNING,
        "Progressing": phase in PROGRESSING_PHASES,
    }
    out: list[dict[str, Any]] = []
    for type_, true in wanted.items():
        status = "True" if true else "False"
        before = previous.get(type_)
        changed = before is None or before.get("status") != status
        out.append(
            {
                "type": type_,
                "status": status,
                "observedGeneration": generation,
                "lastTransitionTime": now if changed else before["lastTransitionTime"],  # type: ignore[index]
                "reason": phase.value,
                "message": text,
            }
        )
    return out


def hold_message(hold: Hold, name: str) -> str:
    """What status.message (and the Held condition) say of a hold."""
    since = hold.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f"On hold since {since}: {hold.reason}. The operator applies, scales and starts "
        f"nothing but a stop or the deletion until `kubectl odoo resume {name}`"
    )


def held(hold: Hold | None, name: str, generation: int) -> list[dict[str, Any]]:
    """The Held condition while `hold` lasts, else none."""
    if hold is None:
        return []
    return [
        {
            "type": HELD,
            "status": "True",
            "observedGeneration": generation,
            "lastTransitionTime": hold.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "reason": "OnHold",
            "message": hold_message(hold, name),
        }
    ]
