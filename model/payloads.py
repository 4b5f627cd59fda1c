"""Every payload that crosses a Temporal boundary: workflow input, signals,
queries, activity inputs and results, and the `Snapshot`.

One typed object in, one out (`<Operation>Input` / `<Operation>Result`), frozen
and `extra="forbid"`, so fields can be added without breaking callers. No
secret value ever appears in these models: activities read Secrets themselves.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from model import children, naming
from model.crds import (
    BackupFormat,
    BackupRetention,
    OdooInstanceSpec,
    S3Config,
    ScheduledBackups,
)
from model.crds.common import ModuleName
from model.phases import JobPhase, JobState, Phase

__all__ = [
    "ActiveJob",
    "AppliedChild",
    "ApplyChildrenInput",
    "BackupRequest",
    "BackupRequested",
    "CheckJobReferencesInput",
    "CheckJobReferencesResult",
    "ChildDrift",
    "CleanupInput",
    "ConvergePhaseInput",
    "CopyDatabaseInput",
    "CreateBackup",
    "CreateBackupJobInput",
    "CreateRestoreJobInput",
    "CreateUpgradeJobInput",
    "DatabaseSwap",
    "DeleteRequest",
    "DescribeJobInput",
    "Drift",
    "DropDatabasesInput",
    "EdgeAction",
    "FilestoreStepInput",
    "FilestoreStepResult",
    "FollowJobInput",
    "FollowJobResult",
    "GatherSnapshotInput",
    "Hold",
    "HoldInput",
    "HoldRecord",
    "HoldResult",
    "InstanceRef",
    "InstanceWorkflowInput",
    "InstanceWorkflowResult",
    "JobAction",
    "JobKind",
    "JobProgress",
    "JobRef",
    "JobRequested",
    "KeptAside",
    "LastOperation",
    "MachineState",
    "MarkDatabase",
    "OperationPlan",
    "OperationRecord",
    "Poke",
    "PostEventInput",
    "PostWarning",
    "PrepareOperationInput",
    "PruneBackupsInput",
    "PruneBackupsResult",
    "PruneScheduledBackups",
    "QueuedBackup",
    "RecordOperationInput",
    "RecordStatusInput",
    "Replicas",
    "RestartWeb",
    "RestoreInput",
    "RestoreResult",
    "ResumeInput",
    "ResumeResult",
    "RunEdgeActionsInput",
    "ScheduledBackupInput",
    "SetImageInput",
    "SetImageResult",
    "Snapshot",
    "SpecUpdate",
    "SwapDatabaseInput",
    "SwapDatabaseResult",
    "SyncBackupScheduleInput",
    "TransitionRecord",
    "UpgradeInput",
    "UpgradeResult",
    "WorkflowSettings",
]


class Payload(BaseModel):
    """Base of every payload: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class JobKind(StrEnum):
    """The job resources an instance consumes, by what they do."""

    INIT = "init"
    UPGRADE = "upgrade"
    RESTORE = "restore"
    BACKUP = "backup"

    @property
    def resource_kind(self) -> str:
        return _RESOURCE_KINDS[self]

    @property
    def plural(self) -> str:
        return _RESOURCE_KINDS[self].lower() + "s"


_RESOURCE_KINDS = {
    JobKind.INIT: "OdooInitJob",
    JobKind.UPGRADE: "OdooUpgradeJob",
    JobKind.RESTORE: "OdooRestoreJob",
    JobKind.BACKUP: "OdooBackupJob",
}


class InstanceRef(Payload):
    """Which OdooInstance a workflow drives. The uid tells incarnations apart."""

    namespace: str
    name: str
    uid: str


class Replicas(Payload):
    """A Deployment's desired (`spec.replicas`) and ready replica counts."""

    desired: int = 0
    ready: int = 0
    exists: bool = False


class ActiveJob(Payload):
    """The oldest non-terminal job resource of one kind for an instance."""

    kind: JobKind
    name: str
    state: JobState
    job_name: str | None = Field(
        default=None, description="The batch/v1 Job running it, once started."
    )
    due: bool = Field(
        default=True,
        description="False while an upgrade's scheduledTime lies in the future "
        "(decided by the snapshot activity, never by the workflow clock).",
    )
    message: str | None = None
    scheduled_time: datetime | None = Field(
        default=None, description="An upgrade's scheduledTime while it is not yet due."
    )
    scheduled: bool = Field(
        default=False, description="A backup made by spec.backup's schedule (retention applies)."
    )
    final: bool = Field(
        default=False,
        description="A backup made for the instance's deletion (spec.backup.finalBackup): "
        "the database is dropped only once it completed.",
    )
    outputs: tuple[str, ...] = Field(
        default=(),
        description="What the steps of a succeeded Job reported (their termination "
        "messages, in step order): a restore's filestore step says what it put in place.",
    )


class JobRef(Payload):
    """A job resource by kind and name (in the instance's namespace), and what its
    status says (the snapshot: as it is; converge_phase: what to write)."""

    kind: JobKind
    name: str
    phase: JobPhase | None = None
    message: str | None = None


class Drift(StrEnum):
    """How a child object differs from what the last apply left."""

    MISSING = "Missing"
    DELETING = "Deleting"
    """It has a deletionTimestamp: restored once it is gone (its deletion pokes)."""
    CHANGED = "Changed"
    """Someone changed what the operator sets on it (model.children.fingerprint)."""


class AppliedChild(Payload):
    """One object apply_children wrote, with its fingerprint as the API server
    answered the write (model.children.fingerprint)."""

    kind: str
    name: str
    fingerprint: str


class ChildDrift(Payload):
    """A child object the snapshot found missing, being deleted or changed."""

    kind: str
    name: str
    drift: Drift

    @property
    def missing(self) -> bool:
        """Missing or on its way out: the instance lacks it (not Running)."""
        return self.drift is not Drift.CHANGED

    def describe(self) -> str:
        """What status.message says about it until it is restored."""
        what = f"{self.kind} {self.name}"
        if self.drift is Drift.MISSING:
            return f"{what} is missing; restoring it"
        if self.drift is Drift.DELETING:
            return f"{what} is being deleted; restoring it once it is gone"
        if self.kind in children.SOURCE_KINDS:
            return f"{what} changed; the database role and the pods follow it"
        return f"{what} was changed; restoring what the operator sets on it"


class Snapshot(Payload):
    """Everything the phase machine knows about an instance at one wake.

    Gathered by one activity doing all reads; guards and ensure() are pure
    functions of (spec, snapshot).
    """

    web: Replicas = Replicas()
    cron: Replicas = Replicas()
    db_initialized: bool = False
    init: ActiveJob | None = None
    upgrade: ActiveJob | None = None
    restore: ActiveJob | None = None
    backup: ActiveJob | None = None
    pending_backups: int = 0
    problems: tuple[str, ...] = Field(
        default=(),
        description="Permanent configuration problems, each saying what to fix. "
        "Any problem puts the instance in Error until it is fixed.",
    )
    database_missing: bool = Field(
        default=False,
        description="The database of an initialized instance is gone and "
        "spec.database.missingPolicy is Recreate. Never set under Ignore, nor when "
        "PostgreSQL could not answer (unknown is not missing).",
    )
    database_missing_ignored: bool = Field(
        default=False,
        description="The database of an initialized instance is gone and "
        "spec.database.missingPolicy is Ignore: nothing changes but the report (the "
        "status write posts a DatabaseMissing Warning Event, once per generation).",
    )
    waiting_jobs: tuple[JobRef, ...] = Field(
        default=(),
        description="Job resources of this instance that wait: not started (no "
        "status.jobName), not finished, not refused; oldest first within a kind, each with "
        "the phase and message its status shows now. The workflow makes each show "
        "Pending and why it waits, or, in Error, fails it with the instance's problem.",
    )
    wake_at: datetime | None = Field(
        default=None,
        description="When the next scheduled upgrade becomes due (the workflow wakes "
        "then; the snapshot activity, not the workflow clock, decides it is due).",
    )
    refused_jobs: tuple[JobAction, ...] = Field(
        default=(),
        description="Queued job resources that cannot run as written (a missing "
        "credentials Secret...), each a failed JobAction whose message names the field. "
        "Never an active job: the phase machine does not move for them, and the "
        "workflow marks them Failed.",
    )
    drift: tuple[ChildDrift, ...] = Field(
        default=(),
        description="Child objects not as the last apply left them (read when "
        "GatherSnapshotInput.children asks; the workflow carries them between reads). "
        "A missing one keeps the instance out of Running; each is restored by a re-apply.",
    )

    def job(self, kind: JobKind) -> ActiveJob | None:
        return {
            JobKind.INIT: self.init,
            JobKind.UPGRADE: self.upgrade,
            JobKind.RESTORE: self.restore,
            JobKind.BACKUP: self.backup,
        }[kind]

    def job_state(self, kind: JobKind) -> JobState:
        active = self.job(kind)
        return active.state if active is not None else JobState.ABSENT


class TransitionRecord(Payload):
    """One phase change, as the `transitions` query reports it."""

    from_phase: Phase
    to_phase: Phase
    guard: str
    at: str = Field(description="Workflow time, ISO 8601.")
    generation: int = 0


# --- workflow input, signals and state ------------------------------------------


class SpecUpdate(Payload):
    """Signal `set_spec`: the whole current spec of an instance (level based).

    `spec` never carries a secret: the watcher sends `spec.redacted()`, and
    activities read what they need from the API themselves.
    """

    ref: InstanceRef
    generation: int
    spec: OdooInstanceSpec
    problem: str | None = Field(
        default=None,
        description="This generation's spec does not parse: why (field paths and "
        "messages, never values). The workflow shows it (Error, status.message) and "
        "applies nothing of it; `spec` is then a stand-in (the fields that parse), used "
        "only to start a workflow that does not run yet.",
    )


class Poke(Payload):
    """Signal `poke`: something the instance owns changed; look again."""

    reason: str = ""
    children_changed: bool = Field(
        default=False,
        description="A child object was deleted, or what the operator sets on it changed "
        "(its model.children fingerprint): the next snapshot reads the children.",
    )


class DeleteRequest(Payload):
    """Signal `delete_instance`: the instance has a deletionTimestamp."""

    uid: str


class WorkflowSettings(Payload):
    """Timing knobs of the instance workflow (tests shrink them).

    The defaults keep an idle instance's history under 20 events a day (two
    resyncs of 6 events, one re-apply of 6) and every run under 2,000 events
    (`history_length_limit`): the UI then shows a run's story in a page or
    two and a worker replays it quickly.
    """

    resync_interval: timedelta = Field(
        default=timedelta(hours=12),
        description="Periodic re-check (one snapshot) covering missed events. Changes of "
        "the Deployments, Jobs and job resources reach the workflow as pokes at once (a "
        "running Job through the follow_job activity); this timer is the safety net (a "
        "database dropped out of band, a lost event). Each costs 6 history events.",
    )
    reapply_interval: timedelta = Field(
        default=timedelta(hours=24),
        description="A resync also applies the child objects again when they were last "
        "applied this long ago (a child deleted or edited by hand comes back at once "
        "anyway: its watch event pokes). A spec change applies at once.",
    )
    job_poll_interval: timedelta = Field(
        default=timedelta(seconds=10),
        description="Re-check period while a batch Job runs that no follow_job activity "
        "follows (the deletion's final backup while it waits to start).",
    )
    newer_spec_grace: timedelta = Field(
        default=timedelta(seconds=10),
        description="How long a wake may still run once a newer generation arrived "
        "before it is cancelled for the new spec (an activity retrying with the old one "
        "must not hold it back; a wake normally ends within a second or two).",
    )
    restore_interval: timedelta = Field(
        default=timedelta(seconds=10),
        description="A child object found missing or changed is restored by a re-apply at "
        "most once per this interval (counted from the last apply), so a fight with another "
        "controller over an object cannot loop hot.",
    )
    history_limit: int = Field(
        default=20, description="Transitions kept for the `transitions` query."
    )
    history_length_limit: int = Field(
        default=1_500,
        description="A run continues as new once its history has this many events (a "
        "wake adds a few dozen at most, so a run stays under 2,000; Temporal itself "
        "suggests it only at 4,096 or 4 MB).",
    )
    start_timeout: timedelta = Field(
        default=timedelta(minutes=10),
        description="How long a restore or an upgrade waits for every web replica to be "
        "ready on the new data before it rolls back (the health check after the swap).",
    )
    continue_as_new_after: int = Field(
        default=0,
        description="Force continue-as-new after this many wakes (0: only when the "
        "history is long, or the SDK suggests it). A test knob.",
    )


class LastOperation(Payload):
    """The last job resource the instance finished (the OdooLastOperation and
    OdooLastOutcome search attributes, the workflow's current details)."""

    kind: JobKind
    name: str
    succeeded: bool
    at: datetime = Field(description="Workflow time the workflow saw it finish.")

    @property
    def outcome(self) -> str:
        return "Succeeded" if self.succeeded else "Failed"


class MachineState(Payload):
    """All the state an instance workflow carries across continue-as-new."""

    ref: InstanceRef
    spec: OdooInstanceSpec
    generation: int
    phase: Phase = Phase.PROVISIONING
    applied_generation: int = Field(
        default=0, description="Generation whose child objects were applied."
    )
    applied_at: datetime | None = Field(
        default=None, description="Workflow time of the last successful apply."
    )
    children: tuple[AppliedChild, ...] = Field(
        default=(),
        description="The objects the last apply wrote, with their fingerprints: what "
        "the snapshot compares the live ones with.",
    )
    recorded_status: str = Field(
        default="", description="Digest of the last status written, to skip no-op writes."
    )
    transitions: tuple[TransitionRecord, ...] = ()
    deleting: bool = False
    successor: SpecUpdate | None = Field(
        default=None,
        description="A spec for a new incarnation (new uid) received while this one "
        "was being deleted; it takes over once cleanup is done.",
    )
    backup_requests: tuple[QueuedBackup, ...] = Field(
        default=(), description="Signalled backups not yet made into OdooBackupJobs."
    )
    schedule_synced: bool = Field(
        default=False,
        description="A Temporal Schedule was made for spec.backup (so a removed "
        "spec.backup deletes it).",
    )
    schedule_digest: str = Field(
        default="", description="Digest of the spec.backup the schedule was last synced to."
    )
    refused_requests: tuple[PostWarning, ...] = Field(
        default=(),
        description="Backup signals that did not parse, as the Warnings the main loop "
        "posts (a signal cannot answer its sender).",
    )
    spec_problem: str | None = Field(
        default=None,
        description="Why the spec of `generation` does not parse (SpecUpdate.problem): "
        "a problem of the instance until a generation that parses arrives; `spec` "
        "stays the last one that parsed and nothing is applied meanwhile.",
    )
    schedule_problem: str | None = Field(
        default=None,
        description="Why Temporal refused the Schedule of that spec.backup: a problem of "
        "the instance (Error, status.message) until spec.backup changes.",
    )
    failure: str | None = Field(
        default=None,
        description="Why a failed job put the instance in its phase (InitFailed: the "
        "OdooInitJob's failure): status.message while the phase lasts, so a later status "
        "write does not clear it; dropped by the next transition.",
    )
    apply_problem: str | None = Field(
        default=None,
        description="Why the last apply (or another activity) was refused for good, carried "
        "across continue-as-new so the instance stays in Error until an apply succeeds.",
    )
    hold: Hold | None = Field(
        default=None,
        description="The instance is on hold (the `hold` Update) until `resume`: nothing is "
        "applied, scaled or started but a stop (replicas 0) and the deletion.",
    )
    holds: tuple[HoldRecord, ...] = Field(
        default=(),
        description="The holds and when each ended (the `holds` query; kubectl odoo "
        "history), the newest workflows.operations.HOLDS_KEPT.",
    )
    schedule_held: bool = Field(
        default=False,
        description="The backup Schedule was paused for the hold (resumed with it).",
    )
    last_backup: datetime | None = Field(
        default=None,
        description="Workflow time the last backup completed successfully (the "
        "OdooLastBackup search attribute).",
    )
    last_operation: LastOperation | None = Field(
        default=None, description="The last job resource finished, and how."
    )
    kept_aside: tuple[KeptAside, ...] = Field(
        default=(),
        description="What completed restores and upgrades replaced and keep until the "
        "instance is Running on the new data and their keepPreviousFor passed.",
    )
    notice: str | None = Field(
        default=None,
        description="What the last restore or upgrade says about itself (a failure and its "
        "rollback): status.message while nothing else is shown (a configuration problem, "
        "drift, a failed job's phase); cleared when the next one starts.",
    )


class KeptAside(Payload):
    """What one completed operation (a job resource) keeps aside, and from when it may go."""

    kind: JobKind
    name: str
    uid: str
    databases: tuple[str, ...] = ()
    filestore: str | None = Field(
        default=None, description="The kept-aside filestore directory (a restore's)."
    )
    not_before: datetime = Field(description="Workflow time after which it may be removed.")
    attempts: int = Field(default=0, description="Removal attempts that failed so far.")


class BackupRequest(Payload):
    """Signal and Update `backup`: back up now (the request becomes an OdooBackupJob).

    Every field is optional: without `destination` the backup goes to
    spec.backup's bucket under a generated key; format and filestore default
    to spec.backup's (zip with filestore without it). JSON from the temporal
    CLI may use camelCase (`withFilestore`, `objectKey`), as kubectl does.
    """

    destination: S3Config | None = None
    format: BackupFormat | None = None
    with_filestore: bool | None = Field(default=None, alias="withFilestore")
    scheduled: bool = Field(
        default=False,
        description="Sent by spec.backup's Temporal Schedule: retention applies to it.",
    )


class BackupRequested(Payload):
    """Update `backup`'s answer: the OdooBackupJob made for the request, and the
    unfinished job resources it waits for (see JobRequested)."""

    name: str
    namespace: str
    bucket: str
    object_key: str = Field(alias="objectKey")
    queued_behind: tuple[str, ...] = Field(default=(), alias="queuedBehind")


class JobRequested(Payload):
    """What an operation Update answers: the job resource made for the request, and the
    unfinished job resources of the instance that run before it (empty: it runs next),
    each as `<Kind>/<name>`."""

    name: str
    namespace: str
    queued_behind: tuple[str, ...] = Field(default=(), alias="queuedBehind")


class RestoreInput(Payload):
    """Update `restore`: replace the instance's database and filestore with a backup
    from S3 (the request becomes an OdooRestoreJob).

    `format` defaults to what the object key's extension names (`.zip`, `.sql`,
    `.dump`), else zip. JSON from the temporal CLI may use camelCase, as kubectl does.
    """

    source: S3Config
    format: BackupFormat | None = None
    neutralize: bool = Field(
        default=True,
        description="Neutralize the copy and give it a new identity (OdooRestoreJob's "
        "spec.neutralize); false only for a production restore of the same database.",
    )

    @property
    def backup_format(self) -> BackupFormat:
        if self.format is not None:
            return self.format
        return BackupFormat(naming.backup_format_of(self.source.object_key) or "zip")


class RestoreResult(JobRequested):
    """Update `restore`'s answer: the OdooRestoreJob made."""


class UpgradeInput(Payload):
    """Update `upgrade`: update and/or install modules (the request becomes an
    OdooUpgradeJob). Both lists empty: `-u all`."""

    modules: tuple[ModuleName, ...] = ()
    modules_install: tuple[ModuleName, ...] = Field(default=(), alias="modulesInstall")
    scheduled_time: datetime | None = Field(default=None, alias="scheduledTime")


class UpgradeResult(JobRequested):
    """Update `upgrade`'s answer: the OdooUpgradeJob made."""


class Hold(Payload):
    """An instance on hold: why, and since when (workflow time)."""

    reason: str
    since: datetime


class HoldRecord(Payload):
    """One hold in the instance's history: why, from when, until when (None: still on)."""

    reason: str
    since: datetime
    until: datetime | None = None


class HoldInput(Payload):
    """Update `hold`: stop acting on the instance (a stop and the deletion excepted)
    until `resume`. Holding a held instance replaces the reason, not the time."""

    reason: str = Field(min_length=1, max_length=1024)


class HoldResult(Payload):
    hold: Hold
    already_held: bool = Field(default=False, alias="alreadyHeld")


class ResumeInput(Payload):
    """Update `resume`: end a hold; the operator applies the spec again."""


class ResumeResult(Payload):
    """The hold that ended (None: the instance was not on hold)."""

    ended: Hold | None = None


class QueuedBackup(Payload):
    """A signalled backup request with its deterministic names, until it is created."""

    request: BackupRequest
    name: str
    object_key: str
    final: bool = False


class InstanceWorkflowInput(Payload):
    state: MachineState
    settings: WorkflowSettings = WorkflowSettings()


class InstanceWorkflowResult(Payload):
    ref: InstanceRef
    phase: Phase
    cleaned_up: bool


# --- activity inputs ------------------------------------------------------------------


class GatherSnapshotInput(Payload):
    ref: InstanceRef
    spec: OdooInstanceSpec
    children: tuple[AppliedChild, ...] | None = Field(
        default=None,
        description="Read these child objects and report in Snapshot.drift those not "
        "as applied; None: do not read them (an API request each).",
    )


class ApplyChildrenInput(Payload):
    ref: InstanceRef
    spec: OdooInstanceSpec
    generation: int
    restoring: tuple[ChildDrift, ...] = Field(
        default=(),
        description="The drift this apply repairs: a Normal Event for each once applied.",
    )


class AppliedChildren(Payload):
    """apply_children's answer: the generation the applied objects correspond to.

    Usually the input's; one more when the activity wrote the operator's
    defaults into the spec (a merge patch of spec bumps metadata.generation),
    so the watcher's `set_spec` for that generation needs no second apply.
    `children`: every object written, with its fingerprint (what drift is
    measured against). `namespace_terminating`: the namespace is being deleted
    and refused a create, so the apply stopped there (nothing is reported: the
    instance goes with its namespace).
    """

    generation: int
    children: tuple[AppliedChild, ...] = ()
    namespace_terminating: bool = False


class ConvergePhaseInput(Payload):
    """Make the cluster match one phase's ensure() output."""

    ref: InstanceRef
    spec: OdooInstanceSpec
    web_replicas: int | None = None
    cron_replicas: int | None = None
    create_auto_init: bool = False
    start_job: ActiveJob | None = None
    mark_pending: tuple[JobRef, ...] = Field(
        default=(), description="Waiting job resources to show Pending with their message."
    )


# --- edge actions: one-shot effects of a transition (workflows.machine.Action) ---
# Typed data the workflow hands to the run_edge_actions activity, which runs
# them in order; `edge` tells them apart on the wire.


class JobAction(Payload):
    """Finish a job resource: write its terminal phase (and fire its webhook)."""

    edge: Literal["finish_job"] = "finish_job"
    kind: JobKind
    name: str
    succeeded: bool
    message: str | None = None


class MarkDatabase(Payload):
    """Write status.dbInitialized (MarkDbInitialized, MarkDbUninitialized)."""

    edge: Literal["mark_database"] = "mark_database"
    initialized: bool


class RestartWeb(Payload):
    """Rollout-restart the web Deployment (after an upgrade: new modules loaded)."""

    edge: Literal["restart_web"] = "restart_web"


class PruneScheduledBackups(Payload):
    """Apply spec.backup.retention to the completed scheduled backups (after one completed)."""

    edge: Literal["prune_scheduled_backups"] = "prune_scheduled_backups"
    retention: BackupRetention


class CreateBackup(Payload):
    """Make the OdooBackupJob of a queued request (CreateFinalBackup: a deletion's)."""

    edge: Literal["create_backup"] = "create_backup"
    queued: QueuedBackup


class PostWarning(Payload):
    """Post a Warning Event about the instance (WarnFinalBackupFailed); `key` names it."""

    edge: Literal["post_warning"] = "post_warning"
    key: str
    reason: str
    message: str


EdgeAction = Annotated[
    JobAction | MarkDatabase | RestartWeb | PruneScheduledBackups | CreateBackup | PostWarning,
    Field(discriminator="edge"),
]


class RunEdgeActionsInput(Payload):
    """The edge actions of one transition (and the job resources the snapshot
    refused), run in order before the status is written."""

    ref: InstanceRef
    spec: OdooInstanceSpec
    actions: tuple[EdgeAction, ...]


class RecordStatusInput(Payload):
    """Write the instance status; on a phase change also post a PhaseChanged Event
    (and the Warnings the transition calls for). Its edge actions ran before."""

    ref: InstanceRef
    phase: Phase
    previous_phase: Phase | None = None
    generation: int
    spec: OdooInstanceSpec
    ready_replicas: int = 0
    message: str | None = None
    failed_jobs: tuple[JobAction, ...] = Field(
        default=(),
        description="Job resources the transition marked Failed: a JobFailed Warning "
        "Event on the instance for each.",
    )
    database_lost: bool = Field(
        default=False,
        description="The transition marks the database uninitialized because it "
        "disappeared (missingPolicy Recreate): post a DatabaseMissing Warning Event.",
    )
    database_missing_ignored: bool = Field(
        default=False,
        description="The snapshot found the database gone under missingPolicy Ignore: "
        "post a DatabaseMissing Warning Event, once per generation (phase change or not).",
    )
    hold: Hold | None = Field(
        default=None,
        description="The instance is on hold: the Held condition, and status.message says so.",
    )


class CleanupInput(Payload):
    ref: InstanceRef
    spec: OdooInstanceSpec


class CreateBackupJobInput(Payload):
    """Make the OdooBackupJob of a backup request (idempotent: a fixed name)."""

    ref: InstanceRef
    spec: OdooInstanceSpec
    queued: QueuedBackup


class CreateRestoreJobInput(Payload):
    """Make the OdooRestoreJob `name` of a restore request (idempotent: a fixed name)."""

    ref: InstanceRef
    name: str
    request: RestoreInput


class CreateUpgradeJobInput(Payload):
    """Make the OdooUpgradeJob `name` of an upgrade request (idempotent: a fixed name)."""

    ref: InstanceRef
    name: str
    request: UpgradeInput


class PruneBackupsInput(Payload):
    """Apply spec.backup.retention to the completed scheduled backups of an instance."""

    ref: InstanceRef
    retention: BackupRetention


class PruneBackupsResult(Payload):
    deleted: tuple[str, ...] = ()


class SyncBackupScheduleInput(Payload):
    """Create, update, pause or delete (backup None) the instance's backup Schedule.
    Paused while spec.backup.suspend is true or the instance is on hold (`hold`)."""

    ref: InstanceRef
    backup: ScheduledBackups | None
    hold: Hold | None = None


class ScheduledBackupInput(Payload):
    """Input of the OdooScheduledBackup workflow a Schedule starts."""

    namespace: str
    name: str


class PostEventInput(Payload):
    """One Event about an instance; `key` makes its name (a retry posts it once)."""

    ref: InstanceRef
    key: str
    reason: str
    message: str
    warning: bool = False


# --- the sagas of restores and upgrades (workflows.replacements) ---------------------


class PrepareOperationInput(Payload):
    """Read what an operation (a restore or upgrade job resource) needs before it starts."""

    ref: InstanceRef
    spec: OdooInstanceSpec
    kind: JobKind
    name: str


class OperationPlan(Payload):
    """prepare_operation's answer: the job resource's uid and options, and whether the
    live database exists (checked in PostgreSQL). None when the resource is gone."""

    kind: JobKind
    name: str
    uid: str
    database: str
    live_exists: bool
    safety_backup: bool = True
    safety_destination: S3Config | None = None
    keep_previous: timedelta = timedelta(0)
    image: str | None = Field(default=None, description="An upgrade's target image.")
    backup_format: BackupFormat | None = Field(
        default=None, description="A restore's backup format."
    )


class DescribeJobInput(Payload):
    """One job resource by kind and name: its state as a snapshot would describe it."""

    ref: InstanceRef
    kind: JobKind
    name: str


class DatabaseSwap(Payload):
    """The names of one swap: `incoming` (marked `mark`) becomes `live`, the previous
    `live` is kept as `aside` (activities.databases.swap_in, swap_back)."""

    live: str
    incoming: str
    aside: str
    mark: str


class SwapDatabaseInput(Payload):
    ref: InstanceRef
    spec: OdooInstanceSpec
    swap: DatabaseSwap


class SwapDatabaseResult(Payload):
    outcome: str = Field(description="activities.databases.SwapOutcome's value.")


class CopyDatabaseInput(Payload):
    """CREATE DATABASE `copy` TEMPLATE `source`, marked (an upgrade's kept-aside copy)."""

    ref: InstanceRef
    spec: OdooInstanceSpec
    source: str
    copy_name: str
    mark: str


class DropDatabasesInput(Payload):
    """Drop these databases of the instance's role (an operation's copies and leftovers)."""

    ref: InstanceRef
    spec: OdooInstanceSpec
    names: tuple[str, ...]


class FilestoreStepInput(Payload):
    """Run (create, or look at) the filestore Job `<name>-filestore-<action>-<attempt>`
    of a restore (specs.jobs.filestore_job)."""

    ref: InstanceRef
    spec: OdooInstanceSpec
    name: str
    uid: str
    action: str
    attempt: int = 1


class FilestoreStepResult(Payload):
    state: JobState
    message: str | None = None
    job_name: str | None = Field(
        default=None, description="The filestore Job (followed while it runs)."
    )


class OperationRecord(Payload):
    """Fields of a restore's or upgrade's status to write (None: leave as it is)."""

    safety_backup: str | None = None
    previous_database: str | None = None
    previous_filestore: str | None = None
    previous_image: str | None = None
    previous_removed_at: datetime | None = None
    previous_database_gone: bool = Field(
        default=False,
        description="Clear previousDatabase: the rollback of an upgrade put that copy back "
        "as the live database (or dropped it before the Job ran).",
    )


class RecordOperationInput(Payload):
    ref: InstanceRef
    kind: JobKind
    name: str
    record: OperationRecord


class SetImageInput(Payload):
    """Write spec.image of the instance (an upgrade to a new image, or its rollback)."""

    ref: InstanceRef
    image: str


class SetImageResult(Payload):
    generation: int = Field(description="metadata.generation after the write.")


class CheckJobReferencesInput(Payload):
    """Input of the OdooJobReferences workflow and its `check_job_references` activity:
    the job resources of `namespace` whose spec.odooInstanceRef names `instance`."""

    namespace: str
    instance: str


class CheckJobReferencesResult(Payload):
    """The job resources marked Failed, as `<Kind>/<name>`."""

    failed: tuple[str, ...] = ()


class JobProgress(Payload):
    """How far a running batch Job has come: its step, and what the step last said of
    its progress (a `progress:` line of scripts/jobs/, or Odoo's module count)."""

    step: str
    done: int | None = None
    total: int | None = None
    unit: Literal["bytes", "rows", "tables", "modules"] = "bytes"

    def describe(self) -> str:
        """`upload, 38 MB of 120 MB`: what status.progress and the UI show."""
        amount = self.amount()
        return f"{self.step}, {amount}" if amount else self.step

    def amount(self) -> str:
        """`38 MB of 120 MB`, `3 of 87 modules`; empty before the step said anything."""
        if self.done is None:
            return ""
        if self.unit != "bytes":
            total = f" of {self.total}" if self.total is not None else ""
            return f"{self.done}{total} {self.unit}"
        if self.total is None:
            return _bytes(self.done)
        return f"{_bytes(self.done)} of {_bytes(self.total)}"


def _bytes(count: int) -> str:
    """A byte count as people read it: 950 B, 2.0 kB, 38 MB, 12 GB (SI units)."""
    value, suffix = float(count), "B"
    for larger in ("kB", "MB", "GB", "TB"):
        if value < 1000:
            break
        value, suffix = value / 1000, larger
    if suffix == "B":
        return f"{count} B"
    return f"{value:.1f} {suffix}" if value < 10 else f"{value:.0f} {suffix}"


class FollowJobInput(Payload):
    """Follow the running batch Job `job_name` of the job resource `name` until it ends."""

    ref: InstanceRef
    kind: JobKind
    name: str
    job_name: str


class FollowJobResult(Payload):
    """follow_job's answer: the Job ended (or is gone), or the follow ran its time and
    the Job still runs (the workflow follows it again)."""

    ended: bool
    progress: JobProgress | None = None
