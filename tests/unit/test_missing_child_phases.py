"""The phase machine with a child object missing: never Running, and never stuck.

Covers: Running goes to Degraded while its pods serve (child_missing), to
Starting when none does; Starting and Degraded rest instead of entering
Running; a finished backup leaves BackingUp for Degraded rather than
Running (or no row at all); a child only changed, not missing, changes no
phase; once nothing is missing Degraded goes back to Running.
"""

from __future__ import annotations

import pytest

from model.payloads import ChildDrift, Drift, JobKind, Snapshot
from model.phases import JobState, Phase
from tests.phase_cases import job, make_spec, web
from workflows import machine

GONE = (ChildDrift(kind="ConfigMap", name="erp-odoo-conf", drift=Drift.MISSING),)
EDITED = (ChildDrift(kind="Service", name="erp", drift=Drift.CHANGED),)


@pytest.mark.parametrize(
    ("phase", "snap", "expected"),
    [
        (Phase.RUNNING, Snapshot(web=web(1), drift=GONE), "Running->Degraded:child_missing"),
        (Phase.RUNNING, Snapshot(web=web(0), drift=GONE), "Running->Starting:none_ready"),
        (Phase.STARTING, Snapshot(web=web(1), drift=GONE), None),
        (Phase.DEGRADED, Snapshot(web=web(1), drift=GONE), None),
        (
            Phase.BACKING_UP,
            Snapshot(web=web(1), drift=GONE, backup=job(JobKind.BACKUP, JobState.SUCCEEDED)),
            "BackingUp->Degraded:backup_succeeded_partly_ready",
        ),
        (Phase.RUNNING, Snapshot(web=web(1), drift=EDITED), None),
        (Phase.DEGRADED, Snapshot(web=web(1)), "Degraded->Running:all_ready"),
    ],
    ids=[
        "running-serving",
        "running-none-ready",
        "starting",
        "degraded",
        "backup-finished",
        "only-changed",
        "restored",
    ],
)
def test_a_missing_child_keeps_the_instance_out_of_running(
    phase: Phase, snap: Snapshot, expected: str | None
) -> None:
    row = machine.evaluate(phase, make_spec(), snap)
    assert (row.id if row is not None else None) == expected
