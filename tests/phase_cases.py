"""One case per row of workflows.machine.TABLE, shared by the unit tier (pure
guard evaluation) and the workflow tier (the same case driven through the
instance workflow on the time-skipping server); one per row of
DELETION_TABLE, for the unit tier.

A case is (spec overrides, snapshot) chosen so that, in the row's from-phase
(or deletion step), that row is the first whose guard holds.
`test_every_row_has_a_case` fails when a row is added without a case here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model.crds import OdooInstanceSpec
from model.payloads import ActiveJob, ChildDrift, Drift, JobKind, Replicas, Snapshot
from model.phases import JobState, Phase
from workflows.machine import DeletionStep


def make_spec(**overrides: Any) -> OdooInstanceSpec:
    body: dict[str, Any] = {
        "adminPassword": "",
        "image": "odoo:18.0",
        "ingress": {"hosts": ["erp.example.com"]},
        "replicas": 1,
    }
    body.update(overrides)
    return OdooInstanceSpec.model_validate(body)


def job(kind: JobKind, state: JobState = JobState.ACTIVE, *, due: bool = True) -> ActiveJob:
    started = state is not JobState.ACTIVE
    return ActiveJob(
        kind=kind,
        name=f"{kind}-1",
        state=state,
        job_name=f"{kind}-1-{kind}" if started else None,
        due=due,
    )


def web(ready: int, desired: int = 1) -> Replicas:
    return Replicas(desired=desired, ready=ready, exists=True)


@dataclass(frozen=True)
class Case:
    spec: dict[str, Any] = field(default_factory=dict)
    snap: Snapshot = field(default_factory=Snapshot)

    def build_spec(self) -> OdooInstanceSpec:
        return make_spec(**self.spec)


S = Snapshot
K = JobKind
SERVICE_DELETING = (ChildDrift(kind="Service", name="erp", drift=Drift.DELETING),)
"""A snapshot's drift: the instance's Service is being deleted (held by a finalizer)."""
J = JobState
PROBLEM = ("postgres cluster 'main' is not defined in Secret postgres-clusters",)
STOPPED = {"replicas": 0}
TWO = {"replicas": 2}

_ERROR_ENTRY = {
    f"{p}->Error:has_config_problem": Case(snap=S(problems=PROBLEM, db_initialized=True))
    for p in Phase
    if p is not Phase.ERROR
}


# The database vanished under missingPolicy Recreate, in a healthy-looking
# state, so that only the database_lost row can explain the transition.
_LOST = {"database": {"missingPolicy": "Recreate"}}
_LOST_CASES = {
    "Starting->Uninitialized:database_lost": Case(
        _LOST, S(web=web(1), db_initialized=True, database_missing=True)
    ),
    "Running->Uninitialized:database_lost": Case(
        _LOST, S(web=web(1), db_initialized=True, database_missing=True)
    ),
    "Degraded->Uninitialized:database_lost": Case(
        {**_LOST, **TWO}, S(web=web(1, 2), db_initialized=True, database_missing=True)
    ),
    "Stopped->Uninitialized:database_lost": Case(
        {**_LOST, **STOPPED}, S(web=web(0, 0), db_initialized=True, database_missing=True)
    ),
}


def _backing_up(outcome: J, health: str) -> Case:
    """A finished backup (or none) with the web health a row names."""
    snaps = {
        "stopped": (STOPPED, web(0, 0)),
        "all_ready": ({}, web(1)),
        "partly_ready": (TWO, web(1, 2)),
        "none_ready": ({}, web(0)),
    }
    spec, replicas = snaps[health]
    backup = None if outcome is J.ABSENT else job(K.BACKUP, outcome)
    return Case(spec, S(web=replicas, backup=backup, pending_backups=int(backup is not None)))


CASES: dict[str, Case] = {
    **_ERROR_ENTRY,
    **_LOST_CASES,
    "Error->Starting:config_fixed_db_initialized": Case(snap=S(db_initialized=True)),
    "Error->Uninitialized:config_fixed_db_uninitialized": Case(),
    "Provisioning->Uninitialized:db_not_initialized": Case(),
    "Provisioning->Starting:db_initialized": Case(snap=S(db_initialized=True)),
    "Uninitialized->Initializing:init_present": Case(snap=S(init=job(K.INIT))),
    "Uninitialized->Restoring:restore_present": Case(snap=S(restore=job(K.RESTORE))),
    "Initializing->Starting:init_succeeded": Case(snap=S(init=job(K.INIT, J.SUCCEEDED))),
    "Initializing->InitFailed:init_failed": Case(snap=S(init=job(K.INIT, J.FAILED))),
    "Initializing->Uninitialized:init_absent": Case(),
    "InitFailed->Initializing:init_present": Case(snap=S(init=job(K.INIT))),
    "InitFailed->Restoring:restore_present": Case(snap=S(restore=job(K.RESTORE))),
    "Starting->Stopped:stopped": Case(STOPPED, S(db_initialized=True)),
    "Starting->Restoring:restore_present": Case(snap=S(restore=job(K.RESTORE))),
    "Starting->Upgrading:upgrade_due": Case(snap=S(upgrade=job(K.UPGRADE))),
    "Starting->BackingUp:backup_present": Case(snap=S(backup=job(K.BACKUP))),
    "Starting->Running:all_ready": Case(snap=S(web=web(1))),
    **{
        f"{p}->{to}:{guard}": case
        for p in (Phase.RUNNING, Phase.DEGRADED)
        for to, guard, case in (
            ("Stopped", "stopped", Case(STOPPED, S(web=web(1)))),
            ("Restoring", "restore_present", Case(snap=S(web=web(1), restore=job(K.RESTORE)))),
            ("Upgrading", "upgrade_due", Case(snap=S(web=web(1), upgrade=job(K.UPGRADE)))),
            ("BackingUp", "backup_present", Case(snap=S(web=web(1), backup=job(K.BACKUP)))),
        )
    },
    "Running->Degraded:partly_ready": Case(TWO, S(web=web(1, 2))),
    "Running->Degraded:child_missing": Case(snap=S(web=web(1), drift=SERVICE_DELETING)),
    "Running->Starting:none_ready": Case(snap=S(web=web(0))),
    "Degraded->Running:all_ready": Case(TWO, S(web=web(2, 2))),
    "Degraded->Starting:none_ready": Case(TWO, S(web=web(0, 2))),
    "BackingUp->BackingUp:backup_succeeded_more_queued": Case(
        snap=S(web=web(1), backup=job(K.BACKUP, J.SUCCEEDED), pending_backups=2)
    ),
    "BackingUp->BackingUp:backup_failed_more_queued": Case(
        snap=S(web=web(1), backup=job(K.BACKUP, J.FAILED), pending_backups=2)
    ),
    **{
        f"BackingUp->{to}:backup_{outcome}_{health}": _backing_up(state, health)
        for to, health in (
            ("Stopped", "stopped"),
            ("Running", "all_ready"),
            ("Degraded", "partly_ready"),
            ("Starting", "none_ready"),
        )
        for outcome, state in (("succeeded", J.SUCCEEDED), ("failed", J.FAILED))
    },
    **{
        f"BackingUp->{to}:backup_absent_{health}": _backing_up(J.ABSENT, health)
        for to, health in (
            ("Running", "all_ready"),
            ("Degraded", "partly_ready"),
            ("Starting", "none_ready"),
            ("Stopped", "stopped"),
        )
    },
    "Upgrading->Starting:upgrade_succeeded": Case(
        snap=S(web=web(1), upgrade=job(K.UPGRADE, J.SUCCEEDED))
    ),
    "Upgrading->Starting:upgrade_failed": Case(
        snap=S(web=web(1), upgrade=job(K.UPGRADE, J.FAILED))
    ),
    "Upgrading->Starting:upgrade_absent": Case(snap=S(web=web(1))),
    "Restoring->Starting:restore_succeeded": Case(snap=S(restore=job(K.RESTORE, J.SUCCEEDED))),
    "Restoring->Uninitialized:restore_failed_db_uninitialized": Case(
        snap=S(restore=job(K.RESTORE, J.FAILED))
    ),
    "Restoring->Starting:restore_failed": Case(
        snap=S(db_initialized=True, restore=job(K.RESTORE, J.FAILED))
    ),
    "Restoring->Uninitialized:restore_absent_db_uninitialized": Case(),
    "Restoring->Starting:restore_absent": Case(snap=S(db_initialized=True)),
    "Stopped->Restoring:restore_present": Case(STOPPED, S(restore=job(K.RESTORE))),
    "Stopped->Upgrading:upgrade_due": Case(STOPPED, S(upgrade=job(K.UPGRADE))),
    "Stopped->BackingUp:backup_present_while_stopped": Case(STOPPED, S(backup=job(K.BACKUP))),
    "Stopped->Starting:wanted": Case(snap=S(db_initialized=True)),
}

# States in which no row may fire: the machine rests. (Provisioning never
# rests: one of its two rows always holds.)
RESTING: dict[Phase, Case] = {
    Phase.UNINITIALIZED: Case({"init": {"enabled": False}}),
    Phase.INITIALIZING: Case(snap=S(init=job(K.INIT))),
    Phase.INIT_FAILED: Case(),
    Phase.STARTING: Case(snap=S(web=web(0))),
    Phase.RUNNING: Case(snap=S(web=web(1))),
    Phase.DEGRADED: Case(TWO, S(web=web(1, 2))),
    Phase.STOPPED: Case(STOPPED, S(web=web(0, 0))),
    Phase.UPGRADING: Case(snap=S(web=web(1), upgrade=job(K.UPGRADE))),
    Phase.RESTORING: Case(snap=S(restore=job(K.RESTORE))),
    Phase.BACKING_UP: Case(snap=S(web=web(1), backup=job(K.BACKUP), pending_backups=1)),
    Phase.ERROR: Case(snap=S(problems=PROBLEM)),
}


# --- the deletion ---------------------------------------------------------------

FINAL = {
    "backup": {
        "schedule": "0 2 * * *",
        "destination": {"bucket": "b", "endpoint": "http://s3.example"},
    }
}
NO_FINAL = {"backup": {**FINAL["backup"], "finalBackup": False}}


def backup(state: JobState, *, final: bool) -> ActiveJob:
    return job(K.BACKUP, state).model_copy(update={"final": final})


DELETION_CASES: dict[str, Case] = {
    "Deleting->FinalBackup:final_backup_wanted": Case(FINAL, S(db_initialized=True)),
    "Deleting->CleaningUp:final_backup_not_wanted": Case(FINAL, S()),  # nothing to lose
    "FinalBackup->FinalBackup:earlier_backup_succeeded": Case(
        FINAL, S(db_initialized=True, backup=backup(J.SUCCEEDED, final=False), pending_backups=2)
    ),
    "FinalBackup->FinalBackup:earlier_backup_failed": Case(
        FINAL, S(db_initialized=True, backup=backup(J.FAILED, final=False), pending_backups=2)
    ),
    "FinalBackup->CleaningUp:final_backup_succeeded": Case(
        FINAL, S(db_initialized=True, backup=backup(J.SUCCEEDED, final=True), pending_backups=1)
    ),
    "FinalBackup->FinalBackupFailed:final_backup_failed": Case(
        FINAL, S(db_initialized=True, backup=backup(J.FAILED, final=True), pending_backups=1)
    ),
    "FinalBackup->FinalBackupFailed:final_backup_absent": Case(FINAL, S(db_initialized=True)),
    "FinalBackupFailed->FinalBackup:final_backup_wanted": Case(FINAL, S(db_initialized=True)),
    "FinalBackupFailed->CleaningUp:final_backup_not_wanted": Case(NO_FINAL, S(db_initialized=True)),
}

# Steps in which no deletion row may fire: a backup still runs.
DELETION_RESTING: dict[DeletionStep, Case] = {
    DeletionStep.FINAL_BACKUP: Case(
        FINAL, S(db_initialized=True, backup=backup(J.ACTIVE, final=False), pending_backups=2)
    ),
}
