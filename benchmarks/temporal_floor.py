"""Floor (a): Temporal alone, with a Python worker, on the suite's dev server.

N workflows started at once, each running as many trivial activities and
local activities as one instance needed to reach Running (the suite reads
the counts from the instances' histories), interleaved, one after the other;
a synchronous activity on a thread pool of 32, as the operator's worker runs
its activities. Nothing else: no Kubernetes, no PostgreSQL, no signals.
Run by the suite as a process of its own (so its CPU and RSS are its own);
prints one JSON object: seconds until all completed, and each workflow's
start-to-completion seconds.

    .venv/bin/python -m benchmarks.temporal_floor --address 127.0.0.1:7233 \
        --workflows 100 --activities 11 --local-activities 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker

__all__ = ["FloorWorkflow", "main", "noop"]

_TIMEOUT = timedelta(seconds=60)


@activity.defn(name="bench_noop")
def noop(step: int) -> int:
    """A trivial activity: returns its argument."""
    return step


@workflow.defn(name="BenchFloor")
class FloorWorkflow:
    """`activities` activities and `local` local activities, interleaved."""

    @workflow.run
    async def run(self, activities: int, local: int) -> int:
        total = activities + local
        done = 0
        for step in range(total):
            # Spread the local ones evenly among the others.
            is_local = local and (step * local) // total != ((step + 1) * local) // total
            if is_local:
                done += await workflow.execute_local_activity(
                    noop, step, start_to_close_timeout=_TIMEOUT
                )
            else:
                done += await workflow.execute_activity(noop, step, start_to_close_timeout=_TIMEOUT)
        return done


async def run(address: str, workflows: int, activities: int, local: int) -> dict[str, object]:
    """Run the floor; its figures (seconds, per-workflow seconds)."""
    client = await Client.connect(address)
    queue = f"bench-floor-{uuid.uuid4().hex[:8]}"
    with ThreadPoolExecutor(max_workers=32) as executor:
        worker = Worker(
            client,
            task_queue=queue,
            workflows=[FloorWorkflow],
            activities=[noop],
            activity_executor=executor,
            max_concurrent_activities=32,
        )
        async with worker:
            started = time.monotonic()

            async def one(index: int) -> float:
                handle = await client.start_workflow(
                    FloorWorkflow.run,
                    args=[activities, local],
                    id=f"bench-floor/{queue}/{index}",
                    task_queue=queue,
                )
                await handle.result()
                return time.monotonic() - started

            each = await asyncio.gather(*(one(i) for i in range(workflows)))
            total = time.monotonic() - started
    return {"seconds": total, "each": list(each)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--address", required=True)
    parser.add_argument("--workflows", type=int, required=True)
    parser.add_argument("--activities", type=int, required=True)
    parser.add_argument("--local-activities", type=int, required=True)
    args = parser.parse_args()
    figures = asyncio.run(run(args.address, args.workflows, args.activities, args.local_activities))
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
