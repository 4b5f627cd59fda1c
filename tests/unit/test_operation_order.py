"""What an operation Update tells its sender agrees with what the instance will do.

Covers: the order the Updates report a queue in (activities.operation_resources.
RUN_ORDER) is the phase table's (an init before a restore from Uninitialized,
then restore > upgrade > backup from Running), so "queued behind X" never
names what runs after; the resources the restore and upgrade Updates make
are named so that their batch Job's name fits 63 characters unshortened,
whatever the instance's name; a restore's format follows its object key's
extension.
"""

from __future__ import annotations

import pytest

from activities.operation_resources import RUN_ORDER
from model import naming
from model.crds import BackupFormat
from model.payloads import JobKind, RestoreInput
from model.phases import Phase
from workflows import machine

_KIND_OF_GUARD = {
    machine.init_present: JobKind.INIT,
    machine.restore_present: JobKind.RESTORE,
    machine.upgrade_due: JobKind.UPGRADE,
    machine.backup_present: JobKind.BACKUP,
}


def test_queue_order_is_the_phase_tables_when_several_kinds_wait() -> None:
    taken: list[JobKind] = []
    for phase in (Phase.UNINITIALIZED, Phase.RUNNING):
        for row in machine.rows_from(phase):
            kind = _KIND_OF_GUARD.get(row.guard)
            if kind is not None and kind not in taken:
                taken.append(kind)
    assert tuple(taken) == RUN_ORDER


@pytest.mark.parametrize("kind", [JobKind.RESTORE, JobKind.UPGRADE])
@pytest.mark.parametrize("length", [1, 20, 63])
def test_batch_job_name_fits_unshortened_when_an_update_names_the_resource(
    kind: JobKind, length: int
) -> None:
    name = naming.operation_resource_name("i" * length, kind.value, "20261206093000", "abcd")
    job = naming.batch_job_name(name, kind.value)
    assert job == f"{name}-{kind.value}"
    assert len(job) <= naming.LABEL_VALUE_MAX
    assert name.endswith(f"-{kind.value}-20261206093000-abcd")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("shop/erp-20261206.zip", BackupFormat.ZIP),
        ("shop/erp.SQL", BackupFormat.SQL),
        ("erp.dump", BackupFormat.DUMP),
        ("erp.tar.gz", BackupFormat.ZIP),
        ("erp", BackupFormat.ZIP),
    ],
)
def test_restore_format_follows_the_key_when_none_is_given(
    key: str, expected: BackupFormat
) -> None:
    source = {"bucket": "b", "objectKey": key, "endpoint": "http://s3"}
    assert RestoreInput.model_validate({"source": source}).backup_format is expected
    given = RestoreInput.model_validate({"source": source, "format": "sql"})
    assert given.backup_format is BackupFormat.SQL
