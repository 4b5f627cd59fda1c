"""What a finished batch Job says about itself, in words for a job resource's status.

Owns the `status.message` of a finished job resource: for a completed one,
what was done (`success_message`); for a failed one, turning its Job and
Pods into which step (container) failed, its exit code, and the last lines
of its log (the termination message the kubelet keeps with
terminationMessagePolicy FallbackToLogsOnError, set by specs.jobs). Pure:
the caller reads the objects.

The step scripts end a failure with `<step>: error: <what to do>`; that line
leads the message, so the first thing a user reads is the cause, then the
log tail for the details. A Pod stopped by its deadline (status.reason
DeadlineExceeded: the kubelet stopped the step that ran) says `deadline of N
s exceeded at step S` first; a Job stopped by its own deadline before its
Pod ran says so too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from model.crds import RestoreSourceType
from model.payloads import JobKind

__all__ = [
    "DEADLINE_EXCEEDED",
    "MESSAGE_LIMIT",
    "backup_destination",
    "failure_message",
    "step_outputs",
    "success_message",
]

MESSAGE_LIMIT = 2000
"""status.message is for people, not for whole logs."""

_TAIL_LINES = 12
_ERROR_LINE = re.compile(r"^[\w.-]+: error: .+$", re.MULTILINE)


def backup_destination(body: dict[str, Any]) -> dict[str, Any]:
    """An OdooBackupJob's destination as written: spec.destination, else the one the
    operator chose from the instance's spec.backup (status.destination); {} before."""
    spec, status = body.get("spec") or {}, body.get("status") or {}
    return dict(spec.get("destination") or status.get("destination") or {})


def success_message(kind: JobKind, body: dict[str, Any]) -> str:
    """What a completed resource's status.message says (it replaces "running as Job ...")."""
    spec = body.get("spec") or {}
    if kind is JobKind.BACKUP:
        dest = backup_destination(body)
        return f"backup uploaded to s3://{dest.get('bucket')}/{dest.get('objectKey')}"
    if kind is JobKind.RESTORE:
        source = spec.get("source") or {}
        if source.get("type") == RestoreSourceType.S3.value:
            s3 = source.get("s3") or {}
            return f"restored from s3://{s3.get('bucket')}/{s3.get('objectKey')}"
        return f"restored from {(source.get('odoo') or {}).get('url')}"
    if kind is JobKind.UPGRADE:
        return "modules updated; web restarted"
    return "database initialized"


DEADLINE_EXCEEDED = "DeadlineExceeded"
"""The reason a kubelet (Pod) and the Job controller (Job condition) give for a deadline."""


def failure_message(job: dict[str, Any] | None, pods: Sequence[dict[str, Any]]) -> str:
    """Why the Job failed: failing step, exit code, cause, log tail (or the Job's reason)."""
    failed = _failed_container(pods)
    condition = _failed_condition(job)
    deadline = _deadline_pod(pods)
    if failed is None:
        seconds = _pod_deadline(job)
        if _failed_reason(job) == DEADLINE_EXCEEDED and deadline is None and seconds:
            return f"deadline of {seconds} s exceeded before the Job's Pod ran"
        return condition or "the Job failed"
    name, code, log = failed
    lines = [line for line in log.splitlines() if line.strip()]
    causes = _ERROR_LINE.findall(log)
    head = f"step {name} failed (exit code {code})"
    if deadline is not None:
        seconds = (deadline.get("spec") or {}).get("activeDeadlineSeconds")
        head = f"deadline of {seconds} s exceeded at step {name}"
    elif causes:
        head += f": {causes[-1]}"
    elif condition and condition != "the Job failed":
        head += f"; {condition}"
    tail = "\n".join(lines[-_TAIL_LINES:])
    message = f"{head}\n--- last lines of its log ---\n{tail}" if tail else head
    return message[-MESSAGE_LIMIT:] if len(message) > MESSAGE_LIMIT else message


def step_outputs(pods: Sequence[dict[str, Any]]) -> tuple[str, ...]:
    """What the steps of a succeeded Job reported: the termination messages of its
    newest Pod's containers, init containers first, in step order."""
    ordered = sorted(
        pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "", reverse=True
    )
    for pod in ordered:
        status = pod.get("status") or {}
        if status.get("phase") != "Succeeded":
            continue
        statuses = [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]
        return tuple(
            str(message)
            for container in statuses
            if (message := ((container.get("state") or {}).get("terminated") or {}).get("message"))
        )
    return ()


def _failed_container(pods: Sequence[dict[str, Any]]) -> tuple[str, int, str] | None:
    """(name, exit code, termination message) of the first failed container, init first.

    The newest Pod wins (a Job with a retry budget leaves one per attempt).
    """
    ordered = sorted(
        pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "", reverse=True
    )
    for pod in ordered:
        status = pod.get("status") or {}
        for statuses in (status.get("initContainerStatuses"), status.get("containerStatuses")):
            for container in statuses or []:
                terminated = (container.get("state") or {}).get("terminated") or {}
                code = int(terminated.get("exitCode") or 0)
                if terminated and code != 0:
                    return container.get("name", "?"), code, str(terminated.get("message") or "")
    return None


def _deadline_pod(pods: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """A Pod the kubelet stopped at its activeDeadlineSeconds, if any."""
    return next(
        (pod for pod in pods if (pod.get("status") or {}).get("reason") == DEADLINE_EXCEEDED),
        None,
    )


def _pod_deadline(job: dict[str, Any] | None) -> object:
    """The Pod deadline a Job was built with (the user's), else the Job's own."""
    spec = (job or {}).get("spec") or {}
    template = (spec.get("template") or {}).get("spec") or {}
    return template.get("activeDeadlineSeconds") or spec.get("activeDeadlineSeconds")


def _failed_reason(job: dict[str, Any] | None) -> str | None:
    for condition in ((job or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            return str(condition.get("reason") or "")
    return None


def _failed_condition(job: dict[str, Any] | None) -> str | None:
    for condition in ((job or {}).get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Failed" and condition.get("status") == "True":
            reason = condition.get("reason") or ""
            text = condition.get("message") or ""
            return f"{reason}: {text}" if reason and text else (text or reason or None)
    return None
