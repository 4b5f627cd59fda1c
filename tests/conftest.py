"""Fixtures shared by every test tier live in tests/fixtures/ as pytest plugins."""

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

pytest_plugins = ["tests.fixtures.kube", "tests.fixtures.services", "tests.fixtures.jobs"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests run last: slowest, and they need every other tier green."""
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)  # stable sort


HANG_REPORT_SECONDS = 120.0


@pytest_asyncio.fixture(autouse=True, loop_scope="session")
async def _report_hung_tasks() -> AsyncIterator[None]:
    """If a test is still running after HANG_REPORT_SECONDS, print every asyncio
    task's stack: a hung await then shows where it waits (pytest-timeout only
    shows the threads, and the event loop idling in select())."""

    def dump() -> None:
        print(f"--- asyncio tasks after {HANG_REPORT_SECONDS:.0f} s ---", file=sys.stderr)
        for task in asyncio.all_tasks():
            task.print_stack(file=sys.stderr)

    handle = asyncio.get_running_loop().call_later(HANG_REPORT_SECONDS, dump)
    yield
    handle.cancel()
