"""The phase machine, row by row.

Covers: each row of TABLE fires first in its from-phase for its case; every
row has a case; each phase rests (no row fires) in its steady state; every
phase has an ensure(); ensure() follows SPEC.md's scaling table in every phase;
the auto OdooInitJob is wanted only when nothing else set the database up.
The same for DELETION_TABLE: each row fires first in its step for its case,
every row has a case, FinalBackup rests while a backup runs (also the final
one), CleaningUp ends it and every other step has rows; only FinalBackup
shows a phase (BackingUp).
"""

from __future__ import annotations

import pytest

from model.payloads import JobKind, Snapshot
from model.phases import JobState, Phase
from tests.phase_cases import (
    CASES,
    DELETION_CASES,
    DELETION_RESTING,
    FINAL,
    RESTING,
    backup,
    job,
    make_spec,
    web,
)
from workflows import machine
from workflows.ensure import ENSURE, ensure


@pytest.mark.parametrize("row", machine.TABLE, ids=lambda row: row.id)
def test_row_fires_first_when_its_case_holds(row: machine.Transition) -> None:
    case = CASES[row.id]
    chosen = machine.evaluate(row.from_, case.build_spec(), case.snap)
    assert chosen is row, f"expected {row.id}, got {chosen.id if chosen else None}"


def test_every_row_has_a_case() -> None:
    ids = [row.id for row in machine.TABLE]
    assert len(ids) == len(set(ids)), "two rows share from, to and guard"
    assert set(ids) - CASES.keys() == set(), "rows without a case in tests/phase_cases.py"
    assert CASES.keys() - set(ids) == set(), "cases for rows that no longer exist"


@pytest.mark.parametrize("phase", list(RESTING), ids=str)
def test_machine_rests_when_nothing_changed(phase: Phase) -> None:
    case = RESTING[phase]
    assert machine.evaluate(phase, case.build_spec(), case.snap) is None


def test_every_phase_has_an_ensure_and_rows() -> None:
    assert set(ENSURE) == set(Phase)
    assert {row.from_ for row in machine.TABLE} == set(Phase)
    assert {row.to for row in machine.TABLE} | {Phase.PROVISIONING} == set(Phase)


# SPEC.md "Scaling rules by phase": (web, cron); None = unchanged. A restore and
# an upgrade scale step by step themselves (tests/workflows/test_sagas.py).
SCALING = {
    Phase.RESTORING: (None, None),
    Phase.INITIALIZING: (0, 0),
    Phase.INIT_FAILED: (0, 0),
    Phase.STOPPED: (0, 0),
    Phase.UNINITIALIZED: (0, 0),
    Phase.UPGRADING: (None, None),
    Phase.STARTING: (3, 2),
    Phase.RUNNING: (3, 2),
    Phase.BACKING_UP: (None, None),
    Phase.DEGRADED: (3, 2),
    Phase.PROVISIONING: (None, None),
    Phase.ERROR: (None, None),
}


@pytest.mark.parametrize("phase", list(Phase), ids=str)
def test_replicas_follow_the_scaling_table_when_ensured(phase: Phase) -> None:
    spec = make_spec(replicas=3, cron={"replicas": 2})
    desired = ensure(phase, spec, Snapshot(web=web(1, 1)))
    assert (desired.web, desired.cron) == SCALING[phase]


def test_web_and_cron_scale_to_spec_when_degraded_and_replicas_raised() -> None:
    spec = make_spec(replicas=4, cron={"replicas": 1})
    desired = ensure(Phase.DEGRADED, spec, Snapshot(web=web(1, 2)))
    assert (desired.web, desired.cron) == (4, 1)


def test_both_deployments_scaled_to_zero_when_stopped_in_error() -> None:
    desired = ensure(Phase.ERROR, make_spec(replicas=0), Snapshot(problems=("x",)))
    assert (desired.web, desired.cron) == (0, 0)


def test_auto_init_wanted_when_database_never_set_up() -> None:
    desired = ensure(Phase.UNINITIALIZED, make_spec(), Snapshot())
    assert desired.create_auto_init


@pytest.mark.parametrize(
    "snap",
    [
        Snapshot(db_initialized=True),
        Snapshot(init=job(JobKind.INIT, JobState.FAILED)),
        Snapshot(restore=job(JobKind.RESTORE)),
    ],
    ids=["db-initialized", "init-exists", "restore-queued"],
)
def test_auto_init_not_wanted_when_something_else_set_up_the_database(snap: Snapshot) -> None:
    assert not ensure(Phase.UNINITIALIZED, make_spec(), snap).create_auto_init


def test_auto_init_not_wanted_when_disabled() -> None:
    spec = make_spec(init={"enabled": False})
    assert not ensure(Phase.UNINITIALIZED, spec, Snapshot()).create_auto_init


@pytest.mark.parametrize(
    ("phase", "kind"),
    [(Phase.INITIALIZING, JobKind.INIT), (Phase.BACKING_UP, JobKind.BACKUP)],
)
def test_batch_job_started_once_when_resource_has_no_job(phase: Phase, kind: JobKind) -> None:
    # A restore's and an upgrade's Jobs are their sagas' (tests/workflows/test_sagas.py).
    waiting = Snapshot.model_validate({kind.value: job(kind), "web": web(1)})
    started = Snapshot.model_validate({kind.value: job(kind, JobState.SUCCEEDED), "web": web(1)})
    assert ensure(phase, make_spec(), waiting).start_job is kind
    assert ensure(phase, make_spec(), started).start_job is None


# --- the deletion ---------------------------------------------------------------


@pytest.mark.parametrize("row", machine.DELETION_TABLE, ids=lambda row: row.id)
def test_deletion_row_fires_first_when_its_case_holds(
    row: machine.Transition[machine.DeletionStep],
) -> None:
    case = DELETION_CASES[row.id]
    chosen = machine.evaluate_deletion(row.from_, case.build_spec(), case.snap)
    assert chosen is row, f"expected {row.id}, got {chosen.id if chosen else None}"


def test_every_deletion_row_has_a_case() -> None:
    ids = [row.id for row in machine.DELETION_TABLE]
    assert len(ids) == len(set(ids)), "two rows share from, to and guard"
    assert set(ids) - DELETION_CASES.keys() == set(), "rows without a case"
    assert DELETION_CASES.keys() - set(ids) == set(), "cases for rows that no longer exist"


@pytest.mark.parametrize("step", list(DELETION_RESTING), ids=str)
def test_deletion_rests_while_a_backup_runs(step: machine.DeletionStep) -> None:
    case = DELETION_RESTING[step]
    assert machine.evaluate_deletion(step, case.build_spec(), case.snap) is None


def test_deletion_rests_while_the_final_backup_runs() -> None:
    running = Snapshot(db_initialized=True, backup=backup(JobState.ACTIVE, final=True))
    step = machine.DeletionStep.FINAL_BACKUP
    assert machine.evaluate_deletion(step, make_spec(**FINAL), running) is None


def test_every_deletion_step_but_the_last_has_rows_and_only_final_backup_shows_a_phase() -> None:
    steps = set(machine.DeletionStep)
    last = machine.DeletionStep.CLEANING_UP
    assert {row.from_ for row in machine.DELETION_TABLE} == steps - {last}
    assert {row.to for row in machine.DELETION_TABLE} | {machine.DeletionStep.DELETING} == steps
    assert {step: step.phase for step in steps if step.phase is not None} == {
        machine.DeletionStep.FINAL_BACKUP: Phase.BACKING_UP
    }
