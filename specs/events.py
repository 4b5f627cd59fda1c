"""Kubernetes Events about our objects: their body and their deterministic name.

Owns the core/v1 Event body and `event_name`, the name a caller derives from
facts that do not change between attempts (generation, phases, the activity
id), so that a retried activity finds its Event already posted instead of
posting a second one. Pure: activities.recorder reads the clock and posts.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from model import naming
from model.payloads import InstanceRef

__all__ = ["event", "event_name", "one_line"]

_NOT_NAME = re.compile(r"[^a-z0-9.-]+")


def event_name(ref: InstanceRef, *parts: object, unique: str = "") -> str:
    """`<instance>.<parts>[.<hash of unique>]`, lower case, DNS-subdomain safe."""
    text = ".".join([ref.name, *(str(p) for p in parts)]).lower()
    text = _NOT_NAME.sub("-", text)
    if unique:
        text += "." + hashlib.sha256(unique.encode()).hexdigest()[:10]
    return text[-253:].lstrip(".-")


def one_line(text: str) -> str:
    """`text`'s non-blank lines, stripped, joined with " | "."""
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def event(
    *,
    name: str,
    namespace: str,
    involved: Mapping[str, str],
    reason: str,
    message: str,
    type_: str,
    timestamp: str,
    reporting_instance: str,
    action: str = "Reconcile",
) -> dict[str, Any]:
    """A core/v1 Event with a caller-chosen (deterministic) name.

    `message` on one line (a script's several lines of error output joined with
    " | ": `kubectl get events` and `describe` print one row per Event) and cut
    at 1,024 characters (the API server's limit on an Event's note).
    """
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": dict(involved),
        "reason": reason,
        "message": one_line(message)[:1024],
        "type": type_,
        "action": action,
        "source": {"component": naming.FIELD_MANAGER},
        "reportingComponent": naming.FIELD_MANAGER,
        "reportingInstance": reporting_instance,
        "firstTimestamp": timestamp,
        "lastTimestamp": timestamp,
        "count": 1,
    }
