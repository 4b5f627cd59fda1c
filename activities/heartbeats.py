"""Heartbeats of the long activities, so a worker that dies mid-activity is noticed in seconds.

Owns `heartbeating()`: while an activity body runs, a daemon thread
heartbeats every `INTERVAL_SECONDS` (the SDK throttles what it sends to
0.8 x the heartbeat timeout). A heartbeat says the worker process is alive,
not that the activity makes progress: a hung call is bounded by the
activity's start-to-close timeout, a dead worker by its heartbeat timeout
(both in workflows.calls), so the retry of a killed worker's attempt starts
within that timeout instead of the start-to-close one.

Must not: record details (a retry starts over: every activity is
idempotent), or heartbeat outside an activity (a direct call in a test is
left alone).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator

from temporalio import activity

__all__ = ["INTERVAL_SECONDS", "heartbeating"]

INTERVAL_SECONDS = 2.0
"""Well under any heartbeat timeout workflows.calls sets (20 s)."""


@contextlib.contextmanager
def heartbeating(interval: float = INTERVAL_SECONDS) -> Iterator[None]:
    """Heartbeat from a daemon thread while the block runs (inside an activity)."""
    if not activity.in_activity():
        yield
        return
    activity.heartbeat()
    stop = threading.Event()
    # The activity's context (its heartbeat function) in a copy the thread enters alone.
    context = contextvars.copy_context()

    def beat() -> None:
        while not stop.wait(interval):
            context.run(activity.heartbeat)

    thread = threading.Thread(target=beat, name="activity-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
