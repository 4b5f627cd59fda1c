"""The `restore` and `upgrade` Updates answer at once: accepted, queued behind another
operation, or refused for good; the job resource exists whenever they accept.

On the Temporal dev server (Updates need it) over the World's fakes, sent as
the temporal CLI sends them (JSON, no typed client). Covers: a restore asked
of a Running instance answers with its OdooRestoreJob, which the phase table
then takes (Restoring, its batch Job started); one asked while a backup runs
answers queued behind that backup; a request without a source, with an
unknown format, or whose S3 credentials Secret does not exist is refused
(RequestInvalid, non-retryable, naming the field) with nothing made, and the
workflow keeps serving; an upgrade answers with its OdooUpgradeJob and the
instance goes Upgrading.
"""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.client import Client

from model import failures
from model.payloads import JobKind, RestoreResult, UpgradeResult
from model.phases import Phase
from tests.workflows.conftest import (
    SPEC_BACKUP,
    eventually,
    running_instance,
    running_worker,
    serving_world,
    update_refusal,
    wait_phase,
)
from tests.workflows.world import World

_SOURCE = {**SPEC_BACKUP["destination"], "objectKey": "shop/2026.dump"}
_running = running_instance
_serving_world = serving_world


async def test_restore_answers_with_its_resource_which_the_instance_then_runs(
    temporal_client: Client, task_queue: str
) -> None:
    world = _serving_world()
    async with running_worker(temporal_client, world, task_queue):
        handle = await _running(temporal_client, task_queue)
        answer = await handle.execute_update(
            "restore", {"source": _SOURCE}, result_type=RestoreResult
        )
        assert answer.queued_behind == ()
        assert world.created == [answer.name]
        assert answer.name.startswith(f"{handle.id.rsplit('/', 1)[1]}-restore-")
        await wait_phase(handle, Phase.RESTORING)
        await eventually(
            lambda: _started(world),
            lambda started: f"{answer.name}-restore" in started,
            what="the restore's batch Job",
        )
        await handle.terminate()


async def test_restore_answers_queued_behind_the_backup_that_runs(
    temporal_client: Client, task_queue: str
) -> None:
    world = _serving_world()
    async with running_worker(temporal_client, world, task_queue):
        handle = await _running(temporal_client, task_queue)
        world.add_job(JobKind.BACKUP, "nightly")
        await handle.signal("poke", {})
        await wait_phase(handle, Phase.BACKING_UP)
        answer = await handle.execute_update(
            "restore", {"source": _SOURCE}, result_type=RestoreResult
        )
        assert answer.queued_behind == ("OdooBackupJob/nightly",)
        assert answer.name in world.created  # made anyway: kubectl shows it Pending
        world.finish_batch_job(JobKind.BACKUP, succeeded=True)
        await wait_phase(handle, Phase.RESTORING, timeout=30)
        await handle.terminate()


@pytest.mark.parametrize(
    ("request_body", "says"),
    [
        ({}, "restore request refused: source: Field required"),
        ({"source": _SOURCE, "format": "tar"}, "restore request refused: format: Input should"),
        ({"source": {"bucket": "b"}}, "source.objectKey: Field required"),
    ],
    ids=["no source", "unknown format", "incomplete source"],
)
async def test_restore_refused_for_good_naming_the_field_when_the_request_is_wrong(
    temporal_client: Client, task_queue: str, request_body: dict[str, Any], says: str
) -> None:
    world = _serving_world()
    async with running_worker(temporal_client, world, task_queue):
        handle = await _running(temporal_client, task_queue)
        refusal = await update_refusal(handle, "restore", request_body)
        assert refusal.non_retryable
        assert refusal.type == failures.REQUEST_INVALID
        assert says in refusal.message
        assert world.created == []
        assert world.calls["create_restore_job"] == 0  # refused by the validator
        await handle.terminate()


async def test_restore_refused_naming_the_secret_when_it_does_not_exist(
    temporal_client: Client, task_queue: str
) -> None:
    world = _serving_world()
    world.missing_secrets.add("s3-credentials")
    async with running_worker(temporal_client, world, task_queue):
        handle = await _running(temporal_client, task_queue)
        refusal = await update_refusal(handle, "restore", {"source": _SOURCE})
        assert refusal.non_retryable
        assert refusal.type == failures.REQUEST_INVALID
        assert refusal.message == (
            "restore request refused: source.s3CredentialsSecretRef: "
            "Secret shop/s3-credentials not found"
        )
        assert world.created == []
        # The workflow is unharmed: it still answers.
        world.missing_secrets.clear()
        made = await handle.execute_update(
            "restore", {"source": _SOURCE}, result_type=RestoreResult
        )
        assert world.created == [made.name]
        await handle.terminate()


async def test_upgrade_answers_with_its_resource_and_the_instance_upgrades(
    temporal_client: Client, task_queue: str
) -> None:
    world = _serving_world()
    async with running_worker(temporal_client, world, task_queue):
        handle = await _running(temporal_client, task_queue)
        answer = await handle.execute_update(
            "upgrade", {"modules": ["sale", "stock"]}, result_type=UpgradeResult
        )
        assert "-upgrade-" in answer.name
        assert answer.queued_behind == ()
        assert world.created == [answer.name]
        await wait_phase(handle, Phase.UPGRADING)
        refusal = await update_refusal(handle, "upgrade", {"modules": "sale"})
        assert refusal.type == failures.REQUEST_INVALID
        assert "modules: Input should be a valid" in refusal.message
        await handle.terminate()


async def _started(world: World) -> list[str]:
    return list(world.batch_jobs_created)
