"""Typed stubs of every activity: names and types, no I/O.

Workflows call activities through these stubs (their wire names and type
hints are the contract); the implementations in this package register under
the same names. tests/unit/test_activity_contract.py checks that every stub
has exactly one implementation with the same name and type hints. Wire names
are public: never rename one.

Every implementation is declared `no_thread_cancel_exception=True`. The
activities are synchronous and run on the worker's threads; by default the
SDK cancels one (a local activity of a workflow evicted from the cache or
whose task failed, a deletion cancelling a wake) by raising an exception
asynchronously in its thread, at any bytecode. Landing inside urllib3's
connection-pool lock, it left the lock held: every activity thread then
waited on it for ever (seen at N = 100 with an evicting workflow cache). A
cancelled activity runs to its end instead (each makes a few API calls, with
timeouts) and its result is dropped.
"""

from __future__ import annotations

from temporalio import activity

from model.payloads import (
    ActiveJob,
    AppliedChildren,
    ApplyChildrenInput,
    BackupRequested,
    CheckJobReferencesInput,
    CheckJobReferencesResult,
    CleanupInput,
    ConvergePhaseInput,
    CopyDatabaseInput,
    CreateBackupJobInput,
    CreateRestoreJobInput,
    CreateUpgradeJobInput,
    DescribeJobInput,
    DropDatabasesInput,
    FilestoreStepInput,
    FilestoreStepResult,
    FollowJobInput,
    FollowJobResult,
    GatherSnapshotInput,
    OperationPlan,
    PostEventInput,
    PrepareOperationInput,
    RecordOperationInput,
    RecordStatusInput,
    RestoreResult,
    RunEdgeActionsInput,
    SetImageInput,
    SetImageResult,
    Snapshot,
    SwapDatabaseInput,
    SwapDatabaseResult,
    SyncBackupScheduleInput,
    UpgradeResult,
)

__all__ = [
    "STUBS",
    "apply_children",
    "check_backup_request",
    "check_job_references",
    "cleanup_instance",
    "converge_phase",
    "copy_database",
    "create_backup_job",
    "create_restore_job",
    "create_upgrade_job",
    "describe_job",
    "drop_databases",
    "follow_job",
    "gather_snapshot",
    "post_event",
    "prepare_operation",
    "record_operation",
    "record_status",
    "run_edge_actions",
    "run_filestore_step",
    "set_instance_image",
    "swap_database",
    "swap_database_back",
    "sync_backup_schedule",
]


@activity.defn(name="gather_snapshot")
def gather_snapshot(input: GatherSnapshotInput) -> Snapshot:
    """Read everything one wake needs: Deployments, job resources and their
    Jobs, dbInitialized, and permanent configuration problems."""
    raise NotImplementedError


@activity.defn(name="apply_children")
def apply_children(input: ApplyChildrenInput) -> AppliedChildren:
    """Server-side apply every child object of the instance for this generation."""
    raise NotImplementedError


@activity.defn(name="converge_phase")
def converge_phase(input: ConvergePhaseInput) -> None:
    """Scale the Deployments, create the auto init job resource, start a batch Job."""
    raise NotImplementedError


@activity.defn(name="run_edge_actions")
def run_edge_actions(input: RunEdgeActionsInput) -> None:
    """Run a transition's edge actions in order: finish job resources, mark the
    database (un)initialized, restart the web Deployment, prune scheduled backups."""
    raise NotImplementedError


@activity.defn(name="record_status")
def record_status(input: RecordStatusInput) -> None:
    """Write the instance status; post PhaseChanged (and the transition's Warnings)."""
    raise NotImplementedError


@activity.defn(name="cleanup_instance")
def cleanup_instance(input: CleanupInput) -> None:
    """Scale to zero, drop the database and role, remove the finalizer."""
    raise NotImplementedError


@activity.defn(name="create_backup_job")
def create_backup_job(input: CreateBackupJobInput) -> BackupRequested:
    """Make the OdooBackupJob of a backup request (signal, Update, schedule, deletion)."""
    raise NotImplementedError


@activity.defn(name="check_backup_request")
def check_backup_request(input: CreateBackupJobInput) -> None:
    """Refuse a backup request whose OdooBackupJob could not run (BackupRequestInvalid)."""
    raise NotImplementedError


@activity.defn(name="create_restore_job")
def create_restore_job(input: CreateRestoreJobInput) -> RestoreResult:
    """Make the OdooRestoreJob of a `restore` Update (RequestInvalid when it could not run)."""
    raise NotImplementedError


@activity.defn(name="create_upgrade_job")
def create_upgrade_job(input: CreateUpgradeJobInput) -> UpgradeResult:
    """Make the OdooUpgradeJob of an `upgrade` Update."""
    raise NotImplementedError


@activity.defn(name="sync_backup_schedule")
def sync_backup_schedule(input: SyncBackupScheduleInput) -> None:
    """Create, update, pause or delete the instance's Temporal Schedule of backups."""
    raise NotImplementedError


@activity.defn(name="post_event")
def post_event(input: PostEventInput) -> None:
    """Post one Event about the instance."""
    raise NotImplementedError


@activity.defn(name="check_job_references")
def check_job_references(input: CheckJobReferencesInput) -> CheckJobReferencesResult:
    """Mark Failed the unfinished job resources whose odooInstanceRef does not resolve."""
    raise NotImplementedError


@activity.defn(name="follow_job")
def follow_job(input: FollowJobInput) -> FollowJobResult:
    """Follow a running batch Job until it ends, reporting its step and progress (the job
    resource's status, the heartbeat details). Async, on the follower's task queue."""
    raise NotImplementedError


@activity.defn(name="prepare_operation")
def prepare_operation(input: PrepareOperationInput) -> OperationPlan | None:
    """A restore's or upgrade's uid and options, and whether the live database exists
    (asked of PostgreSQL); None when the job resource is gone."""
    raise NotImplementedError


@activity.defn(name="describe_job")
def describe_job(input: DescribeJobInput) -> ActiveJob | None:
    """One job resource's state as the snapshot describes it; None when it is gone."""
    raise NotImplementedError


@activity.defn(name="swap_database")
def swap_database(input: SwapDatabaseInput) -> SwapDatabaseResult:
    """Swap a marked database in as the live one, the live one kept aside (resumable)."""
    raise NotImplementedError


@activity.defn(name="swap_database_back")
def swap_database_back(input: SwapDatabaseInput) -> SwapDatabaseResult:
    """Undo swap_database: the kept-aside database back as the live one (resumable)."""
    raise NotImplementedError


@activity.defn(name="copy_database")
def copy_database(input: CopyDatabaseInput) -> bool:
    """CREATE DATABASE ... TEMPLATE the live one, marked and closed (an upgrade's copy)."""
    raise NotImplementedError


@activity.defn(name="drop_databases")
def drop_databases(input: DropDatabasesInput) -> tuple[str, ...]:
    """Drop an operation's copies and leftovers (only the instance role's databases)."""
    raise NotImplementedError


@activity.defn(name="run_filestore_step")
def run_filestore_step(input: FilestoreStepInput) -> FilestoreStepResult:
    """Create (once) a restore's filestore Job and say where it stands."""
    raise NotImplementedError


@activity.defn(name="record_operation")
def record_operation(input: RecordOperationInput) -> None:
    """Write a restore's or upgrade's own status fields (safetyBackup, previous*)."""
    raise NotImplementedError


@activity.defn(name="set_instance_image")
def set_instance_image(input: SetImageInput) -> SetImageResult:
    """Write the instance's spec.image (an upgrade to a new image, or back)."""
    raise NotImplementedError


STUBS = (
    gather_snapshot,
    apply_children,
    converge_phase,
    run_edge_actions,
    record_status,
    cleanup_instance,
    create_backup_job,
    check_backup_request,
    create_restore_job,
    create_upgrade_job,
    sync_backup_schedule,
    post_event,
    check_job_references,
    follow_job,
    prepare_operation,
    describe_job,
    swap_database,
    swap_database_back,
    copy_database,
    drop_databases,
    run_filestore_step,
    record_operation,
    set_instance_image,
)
