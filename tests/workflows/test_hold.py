"""An instance on hold: the operator stops acting on it, a stop and the deletion excepted.

On the Temporal dev server (Updates need it) over the World's fakes. Covers:
- `hold` answers with the hold (its reason and time); the status written
  carries it (the Held condition and status.message: tests/activities), the
  OdooHeld search attribute is true, the current details say so, and a Held
  Event is posted; holding again replaces the reason and keeps the time;
- while held, a new spec is not applied, replicas are not changed, a job
  resource applied with kubectl is not started but shows Pending with the
  hold's reason (the phase observes, Degraded
  for replicas raised but not scaled, and never becomes BackingUp), the
  backup Schedule is paused, and the backup, restore and upgrade Updates are
  refused (InstanceHeld, non-retryable) with nothing made;
- a stop (replicas 0) is still served: Stopped, both Deployments at 0;
- `resume` applies the spec again, unpauses the Schedule, starts the queued
  job, clears the hold everywhere and posts a Resumed Event; the `holds`
  query keeps the hold with its last reason and when it ended; resuming an
  instance not on hold answers that nothing ended;
- a deletion is still served while held;
- the hold, its search attribute and the current details outlast a
  continue-as-new.
"""

from __future__ import annotations

import temporalio.api.sdk.v1
from temporalio.client import Client

from model import failures
from model.payloads import (
    DeleteRequest,
    HoldResult,
    InstanceWorkflowResult,
    JobKind,
    ResumeResult,
    SpecUpdate,
)
from model.phases import JobPhase, Phase
from tests.phase_cases import make_spec
from tests.workflows.conftest import (
    FAST,
    SPEC_BACKUP,
    Handle,
    eventually,
    new_ref,
    running_worker,
    serving_world,
    start_instance,
    update_refusal,
    wait_phase,
)
from tests.workflows.world import JobResource, World
from workflows.instance import OdooInstanceWorkflow
from workflows.operations import HELD_ATTR, held_note

_SPEC_BACKUP = SPEC_BACKUP
_SOURCE = {**SPEC_BACKUP["destination"], "objectKey": "x.zip"}
_serving_world = serving_world


async def _held(handle: Handle) -> bool | None:
    return (await handle.describe()).typed_search_attributes.get(HELD_ATTR)


async def _noted(resource: JobResource) -> tuple[JobPhase | None, str | None]:
    return resource.phase, resource.message


async def _details(handle: Handle) -> str:
    """The workflow's current details, as the UI reads them (the metadata query)."""
    metadata = await handle.query(
        "__temporal_workflow_metadata", result_type=temporalio.api.sdk.v1.WorkflowMetadata
    )
    return str(metadata.current_details)


async def test_held_instance_is_left_alone_until_resumed(
    temporal_client: Client, task_queue: str
) -> None:
    world = _serving_world()
    ref = new_ref()
    spec = make_spec(backup=_SPEC_BACKUP)
    async with running_worker(temporal_client, world, task_queue):
        handle = await start_instance(temporal_client, task_queue, spec, ref=ref)
        await wait_phase(handle, Phase.RUNNING)
        assert world.schedules_held == [False]

        held = await handle.execute_update(
            "hold", {"reason": "incident 42"}, result_type=HoldResult
        )
        assert held.hold.reason == "incident 42"
        assert not held.already_held
        await eventually(
            lambda: _last_status_hold(world), lambda hold: hold == held.hold, what="the status"
        )
        assert await _held(handle) is True
        assert "On hold" in await _details(handle)
        assert "incident 42" in await _details(handle)
        assert [e.reason for e in world.events] == ["Held"]
        assert world.schedules_held[-1] is True  # the Schedule is paused
        again = await handle.execute_update("hold", {"reason": "still"}, result_type=HoldResult)
        assert again.already_held
        assert again.hold.since == held.hold.since
        assert await handle.query(OdooInstanceWorkflow.hold) == again.hold

        # Nothing is applied, scaled or started while held.
        applies = world.calls["apply_children"]
        await handle.signal(
            OdooInstanceWorkflow.set_spec,
            SpecUpdate(ref=ref, generation=2, spec=make_spec(replicas=3, backup=_SPEC_BACKUP)),
        )
        queued = world.add_job(JobKind.BACKUP, "by-kubectl")
        await handle.signal("poke", {})
        await eventually(
            lambda: _snapshot_backup(handle),
            lambda name: name == "by-kubectl",
            what="the snapshot seeing the queued backup",
        )
        # kubectl shows why it waits: Pending, the hold's reason.
        await eventually(
            lambda: _noted(queued),
            lambda note: note == (JobPhase.PENDING, held_note(again.hold)),
            what="the queued backup showing the hold",
        )
        assert "(still)" in held_note(again.hold)
        for update, body in [
            ("backup", {}),
            ("restore", {"source": _SOURCE}),
            ("upgrade", {}),
        ]:
            refusal = await update_refusal(handle, update, body)
            assert refusal.type == failures.INSTANCE_HELD
            assert refusal.non_retryable
            assert "on hold since" in refusal.message
            assert "(still)" in refusal.message
        assert world.created == []
        assert world.calls["apply_children"] == applies
        assert world.web.desired == 1
        assert world.batch_jobs_created == {}
        # The table still observes (1 of the 3 replicas asked for is ready) but
        # starts nothing: not BackingUp.
        assert await handle.query(OdooInstanceWorkflow.phase) is Phase.DEGRADED

        resumed = await handle.execute_update("resume", {}, result_type=ResumeResult)
        assert resumed.ended == again.hold
        [record] = await handle.query(OdooInstanceWorkflow.holds)
        assert (record.reason, record.since) == ("still", held.hold.since)
        assert record.until is not None
        assert record.until >= record.since
        await wait_phase(handle, Phase.BACKING_UP)
        assert world.calls["apply_children"] > applies
        await eventually(
            lambda: _web_desired(world), lambda desired: desired == 3, what="the scale to 3"
        )
        await eventually(
            lambda: _last_status_hold(world), lambda hold: hold is None, what="the status"
        )
        assert await _held(handle) is False
        assert "On hold" not in await _details(handle)
        assert world.schedules_held[-1] is False
        assert [e.reason for e in world.events] == ["Held", "Held", "Resumed"]
        assert (await handle.execute_update("resume", {}, result_type=ResumeResult)).ended is None
        await handle.terminate()


async def test_stop_and_deletion_are_still_served_while_held(
    temporal_client: Client, task_queue: str
) -> None:
    world = _serving_world()
    ref = new_ref()
    async with running_worker(temporal_client, world, task_queue):
        handle = await start_instance(temporal_client, task_queue, make_spec(), ref=ref)
        await wait_phase(handle, Phase.RUNNING)
        await handle.execute_update("hold", {"reason": "maintenance"}, result_type=HoldResult)
        await handle.signal(
            OdooInstanceWorkflow.set_spec,
            SpecUpdate(ref=ref, generation=2, spec=make_spec(replicas=0)),
        )
        await wait_phase(handle, Phase.STOPPED)
        assert (world.web.desired, world.cron.desired) == (0, 0)

        await handle.signal(OdooInstanceWorkflow.delete_instance, DeleteRequest(uid=ref.uid))
        result = await handle.result()
        assert isinstance(result, InstanceWorkflowResult)
        assert result.cleaned_up
        assert world.cleaned_up == [ref.uid]


async def test_hold_lasts_across_continue_as_new(temporal_client: Client, task_queue: str) -> None:
    world = _serving_world()
    settings = FAST.model_copy(update={"continue_as_new_after": 2})
    async with running_worker(temporal_client, world, task_queue):
        handle = await start_instance(temporal_client, task_queue, make_spec(), settings=settings)
        await wait_phase(handle, Phase.RUNNING)
        first_run = (await handle.describe()).run_id
        await handle.execute_update("hold", {"reason": "migration"}, result_type=HoldResult)
        for _ in range(3):
            await handle.signal("poke", {})

        async def run_id() -> str | None:
            return (await handle.describe()).run_id

        await eventually(run_id, lambda run: run != first_run, what="a continue-as-new")
        latest = temporal_client.get_workflow_handle(handle.id)
        hold = await latest.query(OdooInstanceWorkflow.hold)
        assert hold is not None
        assert hold.reason == "migration"
        [record] = await latest.query(OdooInstanceWorkflow.holds)
        assert (record.reason, record.until) == ("migration", None)
        assert "migration" in await _details(latest)
        assert await _held(latest) is True
        await latest.terminate()


async def test_hold_refused_when_the_reason_is_missing(
    temporal_client: Client, task_queue: str
) -> None:
    world = _serving_world()
    async with running_worker(temporal_client, world, task_queue):
        handle = await start_instance(temporal_client, task_queue, make_spec())
        await wait_phase(handle, Phase.RUNNING)
        for body, says in [({}, "reason: Field required"), ({"reason": ""}, "reason: String")]:
            refusal = await update_refusal(handle, "hold", body)
            assert refusal.type == failures.REQUEST_INVALID
            assert says in refusal.message
        assert await handle.query(OdooInstanceWorkflow.hold) is None
        await handle.terminate()


async def _last_status_hold(world: World) -> object:
    return world.statuses[-1].hold if world.statuses else "none yet"


async def _snapshot_backup(handle: Handle) -> str | None:
    snap = await handle.query(OdooInstanceWorkflow.snapshot)
    return snap.backup.name if snap is not None and snap.backup is not None else None


async def _web_desired(world: World) -> int:
    return world.web.desired
