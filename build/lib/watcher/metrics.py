"""Prometheus metrics the watcher derives from what it sees.

Owns `odoo_operator_instances{phase}` (watched OdooInstances by status.phase)
and `odoo_operator_phase_transitions_total{from,to}` (phase changes observed
on watch events). Observation only: it never writes to an object or signals
a workflow.
"""

from __future__ import annotations

from typing import Any

import kopf
import prometheus_client

from watcher.handlers import INSTANCES

__all__ = ["PhaseMetrics"]

_UNSET = "(none)"


class PhaseMetrics:
    """Counts phases of the OdooInstances in one `CollectorRegistry`."""

    def __init__(self, registry: prometheus_client.CollectorRegistry) -> None:
        self._phases: dict[tuple[str, str], str] = {}
        self.instances = prometheus_client.Gauge(
            "odoo_operator_instances",
            "Watched OdooInstances by status.phase.",
            ["phase"],
            registry=registry,
        )
        self.transitions = prometheus_client.Counter(
            "odoo_operator_phase_transitions",
            "status.phase changes observed by the watcher.",
            ["from", "to"],
            registry=registry,
        )

    def observe(self, event: kopf.RawEvent, **_: Any) -> None:
        obj = event["object"]
        meta = obj.get("metadata") or {}
        key = (str(meta.get("namespace")), str(meta.get("name")))
        before = self._phases.get(key)
        if event["type"] == "DELETED":
            self._phases.pop(key, None)
        else:
            phase = str((obj.get("status") or {}).get("phase") or _UNSET)
            self._phases[key] = phase
            if before is not None and before != phase:
                self.transitions.labels(before, phase).inc()
        self._refresh()

    def _refresh(self) -> None:
        counts: dict[str, int] = {}
        for phase in self._phases.values():
            counts[phase] = counts.get(phase, 0) + 1
        for labels in list(self.instances._metrics):  # drop phases nobody is in any more
            if labels[0] not in counts:
                self.instances.remove(*labels)
        for phase, count in counts.items():
            self.instances.labels(phase).set(count)

    def register(self, registry: kopf.OperatorRegistry) -> None:
        kopf.on.event(*INSTANCES, id="observe-phase", registry=registry)(self.observe)
