"""One typed wrapper per activity, with its timeouts, retry policy and summary.

The only module that calls `workflow.execute_activity` and
`workflow.execute_local_activity`. Transient API and database errors retry
with backoff forever (an operator must converge once the cluster is back);
errors typed non-retryable (model.failures) do not. How such a failure
reaches the workflow (`ACTIVITY_FAILED`, `error_type`, `error_message`) is
read here too.

Every call carries a summary (workflows.story), which the Temporal UI and
`temporal workflow show` print in the event list instead of the activity's
name: by default made from the input; a caller that knows more (the
transition a status write records, how many objects an apply writes) passes
its own.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from activities import signatures
    from model import failures, naming
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
    from workflows import story

__all__ = [
    "ACTIVITY_FAILED",
    "apply_children",
    "cancelled",
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
    "error_message",
    "error_type",
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

_SHORT = timedelta(seconds=30)

# How a failed activity reaches the workflow: a regular one as ActivityError
# (its cause the activity's ApplicationError), a local one that failed for
# good as the ApplicationError itself.
ACTIVITY_FAILED = (ActivityError, ApplicationError)


def error_type(err: ActivityError | ApplicationError) -> str | None:
    """The model.failures type of a failed activity (None: not an ApplicationError)."""
    cause = err.cause if isinstance(err, ActivityError) else err
    return cause.type if isinstance(cause, ApplicationError) else None


def cancelled(err: BaseException) -> bool:
    """Whether `err` is the wake's cancellation (a deletion) as it reached an await:
    asyncio's own, or an activity's that it cancelled."""
    return isinstance(err, asyncio.CancelledError) or (
        isinstance(err, ActivityError) and isinstance(err.cause, CancelledError)
    )


def error_message(err: ActivityError | ApplicationError) -> str:
    cause = err.cause if isinstance(err, ActivityError) else err
    return cause.message if isinstance(cause, ApplicationError) else str(err)


def _api_retry(*refused_types: str, maximum_attempts: int = 0) -> RetryPolicy:
    """Kubernetes API calls: back off up to a minute between attempts, until
    `maximum_attempts` (0: never give up); errors typed non-retryable, and
    `refused_types`, fail at once."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=1),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=maximum_attempts,
        non_retryable_error_types=[*failures.NON_RETRYABLE, *refused_types],
    )


_API_RETRY = _api_retry()

# The activities that may run for minutes heartbeat (activities.heartbeats):
# a worker killed mid-activity is noticed after this, not after the
# start-to-close timeout, and another worker retries at once.
_HEARTBEAT = timedelta(seconds=20)


async def gather_snapshot(input: GatherSnapshotInput) -> Snapshot:
    # A local activity: a quick read that does not need its own history events.
    return await workflow.execute_local_activity(
        signatures.gather_snapshot,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_API_RETRY,
        summary=story.look(input),
    )


async def apply_children(input: ApplyChildrenInput, *, summary: str) -> AppliedChildren:
    return await workflow.execute_activity(
        signatures.apply_children,
        input,
        start_to_close_timeout=timedelta(minutes=2),
        heartbeat_timeout=_HEARTBEAT,
        retry_policy=_API_RETRY,
        summary=summary,
    )


# converge_phase and record_status are a few API writes each, run on every
# transition: as local activities they cost one marker event and no round
# trip through the server's task queue (a regular activity costs three events
# and a workflow task more). A local activity's result is lost with its
# workflow task (a worker killed, a task timed out under load or evicted from
# the cache); what a lost scaling or status write did, the next snapshot
# reads and ensure() redoes level-based.


async def converge_phase(input: ConvergePhaseInput) -> None:
    await workflow.execute_local_activity(
        signatures.converge_phase,
        input,
        start_to_close_timeout=timedelta(minutes=1),
        retry_policy=_API_RETRY,
        summary=story.converge(input),
    )


async def record_status(input: RecordStatusInput, *, transition: str | None = None) -> None:
    """`transition`: the phase change it records, in words (story.transition)."""
    await workflow.execute_local_activity(
        signatures.record_status,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_API_RETRY,
        summary=story.status(input, transition),
    )


async def run_edge_actions(input: RunEdgeActionsInput) -> None:
    # A regular activity: its completion is in the history. As a local one, a
    # job it finished was forgotten with a lost workflow task: the retried task
    # read the job finished but still believed the phase before (Initializing
    # with its init job gone became Uninitialized for good, seen with an
    # evicting workflow cache at N = 100). Up to 2 minutes: webhooks (10 s
    # each) and the S3 deletes of a prune.
    await workflow.execute_activity(
        signatures.run_edge_actions,
        input,
        start_to_close_timeout=timedelta(minutes=2),
        heartbeat_timeout=_HEARTBEAT,
        retry_policy=_API_RETRY,
        summary=story.edge_actions(input.actions),
    )


async def cleanup_instance(input: CleanupInput) -> None:
    # PostgreSQL may be down for a while: keep trying, with a long backoff cap.
    await workflow.execute_activity(
        signatures.cleanup_instance,
        input,
        start_to_close_timeout=timedelta(minutes=5),
        heartbeat_timeout=_HEARTBEAT,
        retry_policy=RetryPolicy(
            initial_interval=timedelta(seconds=2),
            backoff_coefficient=2.0,
            maximum_interval=timedelta(minutes=2),
        ),
        summary="clean up: scale to 0, drop the database and its role, release the instance",
    )


# create_backup_job and check_backup_request are one API call or two, made on every
# backup request: local activities keep a backup cycle within its history budget
# (README, "History budget"). A result lost with its workflow task is made
# again: the OdooBackupJob's name is fixed (workflows.backups.queue), so the
# retried create finds it.


async def create_backup_job(
    input: CreateBackupJobInput, *, summary: str | None = None
) -> BackupRequested:
    # A request without a destination and no spec.backup is refused for good.
    return await workflow.execute_local_activity(
        signatures.create_backup_job,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_api_retry(failures.BACKUP_REQUEST_INVALID),
        summary=summary or story.create_backup_job(input),
    )


async def check_backup_request(input: CreateBackupJobInput) -> None:
    # Refused for good (no destination, a Secret missing or lacking a key): the
    # Update fails at once; transient API errors retry.
    await workflow.execute_local_activity(
        signatures.check_backup_request,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_api_retry(failures.BACKUP_REQUEST_INVALID),
        summary=story.check_backup_request(input),
    )


# The restore and upgrade Updates: a request that could never run (a Secret
# missing, a spec the API refuses) fails the Update at once; API errors retry.
_REQUEST_RETRY = _api_retry(failures.REQUEST_INVALID)


async def create_restore_job(input: CreateRestoreJobInput) -> RestoreResult:
    return await workflow.execute_activity(
        signatures.create_restore_job,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_REQUEST_RETRY,
        summary=f"make OdooRestoreJob {input.name}",
    )


async def create_upgrade_job(input: CreateUpgradeJobInput) -> UpgradeResult:
    return await workflow.execute_activity(
        signatures.create_upgrade_job,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_REQUEST_RETRY,
        summary=f"make OdooUpgradeJob {input.name}",
    )


async def sync_backup_schedule(input: SyncBackupScheduleInput) -> None:
    await workflow.execute_activity(
        signatures.sync_backup_schedule,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_API_RETRY,
        summary=story.sync_schedule(input),
    )


async def post_event(input: PostEventInput) -> None:
    await workflow.execute_activity(
        signatures.post_event,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_API_RETRY,
        summary=f"post a {input.reason} {'Warning' if input.warning else 'Normal'} Event",
    )


async def check_job_references(input: CheckJobReferencesInput) -> CheckJobReferencesResult:
    # Transient API errors retry with backoff, but not forever: the next event
    # of the job resource (or of the instance) starts another check.
    return await workflow.execute_activity(
        signatures.check_job_references,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_api_retry(maximum_attempts=10),
        summary=f"fail the job resources naming {input.instance} that do not resolve",
    )


# follow_job runs for as long as a batch Job does, up to activities.job_follow's
# FOLLOW_FOR (the workflow then follows it again): its heartbeats carry the
# Job's progress (the UI's pending activity), and a worker that dies is noticed
# after the heartbeat timeout, when another worker takes over the follow.


async def follow_job(input: FollowJobInput) -> FollowJobResult:
    return await workflow.execute_activity(
        signatures.follow_job,
        input,
        task_queue=naming.follow_task_queue(workflow.info().task_queue),
        start_to_close_timeout=timedelta(hours=2),
        heartbeat_timeout=_HEARTBEAT,
        retry_policy=_API_RETRY,
        summary=story.follow_job(input),
    )


# --- the sagas of restores and upgrades (workflows.replacements) ------------------------
# Reads and Job starts are local (cheap, redone on replay); every change of what
# serves is a regular activity, so the history says on which side of a swap the
# instance is.


def _postgres_retry(maximum_attempts: int = 0) -> RetryPolicy:
    """PostgreSQL may be down a while (a restart, a failover): keep trying, up to
    `maximum_attempts` (0: for ever); a SwapConflict is never retried."""
    return RetryPolicy(
        initial_interval=timedelta(seconds=2),
        backoff_coefficient=2.0,
        maximum_interval=timedelta(minutes=1),
        maximum_attempts=maximum_attempts,
        non_retryable_error_types=[*failures.NON_RETRYABLE, failures.SWAP_CONFLICT],
    )


_POSTGRES_RETRY = _postgres_retry()
COPY_ATTEMPTS = 10
"""Attempts of an upgrade's copy (about 6 minutes of backoff: a restart of
PostgreSQL is waited out) before the upgrade fails, having changed nothing."""

SWAP_GIVE_UP = timedelta(minutes=5)
"""How long a swap keeps trying (PostgreSQL down, a session the admin may not end)
before the saga undoes it instead."""


async def prepare_operation(input: PrepareOperationInput) -> OperationPlan | None:
    return await workflow.execute_activity(
        signatures.prepare_operation,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_POSTGRES_RETRY,
        summary=story.prepare_operation(input),
    )


async def describe_job(input: DescribeJobInput) -> ActiveJob | None:
    return await workflow.execute_local_activity(
        signatures.describe_job,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_API_RETRY,
        summary=story.describe_job(input),
    )


async def run_filestore_step(input: FilestoreStepInput) -> FilestoreStepResult:
    # Creates the Job once (a fixed name), then reads it: local, like converge_phase.
    return await workflow.execute_local_activity(
        signatures.run_filestore_step,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_API_RETRY,
        summary=story.filestore_step(input),
    )


async def record_operation(input: RecordOperationInput) -> None:
    await workflow.execute_local_activity(
        signatures.record_operation,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_API_RETRY,
        summary=story.record_operation(input),
    )


async def swap_database(input: SwapDatabaseInput) -> SwapDatabaseResult:
    # Given up after SWAP_GIVE_UP: the saga then swaps back (which never gives up).
    return await workflow.execute_activity(
        signatures.swap_database,
        input,
        start_to_close_timeout=timedelta(minutes=2),
        schedule_to_close_timeout=SWAP_GIVE_UP,
        retry_policy=_POSTGRES_RETRY,
        summary=story.swap_database(input),
    )


async def swap_database_back(input: SwapDatabaseInput) -> SwapDatabaseResult:
    return await workflow.execute_activity(
        signatures.swap_database_back,
        input,
        start_to_close_timeout=timedelta(minutes=2),
        retry_policy=_POSTGRES_RETRY,
        summary=story.swap_database_back(input),
    )


async def copy_database(input: CopyDatabaseInput) -> bool:
    # A template copy lasts as long as the database is large (start_to_close) and
    # heartbeats meanwhile (a killed worker's attempt is retried within _HEARTBEAT);
    # a retry finds the copy an attempt made.
    return await workflow.execute_activity(
        signatures.copy_database,
        input,
        start_to_close_timeout=timedelta(hours=2),
        heartbeat_timeout=_HEARTBEAT,
        retry_policy=_postgres_retry(COPY_ATTEMPTS),
        summary=story.copy_database(input),
    )


async def drop_databases(input: DropDatabasesInput) -> tuple[str, ...]:
    # An operation's leftovers go, even when PostgreSQL was down when it failed.
    return await workflow.execute_activity(
        signatures.drop_databases,
        input,
        start_to_close_timeout=timedelta(minutes=2),
        retry_policy=_POSTGRES_RETRY,
        summary=story.drop_databases(input),
    )


async def set_instance_image(input: SetImageInput) -> SetImageResult:
    return await workflow.execute_activity(
        signatures.set_instance_image,
        input,
        start_to_close_timeout=_SHORT,
        retry_policy=_API_RETRY,
        summary=story.set_instance_image(input),
    )
