"""Event bodies and their deterministic names (specs.events).

Covers: a name is the instance and its parts, lower case and DNS-subdomain
safe, with a short hash of `unique` when given (the same on every attempt,
different for another unique), at most 253 characters; the body names the
involved object, the operator as source and reporter, one count, and cuts
the message to 1024 characters, on one line.
"""

from __future__ import annotations

from model import naming
from model.payloads import InstanceRef
from specs import events

REF = InstanceRef(namespace="prod", name="shop", uid="uid-1")


def test_name_is_lower_case_dns_safe_and_deterministic_when_built() -> None:
    name = events.event_name(REF, "Running-Upgrading", 7)

    assert name == "shop.running-upgrading.7"
    assert events.event_name(REF, "a b/C") == "shop.a-b-c"
    once = events.event_name(REF, "failed", unique="wf/run/3")
    assert once == events.event_name(REF, "failed", unique="wf/run/3")
    assert once != events.event_name(REF, "failed", unique="wf/run/4")
    assert once.startswith("shop.failed.")
    assert len(once) == len("shop.failed.") + 10


def test_name_fits_253_characters_when_parts_are_long() -> None:
    name = events.event_name(REF, "x" * 300, unique="u")

    assert len(name) <= 253
    assert not name.startswith((".", "-"))


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


def test_a_several_line_message_is_one_line() -> None:
    body = events.event(
        name="shop.failed",
        namespace="prod",
        involved={"kind": "OdooBackupJob", "name": "nightly"},
        reason="JobFailed",
        message="step upload failed (exit code 1):\n  upload: error: 403\n\n  AccessDenied\n",
        type_="Warning",
        timestamp="2026-01-01T00:00:00Z",
        reporting_instance="worker-0",
    )

    assert body["message"] == (
        "step upload failed (exit code 1): | upload: error: 403 | AccessDenied"
    )
