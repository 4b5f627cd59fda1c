"""An in-memory cluster for workflow tests, with same-named fake activities.

The World holds what the real activities would read and write (Deployments,
job resources and their batch Jobs, the instance status, the backups made
and the Events posted, the child objects an apply writes and their drift)
and counts every activity call, so tests can assert "exactly one Job was
created". Its snapshot is derived from that state, so the fakes are
consistent with each other the way a real cluster is.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from model import failures, naming
from model.crds import ScheduledBackups
from model.payloads import (
    ActiveJob,
    AppliedChild,
    AppliedChildren,
    ApplyChildrenInput,
    BackupRequested,
    ChildDrift,
    CleanupInput,
    ConvergePhaseInput,
    CopyDatabaseInput,
    CreateBackup,
    CreateBackupJobInput,
    CreateRestoreJobInput,
    CreateUpgradeJobInput,
    DescribeJobInput,
    Drift,
    DropDatabasesInput,
    EdgeAction,
    FilestoreStepInput,
    FilestoreStepResult,
    FollowJobInput,
    FollowJobResult,
    GatherSnapshotInput,
    JobAction,
    JobKind,
    JobProgress,
    JobRef,
    MarkDatabase,
    OperationPlan,
    OperationRecord,
    PostEventInput,
    PostWarning,
    PrepareOperationInput,
    PruneScheduledBackups,
    QueuedBackup,
    RecordOperationInput,
    RecordStatusInput,
    Replicas,
    RestartWeb,
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
from model.phases import JobPhase, JobState, Phase

CHILDREN = (
    ("ConfigMap", "erp-config"),
    ("Secret", "erp-db-password"),
    ("Service", "erp"),
    ("Deployment", "erp"),
    ("Deployment", "erp-cron"),
)
"""(kind, name) of the child objects the fake apply writes."""
APPLIED = "as-applied"
"""The fingerprint of a child as the fake apply left it."""


def applied_children() -> tuple[AppliedChild, ...]:
    """What the fake apply answers: every child, as applied."""
    return tuple(AppliedChild(kind=k, name=n, fingerprint=APPLIED) for k, n in CHILDREN)


@dataclass
class JobResource:
    kind: JobKind
    name: str
    phase: JobPhase | None = None
    job_name: str | None = None
    due: bool = True
    final: bool = False
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    message: str | None = None
    # A restore's or upgrade's options (OperationPlan's fields).
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    web: Replicas = field(default_factory=Replicas)
    cron: Replicas = field(default_factory=Replicas)
    db_initialized: bool = False
    # The database is gone (missingPolicy Recreate); reported only while the
    # instance believes it initialized and no init runs, like gather_snapshot.
    database_missing: bool = False
    # The same, under missingPolicy Ignore: only reported.
    database_missing_ignored: bool = False
    problems: tuple[str, ...] = ()
    jobs: list[JobResource] = field(default_factory=list)
    batch_jobs: dict[str, JobState] = field(default_factory=dict)
    phase: Phase | None = None
    statuses: list[RecordStatusInput] = field(default_factory=list)
    edges: list[EdgeAction] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    batch_jobs_created: Counter[str] = field(default_factory=Counter)
    cleaned_up: list[str] = field(default_factory=list)
    # OdooBackupJobs made (create_backup_job, CreateBackup), their object keys,
    # and the Events posted (post_event, PostWarning).
    created: list[str] = field(default_factory=list)
    keys: dict[str, str] = field(default_factory=dict)
    events: list[PostEventInput] = field(default_factory=list)
    apply_problem: str | None = None
    # The live child objects: (kind, name) -> fingerprint (absent: deleted), those
    # being deleted (an apply does not bring them back), the drift each apply
    # was told it repairs, and how often a snapshot read them.
    children: dict[tuple[str, str], str] = field(
        default_factory=lambda: dict.fromkeys(CHILDREN, APPLIED)
    )
    deleting: set[tuple[str, str]] = field(default_factory=set)
    restored: list[ChildDrift] = field(default_factory=list)
    # apply_children answers this many generations more (a defaults patch).
    defaults_bump: int = 0
    apply_problem_type: str = failures.CONFIG_INVALID
    # While set, apply_children fails with a retryable error (the API answers 5xx).
    apply_unavailable: threading.Event = field(default_factory=threading.Event)
    fail_record_status: threading.Event = field(default_factory=threading.Event)
    # While set, the instance is gone (deleted without our finalizer): reads say so.
    instance_gone: threading.Event = field(default_factory=threading.Event)
    # sync_backup_schedule refused for good with this message (Temporal's
    # INVALID_ARGUMENT), for any spec.backup.
    schedule_refusal: str | None = None
    # While set, sync_backup_schedule fails with a retryable error.
    schedule_unavailable: threading.Event = field(default_factory=threading.Event)
    # The spec.backup each sync_backup_schedule call was given, and whether it was
    # paused for a hold.
    schedules_synced: list[ScheduledBackups | None] = field(default_factory=list)
    schedules_held: list[bool] = field(default_factory=list)
    # S3 credentials Secrets that do not exist (check_backup_request refuses them).
    missing_secrets: set[str] = field(default_factory=set)
    # While set, converge_phase is refused for good (the API answers 403).
    refuse_converge: threading.Event = field(default_factory=threading.Event)
    # While set, record_status waits (up to 10 s) for `release_record_status`.
    hold_record_status: threading.Event = field(default_factory=threading.Event)
    release_record_status: threading.Event = field(default_factory=threading.Event)
    record_status_waiting: threading.Event = field(default_factory=threading.Event)
    # What the running Job says of its progress: the fake follow_job heartbeats it.
    progress: JobProgress | None = None
    # Seconds (real time) a follow lasts before it returns with the Job still running,
    # as activities.job_follow's FOLLOW_FOR does (None: until the Job ends). The
    # time-skipping test server skips no time while an activity runs: a test that
    # skips workflow time while a Job runs sets it.
    follow_for: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    # --- what the sagas of restores and upgrades touch -------------------------
    # The cluster's databases (name -> what they hold) and their marks, the
    # filestore volume's directories (name under filestore/ -> what they hold).
    databases: dict[str, str] = field(default_factory=dict)
    marks: dict[str, str] = field(default_factory=dict)
    filestores: dict[str, str] = field(default_factory=dict)
    # The instance's database name, learnt from the first prepare_operation, which
    # also makes it hold `live` (None: the instance has no database yet).
    database: str = ""
    live: str | None = None
    image: str | None = None
    generation: int = 1
    records: list[OperationRecord] = field(default_factory=list)
    # When set, converge_phase makes the web replicas it sets ready at once
    # (unless `unhealthy`): a health check passes or fails without a test's help.
    auto_ready: bool = False
    unhealthy: bool = False
    # While this holds (lock held), web replicas do not become ready: "the instance
    # does not start on the restored data" (on the new image...).
    unhealthy_when: Callable[[World], bool] | None = None
    # Activity name -> errors its next calls raise, one per call (then it works);
    # `always_failing`: raised by every call while set.
    failures: dict[str, list[ApplicationError]] = field(default_factory=dict)
    always_failing: dict[str, ApplicationError] = field(default_factory=dict)
    # The next swap dies between its two renames (the live database renamed aside).
    half_swap: bool = False
    # Filestore steps that fail before one succeeds, per action, and what they say.
    filestore_failures: Counter[str] = field(default_factory=Counter)
    filestore_failure: str = "step failed"
    # What the steps of a succeeded Job reported, by job resource name.
    outputs: dict[str, tuple[str, ...]] = field(default_factory=dict)

    # --- what tests do to the world (the kubelet, the user) -------------------

    @classmethod
    def from_snapshot(cls, snap: Snapshot) -> World:
        world = cls(
            web=snap.web,
            cron=snap.cron,
            db_initialized=snap.db_initialized,
            database_missing=snap.database_missing,
            problems=snap.problems,
        )
        for drift in snap.drift:
            key = (drift.kind, drift.name)
            if drift.drift is Drift.MISSING:
                world.children.pop(key, None)
            elif drift.drift is Drift.DELETING:
                world.deleting.add(key)
            else:
                world.children[key] = "edited"
        for kind in JobKind:
            active = snap.job(kind)
            if active is None:
                continue
            world.jobs.append(
                JobResource(kind, active.name, job_name=active.job_name, due=active.due)
            )
            if active.job_name is not None:
                world.batch_jobs[active.job_name] = active.state
        if snap.upgrade is not None or snap.restore is not None:
            # An operation's saga runs: the instance holds data, and its web replicas
            # come up when scaled, so only the row under test decides the outcome.
            world.live = "v1" if snap.upgrade is not None or snap.db_initialized else None
            world.auto_ready = True
        # Extra queued backups beyond the active one.
        for i in range(max(0, snap.pending_backups - (1 if snap.backup else 0))):
            world.jobs.append(JobResource(JobKind.BACKUP, f"backup-queued-{i}"))
        return world

    @classmethod
    def serving(cls) -> World:
        """An initialized instance whose one web pod is ready (Running)."""
        return cls(
            db_initialized=True,
            web=Replicas(desired=1, ready=1, exists=True),
            cron=Replicas(desired=1, exists=True),
        )

    def add_job(self, kind: JobKind, name: str, **options: Any) -> JobResource:
        with self.lock:
            resource = JobResource(kind, name, options=options)
            self.jobs.append(resource)
            return resource

    def finish_batch_job(
        self, kind: JobKind, *, succeeded: bool, name: str | None = None, message: str = ""
    ) -> None:
        """The batch Job of `name` (default: the active resource of `kind`) finished;
        a restore's or upgrade's that succeeded did to the data what the real one does."""
        with self.lock:
            active = (
                next(j for j in self.jobs if j.name == name)
                if name is not None
                else self._active(kind)
            )
            assert active is not None, f"no {kind} resource"
            assert active.job_name is not None, f"no {kind} Job runs"
            self.batch_jobs[active.job_name] = JobState.SUCCEEDED if succeeded else JobState.FAILED
            active.message = message or None
            if succeeded and kind is JobKind.RESTORE:
                self._restored(active)
            elif succeeded and kind is JobKind.UPGRADE:
                self.databases[self.database] = "upgraded"

    def _restored(self, resource: JobResource) -> None:
        """What a restore Job leaves (lock held): the copy loaded, the filestore swapped."""
        db = self.database
        self.databases[naming.restore_database_name(db)] = "restored"
        if db in self.filestores:
            self.filestores[naming.filestore_aside_dir(db, resource.uid)] = self.filestores[db]
        self.filestores[db] = f"restored:{resource.uid}"

    def filestore_step(self, action: str, uid: str) -> None:
        """What scripts/jobs/filestore-step.sh does for `action` (lock held)."""
        db = self.database
        aside = naming.filestore_aside_dir(db, uid)
        ours = self.filestores.get(db) == f"restored:{uid}"
        if action == "undo":
            if ours:
                del self.filestores[db]
            if db not in self.filestores and aside in self.filestores:
                self.filestores[db] = self.filestores.pop(aside)
        elif action == "discard":
            self.filestores.pop(aside, None)

    def fail_calls(self, activity: str, error: ApplicationError, times: int = 1) -> None:
        """The next `times` calls of `activity` raise `error`."""
        with self.lock:
            self.failures.setdefault(activity, []).extend([error] * times)

    def _fault(self, activity: str) -> None:
        with self.lock:
            if activity in self.always_failing:
                raise self.always_failing[activity]
            pending = self.failures.get(activity)
            if pending:
                raise pending.pop(0)

    def set_ready(self, ready: int) -> None:
        with self.lock:
            self.web = self.web.model_copy(update={"ready": ready})

    def delete_child(self, kind: str, name: str) -> None:
        """Someone deleted a child object (kubectl delete)."""
        with self.lock:
            self.children.pop((kind, name), None)

    def drift(self, applied: Sequence[AppliedChild]) -> tuple[ChildDrift, ...]:
        """What gather_snapshot reports for the children `applied` (lock held)."""
        found = []
        for child in applied:
            key = (child.kind, child.name)
            if key not in self.children:
                state: Drift | None = Drift.MISSING
            elif key in self.deleting:
                state = Drift.DELETING
            elif self.children[key] != child.fingerprint:
                state = Drift.CHANGED
            else:
                state = None
            if state is not None:
                found.append(ChildDrift(kind=child.kind, name=child.name, drift=state))
        return tuple(found)

    def run_edge_action(self, input: RunEdgeActionsInput, action: EdgeAction) -> None:
        """What run_edge_actions does to the world for one action (lock held)."""
        if isinstance(action, CreateBackup):
            self.create_backup(action.queued)
        elif isinstance(action, PostWarning):
            self.events.append(
                PostEventInput(
                    ref=input.ref,
                    key=action.key,
                    reason=action.reason,
                    message=action.message,
                    warning=True,
                )
            )
        elif isinstance(action, JobAction):
            resource = self.job_named(action.name)
            resource.phase = JobPhase.COMPLETED if action.succeeded else JobPhase.FAILED
            resource.message = action.message
        elif isinstance(action, MarkDatabase):
            self.db_initialized = action.initialized
            if action.initialized:
                self.database_missing = False  # initialized again
        elif isinstance(action, PruneScheduledBackups):
            self.prune(action)
        else:
            assert isinstance(action, RestartWeb)

    def prune(self, action: PruneScheduledBackups) -> None:
        """Apply a retention (lock held): nothing to prune in a plain world."""

    def create_backup(self, queued: QueuedBackup) -> None:
        """Make the OdooBackupJob of `queued` unless it exists (lock held)."""
        if not any(j.name == queued.name for j in self.jobs):
            self.jobs.append(JobResource(JobKind.BACKUP, queued.name, final=queued.final))
            self.created.append(queued.name)
            self.keys[queued.name] = queued.object_key

    def job_named(self, name: str) -> JobResource:
        return next(j for j in self.jobs if j.name == name)

    # --- the fake activities ------------------------------------------------------

    def _active(self, kind: JobKind) -> JobResource | None:
        return next(
            (j for j in self.jobs if j.kind is kind and (j.phase is None or not j.phase.terminal)),
            None,
        )

    def _describe(self, resource: JobResource) -> ActiveJob:
        """A job resource as activities.snapshot.describe sees it (lock held)."""
        if resource.phase is not None and resource.phase.terminal:
            done = resource.phase is JobPhase.COMPLETED
            state = JobState.SUCCEEDED if done else JobState.FAILED
        elif resource.job_name:
            state = self.batch_jobs.get(resource.job_name, JobState.FAILED)
        else:
            state = JobState.ACTIVE
        return ActiveJob(
            kind=resource.kind,
            name=resource.name,
            state=state,
            job_name=resource.job_name,
            due=resource.due,
            final=resource.final,
            message=resource.message if state is JobState.FAILED else None,
        )

    def snapshot(self) -> Snapshot:
        with self.lock:
            active: dict[str, Any] = {}
            for kind in JobKind:
                resource = self._active(kind)
                if resource is None:
                    continue
                active[kind.value] = self._describe(resource)
            pending = sum(
                1
                for j in self.jobs
                if j.kind is JobKind.BACKUP and (j.phase is None or not j.phase.terminal)
            )
            checked = (
                self.db_initialized
                and JobKind.INIT.value not in active
                and JobKind.RESTORE.value not in active
            )
            waiting = tuple(
                JobRef(kind=j.kind, name=j.name, phase=j.phase, message=j.message)
                for j in self.jobs
                if j.job_name is None and (j.phase is None or not j.phase.terminal)
            )
            return Snapshot(
                web=self.web,
                cron=self.cron,
                waiting_jobs=waiting,
                db_initialized=self.db_initialized,
                database_missing=checked and self.database_missing,
                database_missing_ignored=checked and self.database_missing_ignored,
                problems=self.problems,
                pending_backups=pending,
                **active,
            )

    def activities(self) -> Sequence[Callable[..., Any]]:
        world = self

        @activity.defn(name="gather_snapshot")
        def gather_snapshot(input: GatherSnapshotInput) -> Snapshot:
            world.calls["gather_snapshot"] += 1
            if world.instance_gone.is_set():
                raise ApplicationError(
                    "the OdooInstance is gone", type=failures.INSTANCE_GONE, non_retryable=True
                )
            snap = world.snapshot()
            if input.children is None:
                return snap
            world.calls["read_children"] += 1
            with world.lock:
                return snap.model_copy(update={"drift": world.drift(input.children)})

        @activity.defn(name="apply_children")
        def apply_children(input: ApplyChildrenInput) -> AppliedChildren:
            world.calls["apply_children"] += 1
            world._fault("apply_children")
            if world.apply_unavailable.is_set():
                raise ApplicationError("PATCH ...: 503 unavailable", type="Unavailable")
            if world.apply_problem:
                raise ApplicationError(
                    world.apply_problem, type=world.apply_problem_type, non_retryable=True
                )
            with world.lock:
                world.web = world.web.model_copy(update={"exists": True})
                world.cron = world.cron.model_copy(update={"exists": True})
                for key in CHILDREN:
                    if key not in world.deleting:  # one being deleted stays so
                        world.children[key] = APPLIED
                world.restored.extend(input.restoring)
            # The real one bumps the generation when it writes the operator's defaults.
            return AppliedChildren(
                generation=input.generation + world.defaults_bump, children=applied_children()
            )

        @activity.defn(name="converge_phase")
        def converge_phase(input: ConvergePhaseInput) -> None:
            world.calls["converge_phase"] += 1
            if world.refuse_converge.is_set():
                raise ApplicationError(
                    "POST jobs: 403 forbidden", type=failures.API_REJECTED, non_retryable=True
                )
            with world.lock:
                if input.web_replicas is not None:
                    world.web = world.web.model_copy(update={"desired": input.web_replicas})
                    if world.auto_ready:
                        sick = world.unhealthy or (
                            world.unhealthy_when is not None and world.unhealthy_when(world)
                        )
                        ready = 0 if sick else input.web_replicas
                        world.web = world.web.model_copy(update={"ready": ready})
                if input.cron_replicas is not None:
                    world.cron = world.cron.model_copy(update={"desired": input.cron_replicas})
                if input.create_auto_init:
                    name = naming.auto_init_job_name(input.ref.name)
                    if not any(j.name == name for j in world.jobs):
                        world.jobs.append(JobResource(JobKind.INIT, name))
                for note in input.mark_pending:
                    resource = world.job_named(note.name)
                    resource.phase, resource.message = note.phase, note.message
                if input.start_job is not None:
                    resource = world.job_named(input.start_job.name)
                    job_name = naming.batch_job_name(resource.name, resource.kind.value)
                    if job_name not in world.batch_jobs:  # idempotent, like the real one
                        world.batch_jobs[job_name] = JobState.ACTIVE
                        world.batch_jobs_created[job_name] += 1
                    resource.job_name = job_name
                    resource.phase = JobPhase.RUNNING
                    resource.message = f"running as Job {job_name}"

        @activity.defn(name="run_edge_actions")
        def run_edge_actions(input: RunEdgeActionsInput) -> None:
            world.calls["run_edge_actions"] += 1
            with world.lock:
                for action in input.actions:
                    world.run_edge_action(input, action)
                    world.edges.append(action)

        @activity.defn(name="record_status")
        def record_status(input: RecordStatusInput) -> None:
            world.calls["record_status"] += 1
            if world.fail_record_status.is_set():
                raise RuntimeError("API server unavailable")
            if world.hold_record_status.is_set():
                world.record_status_waiting.set()
                world.release_record_status.wait(timeout=10)
            with world.lock:
                world.phase = input.phase
                world.statuses.append(input)

        @activity.defn(name="cleanup_instance")
        def cleanup_instance(input: CleanupInput) -> None:
            world.calls["cleanup_instance"] += 1
            world.cleaned_up.append(input.ref.uid)

        @activity.defn(name="create_backup_job")
        def create_backup_job(input: CreateBackupJobInput) -> BackupRequested:
            queued = input.queued
            if queued.request.destination is None and input.spec.backup is None:
                raise ApplicationError(
                    "no destination", type=failures.BACKUP_REQUEST_INVALID, non_retryable=True
                )
            with world.lock:
                world.create_backup(queued)
            return BackupRequested(
                name=queued.name, namespace="ns", bucket="b", object_key=queued.object_key
            )

        @activity.defn(name="check_backup_request")
        def check_backup_request(input: CreateBackupJobInput) -> None:
            world.calls["check_backup_request"] += 1
            request, scheduled = input.queued.request, input.spec.backup
            if request.destination is not None:
                where, ref = "destination", request.destination.s3_credentials_secret_ref
            elif scheduled is not None:
                where = "spec.backup.destination"
                ref = scheduled.destination.s3_credentials_secret_ref
            else:
                raise ApplicationError(
                    "destination: none", type=failures.BACKUP_REQUEST_INVALID, non_retryable=True
                )
            if ref is not None and ref.name in world.missing_secrets:
                raise ApplicationError(
                    f"{where}.s3CredentialsSecretRef: Secret {input.ref.namespace}/{ref.name} "
                    "not found",
                    type=failures.BACKUP_REQUEST_INVALID,
                    non_retryable=True,
                )

        @activity.defn(name="sync_backup_schedule")
        def sync_backup_schedule(input: SyncBackupScheduleInput) -> None:
            world.calls["sync_backup_schedule"] += 1
            world.schedules_synced.append(input.backup)
            world.schedules_held.append(input.hold is not None)
            if world.schedule_unavailable.is_set():
                raise ApplicationError("Temporal unavailable", type="RPCError")
            if world.schedule_refusal is not None and input.backup is not None:
                raise ApplicationError(
                    world.schedule_refusal, type=failures.CONFIG_INVALID, non_retryable=True
                )

        @activity.defn(name="post_event")
        def post_event(input: PostEventInput) -> None:
            world.events.append(input)

        @activity.defn(name="prepare_operation")
        def prepare_operation(input: PrepareOperationInput) -> OperationPlan | None:
            world.calls["prepare_operation"] += 1
            world._fault("prepare_operation")
            with world.lock:
                if not world.database:
                    world.database = naming.database_name(input.ref.uid)
                    if world.live is not None:
                        world.databases[world.database] = world.live
                        world.filestores[world.database] = world.live
                resource = next((j for j in world.jobs if j.name == input.name), None)
                if resource is None:
                    return None
                ran = world.batch_jobs.get(resource.job_name or "")
                copy = naming.restore_database_name(world.database)
                done = resource.kind is JobKind.RESTORE and ran is JobState.SUCCEEDED
                if done and copy not in world.databases:
                    world._restored(resource)  # a world made with the Job done
                return OperationPlan(
                    kind=input.kind,
                    name=input.name,
                    uid=resource.uid,
                    database=world.database,
                    live_exists=world.database in world.databases,
                    **resource.options,
                )

        @activity.defn(name="describe_job")
        def describe_job(input: DescribeJobInput) -> ActiveJob | None:
            world.calls["describe_job"] += 1
            world._fault("describe_job")
            with world.lock:
                resource = next((j for j in world.jobs if j.name == input.name), None)
                if resource is None:
                    return None
                found = world._describe(resource)
                outputs = world.outputs.get(resource.name, ())
                return found.model_copy(update={"outputs": outputs})

        @activity.defn(name="swap_database")
        def swap_database(input: SwapDatabaseInput) -> SwapDatabaseResult:
            world.calls["swap_database"] += 1
            world._fault("swap_database")
            swap = input.swap
            with world.lock:
                dbs = world.databases
                if world.marks.get(swap.live) == swap.mark:
                    return SwapDatabaseResult(outcome="AlreadySwapped")
                if swap.incoming not in dbs:
                    raise ApplicationError(
                        f"{swap.incoming} does not exist",
                        type=failures.SWAP_CONFLICT,
                        non_retryable=True,
                    )
                if swap.live in dbs:
                    dbs[swap.aside] = dbs.pop(swap.live)
                    if world.half_swap:
                        world.half_swap = False
                        raise ApplicationError(
                            "server closed the connection unexpectedly",
                            type=failures.POSTGRES_UNAVAILABLE,
                        )
                dbs[swap.live] = dbs.pop(swap.incoming)
                world.marks[swap.live] = swap.mark
            return SwapDatabaseResult(outcome="Swapped")

        @activity.defn(name="swap_database_back")
        def swap_database_back(input: SwapDatabaseInput) -> SwapDatabaseResult:
            world.calls["swap_database_back"] += 1
            world._fault("swap_database_back")
            swap = input.swap
            with world.lock:
                dbs = world.databases
                outcome = "NotSwapped"
                if world.marks.get(swap.live) == swap.mark:
                    dbs[swap.incoming] = dbs.pop(swap.live)
                    world.marks[swap.incoming] = world.marks.pop(swap.live)
                    outcome = "Undone"
                if swap.live not in dbs and swap.aside in dbs:
                    dbs[swap.live] = dbs.pop(swap.aside)
                    outcome = "Undone"
            return SwapDatabaseResult(outcome=outcome)

        @activity.defn(name="copy_database")
        def copy_database(input: CopyDatabaseInput) -> bool:
            world.calls["copy_database"] += 1
            world._fault("copy_database")
            with world.lock:
                if input.copy_name in world.databases:
                    return False
                world.databases[input.copy_name] = world.databases[input.source]
                world.marks[input.copy_name] = input.mark
            return True

        @activity.defn(name="drop_databases")
        def drop_databases(input: DropDatabasesInput) -> tuple[str, ...]:
            world.calls["drop_databases"] += 1
            world._fault("drop_databases")
            with world.lock:
                dropped = tuple(n for n in input.names if world.databases.pop(n, None))
                for name in input.names:
                    world.marks.pop(name, None)
            return dropped

        @activity.defn(name="run_filestore_step")
        def run_filestore_step(input: FilestoreStepInput) -> FilestoreStepResult:
            world.calls["run_filestore_step"] += 1
            job = naming.batch_job_name(input.name, f"filestore-{input.action}-{input.attempt}")
            with world.lock:
                if job in world.batch_jobs:
                    state = world.batch_jobs[job]
                    failed = world.filestore_failure if state is JobState.FAILED else None
                    return FilestoreStepResult(state=state, message=failed, job_name=job)
                world.batch_jobs_created[job] += 1
                if world.filestore_failures[input.action] > 0:
                    world.filestore_failures[input.action] -= 1
                    world.batch_jobs[job] = JobState.FAILED
                    return FilestoreStepResult(
                        state=JobState.FAILED, message=world.filestore_failure
                    )
                world.batch_jobs[job] = JobState.SUCCEEDED
                world.filestore_step(input.action, input.uid)
            return FilestoreStepResult(state=JobState.SUCCEEDED)

        @activity.defn(name="record_operation")
        def record_operation(input: RecordOperationInput) -> None:
            world.calls["record_operation"] += 1
            with world.lock:
                world.records.append(input.record)

        @activity.defn(name="set_instance_image")
        def set_instance_image(input: SetImageInput) -> SetImageResult:
            world.calls["set_instance_image"] += 1
            with world.lock:
                world.image = input.image
                world.generation += 1
                return SetImageResult(generation=world.generation)

        def make(kind: JobKind, name: str) -> tuple[str, ...]:
            """Make the job resource `name` once; what runs before it: the other
            unfinished ones, the running first (the real activity also orders the
            queued ones by kind and age)."""
            world.calls[f"create_{kind.value}_job"] += 1
            with world.lock:
                if not any(j.name == name for j in world.jobs):
                    world.jobs.append(JobResource(kind, name))
                    world.created.append(name)
                return tuple(
                    f"{j.kind.resource_kind}/{j.name}"
                    for j in sorted(world.jobs, key=lambda j: j.job_name is None)
                    if j.name != name and (j.phase is None or not j.phase.terminal)
                )

        @activity.defn(name="create_restore_job")
        def create_restore_job(input: CreateRestoreJobInput) -> RestoreResult:
            ref = input.request.source.s3_credentials_secret_ref
            if ref is not None and ref.name in world.missing_secrets:
                raise ApplicationError(
                    f"restore request refused: source.s3CredentialsSecretRef: Secret "
                    f"{input.ref.namespace}/{ref.name} not found",
                    type=failures.REQUEST_INVALID,
                    non_retryable=True,
                )
            behind = make(JobKind.RESTORE, input.name)
            return RestoreResult(name=input.name, namespace="shop", queued_behind=behind)

        @activity.defn(name="create_upgrade_job")
        def create_upgrade_job(input: CreateUpgradeJobInput) -> UpgradeResult:
            behind = make(JobKind.UPGRADE, input.name)
            return UpgradeResult(name=input.name, namespace="shop", queued_behind=behind)

        return [
            prepare_operation,
            describe_job,
            swap_database,
            swap_database_back,
            copy_database,
            drop_databases,
            run_filestore_step,
            record_operation,
            set_instance_image,
            gather_snapshot,
            apply_children,
            converge_phase,
            run_edge_actions,
            record_status,
            cleanup_instance,
            create_backup_job,
            check_backup_request,
            sync_backup_schedule,
            post_event,
            create_restore_job,
            create_upgrade_job,
        ]

    def follower(self) -> Sequence[Callable[..., Any]]:
        """The follow_job activity (on its own task queue, as odoo_operator.worker runs it):
        it returns once the World's batch Job ends or is gone, as the real one does."""
        world = self

        @activity.defn(name="follow_job")
        async def follow_job(input: FollowJobInput) -> FollowJobResult:
            world.calls["follow_job"] += 1
            started = time.monotonic()
            while world.batch_jobs.get(input.job_name) is JobState.ACTIVE:
                progress = world.progress
                activity.heartbeat(*((progress.describe(), progress) if progress else ()))
                if world.follow_for is not None and time.monotonic() - started > world.follow_for:
                    return FollowJobResult(ended=False, progress=progress)
                await asyncio.sleep(0.02)
            return FollowJobResult(ended=True, progress=world.progress)

        return [follow_job]
