"""The operator registers its search attributes on a Temporal server that lacks them.

Covers `odoo_operator.worker.register_search_attributes` against a Temporal dev
server started WITHOUT `--search-attribute` flags (what a fresh production
server or the official Temporal chart gives): before, a visibility query on
OdooPhase is refused; after, the seven Keyword attributes, OdooLastBackup
(Datetime) and OdooHeld (Bool) exist and the query answers; a second call
adds nothing (idempotent); two workers starting
at once both succeed; an attribute of the wrong type is reported, not
silently kept. The worker process (`odoo-operator worker`) registering them
at start-up is covered by tests/chart/test_install.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError

from odoo_operator import worker
from sandbox import temporal

NAMES = (
    "OdooEnvironment",
    "OdooImage",
    "OdooInstanceName",
    "OdooLastOperation",
    "OdooLastOutcome",
    "OdooNamespace",
    "OdooPhase",
)
KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
HELD = "OdooHeld"
"""The one Bool attribute: whether the instance is on hold."""
LAST_BACKUP = "OdooLastBackup"
"""The one Datetime attribute: when the last backup completed."""


@pytest_asyncio.fixture(loop_scope="session")
async def bare_client(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Client]:
    """A client of a dev server of its own, started with no custom search attribute."""
    server = temporal.TemporalDevServer(
        headless=True,
        search_attributes={},
        log_file=tmp_path_factory.mktemp("bare-temporal") / "temporal.log",
    )
    await asyncio.to_thread(server.start)
    try:
        yield await Client.connect(server.address, namespace=server.namespace)
    finally:
        await asyncio.to_thread(server.stop)


async def custom_attributes(client: Client) -> dict[str, int]:
    listing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    return {name: int(kind) for name, kind in listing.custom_attributes.items()}


async def phase_query(client: Client) -> list[str]:
    return [w.id async for w in client.list_workflows('OdooPhase="Running"')]


async def test_attributes_are_added_as_keyword_when_the_server_lacks_them(
    bare_client: Client,
) -> None:
    assert not set(NAMES) & set(await custom_attributes(bare_client))
    with pytest.raises(RPCError):  # the server does not know OdooPhase yet
        await phase_query(bare_client)

    added = await worker.register_search_attributes(bare_client)

    assert added == tuple(sorted((*NAMES, HELD, LAST_BACKUP)))
    found = await custom_attributes(bare_client)
    assert {name: found.get(name) for name in NAMES} == dict.fromkeys(NAMES, KEYWORD)
    assert found.get(HELD) == IndexedValueType.INDEXED_VALUE_TYPE_BOOL
    assert found.get(LAST_BACKUP) == IndexedValueType.INDEXED_VALUE_TYPE_DATETIME
    assert await phase_query(bare_client) == []


async def test_nothing_is_added_when_they_are_already_there(bare_client: Client) -> None:
    await worker.register_search_attributes(bare_client)
    before = await custom_attributes(bare_client)

    assert await worker.register_search_attributes(bare_client) == ()
    assert await custom_attributes(bare_client) == before


async def test_workers_starting_together_both_succeed(bare_client: Client) -> None:
    results = await asyncio.gather(
        worker.register_search_attributes(bare_client),
        worker.register_search_attributes(bare_client),
    )

    assert all(set(added) <= {*NAMES, HELD, LAST_BACKUP} for added in results)  # neither raised
    assert {*NAMES, HELD, LAST_BACKUP} <= set(await custom_attributes(bare_client))


async def test_an_attribute_of_another_type_is_reported_when_found(bare_client: Client) -> None:
    await bare_client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=bare_client.namespace,
            search_attributes={"OdooPhase": IndexedValueType.INDEXED_VALUE_TYPE_TEXT},
        )
    )

    with pytest.raises(worker.SearchAttributeConflict, match="OdooPhase"):
        await worker.register_search_attributes(bare_client)
