"""The `sync_backup_schedule` activity against the Temporal dev server.

Covers: every schedule model.cron accepts is one Temporal accepts (a
Schedule is made for each, with a next fire time); a schedule Temporal
refuses (INVALID_ARGUMENT: "61 2 * * *" in a spec written before the rules
existed) fails non-retryable as ConfigInvalid naming spec.backup.schedule
and Temporal's reason, both when the Schedule is made and when an existing
one is updated, instead of a retry for ever with the same input.
"""

from __future__ import annotations

import uuid

import kubernetes
import pytest
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.backup_resources import BackupActivities
from model import failures, naming
from model.crds import BackupDestination, ScheduledBackups
from model.payloads import InstanceRef, SyncBackupScheduleInput
from model.settings import OperatorSettings
from tests.unit.test_cron_schedules import ACCEPTED

_DESTINATION = BackupDestination(bucket="b", endpoint="http://s3:9000")


def _activities(api_client: kubernetes.client.ApiClient, namespace: str) -> BackupActivities:
    return BackupActivities(api.KubeApi(api_client), OperatorSettings(namespace=namespace))


def _input(schedule: str, ref: InstanceRef) -> SyncBackupScheduleInput:
    # model_construct: what a spec admitted before the rules existed carries.
    backup = ScheduledBackups.model_construct(schedule=schedule, destination=_DESTINATION)
    return SyncBackupScheduleInput(ref=ref, backup=backup)


def _ref() -> InstanceRef:
    return InstanceRef(namespace="shop", name=f"erp-{uuid.uuid4().hex[:8]}", uid="u")


async def test_every_accepted_schedule_is_one_temporal_makes_when_synced(
    temporal_client: Client, api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    acts = _activities(api_client, namespace)
    env = ActivityEnvironment(client=temporal_client)
    for expression in ACCEPTED:
        ref = _ref()
        backup = ScheduledBackups(schedule=expression, destination=_DESTINATION)
        await env.run(acts.sync_backup_schedule, SyncBackupScheduleInput(ref=ref, backup=backup))
        handle = temporal_client.get_schedule_handle(
            naming.backup_schedule_id(ref.namespace, ref.name)
        )
        described = await handle.describe()
        assert described.info.next_action_times, expression
        await handle.delete()


@pytest.mark.parametrize("existing", [False, True], ids=["created", "updated"])
async def test_a_schedule_temporal_refuses_fails_for_good_naming_the_field_when_synced(
    temporal_client: Client,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    existing: bool,
) -> None:
    acts = _activities(api_client, namespace)
    env = ActivityEnvironment(client=temporal_client)
    ref = _ref()
    if existing:
        await env.run(acts.sync_backup_schedule, _input("0 2 * * *", ref))
    with pytest.raises(ApplicationError) as refused:
        await env.run(acts.sync_backup_schedule, _input("61 2 * * *", ref))
    assert refused.value.type == failures.CONFIG_INVALID
    assert refused.value.non_retryable
    assert refused.value.message.startswith(
        "spec.backup.schedule: Temporal refused the backup Schedule ('61 2 * * *'): "
    )
    assert "Minute is not in range [0-59]" in refused.value.message
    if existing:
        await temporal_client.get_schedule_handle(
            naming.backup_schedule_id(ref.namespace, ref.name)
        ).delete()
