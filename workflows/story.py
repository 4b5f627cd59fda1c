"""What an instance's history and the Temporal UI say: summaries and current details.

Owns the words of the story an instance workflow tells through Temporal's
user metadata, so the UI's event list and `temporal workflow show` read as
what happened rather than as activity names:

- each activity's summary (`apply 9 objects for generation 4`, `look at
  the instance`, `start the Job of OdooBackupJob nightly-…`), made from its
  input by workflows.calls;
- each status write's, naming the phase transition, its guard and why
  (`Running → BackingUp (backup_present): backup requested by OdooBackupJob
  nightly-…`): every phase change shows in the event list itself;
- each timer's (`resync in 12 h`);
- the workflow's current details, in Markdown: phase and since when, the
  operation that runs and what waits, a hold, the last backup and its age,
  the last operation and its outcome, the problems.

Pure and deterministic: every function renders what it is given, workflow
time included; nothing reads a clock or calls the workflow API (workflows.
instance and workflows.calls do). Names, counts, phases and the operator's
own problem messages only: never a value of the spec (the spec a workflow
holds is redacted, and nothing here reads its fields but counts and names).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from model.payloads import (
    ActiveJob,
    ApplyChildrenInput,
    ConvergePhaseInput,
    CopyDatabaseInput,
    CreateBackup,
    CreateBackupJobInput,
    DescribeJobInput,
    DropDatabasesInput,
    EdgeAction,
    FilestoreStepInput,
    FollowJobInput,
    GatherSnapshotInput,
    JobAction,
    JobKind,
    MachineState,
    MarkDatabase,
    PostWarning,
    PrepareOperationInput,
    PruneScheduledBackups,
    RecordOperationInput,
    RecordStatusInput,
    RestartWeb,
    SetImageInput,
    Snapshot,
    SwapDatabaseInput,
    SyncBackupScheduleInput,
)
from model.phases import JobState, Phase

__all__ = [
    "GUARD_REASONS",
    "age",
    "apply",
    "check_backup_request",
    "converge",
    "copy_database",
    "create_backup_job",
    "describe_job",
    "details",
    "drop_databases",
    "edge_actions",
    "filestore_step",
    "follow_job",
    "look",
    "prepare_operation",
    "record_operation",
    "safety_backup",
    "set_instance_image",
    "status",
    "swap_database",
    "swap_database_back",
    "sync_schedule",
    "transition",
    "wait",
]

_ARROW = "→"
_TIME = "%Y-%m-%d %H:%M UTC"
# A summary is one line the UI shows whole: long problem texts are cut.
_SUMMARY_LIMIT = 200


def _line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SUMMARY_LIMIT else text[: _SUMMARY_LIMIT - 1] + "…"


def _at(when: datetime) -> str:
    return when.strftime(_TIME)


def age(span: timedelta) -> str:
    """`3 h 5 min`, `2 d 4 h`, `40 s`: a duration as people read it."""
    seconds = max(0, int(span.total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min"
    return f"{seconds} s"


def _job(job: ActiveJob | None, kind: JobKind) -> str:
    return f"{kind.resource_kind} {job.name}" if job is not None else kind.resource_kind


# --- activity summaries -------------------------------------------------------------


def look(input: GatherSnapshotInput) -> str:
    """gather_snapshot: the reads of one wake."""
    text = "look at the instance: Deployments, job resources, database"
    if input.children is not None:
        text += f"; check the {len(input.children)} child objects for drift"
    return text


def apply(input: ApplyChildrenInput, objects: int) -> str:
    """apply_children; `objects`: how many the last apply wrote (0: the first apply)."""
    what = f"{objects} objects" if objects else "the child objects"
    text = f"apply {what} for generation {input.generation}"
    if input.restoring:
        restored = ", ".join(
            f"{d.kind} {d.name} ({d.drift.value.lower()})" for d in input.restoring
        )
        text += f", restoring {restored}"
    return _line(text)


def converge(input: ConvergePhaseInput) -> str:
    """converge_phase: replica counts, the auto init, a Job started, job resources noted."""
    parts: list[str] = []
    if input.web_replicas is not None:
        parts.append(f"scale web to {input.web_replicas}")
    if input.cron_replicas is not None:
        parts.append(f"scale cron to {input.cron_replicas}")
    if input.create_auto_init:
        parts.append("make the auto OdooInitJob")
    if input.start_job is not None:
        parts.append(f"start the Job of {_job(input.start_job, input.start_job.kind)}")
    if input.mark_pending:
        waiting = ", ".join(f"{j.kind.resource_kind} {j.name}" for j in input.mark_pending)
        parts.append(f"show {waiting} waiting")
    return _line("; ".join(parts) or "converge")


def edge_actions(actions: Sequence[EdgeAction]) -> str:
    """run_edge_actions: each action in a few words."""
    parts: list[str] = []
    for action in actions:
        if isinstance(action, JobAction):
            outcome = "Completed" if action.succeeded else "Failed"
            parts.append(f"mark {action.kind.resource_kind} {action.name} {outcome}")
        elif isinstance(action, MarkDatabase):
            parts.append(
                "mark the database initialized"
                if action.initialized
                else "mark the database uninitialized"
            )
        elif isinstance(action, RestartWeb):
            parts.append("restart the web pods")
        elif isinstance(action, PruneScheduledBackups):
            parts.append("prune scheduled backups by spec.backup.retention")
        elif isinstance(action, CreateBackup):
            final = " (final backup)" if action.queued.final else ""
            parts.append(f"make OdooBackupJob {action.queued.name}{final}")
        elif isinstance(action, PostWarning):
            parts.append(f"post a {action.reason} Warning")
    return _line("; ".join(parts) or "edge actions")


def create_backup_job(input: CreateBackupJobInput) -> str:
    queued = input.queued
    kind = "final backup" if queued.final else "backup"
    return _line(f"make OdooBackupJob {queued.name} ({kind} to {_backup_target(input)})")


def _backup_target(input: CreateBackupJobInput) -> str:
    """Where a queued backup goes, as activities.backup_resources.backup_spec decides:
    the request's destination, else spec.backup's bucket under the generated key."""
    destination = input.queued.request.destination
    if destination is not None:
        return f"s3://{destination.bucket}/{destination.object_key}"
    if input.spec.backup is not None:
        return f"s3://{input.spec.backup.destination.bucket}/{input.queued.object_key}"
    return input.queued.object_key


def check_backup_request(input: CreateBackupJobInput) -> str:
    return _line(f"check backup request {input.queued.name}: destination, credentials Secret")


def sync_schedule(input: SyncBackupScheduleInput) -> str:
    if input.backup is None:
        return "delete the backup Schedule"
    paused = ", paused (on hold)" if input.hold is not None else ""
    if input.backup.suspend:
        paused = ", paused (spec.backup.suspend)"
    return _line(f"sync the backup Schedule: {input.backup.schedule}{paused}")


def follow_job(input: FollowJobInput) -> str:
    return _line(
        f"follow Job {input.job_name} of {input.kind.resource_kind} {input.name} until it ends"
    )


# --- the sagas of restores and upgrades (workflows.saga) -------------------------------


def prepare_operation(input: PrepareOperationInput) -> str:
    return _line(
        f"read {input.kind.resource_kind} {input.name}: its options, and whether the "
        "database exists"
    )


def describe_job(input: DescribeJobInput) -> str:
    return _line(f"look at {input.kind.resource_kind} {input.name}")


def safety_backup(input: CreateBackupJobInput, what: str) -> str:
    """create_backup_job of a saga's safety backup."""
    target = _backup_target(input)
    return _line(f"safety backup of {what} to {target}: OdooBackupJob {input.queued.name}")


def swap_database(input: SwapDatabaseInput) -> str:
    swap = input.swap
    return _line(f"swap {swap.incoming} in as {swap.live}, live kept aside as {swap.aside}")


def swap_database_back(input: SwapDatabaseInput) -> str:
    swap = input.swap
    return _line(
        f"swap back: {swap.aside} live again as {swap.live}, {swap.live} out as {swap.incoming}"
    )


def copy_database(input: CopyDatabaseInput) -> str:
    return _line(f"copy {input.source} to {input.copy_name}, kept aside (closed)")


def drop_databases(input: DropDatabasesInput) -> str:
    return _line(f"drop {', '.join(input.names) or 'nothing'}")


def filestore_step(input: FilestoreStepInput) -> str:
    attempt = f" (attempt {input.attempt})" if input.attempt > 1 else ""
    return _line(
        f"filestore {input.action} of OdooRestoreJob {input.name}: start its Job or "
        f"look at it{attempt}"
    )


def record_operation(input: RecordOperationInput) -> str:
    record = input.record
    said = [
        f"{label} {value}"
        for label, value in (
            ("safetyBackup", record.safety_backup),
            ("previousDatabase", record.previous_database),
            ("previousFilestore", record.previous_filestore),
            ("previousImage", record.previous_image),
        )
        if value is not None
    ]
    if record.previous_removed_at is not None:
        said.append("previousRemovedAt")
    if record.previous_database_gone:
        said.append("previousDatabase cleared (live again)")
    return _line(f"note on {input.kind.resource_kind} {input.name}: {', '.join(said) or 'nothing'}")


def set_instance_image(input: SetImageInput) -> str:
    return _line(f"set the instance's spec.image to {input.image}")


# --- status writes and transitions -----------------------------------------------------


def _kind_guards(kind: JobKind, prefix: str) -> dict[str, Callable[[Snapshot], str]]:
    """The reasons of the guards `<prefix>_present`, `_succeeded`, `_failed`, `_absent`."""

    def named(snap: Snapshot) -> str:
        return _job(snap.job(kind), kind)

    requested = "due" if kind is JobKind.UPGRADE else "present"
    return {
        f"{prefix}_{requested}": lambda s: f"{kind.value} requested by {named(s)}",
        f"{prefix}_succeeded": lambda s: f"{named(s)} succeeded",
        f"{prefix}_failed": lambda s: f"{named(s)} failed",
        f"{prefix}_absent": lambda s: f"{kind.resource_kind} deleted before it finished",
    }


def _ready(snap: Snapshot) -> str:
    return f"{snap.web.ready} of {snap.web.desired} web replicas ready"


def _problem(snap: Snapshot) -> str:
    return f"problem: {snap.problems[0]}" if snap.problems else "a problem"


def _missing(snap: Snapshot) -> str:
    gone = [f"{d.kind} {d.name}" for d in snap.drift if d.missing]
    return f"{', '.join(gone) or 'a child object'} missing"


def _and(
    first: Callable[[Snapshot], str], then: Callable[[Snapshot], str]
) -> Callable[[Snapshot], str]:
    return lambda snap: f"{first(snap)}; {then(snap)}"


_BACKUP = _kind_guards(JobKind.BACKUP, "backup")
_HEALTH: dict[str, Callable[[Snapshot], str]] = {
    "stopped": lambda s: "spec.replicas is 0",
    "all_ready": _ready,
    "partly_ready": _ready,
    "none_ready": _ready,
}

GUARD_REASONS: dict[str, Callable[[Snapshot], str]] = {
    "has_config_problem": _problem,
    "config_fixed_db_initialized": lambda s: "problem fixed; the database is initialized",
    "config_fixed_db_uninitialized": lambda s: "problem fixed; the database is not initialized",
    "database_lost": lambda s: "the database is gone (missingPolicy Recreate)",
    "db_initialized": lambda s: "the database is initialized",
    "db_not_initialized": lambda s: "the database is not initialized",
    **_kind_guards(JobKind.INIT, "init"),
    **_kind_guards(JobKind.RESTORE, "restore"),
    "restore_failed_db_uninitialized": lambda s: (
        f"{_job(s.restore, JobKind.RESTORE)} failed; there was no database before it"
    ),
    "restore_absent_db_uninitialized": lambda s: (
        "OdooRestoreJob deleted before it finished; there was no database before it"
    ),
    **_kind_guards(JobKind.UPGRADE, "upgrade"),
    **_BACKUP,
    "backup_present_while_stopped": lambda s: _BACKUP["backup_present"](s) + " (stopped)",
    "backup_succeeded_more_queued": lambda s: (
        _BACKUP["backup_succeeded"](s) + f"; {s.pending_backups - 1} more queued"
    ),
    "backup_failed_more_queued": lambda s: (
        _BACKUP["backup_failed"](s) + f"; {s.pending_backups - 1} more queued"
    ),
    **{
        f"backup_{outcome}_{health}": _and(_BACKUP[f"backup_{outcome}"], _HEALTH[health])
        for outcome in ("succeeded", "failed", "absent")
        for health in ("stopped", "all_ready", "partly_ready", "none_ready")
    },
    **_HEALTH,
    "wanted": lambda s: "spec.replicas above 0",
    "child_missing": _missing,
    # The deletion (machine.DELETION_TABLE): only its FinalBackup step is a phase.
    "final_backup_wanted": lambda s: "deleting: spec.backup.finalBackup asks for a final backup",
    "final_backup_not_wanted": lambda s: "deleting: no final backup wanted",
    "earlier_backup_succeeded": lambda s: _BACKUP["backup_succeeded"](s) + " (queued earlier)",
    "earlier_backup_failed": lambda s: _BACKUP["backup_failed"](s) + " (queued earlier)",
    "final_backup_succeeded": lambda s: "final " + _BACKUP["backup_succeeded"](s),
    "final_backup_failed": lambda s: "final " + _BACKUP["backup_failed"](s),
    "final_backup_absent": lambda s: "the final OdooBackupJob was deleted before it finished",
}
"""Why a guard held, in words, read on the snapshot it held on (keyed by guard name;
tests/unit/test_story.py checks every guard of both tables has one)."""


def transition(before: Phase, after: Phase, guard: str, snap: Snapshot) -> str:
    """`Running → BackingUp (backup_present): backup requested by OdooBackupJob x`."""
    reason = GUARD_REASONS.get(guard)
    why = f": {reason(snap)}" if reason is not None else ""
    return _line(f"{before} {_ARROW} {after} ({guard}){why}")


def status(record: RecordStatusInput, transition_text: str | None) -> str:
    """record_status: the transition it writes, or the status of the phase it stays in."""
    if transition_text is not None:
        return transition_text
    text = f"status of {record.phase}: {record.ready_replicas} web replicas ready"
    if record.message:
        text += f"; {record.message}"
    return _line(text)


# --- timers -------------------------------------------------------------------------------


def wait(period: timedelta, *, why: str) -> str:
    """A timer: `resync in 12 h`, `look at the scheduled upgrade in 2 h`."""
    return _line(f"{why} in {age(period)}")


# --- current details ------------------------------------------------------------------------


def details(
    state: MachineState,
    snap: Snapshot | None,
    now: datetime,
    *,
    following: str | None = None,
    step: str | None = None,
) -> str:
    """The workflow's current details (Markdown), from its state and workflow time `now`.

    `following` names the Job a follow_job activity follows (its progress shows in
    the UI's pending activities); `step`, the step of the restore or upgrade saga
    that runs."""
    lines = [_phase_line(state)]
    if state.hold is not None:
        lines.append(
            f"**On hold** since {_at(state.hold.since)}: {_line(state.hold.reason)} "
            "(kubectl odoo resume)"
        )
    if snap is not None:
        lines.extend(_operations(state.phase, snap, following))
        if step is not None:
            lines.append(f"**Step**: {_line(step)}")
        problems = [*snap.problems, *(d.describe() for d in snap.drift)]
        if problems:
            lines.append(f"**Problem**: {_line('; '.join(problems))}")
    if state.last_backup is not None:
        lines.append(
            f"**Last backup**: {_at(state.last_backup)} "
            f"({age(now - state.last_backup)} old at {_at(now)})"
        )
    else:
        lines.append("**Last backup**: none yet")
    last = state.last_operation
    if last is not None:
        lines.append(
            f"**Last operation**: {last.kind.value} {last.name} {last.outcome} at {_at(last.at)}"
        )
    return "\n\n".join(lines)


def _phase_line(state: MachineState) -> str:
    since = ""
    if state.transitions:
        entered = datetime.fromisoformat(state.transitions[-1].at)
        since = f" since {_at(entered)}"
    image = f", {state.spec.image}" if state.spec.image else ""
    return f"**{state.phase}**{since} (generation {state.generation}{image})"


def _operations(phase: Phase, snap: Snapshot, following: str | None) -> list[str]:
    lines: list[str] = []
    running = [
        job for kind in JobKind if (job := snap.job(kind)) is not None and job.job_name is not None
    ]
    for job in running:
        how = f"running as Job {job.job_name}" if job.state is JobState.ACTIVE else job.state.value
        if following == job.job_name:
            how += " (progress: pending activity follow_job)"
        lines.append(f"**Operation**: {job.kind.value} {_job(job, job.kind)}, {how}")
    waiting = [f"{j.kind.resource_kind} {j.name}" for j in snap.waiting_jobs]
    if waiting:
        lines.append(f"**Queued**: {_line(', '.join(waiting))}")
    if not running and not waiting and phase in _JOB_PHASES:
        lines.append("**Operation**: none")
    return lines


_JOB_PHASES = frozenset({Phase.INITIALIZING, Phase.UPGRADING, Phase.RESTORING, Phase.BACKING_UP})
