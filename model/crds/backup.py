"""spec.backup of an OdooInstance: scheduled backups to S3 and how many to keep.

A Temporal Schedule per instance (`odoo-backup/<namespace>/<name>`) runs the
cron `schedule`; each run makes an OdooBackupJob (labelled
bemade.org/scheduled-backup) whose object lands under
`<prefix><namespace>/<name>/`. After each completed one, the retention keeps
the newest `keepLast` plus the newest backup of each of the last `daily`
days, `weekly` ISO weeks and `monthly` months (as Odoo.sh keeps 7 daily, 4
weekly, 3 monthly), and deletes the others: their objects and their job
resources. The same destination is the default of backups asked for with
the `temporal` CLI, and of the final backup taken before the database is
dropped when the instance is deleted.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from model import cron
from model.crds import common

__all__ = ["BackupDestination", "BackupRetention", "ScheduledBackups"]


def _schedulable(expression: str) -> str:
    problem = cron.schedule_problem(expression)
    if problem is not None:
        raise ValueError(problem)
    return expression


CronSchedule = Annotated[str, AfterValidator(_schedulable)]
"""A cron expression that can schedule backups (model.cron). The CRD carries the
grammar as a pattern; pydantic does not enforce it itself, so a refusal reads
as model.cron's message rather than the pattern's 1,700 characters."""


class BackupDestination(common.SpecModel):
    """An S3-compatible bucket and the key prefix of the instance's backups."""

    bucket: str = Field(min_length=1, max_length=common.DNS_LABEL_MAX, description="Bucket name.")
    endpoint: str = Field(
        min_length=1,
        max_length=2048,
        description="S3 endpoint URL, e.g. https://s3.amazonaws.com or http://minio:9000.",
    )
    prefix: str = Field(
        default="",
        max_length=512,
        description=(
            "Key prefix; objects are named <prefix><namespace>/<name>/<name>-<UTC time>.<format>."
        ),
    )
    region: str | None = Field(
        default=None, max_length=common.DNS_LABEL_MAX, description="Region of the bucket."
    )
    insecure: bool = Field(
        default=False, description="Skip TLS certificate verification of the endpoint."
    )
    s3_credentials_secret_ref: common.SecretReference | None = Field(
        default=None,
        description="Secret with keys accessKey and secretKey (namespace: the instance's).",
    )

    def location(self, object_key: str) -> common.S3Config:
        """The object `object_key` of this bucket, with its endpoint and credentials."""
        return common.S3Config(
            bucket=self.bucket,
            object_key=object_key,
            endpoint=self.endpoint,
            region=self.region,
            insecure=self.insecure,
            s3_credentials_secret_ref=self.s3_credentials_secret_ref,
        )


class BackupRetention(common.SpecModel):
    """Which completed scheduled backups to keep; the union of the rules is kept."""

    keep_last: common.NonNegInt32 = Field(
        default=7, description="The newest N backups, whatever their age (default 7)."
    )
    daily: common.NonNegInt32 = Field(
        default=0, description="The newest backup of each of the last N days that have one."
    )
    weekly: common.NonNegInt32 = Field(
        default=0, description="The newest backup of each of the last N ISO weeks."
    )
    monthly: common.NonNegInt32 = Field(
        default=0, description="The newest backup of each of the last N calendar months."
    )


class ScheduledBackups(common.SpecModel):
    """Backups on a schedule, their destination and retention."""

    schedule: CronSchedule = Field(
        min_length=1,
        max_length=256,
        json_schema_extra={"pattern": cron.CRON_PATTERN},
        description=(
            "Cron expression in UTC (e.g. '0 2 * * *' for 02:00 daily) or @daily: minute "
            "hour day-of-month month day-of-week, each a number in range or a three-letter "
            "name, *, a range a-b, a step /n or a list. Day-of-month and day-of-week must "
            "both match when both are given (Temporal's rule). It must fire at least once "
            f"every {cron.MAX_GAP_DAYS} days."
        ),
    )
    suspend: bool = Field(
        default=False, description="Pause the schedule (backups asked for by hand still run)."
    )
    destination: BackupDestination = Field(description="Where the backups go.")
    format: common.BackupFormat = Field(
        default=common.BackupFormat.ZIP, description="zip (default), sql or dump."
    )
    with_filestore: bool = Field(
        default=True, description="Include the filestore (zip only; default true)."
    )
    retention: BackupRetention = Field(
        default_factory=BackupRetention, description="Which backups to keep."
    )
    final_backup: bool = Field(
        default=True,
        description=(
            "Back up to the destination before the database is dropped when the instance is "
            "deleted, and keep the database if that backup fails (default true)."
        ),
    )
