"""The upgrade saga: `odoo -u` on an instance's database, rolled back on any failure.

Run by workflows.replacements while the instance is Upgrading, for its
OdooUpgradeJob, from workflows.saga's steps:

1. prepare: the resource's uid and options; the live database must exist
   (asked of PostgreSQL: a database that is really gone is said so, never
   initialized again);
2. cron to 0, then a safety backup (unless safetyBackup is false) while web
   still serves;
3. web to 0 (writes stop: a rollback returns the database as it was at this
   moment, so nothing written after it may be lost), then a template copy of
   the live database, kept aside as `<db>_pre_<8 hex>` (closed to
   connections);
4. the upgrade Job: `odoo -u` on the live database, in spec.image of the
   OdooUpgradeJob when it names one, else in the instance's image;
5. the instance's spec.image becomes the upgrade's image (when it names
   another), its Deployments applied;
6. start: web and cron to the spec, every web replica ready within
   WorkflowSettings.start_timeout.

The filestore needs no copy: `odoo -u` only adds files (Odoo removes
unreferenced files in its autovacuum cron, which does not run here), so
after a rollback the filestore still holds every file the previous database
references; the files the failed upgrade added are unreferenced and go with
Odoo's next autovacuum.

Success: the copy is kept aside (status.previousDatabase, previousImage)
until the instance is Running and keepPreviousFor passed. Any failure (the
Job failed or ran past its deadline, the instance not ready in time, an
activity that failed for good), or
the instance's deletion cancelling the wake: web and cron to 0, spec.image
back to the previous one, the copy swapped back in (the upgraded database
kept as `<db>_failed_<8 hex>`, then dropped), retried until done.
"""

from __future__ import annotations

import asyncio

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from model import naming
    from model.payloads import ActiveJob, ApplyChildrenInput, DatabaseSwap, JobKind, SetImageInput
    from workflows import backups, calls, story
    from workflows.saga import Failed, Outcome, Saga, uncancellable

__all__ = ["run"]


async def run(instance: backups.Instance, active: ActiveJob) -> Outcome:
    """Upgrade for the OdooUpgradeJob `active` (see the module docstring)."""
    saga = Saga(instance, JobKind.UPGRADE, active.name)
    instance.merge_state(notice=None)
    try:
        plan = await saga.prepare()
        if plan is not None and not plan.live_exists:
            raise Failed(
                "prepare",
                f"database {plan.database} does not exist (asked of PostgreSQL): nothing to "
                "upgrade; restore a backup into the instance first",
            )
    except Failed as failure:
        return saga.fail(failure, "nothing was changed")
    if plan is None:
        return Outcome(succeeded=None)
    database = plan.database
    copy = naming.aside_database_name(database, plan.uid)
    mark = naming.operation_mark(JobKind.UPGRADE.value, plan.uid)
    back = DatabaseSwap(
        live=database,
        incoming=copy,
        aside=naming.failed_database_name(database, plan.uid),
        mark=mark,
    )
    previous_image = instance.state.spec.image
    target = plan.image or previous_image
    progress = {"copied": False, "job": False, "image": False}
    step = saga.at("stop cron")
    try:
        await saga.scale(None, 0)
        step = saga.at("safety backup")
        await saga.safety_backup(plan, f"database {database} and its filestore")
        step = saga.at("stop")
        await saga.scale(0, 0)
        step = saga.at("copy")
        await saga.copy(database, copy, mark, step)
        progress["copied"] = True
        await saga.record(previous_database=copy, previous_image=previous_image)
        progress["job"], step = True, saga.at("upgrade Job")
        await saga.run_job(step)
        if target is not None and target != previous_image:
            progress["image"], step = True, saga.at("image")
            await _set_image(instance, target)
        step = saga.at("start")
        await saga.healthy(step)
    except (Failed, asyncio.CancelledError, *calls.ACTIVITY_FAILED) as err:
        saga.at(f"roll back ({step} did not complete)")
        await uncancellable(_undo(instance, saga, back, previous_image, progress))
        if progress["copied"]:
            # The copy is the live database again (or was dropped): no longer aside.
            await uncancellable(saga.record(previous_database_gone=True))
        if calls.cancelled(err):
            raise
        return saga.fail(
            Failed.of(step, err),
            f"rolled back: the instance runs its database as it was before the upgrade "
            f"on image {previous_image}",
        )
    saga.keep_aside(plan, (copy,), None)
    return Outcome(succeeded=True)


async def _undo(
    instance: backups.Instance,
    saga: Saga,
    back: DatabaseSwap,
    previous_image: str | None,
    progress: dict[str, bool],
) -> None:
    """Back to what ran before, as far as the upgrade got (`progress`)."""
    await saga.scale(0, 0)
    if progress["image"] and previous_image is not None:
        await _set_image(instance, previous_image)
    if progress["job"]:
        await saga.swap_until_done(back)  # the copy in, the upgraded database aside
        await saga.drop(back.aside)
    elif progress["copied"]:
        await saga.drop(back.incoming)  # the live database was never touched


async def _set_image(instance: backups.Instance, image: str) -> None:
    """spec.image := `image`, and the Deployments applied with it at once."""
    state = instance.state
    written = await calls.set_instance_image(SetImageInput(ref=state.ref, image=image))
    state = instance.state
    spec = state.spec.model_copy(update={"image": image})
    generation = max(state.generation, written.generation)
    instance.merge_state(spec=spec, generation=generation)
    apply = ApplyChildrenInput(ref=state.ref, spec=spec, generation=generation)
    applied = await calls.apply_children(
        apply, summary=f"{story.apply(apply, len(state.children))} (image {image})"
    )
    instance.merge_state(
        applied_generation=max(generation, applied.generation), applied_at=workflow.now()
    )
