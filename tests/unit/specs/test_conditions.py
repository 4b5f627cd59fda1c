"""The instance status conditions (specs.conditions).

Covers: Ready is True in Running only; Progressing is True while the phase
is on its way somewhere (Provisioning, Initializing, Starting, Upgrading,
Restoring, BackingUp); the message is the status message, else the phase's
own; lastTransitionTime moves only when a condition's status changes.
"""

from __future__ import annotations

from typing import Any

import pytest

from model.phases import Phase
from specs import conditions

EARLIER, NOW = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


def _by_type(
    phase: Phase, current: list[dict[str, Any]] | None = None
) -> dict[str, dict[str, Any]]:
    built = conditions.for_phase(phase, None, 3, list(current or []), NOW)
    return {c["type"]: c for c in built}


@pytest.mark.parametrize("phase", list(Phase))
def test_ready_only_when_running_and_progressing_only_on_the_way_for_every_phase(
    phase: Phase,
) -> None:
    built = _by_type(phase)

    assert built["Ready"]["status"] == ("True" if phase is Phase.RUNNING else "False")
    on_the_way = {"Provisioning", "Initializing", "Starting", "Upgrading", "Restoring", "BackingUp"}
    assert built["Progressing"]["status"] == ("True" if phase.value in on_the_way else "False")
    for condition in built.values():
        assert condition["reason"] == phase.value
        assert condition["observedGeneration"] == 3
        assert condition["message"]  # every phase says something


def test_message_is_the_status_message_when_there_is_one() -> None:
    built = conditions.for_phase(Phase.ERROR, "spec.image: not found", 1, [], NOW)

    assert {c["message"] for c in built} == {"spec.image: not found"}
    assert _by_type(Phase.ERROR)["Ready"]["message"] == "Configuration error"


def test_last_transition_time_moves_only_when_the_status_changes() -> None:
    running = [{**c, "lastTransitionTime": EARLIER} for c in _by_type(Phase.RUNNING).values()]

    same = _by_type(Phase.RUNNING, running)
    assert same["Ready"]["lastTransitionTime"] == EARLIER
    assert same["Progressing"]["lastTransitionTime"] == EARLIER
    upgrading = _by_type(Phase.UPGRADING, running)
    assert upgrading["Ready"]["lastTransitionTime"] == NOW
    assert upgrading["Progressing"]["lastTransitionTime"] == NOW
    degraded = _by_type(Phase.DEGRADED, running)
    assert degraded["Ready"]["lastTransitionTime"] == NOW
    assert degraded["Progressing"]["lastTransitionTime"] == EARLIER  # False before and after
