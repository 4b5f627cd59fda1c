"""What a waiting job resource shows, phase by phase (workflows.ensure.waiting, pure).

Covers: behind the phase's running job ("queued behind <Kind> <name>"),
behind an older one of its kind, an upgrade scheduled ahead ("scheduled
for <time>"), nothing the phase takes ("waiting for the instance (phase
<P>)"), no note for the one the phase is starting, none for one already
saying it; in Error every waiting one is refused with the problems, and none
when the instance leaves Error on this snapshot (no problem left).
"""

from __future__ import annotations

from datetime import UTC, datetime

from model.payloads import ActiveJob, JobKind, JobRef, Snapshot
from model.phases import JobPhase, JobState, Phase
from tests.phase_cases import make_spec
from workflows.ensure import ensure, waiting


def _active(kind: JobKind, name: str, **fields: object) -> ActiveJob:
    return ActiveJob.model_validate(
        {"kind": kind, "name": name, "state": JobState.ACTIVE, **fields}
    )


def _notes(phase: Phase, snap: Snapshot) -> dict[str, str | None]:
    notes, refused = waiting(phase, snap)
    assert refused == ()
    assert {n.phase for n in notes} <= {JobPhase.PENDING}
    return {n.name: n.message for n in notes}


def test_waiting_jobs_are_queued_behind_the_job_the_phase_runs() -> None:
    snap = Snapshot(
        backup=_active(JobKind.BACKUP, "nightly", job_name="nightly-backup"),
        restore=_active(JobKind.RESTORE, "copy"),
        waiting_jobs=(JobRef(kind=JobKind.RESTORE, name="copy"),),
    )
    assert _notes(Phase.BACKING_UP, snap) == {"copy": "queued behind OdooBackupJob nightly"}


def test_a_waiting_job_is_queued_behind_an_older_one_of_its_kind() -> None:
    snap = Snapshot(
        backup=_active(JobKind.BACKUP, "first"),
        waiting_jobs=(
            JobRef(kind=JobKind.BACKUP, name="first"),
            JobRef(kind=JobKind.BACKUP, name="second"),
        ),
    )
    assert _notes(Phase.RUNNING, snap) == {
        "first": "waiting for the instance (phase Running)",
        "second": "queued behind OdooBackupJob first",
    }
    # BackingUp starts `first`: it gets no note (starting it writes Running).
    assert _notes(Phase.BACKING_UP, snap) == {"second": "queued behind OdooBackupJob first"}


def test_an_upgrade_scheduled_ahead_says_when() -> None:
    at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    snap = Snapshot(
        upgrade=_active(JobKind.UPGRADE, "later", due=False, scheduled_time=at),
        waiting_jobs=(JobRef(kind=JobKind.UPGRADE, name="later"),),
    )
    assert _notes(Phase.RUNNING, snap) == {"later": "scheduled for 2030-01-02T03:04:05Z"}


def test_a_job_the_phase_does_not_take_waits_for_the_instance() -> None:
    snap = Snapshot(
        backup=_active(JobKind.BACKUP, "early"),
        waiting_jobs=(JobRef(kind=JobKind.BACKUP, name="early"),),
    )
    assert _notes(Phase.UNINITIALIZED, snap) == {
        "early": "waiting for the instance (phase Uninitialized)"
    }


def test_no_note_is_written_twice() -> None:
    said = "waiting for the instance (phase Stopped)"
    snap = Snapshot(
        upgrade=_active(JobKind.UPGRADE, "up", due=False),
        waiting_jobs=(
            JobRef(kind=JobKind.UPGRADE, name="up", phase=JobPhase.PENDING, message=said),
        ),
    )
    assert _notes(Phase.STOPPED, snap) == {}


def test_every_waiting_job_is_refused_with_the_problem_in_error() -> None:
    snap = Snapshot(
        problems=("spec.imagePullSecret: Secret pull not found", "cluster 'x' unknown"),
        backup=_active(JobKind.BACKUP, "b"),
        upgrade=_active(JobKind.UPGRADE, "u"),
        waiting_jobs=(
            JobRef(kind=JobKind.BACKUP, name="b", phase=JobPhase.PENDING, message="queued"),
            JobRef(kind=JobKind.UPGRADE, name="u"),
        ),
    )
    desired = ensure(Phase.ERROR, make_spec(), snap)
    assert desired.notes == ()
    message = (
        "not started: the instance is in Error: spec.imagePullSecret: Secret pull not found; "
        "cluster 'x' unknown"
    )
    assert [(a.kind, a.name, a.succeeded, a.message) for a in desired.refuse] == [
        (JobKind.BACKUP, "b", False, message),
        (JobKind.UPGRADE, "u", False, message),
    ]


def test_nothing_is_refused_when_the_instance_leaves_error_on_this_snapshot() -> None:
    snap = Snapshot(
        backup=_active(JobKind.BACKUP, "b"),
        waiting_jobs=(JobRef(kind=JobKind.BACKUP, name="b"),),
    )
    notes, refused = waiting(Phase.ERROR, snap)
    assert refused == ()
    assert [n.message for n in notes] == ["waiting for the instance (phase Error)"]
