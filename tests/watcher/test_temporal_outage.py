"""The watcher while Temporal is unreachable: it keeps running and loses nothing.

Covers: an instance created while the Temporal server is down gets its
workflow (with the whole spec) once the server comes up, through Kopf's
retries with the watcher's backoff; a poke sent during the outage arrives
after it; the watcher never stops meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio import client as temporal_client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities import api
from model import naming
from sandbox import temporal
from tests.activities import kube_instance as ki
from tests.watcher.conftest import RunWatcher, eventually, signals_of, workflow_started
from watcher.config import WatcherConfig


@pytest_asyncio.fixture
async def stopped_server(tmp_path: Path) -> AsyncIterator[temporal.TemporalDevServer]:
    """A dev server of this test's own, created but not started."""
    server = temporal.TemporalDevServer(headless=True, log_file=tmp_path / "temporal.log")
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


@pytest.mark.timeout(60)
async def test_workflow_started_once_temporal_is_back_when_it_was_down_at_create(
    run_watcher: RunWatcher,
    watcher_config: WatcherConfig,
    stopped_server: temporal.TemporalDevServer,
    kube: api.KubeApi,
    namespace: str,
) -> None:
    attempts = 0

    async def connect() -> temporal_client.Client:
        nonlocal attempts
        attempts += 1
        return await temporal_client.Client.connect(
            stopped_server.address,
            namespace=stopped_server.namespace,
            data_converter=pydantic_data_converter,
        )

    async with run_watcher(watcher_config, connect) as watcher:
        await asyncio.to_thread(ki.create_instance, kube, namespace, "shop")

        async def failed_twice() -> bool:
            return attempts >= 2

        await eventually(failed_twice, "two failed connects")
        assert not await watcher.ready()  # Temporal unreachable: not ready

        await asyncio.to_thread(stopped_server.start)
        client = await connect()
        workflow_id = naming.workflow_id(namespace, "shop")
        await eventually(lambda: workflow_started(client, workflow_id), "workflow started")
        names = [name for name, _ in await signals_of(client.get_workflow_handle(workflow_id))]
        assert names[0] == "set_spec"
        await eventually(watcher.ready, "ready once Temporal answers")
