"""The fault matrix of restores and upgrades (issue 18, point 6), as data.

Not a test module. For each operation, every step the issue names (and that
the operation has) by every fault: either the tests that inject that fault at
that step (`Covered`: pytest node ids, the first the cell's headline; each
prints `MATRIX <cell> <s>`, the time from the failure to Running again, or to
what its tier can tell: the undo done, the swap completed) or why the fault
cannot happen there (`NotApplicable`). tests/unit/test_saga_matrix.py checks
that every step and fault is there once and that every node id names a test
that exists; `python -m benchmarks.saga_matrix` runs them and prints the
matrix with the times.

The cells' assertions are the issue's invariants: the live marker rows
(tests/markers.py) or the World's live database and filestore exactly as
before (or the new data, when the operation goes through), Running again
within the tier's bound, no `<db>_restoring`, kept-aside database or
filestore, staged filestore or unfinished upload left, one batch Job per job
resource and step.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FAULTS",
    "OPERATIONS",
    "RESTORE",
    "RESTORE_STEPS",
    "UPGRADE",
    "UPGRADE_STEPS",
    "Covered",
    "NotApplicable",
    "Step",
]

FAULTS = (
    "process-killed",
    "worker-killed",
    "postgres-down-30s",
    "s3-down",
    "foreign-session",
    "deadline",
)
"""The Job's process killed, the worker killed, PostgreSQL down 30 s, S3 down, a
session of another role holding the copy or the live database, the deadline."""
RESTORE_STEPS = (
    "safety-backup",
    "download",
    "extract",
    "load",
    "neutralize",
    "verify",
    "filestore",
    "swap-before-first-rename",
    "swap-between-renames",
    "swap-after-renames",
    "health-check",
    "cleanup",
)
UPGRADE_STEPS = (
    "safety-backup",
    "copy",
    "upgrade-job",
    "image-switch",
    "health-check",
    "rollback",
)


@dataclass(frozen=True)
class Covered:
    """The tests that inject the fault at the step (the first is the headline)."""

    tests: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class NotApplicable:
    """Why the fault cannot happen at the step."""

    reason: str


Cell = Covered | NotApplicable


@dataclass(frozen=True)
class Step:
    """One step of an operation: a cell for each of FAULTS."""

    name: str
    process_killed: Cell
    worker_killed: Cell
    postgres_down_30s: Cell
    s3_down: Cell
    foreign_session: Cell
    deadline: Cell

    def cells(self) -> tuple[tuple[str, Cell], ...]:
        """(fault, cell) in the order of FAULTS."""
        return tuple((fault, getattr(self, fault.replace("-", "_"))) for fault in FAULTS)


# --- where the tests are ----------------------------------------------------------------


def _node(path: str, test: str, param: str = "") -> str:
    return f"{path}::{test}" + (f"[{param}]" if param else "")


def _swap(test: str, param: str = "") -> str:
    return _node("tests/activities/test_database_swap.py", test, param)


def _scripts(test: str, param: str = "") -> str:
    return _node("tests/scripts/test_restore_faults.py", test, param)


def _sagas(test: str, param: str = "") -> str:
    return _node("tests/workflows/test_sagas.py", test, param)


def _covered(*tests: str, note: str = "") -> Covered:
    return Covered(tests, note)


UPLOAD_KILLED = _node(
    "tests/scripts/test_interrupted_upload.py", "test_killed_upload_leaves_no_partial_object"
)
WORKER_KILLED_E2E = _node(
    "tests/jobs/test_worker_killed.py", "test_worker_killed_mid_job_resumes_each_kind_exactly_once"
)
SAFETY = "test_a_failed_safety_backup_fails_the_operation_before_anything_changes"
JOB_FAILS = "test_restore_job_failing_at_any_step_leaves_the_instance_as_it_was"
KILLED_AT = "test_restore_killed_at_the_end_of_a_step_leaves_the_live_data_as_it_was"
KILLED_AT_STEPS = ("extract", "load", "neutralize", "verify", "filestore")
POSTGRES_AT = "test_postgres_stopped_as_a_step_starts_leaves_the_live_data_as_it_was"
RESTORE_CRASH = "test_a_restore_resumes_after_the_worker_is_killed_after_any_step"
UPGRADE_CRASH = "test_an_upgrade_resumes_after_the_worker_is_killed_after_any_step"
SWAP_CRASH = "test_swap_interrupted_at_any_point_is_completed_or_undone"
SWAP_POSTGRES = "test_swap_while_postgres_is_down_is_retryable_and_completes_once_it_is_back"
SWAP_FAILURES = "test_swap_failures_resume_or_undo"
HALF_SWAP = "test_a_swap_stopped_between_its_renames_is_completed_or_undone"
FOREIGN_ENDED = "test_a_foreign_session_is_ended_by_a_superuser_admin"
FOREIGN_NAMED = "test_a_foreign_session_the_admin_may_not_end_is_named_and_undone"
HEALTH_POSTGRES = "test_postgres_down_30s_at_the_health_check_only_delays_it"
HEALTH_FOREIGN = "test_a_foreign_session_on_the_new_data_delays_the_rollback_until_it_ends"
SWAP_BACK_FOREIGN = "test_swap_back_meets_a_foreign_session_on_the_swapped_in_database"
CLEANUP = "test_what_a_restore_kept_aside_is_removed_through_a_fault"
ROLLBACK = "test_an_upgrade_rollback_goes_through_a_fault_at_its_swap"
COPY_FAILS = "test_an_upgrade_whose_copy_cannot_be_made_changes_nothing"
UPGRADE_FAILS = "test_a_failed_upgrade_swaps_the_copy_back"

JOB_RUNS_ON = (
    "the Job's steps go on without the worker, whichever runs: the new worker resumes "
    "polling the same Job (killed while it runs, end to end: tests/jobs/test_worker_killed.py)"
)
ON_THE_COPY = _covered(
    _sagas("test_a_session_on_the_copy_delays_its_drop_until_it_ends"),
    _scripts("test_a_session_of_another_role_on_the_copy_is_ended_by_the_undo"),
    _swap("test_a_leftover_copy_held_by_a_session_the_admin_may_not_end_is_dropped_once_it_ends"),
    _swap("test_a_leftover_copy_held_by_a_foreign_session_is_dropped"),
    note="a session on `<db>_restoring` (open from the load on) stops none of the Job's "
    "steps: it holds the copy when the undo drops it (these tests) or the swap renames "
    "it (swap-before-first-rename)",
)
NO_JOB = (
    "no Job runs at this step: it is an activity of the worker (the worker's process "
    "killed is the next column)"
)
NO_DUMP_BLOCK = (
    "pg_dump reads a snapshot beside any other session: a session of another role on the "
    "live database neither blocks nor fails it (one holding an exclusive table lock would "
    "make it run into its deadline: the deadline cell)"
)
CLOSED_NO_ONE = "ALLOW_CONNECTIONS false, which no role bypasses, superusers included"


def _job_step(
    name: str,
    *,
    postgres_down_30s: Cell,
    s3_down: Cell,
    foreign_session: Cell,
    killed: tuple[str, ...] = (),
    deadline: tuple[str, ...] = (),
) -> Step:
    """A step of the restore Job: its Pod killed at the end of the step (tests/scripts,
    before `killed`), the Job failing with the step's message (the workflow tier),
    the worker killed while it runs, past its deadline (`deadline`, then the
    workflow tier; a deadline kills the step as a kill at its end does)."""
    return Step(
        name,
        process_killed=_covered(
            *((_scripts(KILLED_AT, name),) if name in KILLED_AT_STEPS else ()),
            *killed,
            _sagas(JOB_FAILS, f"{name}:process-killed"),
        ),
        worker_killed=_covered(
            _sagas(RESTORE_CRASH, "restore-job-running"), WORKER_KILLED_E2E, note=JOB_RUNS_ON
        ),
        postgres_down_30s=postgres_down_30s,
        s3_down=s3_down,
        foreign_session=foreign_session,
        deadline=_covered(
            *deadline,
            _sagas(JOB_FAILS, f"{name}:deadline"),
            note="" if deadline else f"killed as in restore:{name}:process-killed",
        ),
    )


def _on_the_copy(name: str, no_s3: str, deadline: tuple[str, ...] = ()) -> Step:
    """A step of the restore Job on the loaded copy, with PostgreSQL stopped as it
    starts (tests/scripts, then the workflow tier)."""
    return _job_step(
        name,
        postgres_down_30s=_covered(
            _scripts(POSTGRES_AT, name), _sagas(JOB_FAILS, f"{name}:postgres-down")
        ),
        s3_down=NotApplicable(no_s3),
        foreign_session=ON_THE_COPY,
        deadline=deadline,
    )


def _safety_backup(operation: str, *, crash: str, s3_down: tuple[str, ...] = ()) -> Step:
    """The safety backup (an OdooBackupJob's Job) failing with each fault's message (the
    workflow tier; a killed upload aborted, tests/scripts), the worker killed once it
    was asked for."""
    return Step(
        "safety-backup",
        process_killed=_covered(_sagas(SAFETY, f"{operation}-process-killed"), UPLOAD_KILLED),
        worker_killed=_covered(_sagas(crash, "create_backup_job")),
        postgres_down_30s=_covered(_sagas(SAFETY, f"{operation}-postgres-down")),
        s3_down=_covered(*s3_down, _sagas(SAFETY, f"{operation}-s3-down")),
        foreign_session=NotApplicable(NO_DUMP_BLOCK),
        deadline=_covered(_sagas(SAFETY, f"{operation}-deadline")),
    )


def _swap_step(
    name: str,
    *,
    worker_killed: Cell,
    postgres_down_30s: Cell,
    foreign_session: Cell,
    deadline: Cell,
) -> Step:
    """A point of the restore's database swap (an activity: no Job, no S3)."""
    return Step(
        name,
        process_killed=NotApplicable(NO_JOB),
        worker_killed=worker_killed,
        postgres_down_30s=postgres_down_30s,
        s3_down=NotApplicable("the swap is SQL on the cluster's admin connection: no S3"),
        foreign_session=foreign_session,
        deadline=deadline,
    )


def _health_check(
    operation: str, *, unhealthy: str, crash: str, swap_back: tuple[str, ...]
) -> Step:
    """The health check after the new data (and image) is in place: the web replicas
    not ready in time (`unhealthy`), the worker killed once they are started, PostgreSQL
    down 30 s while they start, a session of another role on the new data when it is
    swapped back (the workflow tier, then `swap_back`, against PostgreSQL)."""
    return Step(
        "health-check",
        process_killed=_covered(
            unhealthy, note="no Job runs: the process that dies is Odoo's in a web Pod"
        ),
        worker_killed=_covered(_sagas(crash, "health-check")),
        postgres_down_30s=_covered(_sagas(HEALTH_POSTGRES, operation)),
        s3_down=NotApplicable(
            "the check reads the web Deployment's ready replicas; Odoo's web pods use "
            "PostgreSQL and the filestore volume: no S3"
        ),
        foreign_session=_covered(_sagas(HEALTH_FOREIGN, operation), *swap_back),
        deadline=_covered(
            unhealthy, note="the health check's deadline is WorkflowSettings.start_timeout"
        ),
    )


RESTORE = (
    _safety_backup("restore", crash=RESTORE_CRASH),
    _job_step(
        "download",
        killed=(_scripts("test_download_killed_mid_way_leaves_the_live_data_as_it_was"),),
        postgres_down_30s=NotApplicable(
            "the download talks to S3 (or the source Odoo) only: PostgreSQL is first used "
            "by the load step, and the workflow does not touch it while the Job runs"
        ),
        s3_down=_covered(
            _scripts("test_download_without_s3_leaves_the_live_data_as_it_was", "s3-down"),
            _sagas(JOB_FAILS, "download:s3-down"),
        ),
        foreign_session=NotApplicable(
            "no database is touched before the load step creates the copy"
        ),
        deadline=(_scripts("test_download_without_s3_leaves_the_live_data_as_it_was", "deadline"),),
    ),
    _job_step(
        "extract",
        postgres_down_30s=NotApplicable(
            "the extract step reads the workspace only (unzip, pg_restore --list on the "
            "file): no server"
        ),
        s3_down=NotApplicable("the artifact was downloaded by the step before: no S3"),
        foreign_session=NotApplicable(
            "no database exists yet for a session to hold: the load step makes the copy"
        ),
    ),
    _job_step(
        "load",
        postgres_down_30s=_covered(
            _node(
                "tests/jobs/test_restore_sagas.py",
                "test_postgres_down_30s_under_the_load_is_rolled_back_once_it_answers",
            ),
            _scripts(
                "test_load_with_postgres_stopped_under_it_leaves_no_copy_once_postgres_is_back"
            ),
            _sagas(JOB_FAILS, "load:postgres-down"),
        ),
        s3_down=NotApplicable("the artifact is in the workspace: the load uses PostgreSQL only"),
        foreign_session=ON_THE_COPY,
    ),
    _on_the_copy(
        "neutralize",
        "odoo neutralize works on the copy in PostgreSQL: no S3",
        deadline=(
            _node(
                "tests/jobs/test_restore_sagas.py",
                "test_a_restore_past_its_deadline_is_rolled_back",
            ),
            _scripts(
                "test_neutralize_past_the_deadline_is_named_and_leaves_the_live_data_as_it_was"
            ),
        ),
    ),
    _on_the_copy("verify", "the verify step reads the copy in PostgreSQL only: no S3"),
    _job_step(
        "filestore",
        killed=tuple(
            _scripts("test_filestore_step_resumes_or_undoes_a_swap_killed_anywhere", f"undo-{at}")
            for at in ("before", "between", "after")
        ),
        postgres_down_30s=NotApplicable(
            "the filestore step moves directories on the filestore volume: no PostgreSQL"
        ),
        s3_down=NotApplicable(
            "the backup's filestore comes from the artifact in the workspace: no S3"
        ),
        foreign_session=NotApplicable("it touches no database"),
    ),
    _swap_step(
        "swap-before-first-rename",
        worker_killed=_covered(
            _swap(SWAP_CRASH, "resume-before-the-first-rename"),
            _swap(SWAP_CRASH, "undo-before-the-first-rename"),
            note="the activity is retried once its start-to-close timeout (2 min) passed",
        ),
        postgres_down_30s=_covered(
            _sagas(SWAP_FAILURES, "swap:postgres-down-30s-3-restored"),
            _swap(SWAP_POSTGRES, "before-the-first-rename"),
        ),
        foreign_session=_covered(
            _sagas(SWAP_FAILURES, "swap:foreign-session-None-v1"),
            _swap(FOREIGN_ENDED, "live"),
            _swap(FOREIGN_ENDED, "incoming"),
            _swap(FOREIGN_NAMED, "live"),
            _swap(FOREIGN_NAMED, "incoming"),
        ),
        deadline=_covered(
            _sagas(SWAP_FAILURES, "swap:postgres-down-long-None-v1"),
            note="the swap's own deadline: calls.SWAP_GIVE_UP, then undone (the job's "
            "activeDeadlineSeconds is its Job's, over before the swap)",
        ),
    ),
    _swap_step(
        "swap-between-renames",
        worker_killed=_covered(
            _sagas(HALF_SWAP, "resume"),
            _swap(SWAP_CRASH, "resume-between-the-renames"),
            _swap(SWAP_CRASH, "undo-between-the-renames"),
        ),
        postgres_down_30s=_covered(
            _swap(SWAP_POSTGRES, "between-the-renames"), _sagas(HALF_SWAP, "resume")
        ),
        foreign_session=NotApplicable(
            "both databases are closed to new connections and their sessions ended before "
            f"the first rename ({CLOSED_NO_ONE}): no session can be on either between the "
            "renames"
        ),
        deadline=_covered(
            _sagas(HALF_SWAP, "undo"),
            _swap(SWAP_CRASH, "undo-between-the-renames"),
            note="given up after calls.SWAP_GIVE_UP, undone from between the renames",
        ),
    ),
    _swap_step(
        "swap-after-renames",
        worker_killed=_covered(
            _sagas(RESTORE_CRASH, "swap_database"),
            _swap(SWAP_CRASH, "resume-after-the-renames"),
            _swap(SWAP_CRASH, "undo-after-the-renames"),
        ),
        postgres_down_30s=_covered(_swap(SWAP_POSTGRES, "after-the-renames")),
        foreign_session=NotApplicable(
            "after the renames the swap only opens the live database again: a session that "
            "connects then blocks nothing the swap still does (one on the restored database "
            "when the swap is undone is health-check:foreign-session)"
        ),
        deadline=_covered(
            _swap(SWAP_CRASH, "undo-after-the-renames"),
            note="an attempt that renamed both and did not report back, given up after "
            "calls.SWAP_GIVE_UP: swap_back from there",
        ),
    ),
    _health_check(
        "restore",
        unhealthy=_sagas("test_a_restore_the_instance_does_not_start_on_is_rolled_back"),
        crash=RESTORE_CRASH,
        swap_back=(
            _swap(SWAP_BACK_FOREIGN, "createrole-admin"),
            _swap(SWAP_BACK_FOREIGN, "superuser"),
        ),
    ),
    Step(
        "cleanup",
        process_killed=_covered(
            _sagas(CLEANUP, "process-killed"),
            _scripts("test_filestore_discard_removes_the_kept_aside_one_and_the_marks"),
        ),
        worker_killed=_covered(
            _sagas(RESTORE_CRASH, "drop_databases"), _sagas(RESTORE_CRASH, "run_filestore_step")
        ),
        postgres_down_30s=_covered(
            _sagas(CLEANUP, "postgres-down-30s"),
            _sagas("test_leftovers_are_dropped_once_postgres_answers_again"),
        ),
        s3_down=NotApplicable(
            "the removal drops a database and a directory: no S3 (the safety backup's "
            "object is the user's and stays)"
        ),
        foreign_session=NotApplicable(
            "what is kept aside is closed to new connections from the swap on "
            f"({CLOSED_NO_ONE}): no session is on it when it is dropped (a failed "
            "attempt's copy: load:foreign-session)"
        ),
        deadline=_covered(_sagas(CLEANUP, "deadline")),
    ),
)

UPGRADE = (
    _safety_backup(
        "upgrade",
        crash=UPGRADE_CRASH,
        s3_down=(
            _node(
                "tests/jobs/test_upgrade.py",
                "test_an_upgrade_whose_safety_backup_cannot_reach_s3_changes_nothing",
            ),
        ),
    ),
    Step(
        "copy",
        process_killed=NotApplicable(
            "no Job runs before the upgrade Job: the copy (CREATE DATABASE ... TEMPLATE) is "
            "an activity of the worker (the worker killed is the next column)"
        ),
        worker_killed=_covered(
            _sagas(UPGRADE_CRASH, "copy_database"),
            _swap("test_copy_interrupted_after_create_database_is_resumed"),
        ),
        postgres_down_30s=_covered(
            _sagas("test_an_upgrade_copy_retried_while_postgres_is_down_30s_goes_through")
        ),
        s3_down=NotApplicable("a template copy inside PostgreSQL: no S3"),
        foreign_session=_covered(
            _sagas(COPY_FAILS, "foreign-session"),
            _swap(
                "test_copy_blocked_by_a_session_the_admin_may_not_end_leaves_the_source_as_it_was"
            ),
            _swap("test_copy_is_consistent_closed_and_marked_while_a_session_sat_on_the_source"),
        ),
        deadline=_covered(
            _sagas(COPY_FAILS, "postgres-error"),
            note="the copy's bound is its own: calls.COPY_ATTEMPTS attempts, then the "
            "upgrade fails having changed nothing (activeDeadlineSeconds starts with the Job)",
        ),
    ),
    Step(
        "upgrade-job",
        process_killed=_covered(
            _sagas(UPGRADE_FAILS, "upgrade-job:process-killed"),
            _node(
                "tests/jobs/test_upgrade.py", "test_failed_upgrade_says_why_and_returns_to_running"
            ),
            note="end to end, odoo -u failing half-way (a module installed): what a kill leaves",
        ),
        worker_killed=_covered(
            _sagas(UPGRADE_CRASH, "upgrade-job-running"), WORKER_KILLED_E2E, note=JOB_RUNS_ON
        ),
        postgres_down_30s=_covered(_sagas(UPGRADE_FAILS, "upgrade-job:postgres-down")),
        s3_down=NotApplicable("odoo -u works on the live database: no S3"),
        foreign_session=NotApplicable(
            "odoo -u runs beside other sessions on the live database (it needs no exclusive "
            "access); a session holding a lock it needs makes it run into its deadline (the "
            "deadline cell), one still there at the rollback is rollback:foreign-session"
        ),
        deadline=_covered(_sagas(UPGRADE_FAILS, "upgrade-job:deadline")),
    ),
    Step(
        "image-switch",
        process_killed=NotApplicable(
            "no Job runs: spec.image is written and the Deployments applied by activities "
            "of the worker (the worker killed is the next column)"
        ),
        worker_killed=_covered(
            _sagas(UPGRADE_CRASH, "set_instance_image"), _sagas(UPGRADE_CRASH, "apply_children")
        ),
        postgres_down_30s=_covered(
            _sagas("test_postgres_down_30s_at_the_image_switch_only_delays_it")
        ),
        s3_down=NotApplicable("it writes Kubernetes objects and the instance's role: no S3"),
        foreign_session=NotApplicable(
            "the apply's PostgreSQL step ensures the instance's role (no rename, no drop): a "
            "session of another role does not block it"
        ),
        deadline=NotApplicable(
            "no deadline runs here: activeDeadlineSeconds is the upgrade Job's, over by "
            "then, and these activities are retried until the API answers"
        ),
    ),
    _health_check(
        "upgrade",
        unhealthy=_sagas("test_an_upgrade_not_healthy_on_its_image_rolls_image_and_database_back"),
        crash=UPGRADE_CRASH,
        swap_back=(_swap(FOREIGN_NAMED, "live"),),
    ),
    Step(
        "rollback",
        process_killed=NotApplicable(
            "an upgrade's rollback runs no Job: spec.image written back and the copy "
            "swapped back by activities of the worker (the worker killed is the next column)"
        ),
        worker_killed=_covered(_sagas(ROLLBACK, "worker-killed")),
        postgres_down_30s=_covered(_sagas(ROLLBACK, "postgres-down-30s")),
        s3_down=NotApplicable("it writes spec.image and swaps databases: no S3"),
        foreign_session=_covered(
            _sagas(ROLLBACK, "foreign-session"),
            _swap(FOREIGN_NAMED, "live"),
            _swap(FOREIGN_ENDED, "live"),
        ),
        deadline=NotApplicable(
            "a rollback has no deadline and never gives up (an undo has no way back: "
            "workflows.saga.Saga.swap_until_done): it is retried until it is done"
        ),
    ),
)

OPERATIONS: dict[str, tuple[Step, ...]] = {"restore": RESTORE, "upgrade": UPGRADE}
