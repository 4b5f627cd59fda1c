"""What an instance's history and the Temporal UI say (workflows.story).

Covers: every guard of TABLE and DELETION_TABLE has its reason in words, and
each row's transition reads `From → To (guard): why` on the case that fires
it; a status write names its transition, or the phase it stays in; an apply,
a converge, edge actions and a timer read as what they do; the current
details say the phase and since when, the image, the operation that runs and
what waits, a hold, the last backup with its age in workflow time, and the
last operation with its outcome; a summary stays one line of at most 200
characters, whatever a problem says.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from model.crds import BackupRetention, S3Config
from model.payloads import (
    ActiveJob,
    ApplyChildrenInput,
    BackupRequest,
    ConvergePhaseInput,
    CreateBackupJobInput,
    Hold,
    InstanceRef,
    JobAction,
    JobKind,
    JobRef,
    LastOperation,
    MachineState,
    PruneScheduledBackups,
    QueuedBackup,
    RecordStatusInput,
    Snapshot,
    TransitionRecord,
)
from model.phases import JobState, Phase
from tests.phase_cases import CASES, DELETION_CASES, make_spec
from workflows import machine, story

REF = InstanceRef(namespace="shop", name="erp", uid="u-1")
NOW = datetime(2026, 12, 6, 14, 0, tzinfo=UTC)


def _state(**changes: object) -> MachineState:
    return MachineState(ref=REF, spec=make_spec(), generation=4).model_copy(update=changes)


@pytest.mark.parametrize(
    "row", [*machine.TABLE, *machine.DELETION_TABLE], ids=lambda row: str(row.id)
)
def test_transition_says_why_in_words_when_its_guard_holds(row: machine.Transition) -> None:
    case = {**CASES, **DELETION_CASES}[row.id]
    text = story.transition(Phase.RUNNING, Phase.BACKING_UP, row.guard_name, case.snap)

    assert row.guard_name in story.GUARD_REASONS
    assert text.startswith(f"Running → BackingUp ({row.guard_name}): ")
    assert len(text) <= 200


def test_transition_names_the_job_resource_when_a_backup_is_requested() -> None:
    snap = Snapshot(
        backup=ActiveJob(kind=JobKind.BACKUP, name="nightly-2026-12-06", state=JobState.ACTIVE)
    )

    text = story.transition(Phase.RUNNING, Phase.BACKING_UP, "backup_present", snap)

    assert text == (
        "Running → BackingUp (backup_present): backup requested by OdooBackupJob nightly-2026-12-06"
    )


def test_status_write_names_the_transition_or_the_phase_it_stays_in() -> None:
    record = RecordStatusInput(
        ref=REF, phase=Phase.DEGRADED, generation=4, spec=make_spec(), ready_replicas=1
    )

    assert story.status(record, "Running → Degraded (partly_ready): 1 of 2") == (
        "Running → Degraded (partly_ready): 1 of 2"
    )
    assert story.status(record, None) == "status of Degraded: 1 web replicas ready"


def test_summary_is_one_short_line_when_a_problem_is_long() -> None:
    problem = "the API refused the Deployment:\n" + "x" * 500
    record = RecordStatusInput(
        ref=REF,
        phase=Phase.ERROR,
        generation=4,
        spec=make_spec(),
        ready_replicas=0,
        message=problem,
    )

    text = story.status(record, None)

    assert "\n" not in text
    assert len(text) == 200
    assert text.endswith("…")


def test_activity_summaries_read_as_what_they_do() -> None:
    apply = ApplyChildrenInput(ref=REF, spec=make_spec(), generation=4)
    backup = ActiveJob(kind=JobKind.BACKUP, name="nightly", state=JobState.ACTIVE)
    converge = ConvergePhaseInput(
        ref=REF, spec=make_spec(), web_replicas=0, cron_replicas=0, start_job=backup
    )
    done = JobAction(kind=JobKind.BACKUP, name="nightly", succeeded=True)

    assert story.apply(apply, 9) == "apply 9 objects for generation 4"
    assert story.apply(apply, 0) == "apply the child objects for generation 4"
    assert story.converge(converge) == (
        "scale web to 0; scale cron to 0; start the Job of OdooBackupJob nightly"
    )
    assert story.edge_actions([done, PruneScheduledBackups(retention=BackupRetention())]) == (
        "mark OdooBackupJob nightly Completed; prune scheduled backups by spec.backup.retention"
    )
    assert story.wait(timedelta(hours=12), why="resync") == "resync in 12 h"


def test_a_backup_summary_names_the_object_it_uploads() -> None:
    spec = make_spec(
        backup={
            "schedule": "0 2 * * *",
            "destination": {"bucket": "nightly", "endpoint": "http://s3"},
        }
    )
    generated = QueuedBackup(
        request=BackupRequest(), name="shop-backup-1", object_key="p/shop-1.zip"
    )
    asked = generated.model_copy(
        update={
            "request": BackupRequest(
                destination=S3Config(
                    bucket="manual", object_key="shop/now.zip", endpoint="http://s3"
                )
            )
        }
    )

    def summary(queued: QueuedBackup) -> str:
        return story.create_backup_job(CreateBackupJobInput(ref=REF, spec=spec, queued=queued))

    assert (
        summary(generated)
        == "make OdooBackupJob shop-backup-1 (backup to s3://nightly/p/shop-1.zip)"
    )
    assert summary(asked) == "make OdooBackupJob shop-backup-1 (backup to s3://manual/shop/now.zip)"


def test_details_say_phase_operation_hold_and_last_backup_with_its_age() -> None:
    entered = TransitionRecord(
        from_phase=Phase.RUNNING,
        to_phase=Phase.BACKING_UP,
        guard="backup_present",
        at="2026-12-06T13:58:00+00:00",
        generation=4,
    )
    state = _state(
        phase=Phase.BACKING_UP,
        transitions=(entered,),
        hold=Hold(reason="incident 42", since=NOW - timedelta(minutes=5)),
        last_backup=NOW - timedelta(hours=26, minutes=10),
        last_operation=LastOperation(
            kind=JobKind.UPGRADE, name="up-1", succeeded=False, at=NOW - timedelta(hours=3)
        ),
    )
    running = ActiveJob(
        kind=JobKind.BACKUP, name="nightly", job_name="nightly-backup", state=JobState.ACTIVE
    )
    snap = Snapshot(
        backup=running,
        waiting_jobs=(JobRef(kind=JobKind.RESTORE, name="copy"),),
        problems=("a Secret is missing",),
    )

    text = story.details(state, snap, NOW, following="nightly-backup")

    assert text.startswith("**BackingUp** since 2026-12-06 13:58 UTC (generation 4, odoo:18.0)")
    assert "**On hold** since 2026-12-06 13:55 UTC: incident 42" in text
    assert "**Operation**: backup OdooBackupJob nightly, running as Job nightly-backup" in text
    assert "progress: pending activity follow_job" in text
    assert "**Queued**: OdooRestoreJob copy" in text
    assert "**Problem**: a Secret is missing" in text
    assert "**Last backup**: 2026-12-05 11:50 UTC (1 d 2 h old at 2026-12-06 14:00 UTC)" in text
    assert "**Last operation**: upgrade up-1 Failed at 2026-12-06 11:00 UTC" in text


def test_details_say_no_backup_yet_when_none_completed() -> None:
    text = story.details(_state(phase=Phase.RUNNING), Snapshot(), NOW)

    assert "**Last backup**: none yet" in text
    assert "Operation" not in text


@pytest.mark.parametrize(
    ("span", "words"),
    [
        (timedelta(seconds=40), "40 s"),
        (timedelta(minutes=7), "7 min"),
        (timedelta(hours=3, minutes=5), "3 h 5 min"),
        (timedelta(hours=36), "1 d 12 h"),
        (timedelta(days=2), "2 d"),
    ],
)
def test_age_reads_as_people_say_it(span: timedelta, words: str) -> None:
    assert story.age(span) == words
