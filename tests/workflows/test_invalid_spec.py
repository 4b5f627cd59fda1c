"""A spec that does not parse is the instance's problem, shown where the user looks.

On the time-skipping server over the World's fakes; the watcher sends such
a spec as SpecUpdate.problem with a stand-in spec. Covers: a running
instance whose new generation does not parse goes to Error with the
problem as status.message, applies nothing of it and keeps serving; the
next generation that parses is applied and leaves Error. An instance whose
first spec does not parse (the workflow started with the stand-in) goes to
Error without applying anything.
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from model import naming
from model.payloads import InstanceWorkflowInput, MachineState, Replicas, SpecUpdate
from model.phases import Phase
from tests.phase_cases import make_spec
from tests.workflows.conftest import FAST, new_ref, running_worker, start_instance, wait_phase
from tests.workflows.world import World
from workflows.instance import OdooInstanceWorkflow

PROBLEM = (
    "spec.backup.schedule: '0 0 31 2 *' never fires (no fire time in the next "
    "366 days, nor ever: ...)"
)


async def test_a_spec_that_does_not_parse_is_an_error_until_one_that_parses_arrives(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World(
        db_initialized=True,
        web=Replicas(ready=1, desired=1, exists=True),
        cron=Replicas(desired=1, exists=True),
    )
    client = time_skipping_env.client
    ref = new_ref()
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), ref=ref)
        await wait_phase(handle, Phase.RUNNING)
        applied = world.calls["apply_children"]
        bad = SpecUpdate(ref=ref, generation=2, spec=make_spec(), problem=PROBLEM)
        await handle.signal(OdooInstanceWorkflow.set_spec, bad)
        await wait_phase(handle, Phase.ERROR)
        assert world.statuses[-1].message == PROBLEM
        assert world.statuses[-1].generation == 2
        assert world.calls["apply_children"] == applied  # nothing of it applied
        assert (world.web.desired, world.cron.desired) == (1, 1)  # still serving

        fixed = SpecUpdate(ref=ref, generation=3, spec=make_spec(replicas=2))
        await handle.signal(OdooInstanceWorkflow.set_spec, fixed)
        await wait_phase(handle, Phase.STARTING)
        assert world.calls["apply_children"] == applied + 1
        assert world.statuses[-1].message is None
        await handle.terminate()


async def test_an_instance_whose_first_spec_does_not_parse_is_an_error_applying_nothing(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World()
    client = time_skipping_env.client
    ref = new_ref()
    async with running_worker(client, world, task_queue):
        handle = await client.start_workflow(
            OdooInstanceWorkflow.run,
            InstanceWorkflowInput(
                state=MachineState(ref=ref, spec=make_spec(), generation=1, spec_problem=PROBLEM),
                settings=FAST,
            ),
            id=naming.workflow_id(ref.namespace, ref.name),
            task_queue=task_queue,
        )
        await wait_phase(handle, Phase.ERROR)
        assert world.statuses[-1].message == PROBLEM
        assert world.calls["apply_children"] == 0
        await handle.terminate()
