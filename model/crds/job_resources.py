"""The job resources: OdooInitJob, OdooUpgradeJob, OdooBackupJob, OdooRestoreJob.

Each names its instance in `spec.odooInstanceRef` (immutable) and is carried out
by that instance's workflow, which mirrors the batch Job into `status`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Literal, Self

from pydantic import ConfigDict, Field, model_validator

from model.crds import common

__all__ = [
    "DEFAULT_DEADLINE_SECONDS",
    "DURATION_PATTERN",
    "BackupJobStatus",
    "OdooBackupJob",
    "OdooBackupJobSpec",
    "OdooInitJob",
    "OdooInitJobSpec",
    "OdooRestoreJob",
    "OdooRestoreJobSpec",
    "OdooSource",
    "OdooUpgradeJob",
    "OdooUpgradeJobSpec",
    "OperationSpec",
    "OperationStatus",
    "RestoreSource",
    "RestoreSourceType",
    "deadline_seconds",
    "duration_seconds",
    "reference_problem",
]

IMMUTABLE_REF_RULE = "self == oldSelf"
IMMUTABLE_REF_MESSAGE = "odooInstanceRef is immutable"
_INSTANCE_REF_DESCRIPTION = (
    "The OdooInstance this job works on (its namespace defaults to the job's). Immutable."
)


_IMMUTABLE_REF: dict[str, Any] = {
    "x-kubernetes-validations": [{"rule": IMMUTABLE_REF_RULE, "message": IMMUTABLE_REF_MESSAGE}]
}
_WEBHOOK_DESCRIPTION = "Called when the job completes or fails."

DEFAULT_DEADLINE_SECONDS = {"init": 3600, "upgrade": 3600, "backup": 5400, "restore": 3600}
"""The deadline of each kind's batch Job when the resource names none (job kind value ->
seconds): 90 minutes for a backup, 60 for the others."""


def _deadline_field(kind: str) -> Any:
    default = DEFAULT_DEADLINE_SECONDS[kind]
    return Field(
        default=None,
        ge=1,
        le=common.INT32_MAX,
        json_schema_extra={"format": "int32"},
        description=(
            f"How long the batch Job may run, in seconds (default {default}). A Job past it is "
            "stopped and the resource Failed with 'deadline of N s exceeded at step S' (the "
            "step that was running)."
            + (
                " Like any failure of a restore or an upgrade, it returns the instance to what "
                "it ran before."
                if kind in ("restore", "upgrade")
                else ""
            )
        ),
    )


def deadline_seconds(kind: str, spec: Any) -> int:
    """The batch Job deadline of a job resource spec of `kind` (its field or the default)."""
    value = getattr(spec, "active_deadline_seconds", None)
    return int(value) if value is not None else DEFAULT_DEADLINE_SECONDS[kind]


DURATION_PATTERN = r"^([0-9]+(s|m|h|d))+$"
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration_seconds(value: str) -> int:
    """Seconds of a duration such as `90m`, `24h` or `1d12h` (DURATION_PATTERN)."""
    total, number = 0, ""
    for char in value:
        if char.isdigit():
            number += char
        else:
            total += int(number) * _DURATION_UNITS[char]
            number = ""
    return total


_SAFETY_BACKUP_DESCRIPTION = (
    "Back up the database and filestore about to be replaced before touching them "
    "(default true): to safetyBackupDestination, else to the instance's spec.backup "
    "destination (an OdooBackupJob <name>-safety, named in status.safetyBackup). A failed "
    "safety backup fails the operation before anything changed. With neither destination "
    "the operation runs without one, keeps what it replaced at least 7 days (keepPreviousFor "
    "counts from 7d then) and says so in a SafetyBackupSkipped Warning Event."
)
_SAFETY_DESTINATION_DESCRIPTION = (
    "Where the safety backup goes (default: spec.backup's destination)."
)
_KEEP_PREVIOUS_DESCRIPTION = (
    "How long to keep what the operation replaced (the previous database, and for a restore "
    "the previous filestore; named in status.previousDatabase and status.previousFilestore) "
    "once the instance runs healthy on the new data, e.g. 24h or 7d (default 0s: removed as "
    "soon as the instance is Running on it; at least 7d when the safety backup was wanted but "
    "had nowhere to go). Until then they can be swapped back by hand "
    "(README, Restores and upgrades)."
)


KEEP_WITHOUT_SAFETY_BACKUP = timedelta(days=7)
"""How long, at least, an operation keeps what it replaced when its safety backup
was wanted but had no destination: then the kept-aside copy is the only one."""


class OperationSpec(common.SpecModel):
    """What every job resource that replaces data (restore, upgrade) takes: its
    safety backup and how long to keep what it replaced."""

    safety_backup: bool = Field(default=True, description=_SAFETY_BACKUP_DESCRIPTION)
    safety_backup_destination: common.S3Config | None = Field(
        default=None, description=_SAFETY_DESTINATION_DESCRIPTION
    )
    keep_previous_for: str = Field(
        default="0s",
        max_length=32,
        pattern=DURATION_PATTERN,
        description=_KEEP_PREVIOUS_DESCRIPTION,
    )


class OperationStatus(common.JobStatus):
    """Status of a job resource that replaces data (OdooRestoreJob, OdooUpgradeJob)."""

    safety_backup: str | None = Field(
        default=None, description="The OdooBackupJob taken before the operation."
    )
    previous_database: str | None = Field(
        default=None,
        description="Where the database the operation replaced is kept (same cluster).",
    )
    previous_filestore: str | None = Field(
        default=None,
        description="Where the filestore the operation replaced is kept (beside the live one "
        "in the filestore volume's filestore/ directory).",
    )
    previous_image: str | None = Field(
        default=None, description="The image the instance ran before the upgrade."
    )
    previous_removed_at: datetime | None = Field(
        default=None, description="When what the operation kept aside was removed (RFC 3339)."
    )


def reference_problem(
    job_namespace: str,
    ref_name: str | None,
    ref_namespace: str | None,
    instance_exists: Callable[[str, str], bool],
) -> str | None:
    """Why a job resource's `spec.odooInstanceRef` does not resolve, or None when it does.

    `instance_exists(namespace, name)` says whether that OdooInstance exists.
    The one rule shared by the admission webhook (watcher.admission) and the
    workflow side that marks such a resource Failed when the webhook is absent
    or the instance went away later (activities.references). A job works on
    an instance of its own namespace only (SPEC "Jobs"; the instance workflow
    lists job resources there), so another namespace is refused even when
    that instance exists. The message names the field and both values.
    """
    if ref_namespace and ref_namespace != job_namespace:
        return (
            "spec.odooInstanceRef.namespace: must be the job's own namespace "
            f"{job_namespace or '(unset)'}, not {ref_namespace}"
        )
    if ref_name and job_namespace and not instance_exists(job_namespace, ref_name):
        return (
            f"spec.odooInstanceRef.name: no OdooInstance named {ref_name} "
            f"in namespace {job_namespace}"
        )
    return None


# --- OdooInitJob --------------------------------------------------------------------


class OdooInitJobSpec(common.SpecModel):
    """Initialize the database of an instance (odoo -i)."""

    odoo_instance_ref: common.OdooInstanceRef = Field(
        description=_INSTANCE_REF_DESCRIPTION, json_schema_extra=_IMMUTABLE_REF
    )
    modules: list[common.ModuleName] = Field(
        default=["base"],
        description="Modules to install (default [base]; an empty list also means base).",
    )
    demo: bool = Field(default=False, description="Load demo data (default false).")
    active_deadline_seconds: int | None = _deadline_field("init")
    webhook: common.WebhookConfig | None = Field(default=None, description=_WEBHOOK_DESCRIPTION)


class OdooInitJob(common.KubeObject):
    """A whole `OdooInitJob` object."""

    api_version: Literal["bemade.org/v1alpha1"] = Field(
        default="bemade.org/v1alpha1", description="bemade.org/v1alpha1."
    )
    kind: Literal["OdooInitJob"] = Field(default="OdooInitJob", description="OdooInitJob.")
    metadata: common.ObjectMeta = Field(
        default_factory=common.ObjectMeta, description="Standard object metadata."
    )
    spec: OdooInitJobSpec = Field(description="What to initialize.")
    status: common.JobStatus = Field(
        default_factory=common.JobStatus, description="Progress of the job."
    )


# --- OdooUpgradeJob -----------------------------------------------------------------


class OdooUpgradeJobSpec(OperationSpec):
    """Update and/or install modules of an instance (odoo -u / -i)."""

    odoo_instance_ref: common.OdooInstanceRef = Field(
        description=_INSTANCE_REF_DESCRIPTION, json_schema_extra=_IMMUTABLE_REF
    )
    modules: list[common.ModuleName] = Field(
        default_factory=list,
        description="Modules to update (odoo -u); with modulesInstall also empty, every "
        "installed module (-u all).",
    )
    modules_install: list[common.ModuleName] = Field(
        default_factory=list,
        description="Modules to install (odoo -i); empty installs none.",
    )
    scheduled_time: datetime | None = Field(
        default=None,
        description=(
            "Earliest start (RFC 3339, e.g. 2026-01-31T02:00:00Z). Unset or past means as "
            "soon as the instance allows."
        ),
    )
    image: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description=(
            "The Odoo image to upgrade to: odoo -u runs in it, and only once the instance "
            "runs healthy on it does it become the instance's spec.image. On a failure the "
            "instance keeps (or gets back) its previous image. Default: the instance's image."
        ),
    )
    active_deadline_seconds: int | None = _deadline_field("upgrade")
    webhook: common.WebhookConfig | None = Field(default=None, description=_WEBHOOK_DESCRIPTION)


class OdooUpgradeJob(common.KubeObject):
    """A whole `OdooUpgradeJob` object."""

    api_version: Literal["bemade.org/v1alpha1"] = Field(
        default="bemade.org/v1alpha1", description="bemade.org/v1alpha1."
    )
    kind: Literal["OdooUpgradeJob"] = Field(default="OdooUpgradeJob", description="OdooUpgradeJob.")
    metadata: common.ObjectMeta = Field(
        default_factory=common.ObjectMeta, description="Standard object metadata."
    )
    spec: OdooUpgradeJobSpec = Field(description="What to upgrade.")
    status: OperationStatus = Field(
        default_factory=OperationStatus, description="Progress of the job."
    )


# --- OdooBackupJob ------------------------------------------------------------------


class OdooBackupJobSpec(common.SpecModel):
    """Back up the database (and filestore) of an instance to S3."""

    odoo_instance_ref: common.OdooInstanceRef = Field(
        description=_INSTANCE_REF_DESCRIPTION, json_schema_extra=_IMMUTABLE_REF
    )
    destination: common.S3Config | None = Field(
        default=None,
        description=(
            "Where the backup is uploaded. Optional when the instance has spec.backup: its "
            "bucket, endpoint, region and credentials then, under the key "
            "<prefix><namespace>/<instance>/<instance>-<creation time>-<name>.<format>, "
            "written to status.destination when the backup starts."
        ),
    )
    format: common.BackupFormat = Field(
        default=common.BackupFormat.ZIP,
        description=(
            "zip (default: Odoo's format with dump.sql, filestore/ and manifest.json), sql "
            "(plain SQL) or dump (pg_dump custom format)."
        ),
    )
    with_filestore: bool = Field(
        default=True, description="Include the filestore (zip format only; default true)."
    )
    active_deadline_seconds: int | None = _deadline_field("backup")
    webhook: common.WebhookConfig | None = Field(default=None, description=_WEBHOOK_DESCRIPTION)


class BackupJobStatus(common.JobStatus):
    """Status of an OdooBackupJob, written by the operator."""

    destination: common.S3Config | None = Field(
        default=None,
        description=(
            "Where the backup goes when spec.destination is not given: the instance's "
            "spec.backup bucket under the generated key, written when the backup starts."
        ),
    )


class OdooBackupJob(common.KubeObject):
    """A whole `OdooBackupJob` object."""

    api_version: Literal["bemade.org/v1alpha1"] = Field(
        default="bemade.org/v1alpha1", description="bemade.org/v1alpha1."
    )
    kind: Literal["OdooBackupJob"] = Field(default="OdooBackupJob", description="OdooBackupJob.")
    metadata: common.ObjectMeta = Field(
        default_factory=common.ObjectMeta, description="Standard object metadata."
    )
    spec: OdooBackupJobSpec = Field(description="What to back up and where.")
    status: BackupJobStatus = Field(
        default_factory=lambda: BackupJobStatus(), description="Progress of the job."
    )


# --- OdooRestoreJob -----------------------------------------------------------------


class RestoreSourceType(StrEnum):
    """Where a restore reads its backup from."""

    S3 = "s3"
    ODOO = "odoo"


class OdooSource(common.SpecModel):
    """A live Odoo server whose database manager produces the backup."""

    url: str = Field(
        min_length=1,
        max_length=2048,
        pattern=common.HTTP_URL_PATTERN,
        description="Base URL of the Odoo server (http:// or https://).",
    )
    source_database: str | None = Field(
        default=None,
        max_length=63,
        description="Database to back up on that server. Defaults to its only database.",
    )
    master_password: str | None = Field(
        default=None,
        description=(
            "Master password of that server's database manager. Prefer "
            "masterPasswordSecretRef, which keeps it out of the resource."
        ),
    )
    master_password_secret_ref: common.SecretKeyRef | None = Field(
        default=None,
        description=(
            "Secret key (in the namespace of the restore) holding the master password of "
            "that server's database manager. Takes precedence over masterPassword."
        ),
    )


S3_SOURCE_RULE = "self.type != 's3' || has(self.s3)"
S3_SOURCE_MESSAGE = "source.s3 is required when source.type is s3"
ODOO_SOURCE_RULE = "self.type != 'odoo' || has(self.odoo)"
ODOO_SOURCE_MESSAGE = "source.odoo is required when source.type is odoo"


class RestoreSource(common.SpecModel):
    """The backup to restore."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": S3_SOURCE_RULE, "message": S3_SOURCE_MESSAGE, "fieldPath": ".s3"},
                {"rule": ODOO_SOURCE_RULE, "message": ODOO_SOURCE_MESSAGE, "fieldPath": ".odoo"},
            ]
        }
    )

    type: RestoreSourceType = Field(description="s3 (read source.s3) or odoo (read source.odoo).")
    s3: common.S3Config | None = Field(
        default=None, description="The backup object; required when type is s3."
    )
    odoo: OdooSource | None = Field(
        default=None, description="The live Odoo server; required when type is odoo."
    )

    @model_validator(mode="after")
    def _source_matches_type(self) -> Self:
        if self.type is RestoreSourceType.S3 and self.s3 is None:
            raise ValueError(S3_SOURCE_MESSAGE)
        if self.type is RestoreSourceType.ODOO and self.odoo is None:
            raise ValueError(ODOO_SOURCE_MESSAGE)
        return self


ODOO_FORMAT_RULE = "self.source.type != 'odoo' || self.format != 'sql'"
ODOO_FORMAT_MESSAGE = (
    "format sql cannot come from a live Odoo: its database manager produces zip or dump"
)


class OdooRestoreJobSpec(OperationSpec):
    """Replace the database (and filestore) of an instance with a backup."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": ODOO_FORMAT_RULE, "message": ODOO_FORMAT_MESSAGE, "fieldPath": ".format"}
            ]
        }
    )

    odoo_instance_ref: common.OdooInstanceRef = Field(
        description=_INSTANCE_REF_DESCRIPTION, json_schema_extra=_IMMUTABLE_REF
    )
    source: RestoreSource = Field(description="Where the backup comes from.")
    format: common.BackupFormat = Field(
        default=common.BackupFormat.ZIP,
        description="Format of the backup: zip (default), sql or dump.",
    )
    neutralize: bool = Field(
        default=True,
        description=(
            "Neutralize the restored database (disable mail servers, crons, payment "
            "providers...; default true) and give it a new identity (database.uuid, "
            "database.secret, database.create_date), as for a copy. Turn off only for a "
            "production restore of the same database, which keeps its identity."
        ),
    )
    active_deadline_seconds: int | None = _deadline_field("restore")
    webhook: common.WebhookConfig | None = Field(default=None, description=_WEBHOOK_DESCRIPTION)

    @model_validator(mode="after")
    def _format_matches_source(self) -> Self:
        if self.source.type is RestoreSourceType.ODOO and self.format is common.BackupFormat.SQL:
            raise ValueError(ODOO_FORMAT_MESSAGE)
        return self


class OdooRestoreJob(common.KubeObject):
    """A whole `OdooRestoreJob` object."""

    api_version: Literal["bemade.org/v1alpha1"] = Field(
        default="bemade.org/v1alpha1", description="bemade.org/v1alpha1."
    )
    kind: Literal["OdooRestoreJob"] = Field(default="OdooRestoreJob", description="OdooRestoreJob.")
    metadata: common.ObjectMeta = Field(
        default_factory=common.ObjectMeta, description="Standard object metadata."
    )
    spec: OdooRestoreJobSpec = Field(description="What to restore from.")
    status: OperationStatus = Field(
        default_factory=OperationStatus, description="Progress of the job."
    )
