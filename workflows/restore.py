"""The restore saga: an instance's database and filestore replaced by a backup, or nothing changed.

Run by workflows.replacements while the instance is Restoring, for its
OdooRestoreJob, from workflows.saga's steps:

1. prepare: the resource's uid and options; whether the live database
   exists (asked of PostgreSQL);
2. web and cron to 0 (the old data stops serving: writes made during a
   restore would be lost with the data they were made on);
3. a safety backup of the live database and filestore (when there is one,
   unless safetyBackup is false): an OdooBackupJob `<resource>-safety`;
4. the restore Job: download, extract, load into `<db>_restoring`,
   neutralize, verify, then its last step stages the backup's filestore (an
   empty one when the backup holds none: a Warning Event says so) and swaps
   it in, the live one kept aside as `filestore/.<db>.pre-<8 hex>`;
5. the database swap, the commit point: `<db>_restoring` in, the live one
   kept aside as `<db>_pre_<8 hex>` (activities.databases: resumable, given
   up after calls.SWAP_GIVE_UP);
6. start: web and cron to the spec, every web replica ready within
   WorkflowSettings.start_timeout.

Success: what was replaced is kept aside (status.previousDatabase,
previousFilestore) until the instance is Running and keepPreviousFor has
passed (workflows.saga.discard_due). Any failure, or the instance's
deletion cancelling the wake: web and cron to 0, the live database swapped
back, the copy dropped, the filestore undone (when the Job started), all
retried until done (an activity that failed for good, e.g. a write the
API refuses, is a failure of its step like any other); the outcome says
why, and the table's failure row returns the instance to what it ran
before, dbInitialized unchanged.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from model import naming
    from model.payloads import ActiveJob, DatabaseSwap, JobKind, OperationPlan
    from workflows import backups, calls
    from workflows.saga import Failed, Outcome, Saga, uncancellable

__all__ = ["FILESTORE_EMPTY", "run"]

FILESTORE_EMPTY = "filestore=empty"
"""How the restore Job's filestore step (scripts/jobs/filestore-step.sh) reports
that the backup held no filestore."""


async def run(instance: backups.Instance, active: ActiveJob) -> Outcome:
    """Restore the OdooRestoreJob `active` (see the module docstring)."""
    saga = Saga(instance, JobKind.RESTORE, active.name)
    instance.merge_state(notice=None)
    try:
        plan = await saga.prepare()
    except Failed as failure:
        return saga.fail(failure, "nothing was changed")
    if plan is None:
        return Outcome(succeeded=None)
    database = plan.database
    swap = DatabaseSwap(
        live=database,
        incoming=naming.restore_database_name(database),
        aside=naming.aside_database_name(database, plan.uid),
        mark=naming.operation_mark(JobKind.RESTORE.value, plan.uid),
    )
    job_ran = False
    step = saga.at("stop")
    try:
        await saga.scale(0, 0)
        step = saga.at("safety backup")
        await saga.safety_backup(plan, f"database {database} and its filestore")
        job_ran, step = True, saga.at("restore Job")
        job = await saga.run_job(step)
        step = saga.at("database swap")
        await saga.swap_in(swap, step)
        step = saga.at("start")
        await saga.healthy(step)
    except (Failed, asyncio.CancelledError, *calls.ACTIVITY_FAILED) as err:
        saga.at(f"roll back ({step} did not complete)")
        await uncancellable(_undo(saga, plan, swap, job_ran=job_ran))
        if calls.cancelled(err):
            raise
        kept = (
            "the instance keeps its previous database and filestore"
            if plan.live_exists
            else "the instance has no database, as before"
        )
        return saga.fail(Failed.of(step, err), f"rolled back: {kept}")
    aside_filestore = naming.filestore_aside_dir(database, plan.uid)
    previous = (swap.aside,) if plan.live_exists else ()
    saga.keep_aside(plan, previous, aside_filestore)
    await saga.record(
        previous_database=swap.aside if plan.live_exists else None,
        previous_filestore=aside_filestore,
    )
    if any(line.startswith(FILESTORE_EMPTY) for line in job.outputs):
        await saga.warn(
            "emptyfilestore",
            "RestoreWithoutFilestore",
            f"OdooRestoreJob {active.name}: the backup holds no filestore, so the instance's "
            f"filestore was replaced by an empty one (the previous one is kept as "
            f"{aside_filestore} until keepPreviousFor passed); attachments of the restored "
            "database will be missing",
        )
    return Outcome(succeeded=True)


async def _undo(saga: Saga, plan: OperationPlan, swap: DatabaseSwap, *, job_ran: bool) -> None:
    """Back to what ran before: every step is harmless when there is nothing to undo."""
    await saga.scale(0, 0)
    await saga.swap_back(swap)
    await saga.drop(swap.incoming)
    if job_ran:
        await saga.filestore(plan.uid, "undo")
