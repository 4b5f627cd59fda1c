"""Kubernetes Events about our objects: their body.

Owns the core/v1 Event body, named by the caller (activities.recorder
chooses deterministic names). Pure: activities.recorder reads the clock and
posts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from model import naming

__all__ = ["event"]


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
    """A core/v1 Event with a caller-chosen (deterministic) name."""
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": namespace},
        "involvedObject": dict(involved),
        "reason": reason,
        "message": message[:1024],
        "type": type_,
        "action": action,
        "source": {"component": naming.FIELD_MANAGER},
        "reportingComponent": naming.FIELD_MANAGER,
        "reportingInstance": reporting_instance,
        "firstTimestamp": timestamp,
        "lastTimestamp": timestamp,
        "count": 1,
    }
