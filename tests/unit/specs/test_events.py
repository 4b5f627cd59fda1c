"""Event bodies (specs.events).

Covers: the body names the involved object, the operator as source and
reporter, one count, and cuts the message to 1024 characters.
"""

from __future__ import annotations

from model import naming
from specs import events


def test_body_names_the_object_and_the_operator_when_built() -> None:
    involved = {"apiVersion": naming.GROUP_VERSION, "kind": "OdooInstance", "name": "shop"}
    body = events.event(
        name="shop.x",
        namespace="prod",
        involved=involved,
        reason="PhaseChanged",
        message="m" * 2000,
        type_="Normal",
        timestamp="2026-01-01T00:00:00Z",
        reporting_instance="worker-0",
    )

    assert body["metadata"] == {"name": "shop.x", "namespace": "prod"}
    assert body["involvedObject"] == involved
    assert len(body["message"]) == 1024
    assert (body["reason"], body["type"], body["action"], body["count"]) == (
        "PhaseChanged",
        "Normal",
        "Reconcile",
        1,
    )
    assert body["source"] == {"component": naming.FIELD_MANAGER}
    assert (body["reportingComponent"], body["reportingInstance"]) == (
        naming.FIELD_MANAGER,
        "worker-0",
    )
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2026-01-01T00:00:00Z"
