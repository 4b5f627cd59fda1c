"""Job resources always say what happens (time-skipping server, fake activities).

Covers, through the instance workflow: a job resource that waits while
another operation runs shows Pending and "queued behind <Kind> <name>", and
the reason follows the queue (the next backup, then the restore behind it);
one that starts shows Running; on an instance in Error every waiting job
resource, old or new, is refused (Failed through the edge actions, its
message the instance's problem) in the wake that sees it, no Job starts and
the instance stays in Error; once the problem is fixed a new one runs.
"""

from __future__ import annotations

from temporalio.testing import WorkflowEnvironment

from model.payloads import JobAction, JobKind, Poke
from model.phases import JobPhase, Phase
from tests.phase_cases import make_spec
from tests.workflows.conftest import (
    Handle,
    eventually,
    running_worker,
    start_instance,
    wait_phase,
)
from tests.workflows.world import World
from workflows.instance import OdooInstanceWorkflow


async def _shows(
    world: World, handle: Handle, name: str, phase: JobPhase, message: str | None = None
) -> None:
    """Poke until the job resource `name` shows `phase` (and `message`, if given)."""

    async def status() -> tuple[JobPhase | None, str | None]:
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="job resource"))
        with world.lock:
            job = world.job_named(name)
            return job.phase, job.message

    await eventually(
        status,
        lambda s: s[0] is phase and (message is None or s[1] == message),
        what=f"{name} {phase} {message or ''}",
    )


async def test_a_job_resource_waiting_behind_another_says_which_and_follows_the_queue(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    world = World.serving()
    world.add_job(JobKind.BACKUP, "nightly")
    client = time_skipping_env.client
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), phase=Phase.RUNNING)
        await _shows(world, handle, "nightly", JobPhase.RUNNING, "running as Job nightly-backup")
        await wait_phase(handle, Phase.BACKING_UP)
        world.add_job(JobKind.BACKUP, "extra")
        world.add_job(JobKind.RESTORE, "copy")
        behind = "queued behind OdooBackupJob nightly"
        await _shows(world, handle, "extra", JobPhase.PENDING, behind)
        await _shows(world, handle, "copy", JobPhase.PENDING, behind)
        world.finish_batch_job(JobKind.BACKUP, succeeded=True)
        await _shows(world, handle, "extra", JobPhase.RUNNING)
        await _shows(world, handle, "copy", JobPhase.PENDING, "queued behind OdooBackupJob extra")
        await handle.terminate()
    assert world.job_named("nightly").phase is JobPhase.COMPLETED


async def test_job_resources_are_refused_with_the_problem_while_the_instance_is_in_error(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    problem = "spec.database.cluster: cluster 'gone' is not in the clusters Secret"
    world = World.serving()
    world.add_job(JobKind.UPGRADE, "queued-before")
    world.job_named("queued-before").due = False  # waits (Pending) until it is due
    client = time_skipping_env.client
    async with running_worker(client, world, task_queue):
        handle = await start_instance(client, task_queue, make_spec(), phase=Phase.RUNNING)
        await _shows(world, handle, "queued-before", JobPhase.PENDING)
        with world.lock:
            world.problems = (problem,)
        await _shows(world, handle, "queued-before", JobPhase.FAILED)
        world.add_job(JobKind.BACKUP, "nightly")
        await _shows(world, handle, "nightly", JobPhase.FAILED)
        assert await handle.query(OdooInstanceWorkflow.phase) is Phase.ERROR
        refusal = f"not started: the instance is in Error: {problem}"
        assert world.job_named("queued-before").message == refusal
        assert world.job_named("nightly").message == refusal
        refused = [e for e in world.edges if isinstance(e, JobAction) and not e.succeeded]
        assert {e.name for e in refused} == {"queued-before", "nightly"}
        assert not world.batch_jobs_created, "a Job was started for an instance in Error"

        # Fixed: the next one runs.
        with world.lock:
            world.problems = ()
        world.add_job(JobKind.BACKUP, "after")
        await _shows(world, handle, "after", JobPhase.RUNNING)
        await handle.terminate()
