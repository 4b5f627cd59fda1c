"""Records the workflow histories that test_replay.py replays.

Run after a deliberate, patched change of the workflow's command sequence:
`.venv/bin/python -m tests.workflows.record_histories <label>` writes
histories/happy_path_<label>.json beside the older ones, which stay: each is
a workflow that may still run somewhere. Never re-record to silence a replay
failure: that failure means running workflows would break.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from pathlib import Path

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from model.payloads import JobKind, Poke
from model.phases import Phase
from sandbox import processes
from tests.phase_cases import make_spec
from tests.workflows.conftest import (
    register_search_attributes,
    running_worker,
    start_instance,
    wait_phase,
)
from tests.workflows.world import World
from workflows.instance import OdooInstanceWorkflow

HISTORIES = Path(__file__).parent / "histories"


async def record_happy_path(env: WorkflowEnvironment) -> str:
    world = World()
    task_queue = f"record-{uuid.uuid4().hex}"
    async with running_worker(env.client, world, task_queue):
        handle = await start_instance(env.client, task_queue, make_spec())
        await wait_phase(handle, Phase.INITIALIZING)
        world.finish_batch_job(JobKind.INIT, succeeded=True)
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="job"))
        await wait_phase(handle, Phase.STARTING)
        world.set_ready(1)
        await handle.signal(OdooInstanceWorkflow.poke, Poke(reason="deployment"))
        await wait_phase(handle, Phase.RUNNING)
        await handle.terminate()
        history = await handle.fetch_history()
    return history.to_json()


async def main(label: str) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(processes.find_binary("temporal-test-server")),
        data_converter=pydantic_data_converter,
    )
    try:
        await register_search_attributes(env.client)
        (HISTORIES / f"happy_path_{label}.json").write_text(await record_happy_path(env))
    finally:
        await env.shutdown()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
