"""The `backup` Update and signal answer what is wrong with a request, where the sender sees it.

On the Temporal dev server (Updates need it) over the World's fakes, sent
as the temporal CLI sends them (JSON, no typed client). Covers: the Update
refuses synchronously and non-retryably, naming the field, a request
without a destination on an instance without spec.backup (`--input '{}'`,
which answered `retryable: true`), an unknown format, a field of the wrong
type, and an S3 credentials Secret that does not exist (nothing is made);
the workflow keeps running and a good request then answers with its
OdooBackupJob. A malformed signal, which the SDK used to drop with a log
line, leaves a BackupRequestRefused Warning Event naming the field.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from model import failures
from model.payloads import BackupRequested
from tests.workflows.conftest import (
    SPEC_BACKUP,
    Handle,
    eventually,
    running_instance,
    running_worker,
    serving_world,
    update_refusal,
)
from tests.workflows.world import World

_DESTINATION = {
    "bucket": "b",
    "objectKey": "shop/now.zip",
    "endpoint": "http://s3:9000",
    "s3CredentialsSecretRef": {"name": "s3-credentials"},
}


_running = running_instance
_serving_world = serving_world


async def _refusal(handle: Handle, request: Any) -> ApplicationError:
    return await update_refusal(handle, "backup", request)


@pytest.mark.parametrize(
    ("request_body", "says"),
    [
        ({}, "destination: no destination given and the instance has no spec.backup"),
        ({"destination": _DESTINATION, "format": "tar"}, "format: Input should be"),
        ({"destination": _DESTINATION, "withFilestore": "maybe"}, "withFilestore: Input should"),
        ({"destination": {"bucket": "b"}}, "destination.objectKey: Field required"),
        ([1, 2], "backup request refused: Input should be"),
    ],
    ids=["no destination", "unknown format", "wrong type", "incomplete destination", "a list"],
)
async def test_update_refused_for_good_naming_the_field_when_the_request_is_wrong(
    temporal_client: Client, task_queue: str, request_body: Any, says: str
) -> None:
    world = _serving_world()
    async with running_worker(temporal_client, world, task_queue):
        handle = await _running(temporal_client, task_queue)
        refusal = await _refusal(handle, request_body)
        assert refusal.non_retryable
        assert refusal.type == failures.BACKUP_REQUEST_INVALID
        assert says in refusal.message
        assert world.created == []
        # The workflow is unharmed: a good request is answered.
        made = await handle.execute_update(
            "backup", {"destination": _DESTINATION}, result_type=BackupRequested
        )
        assert world.created == [made.name]
        await handle.terminate()


_SPEC_BACKUP = SPEC_BACKUP


@pytest.mark.parametrize(
    ("spec", "request_body", "field"),
    [
        ({}, {"destination": _DESTINATION}, "destination"),
        ({"backup": _SPEC_BACKUP}, {}, "spec.backup.destination"),
    ],
    ids=["the request's", "spec.backup's"],
)
async def test_update_refused_for_good_naming_the_secret_when_it_does_not_exist(
    temporal_client: Client,
    task_queue: str,
    spec: dict[str, Any],
    request_body: dict[str, Any],
    field: str,
) -> None:
    world = _serving_world()
    world.missing_secrets.add("s3-credentials")
    async with running_worker(temporal_client, world, task_queue):
        handle = await _running(temporal_client, task_queue, **spec)
        refusal = await _refusal(handle, request_body)
        assert refusal.non_retryable
        assert refusal.message == (
            f"{field}.s3CredentialsSecretRef: Secret shop/s3-credentials not found"
        )
        assert world.created == []
        await handle.terminate()


async def test_malformed_signal_leaves_a_warning_event_naming_the_field(
    temporal_client: Client, task_queue: str
) -> None:
    world = _serving_world()
    async with running_worker(temporal_client, world, task_queue):
        handle = await _running(temporal_client, task_queue)
        await handle.signal("backup", {"destination": _DESTINATION, "format": "tar"})
        events = await eventually(
            lambda: _events(world), lambda found: len(found) == 1, what="the refusal Event"
        )
        (event,) = events
        assert event.warning
        assert event.reason == "BackupRequestRefused"
        assert event.message.startswith("backup request refused: format: Input should be")
        assert world.created == []
        # A good signal still makes its OdooBackupJob.
        await handle.signal("backup", {"destination": _DESTINATION})
        await eventually(lambda: _made(world), lambda made: len(made) == 1, what="the backup")
        await handle.terminate()


async def _events(world: World) -> list[Any]:
    return [e for e in world.events if e.reason == "BackupRequestRefused"]


async def _made(world: World) -> list[str]:
    return list(world.created)
