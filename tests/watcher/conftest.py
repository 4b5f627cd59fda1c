"""Fixtures of the watcher tests: the real Kopf watcher, in the test loop, against the emulator.

`run_watcher` starts a `watcher.startup.Watcher` as an asyncio task (login
straight to the emulator, watching only the test namespace) and cancels it at
the end, which stops Kopf at once. Signals go to the Temporal dev server on a
task queue no worker polls, so each workflow's history shows exactly what
the watcher sent. Helpers read that history with deadlines, never sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import kopf
import kubernetes
import pytest
from temporalio import client as temporal_client
from temporalio import service as temporal_service
from temporalio.api.enums.v1 import EventType
from temporalio.contrib.pydantic import pydantic_data_converter

from activities import api
from odoo_operator.sandbox import emulator as kube_emulator
from watcher.config import WatcherConfig
from watcher.startup import Watcher

_T = TypeVar("_T")
DEADLINE = 15.0

RunWatcher = Callable[..., contextlib.AbstractAsyncContextManager[Watcher]]


async def eventually(check: Callable[[], Awaitable[_T | None]], what: str) -> _T:
    """Await `check` until it returns something truthy, or fail after DEADLINE."""
    deadline = time.monotonic() + DEADLINE
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {DEADLINE}s: {what}")
        await asyncio.sleep(0.02)  # poll interval of a condition wait, not a timing guess


@pytest.fixture
def kube(api_client: kubernetes.client.ApiClient) -> api.KubeApi:
    return api.KubeApi(api_client)


@pytest.fixture
def watcher_config(namespace: str, task_queue: str) -> WatcherConfig:
    return WatcherConfig(
        task_queue=task_queue,
        namespaces=(namespace,),
        operator_namespace=namespace,
        retry_delay_seconds=0.2,
        retry_delay_max_seconds=1.0,
    )


@pytest.fixture
def run_watcher(
    kube_emulator_server: kube_emulator.EmulatorHandle,
    temporal_client: temporal_client.Client,
    watcher_config: WatcherConfig,
) -> RunWatcher:
    """An async context manager running one watcher; call it again for a restart."""

    @contextlib.asynccontextmanager
    async def run(
        config: WatcherConfig | None = None,
        connect: Callable[[], Awaitable[temporal_client.Client]] | None = None,
    ) -> AsyncIterator[Watcher]:
        async def same_client() -> temporal_client.Client:
            return temporal_client

        watcher = Watcher(
            config or watcher_config,
            connect or same_client,
            login=kopf.ConnectionInfo(server=kube_emulator_server.url, insecure=True),
        )
        task = asyncio.create_task(watcher.run())
        try:
            await eventually(_flag(watcher, task), "the watcher is ready")
            yield watcher
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    return run


def _flag(watcher: Watcher, task: asyncio.Task[None]) -> Callable[[], Awaitable[bool]]:
    async def ready() -> bool:
        if task.done():
            task.result()  # re-raise why the operator stopped
        return watcher.ready_flag.is_set()

    return ready


async def signals_of(handle: temporal_client.WorkflowHandle[Any, Any]) -> list[tuple[str, Any]]:
    """(signal name, decoded payload) of every signal in the workflow's history so far."""
    result: list[tuple[str, Any]] = []
    try:
        history = await handle.fetch_history()
    except temporal_service.RPCError as err:
        if err.status == temporal_service.RPCStatusCode.NOT_FOUND:
            return result  # not started yet
        raise
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attrs = event.workflow_execution_signaled_event_attributes
            payloads = list(attrs.input.payloads)
            values = pydantic_data_converter.payload_converter.from_payloads(payloads)
            result.append((attrs.signal_name, values[0] if values else None))
    return result


async def workflow_started(
    client: temporal_client.Client, workflow_id: str
) -> temporal_client.WorkflowExecutionDescription | None:
    """The running workflow's description, or None while it does not exist (or ended)."""
    try:
        description = await client.get_workflow_handle(workflow_id).describe()
    except temporal_service.RPCError as err:
        if err.status == temporal_service.RPCStatusCode.NOT_FOUND:
            return None
        raise
    running = temporal_client.WorkflowExecutionStatus.RUNNING
    return description if description.status == running else None
