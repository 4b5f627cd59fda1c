"""The phase machine as data: guards, edge actions and the transition tables.

`TABLE` is the single source of truth for phase changes: STATE_MACHINE.md is
generated from it (workflows.diagram) and every row has a unit test. Rows are
grouped by `from_`; inside a group the first row whose guard holds wins, so
the order is the priority (config error > lost database > stop > restore >
upgrade > backup > health). Health counts the child objects too: one gone
(`child_missing`, read by the snapshot) keeps an instance out of Running,
in Degraded while its pods serve.

`DELETION_TABLE` is the same for an instance being deleted, over the steps of
its deletion (`DeletionStep`): the final backup that spec.backup.finalBackup
asks for, its failures (the database is kept, tried again later), and the
cleanup; workflows.backups runs it. Only its FinalBackup step shows in
status.phase (BackingUp).

Guards are pure functions of (spec, snapshot): no clock, no I/O. Anything that
depends on time (an upgrade's scheduledTime) is decided by the snapshot
activity and arrives here as data. Edge actions are one-shot effects of a
transition: `edge_actions()` turns a row's into the typed payloads the
run_edge_actions activity runs; level-triggered outputs of a phase live in
its ensure() (workflows.ensure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from model.crds import OdooInstanceSpec
from model.payloads import (
    EdgeAction,
    JobAction,
    JobKind,
    MarkDatabase,
    PruneScheduledBackups,
    RestartWeb,
    Snapshot,
)
from model.phases import JobState, Phase

__all__ = [
    "DELETION_TABLE",
    "TABLE",
    "Action",
    "DeletionStep",
    "Guard",
    "StateT",
    "Transition",
    "edge_actions",
    "evaluate",
    "evaluate_deletion",
    "rows_from",
]

Guard = Callable[[OdooInstanceSpec, Snapshot], bool]


class Action(StrEnum):
    """One-shot effects that belong to an edge, run in row order before the phase
    is written."""

    MARK_DB_INITIALIZED = "MarkDbInitialized"
    MARK_DB_UNINITIALIZED = "MarkDbUninitialized"
    RESTART_WEB = "RestartWeb"
    """The web pods load the upgraded modules."""
    PRUNE_SCHEDULED_BACKUPS = "PruneScheduledBackups"
    """spec.backup.retention, after a backup of its schedule completed."""
    COMPLETE_INIT_JOB = "CompleteInitJob"
    FAIL_INIT_JOB = "FailInitJob"
    COMPLETE_UPGRADE_JOB = "CompleteUpgradeJob"
    FAIL_UPGRADE_JOB = "FailUpgradeJob"
    COMPLETE_RESTORE_JOB = "CompleteRestoreJob"
    FAIL_RESTORE_JOB = "FailRestoreJob"
    COMPLETE_BACKUP_JOB = "CompleteBackupJob"
    FAIL_BACKUP_JOB = "FailBackupJob"
    CREATE_FINAL_BACKUP = "CreateFinalBackup"
    """The OdooBackupJob of a deletion (named from workflow time: workflows.backups)."""
    WARN_FINAL_BACKUP_FAILED = "WarnFinalBackupFailed"
    """A FinalBackupFailed Warning: the database is kept (workflows.backups words it)."""

    @property
    def job_kind(self) -> JobKind | None:
        """The job resource this action finishes, if any."""
        return _ACTION_JOBS.get(self)

    @property
    def succeeded(self) -> bool:
        return self.value.startswith("Complete")


_ACTION_JOBS = {
    Action.COMPLETE_INIT_JOB: JobKind.INIT,
    Action.FAIL_INIT_JOB: JobKind.INIT,
    Action.COMPLETE_UPGRADE_JOB: JobKind.UPGRADE,
    Action.FAIL_UPGRADE_JOB: JobKind.UPGRADE,
    Action.COMPLETE_RESTORE_JOB: JobKind.RESTORE,
    Action.FAIL_RESTORE_JOB: JobKind.RESTORE,
    Action.COMPLETE_BACKUP_JOB: JobKind.BACKUP,
    Action.FAIL_BACKUP_JOB: JobKind.BACKUP,
}


class DeletionStep(StrEnum):
    """Where the deletion of an instance is (DELETION_TABLE)."""

    DELETING = "Deleting"
    """Asked to delete: a final backup, or straight to the cleanup."""
    FINAL_BACKUP = "FinalBackup"
    """The final backup runs (after the backups queued before it)."""
    FINAL_BACKUP_FAILED = "FinalBackupFailed"
    """The database is kept; another final backup is tried on the next resync or
    spec change."""
    CLEANING_UP = "CleaningUp"
    """Drop the database and the role, release the instance (cleanup_instance)."""

    @property
    def phase(self) -> Phase | None:
        """The status.phase this step shows; None: the phase stays as it was."""
        return Phase.BACKING_UP if self is DeletionStep.FINAL_BACKUP else None


StateT = TypeVar("StateT", Phase, DeletionStep)


@dataclass(frozen=True)
class Transition(Generic[StateT]):
    """A row: in `from_`, when `guard` holds, run `actions`, go to `to`."""

    from_: StateT
    to: StateT
    guard: Guard
    actions: tuple[Action, ...] = ()

    @property
    def guard_name(self) -> str:
        return self.guard.__name__

    @property
    def id(self) -> str:
        return f"{self.from_}->{self.to}:{self.guard_name}"


# --- guards -----------------------------------------------------------------
# Named for the fact they state; the name is the diagram label.


def has_config_problem(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return bool(snap.problems)


def config_fixed_db_initialized(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return not snap.problems and snap.db_initialized


def config_fixed_db_uninitialized(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return not snap.problems and not snap.db_initialized


def database_lost(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    """The database of an initialized instance is gone (missingPolicy Recreate)."""
    return snap.database_missing


def db_initialized(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.db_initialized


def db_not_initialized(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return not snap.db_initialized


def init_present(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.INIT).present


def init_succeeded(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.INIT) is JobState.SUCCEEDED


def init_failed(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.INIT) is JobState.FAILED


def init_absent(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.INIT) is JobState.ABSENT


def restore_present(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.RESTORE).present


def restore_succeeded(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.RESTORE) is JobState.SUCCEEDED


def restore_failed(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.RESTORE) is JobState.FAILED


def restore_failed_db_uninitialized(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    """Rolled back onto no database: the instance never had one."""
    return restore_failed(spec, snap) and not snap.db_initialized


def restore_absent(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.RESTORE) is JobState.ABSENT


def restore_absent_db_uninitialized(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    """The restore resource was deleted before it completed, on an instance without data."""
    return restore_absent(spec, snap) and not snap.db_initialized


def upgrade_due(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.upgrade is not None and snap.upgrade.due


def upgrade_succeeded(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.UPGRADE) is JobState.SUCCEEDED


def upgrade_failed(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.UPGRADE) is JobState.FAILED


def upgrade_absent(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.UPGRADE) is JobState.ABSENT


def backup_present(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.BACKUP).present


def backup_present_while_stopped(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_present(spec, snap) and spec.replicas == 0


def backup_succeeded_more_queued(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.BACKUP) is JobState.SUCCEEDED and snap.pending_backups > 1


def backup_failed_more_queued(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.BACKUP) is JobState.FAILED and snap.pending_backups > 1


def stopped(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    """spec.replicas == 0: the user asked for no web pods."""
    return spec.replicas == 0


def wanted(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    """spec.replicas > 0."""
    return spec.replicas > 0


def child_missing(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    """A child object (Service, ConfigMap, a Deployment...) is gone or being
    deleted; the workflow restores it."""
    return any(drift.missing for drift in snap.drift)


def all_ready(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    """Every wanted web replica is ready (ready >= spec.replicas > 0) and no child
    object is missing."""
    return spec.replicas > 0 and snap.web.ready >= spec.replicas and not child_missing(spec, snap)


def partly_ready(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    """Some web replicas serve, but not all the instance should have: 0 < ready <
    spec.replicas, or a child object is missing."""
    serving = spec.replicas > 0 and snap.web.ready > 0
    return serving and (snap.web.ready < spec.replicas or child_missing(spec, snap))


def none_ready(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    """No web replica ready although some are wanted."""
    return snap.web.ready == 0 and spec.replicas > 0


def backup_succeeded(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.BACKUP) is JobState.SUCCEEDED


def backup_failed(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.BACKUP) is JobState.FAILED


def backup_absent(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.job_state(JobKind.BACKUP) is JobState.ABSENT


def backup_succeeded_stopped(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_succeeded(spec, snap) and stopped(spec, snap)


def backup_succeeded_all_ready(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_succeeded(spec, snap) and all_ready(spec, snap)


def backup_succeeded_partly_ready(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_succeeded(spec, snap) and partly_ready(spec, snap)


def backup_succeeded_none_ready(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_succeeded(spec, snap) and none_ready(spec, snap)


def backup_failed_stopped(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_failed(spec, snap) and stopped(spec, snap)


def backup_failed_all_ready(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_failed(spec, snap) and all_ready(spec, snap)


def backup_failed_partly_ready(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_failed(spec, snap) and partly_ready(spec, snap)


def backup_failed_none_ready(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_failed(spec, snap) and none_ready(spec, snap)


def backup_absent_stopped(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_absent(spec, snap) and stopped(spec, snap)


def backup_absent_all_ready(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_absent(spec, snap) and all_ready(spec, snap)


def backup_absent_partly_ready(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_absent(spec, snap) and partly_ready(spec, snap)


def backup_absent_none_ready(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return backup_absent(spec, snap) and none_ready(spec, snap)


# Deletion guards: the final backup is the OdooBackupJob labelled final. Backups
# queued before it run first (the snapshot's active backup is the oldest).


def final_backup_wanted(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    """spec.backup.finalBackup, and a database that was set up (something to lose)."""
    return spec.backup is not None and spec.backup.final_backup and snap.db_initialized


def final_backup_not_wanted(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return not final_backup_wanted(spec, snap)


def earlier_backup_succeeded(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.backup is not None and not snap.backup.final and backup_succeeded(spec, snap)


def earlier_backup_failed(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.backup is not None and not snap.backup.final and backup_failed(spec, snap)


def final_backup_succeeded(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.backup is not None and snap.backup.final and backup_succeeded(spec, snap)


def final_backup_failed(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    return snap.backup is not None and snap.backup.final and backup_failed(spec, snap)


def final_backup_absent(spec: OdooInstanceSpec, snap: Snapshot) -> bool:
    """No backup to wait for: the final one was deleted, or refused (it cannot run)."""
    return snap.backup is None


# --- the tables ---------------------------------------------------------------

P = Phase
A = Action

# A database dropped out of band under missingPolicy Recreate: start over from
# Uninitialized (a fresh auto-init replaces the finished one). First after
# Error in each phase that serves or holds an initialized database.
_LOST = (A.MARK_DB_UNINITIALIZED,)

# A backup completed: the retention of spec.backup's schedule applies (to a
# scheduled one; edge_actions() leaves the prune out for any other).
_BACKUP_DONE = (A.COMPLETE_BACKUP_JOB, A.PRUNE_SCHEDULED_BACKUPS)

# Rows shared by Running and Degraded: user intent first, then queued work.
_SERVING_ROWS = (
    (P.STOPPED, stopped),
    (P.RESTORING, restore_present),
    (P.UPGRADING, upgrade_due),
    (P.BACKING_UP, backup_present),
)

TABLE: tuple[Transition[Phase], ...] = (
    # A permanent configuration problem wins everywhere; Error leaves by itself.
    *(Transition(p, P.ERROR, has_config_problem) for p in Phase if p is not P.ERROR),
    Transition(P.ERROR, P.STARTING, config_fixed_db_initialized),
    Transition(P.ERROR, P.UNINITIALIZED, config_fixed_db_uninitialized),
    # Provisioning
    Transition(P.PROVISIONING, P.UNINITIALIZED, db_not_initialized),
    Transition(P.PROVISIONING, P.STARTING, db_initialized),
    # Uninitialized
    Transition(P.UNINITIALIZED, P.INITIALIZING, init_present),
    Transition(P.UNINITIALIZED, P.RESTORING, restore_present),
    # Initializing
    Transition(
        P.INITIALIZING, P.STARTING, init_succeeded, (A.COMPLETE_INIT_JOB, A.MARK_DB_INITIALIZED)
    ),
    Transition(P.INITIALIZING, P.INIT_FAILED, init_failed, (A.FAIL_INIT_JOB,)),
    Transition(P.INITIALIZING, P.UNINITIALIZED, init_absent),
    # InitFailed
    Transition(P.INIT_FAILED, P.INITIALIZING, init_present),
    Transition(P.INIT_FAILED, P.RESTORING, restore_present),
    # Starting
    Transition(P.STARTING, P.UNINITIALIZED, database_lost, _LOST),
    Transition(P.STARTING, P.STOPPED, stopped),
    Transition(P.STARTING, P.RESTORING, restore_present),
    Transition(P.STARTING, P.UPGRADING, upgrade_due),
    Transition(P.STARTING, P.BACKING_UP, backup_present),
    Transition(P.STARTING, P.RUNNING, all_ready),
    # Running
    Transition(P.RUNNING, P.UNINITIALIZED, database_lost, _LOST),
    *(Transition(P.RUNNING, to, guard) for to, guard in _SERVING_ROWS),
    Transition(P.RUNNING, P.STARTING, none_ready),
    Transition(P.RUNNING, P.DEGRADED, child_missing),
    Transition(P.RUNNING, P.DEGRADED, partly_ready),
    # Degraded
    Transition(P.DEGRADED, P.UNINITIALIZED, database_lost, _LOST),
    *(Transition(P.DEGRADED, to, guard) for to, guard in _SERVING_ROWS),
    Transition(P.DEGRADED, P.RUNNING, all_ready),
    Transition(P.DEGRADED, P.STARTING, none_ready),
    # BackingUp: self-loops first, so queued backups do not make the phase flap.
    Transition(P.BACKING_UP, P.BACKING_UP, backup_succeeded_more_queued, _BACKUP_DONE),
    Transition(P.BACKING_UP, P.BACKING_UP, backup_failed_more_queued, (A.FAIL_BACKUP_JOB,)),
    Transition(P.BACKING_UP, P.STOPPED, backup_succeeded_stopped, _BACKUP_DONE),
    Transition(P.BACKING_UP, P.STOPPED, backup_failed_stopped, (A.FAIL_BACKUP_JOB,)),
    Transition(P.BACKING_UP, P.RUNNING, backup_succeeded_all_ready, _BACKUP_DONE),
    Transition(P.BACKING_UP, P.RUNNING, backup_failed_all_ready, (A.FAIL_BACKUP_JOB,)),
    Transition(P.BACKING_UP, P.DEGRADED, backup_succeeded_partly_ready, _BACKUP_DONE),
    Transition(P.BACKING_UP, P.DEGRADED, backup_failed_partly_ready, (A.FAIL_BACKUP_JOB,)),
    Transition(P.BACKING_UP, P.STARTING, backup_succeeded_none_ready, _BACKUP_DONE),
    Transition(P.BACKING_UP, P.STARTING, backup_failed_none_ready, (A.FAIL_BACKUP_JOB,)),
    # The backup resource was deleted mid-flight: back to the health phase.
    Transition(P.BACKING_UP, P.RUNNING, backup_absent_all_ready),
    Transition(P.BACKING_UP, P.DEGRADED, backup_absent_partly_ready),
    Transition(P.BACKING_UP, P.STARTING, backup_absent_none_ready),
    Transition(P.BACKING_UP, P.STOPPED, backup_absent_stopped),
    # Upgrading: the saga (workflows.upgrade) ends serving the upgraded database, or
    # the one it had before (rolled back); Starting brings the spec's replicas.
    Transition(P.UPGRADING, P.STARTING, upgrade_succeeded, (A.COMPLETE_UPGRADE_JOB,)),
    Transition(P.UPGRADING, P.STARTING, upgrade_failed, (A.FAIL_UPGRADE_JOB,)),
    Transition(P.UPGRADING, P.STARTING, upgrade_absent),
    # Restoring: the saga (workflows.restore) ends on the restored data, or rolled
    # back to what ran before, dbInitialized unchanged: an instance that had a
    # database serves it again; one that had none is Uninitialized again.
    Transition(
        P.RESTORING,
        P.STARTING,
        restore_succeeded,
        (A.COMPLETE_RESTORE_JOB, A.MARK_DB_INITIALIZED),
    ),
    Transition(
        P.RESTORING, P.UNINITIALIZED, restore_failed_db_uninitialized, (A.FAIL_RESTORE_JOB,)
    ),
    Transition(P.RESTORING, P.STARTING, restore_failed, (A.FAIL_RESTORE_JOB,)),
    Transition(P.RESTORING, P.UNINITIALIZED, restore_absent_db_uninitialized),
    Transition(P.RESTORING, P.STARTING, restore_absent),
    # Stopped
    Transition(P.STOPPED, P.UNINITIALIZED, database_lost, _LOST),
    Transition(P.STOPPED, P.RESTORING, restore_present),
    Transition(P.STOPPED, P.UPGRADING, upgrade_due),
    Transition(P.STOPPED, P.BACKING_UP, backup_present_while_stopped),
    Transition(P.STOPPED, P.STARTING, wanted),
)


D = DeletionStep

# A deletion: the final backup first when one is wanted. FinalBackupFailed is
# entered after a Warning and left after a wait (a resync or a spec change),
# by the same rows as Deleting.
DELETION_TABLE: tuple[Transition[DeletionStep], ...] = (
    # Deleting
    Transition(D.DELETING, D.FINAL_BACKUP, final_backup_wanted, (A.CREATE_FINAL_BACKUP,)),
    Transition(D.DELETING, D.CLEANING_UP, final_backup_not_wanted),
    # FinalBackup: self-loops first, for the backups queued before the final one.
    Transition(D.FINAL_BACKUP, D.FINAL_BACKUP, earlier_backup_succeeded, (A.COMPLETE_BACKUP_JOB,)),
    Transition(D.FINAL_BACKUP, D.FINAL_BACKUP, earlier_backup_failed, (A.FAIL_BACKUP_JOB,)),
    Transition(D.FINAL_BACKUP, D.CLEANING_UP, final_backup_succeeded, (A.COMPLETE_BACKUP_JOB,)),
    Transition(
        D.FINAL_BACKUP,
        D.FINAL_BACKUP_FAILED,
        final_backup_failed,
        (A.FAIL_BACKUP_JOB, A.WARN_FINAL_BACKUP_FAILED),
    ),
    Transition(
        D.FINAL_BACKUP, D.FINAL_BACKUP_FAILED, final_backup_absent, (A.WARN_FINAL_BACKUP_FAILED,)
    ),
    # FinalBackupFailed: try again, unless finalBackup was set false meanwhile.
    Transition(
        D.FINAL_BACKUP_FAILED, D.FINAL_BACKUP, final_backup_wanted, (A.CREATE_FINAL_BACKUP,)
    ),
    Transition(D.FINAL_BACKUP_FAILED, D.CLEANING_UP, final_backup_not_wanted),
)


def rows_from(phase: Phase) -> Iterator[Transition[Phase]]:
    """The rows leaving `phase`, in priority order."""
    return (row for row in TABLE if row.from_ is phase)


def evaluate(phase: Phase, spec: OdooInstanceSpec, snap: Snapshot) -> Transition[Phase] | None:
    """The first row leaving `phase` whose guard holds, or None."""
    return next((row for row in rows_from(phase) if row.guard(spec, snap)), None)


def evaluate_deletion(
    step: DeletionStep, spec: OdooInstanceSpec, snap: Snapshot
) -> Transition[DeletionStep] | None:
    """The first row of DELETION_TABLE leaving `step` whose guard holds, or None."""
    rows = (row for row in DELETION_TABLE if row.from_ is step)
    return next((row for row in rows if row.guard(spec, snap)), None)


def edge_actions(
    actions: Iterable[Action], spec: OdooInstanceSpec, snap: Snapshot
) -> tuple[EdgeAction, ...]:
    """The payloads run_edge_actions runs for a row's `actions`, read on `snap`.

    A job action finishes the active resource of its kind (none active: nothing
    to finish); a failure carries the Job's message. The prune applies only
    after a backup of spec.backup's schedule. CreateFinalBackup and
    WarnFinalBackupFailed need what only the workflow knows (names from its
    clock, its resync interval): workflows.backups makes their payloads, and
    they give none here.
    """
    edges: list[EdgeAction] = []
    for action in actions:
        if action is Action.MARK_DB_INITIALIZED:
            edges.append(MarkDatabase(initialized=True))
        elif action is Action.MARK_DB_UNINITIALIZED:
            edges.append(MarkDatabase(initialized=False))
        elif action is Action.RESTART_WEB:
            edges.append(RestartWeb())
        elif action is Action.PRUNE_SCHEDULED_BACKUPS:
            if spec.backup is not None and snap.backup is not None and snap.backup.scheduled:
                edges.append(PruneScheduledBackups(retention=spec.backup.retention))
        elif (kind := action.job_kind) is not None and (active := snap.job(kind)) is not None:
            message = None if action.succeeded else active.message or f"{kind.resource_kind} failed"
            edges.append(
                JobAction(kind=kind, name=active.name, succeeded=action.succeeded, message=message)
            )
    return tuple(edges)
