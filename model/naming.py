"""Naming rules: the one place that turns an instance into names.

Workflow ids, child object names, PostgreSQL role and database names, labels,
the field manager and the watchers' Lease. Scripts, templates and tests call these; nothing
re-implements them.

Limits (where each comes from):

- an OdooInstance's name is also its Service's name, so it must be a DNS-1035
  label (Kubernetes Service names: `[a-z]([-a-z0-9]*[a-z0-9])?`, at most 63
  characters) and it is the value of the labels `app` and
  `bemade.org/instance` (label values: at most 63 characters);
  `instance_name_problems()` says what breaks, naming the derived object;
- names built by appending to another name are shortened by `shorten()`
  when they would pass their limit: the cron Deployment `<name>-cron` (its
  `app` label, 63), a batch Job `<resource>-<kind>` (Job names carry the
  `batch.kubernetes.io/job-name` label, 63) and the PostgreSQL role
  `odoo.<namespace>.<name>` (NAMEDATALEN - 1 = 63 bytes; PostgreSQL would
  silently truncate it). A name that fits is never changed, so existing
  objects keep their names.
"""

from __future__ import annotations

import hashlib
import re

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "FIELD_MANAGER",
    "FINALIZER",
    "GROUP_VERSION",
    "INSTANCE_LABEL",
    "INSTANCE_NAME_MAX",
    "LABEL_VALUE_MAX",
    "LEASE_NAME",
    "POSTGRES_IDENTIFIER_MAX",
    "REPLICAS_ANNOTATION",
    "REQUESTED_ANNOTATION",
    "aside_database_name",
    "auto_init_job_name",
    "backup_format_of",
    "backup_object_key",
    "backup_resource_name",
    "backup_schedule_id",
    "batch_job_name",
    "config_map_name",
    "cron_deployment_name",
    "database_name",
    "db_password_secret_name",
    "failed_database_name",
    "filestore_aside_dir",
    "filestore_staging_dir",
    "follow_task_queue",
    "instance_labels",
    "instance_name_problems",
    "master_password_secret_name",
    "operation_mark",
    "operation_resource_name",
    "operation_tag",
    "parse_workflow_id",
    "pvc_name",
    "restore_database_name",
    "role_name",
    "s3_credentials_secret_name",
    "safety_backup_name",
    "sanitize_uid",
    "scheduled_backup_workflow_id",
    "shorten",
    "web_deployment_name",
    "workflow_id",
]

API_GROUP = "bemade.org"
API_VERSION = "v1alpha1"
GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"
FIELD_MANAGER = "odoo-operator"
FINALIZER = "bemade.org/postgres-cleanup"
INSTANCE_LABEL = "bemade.org/instance"
LEASE_NAME = "odoo-operator-watcher"
"""The Lease the watchers of one operator namespace compete for (also named in
charts/odoo-operator/files/rbac-rules.yaml, which grants get/update on it only)."""
REPLICAS_ANNOTATION = "bemade.org/replicas"
"""On the web and cron Deployments: the spec.replicas the operator last wrote. A
spec.replicas that differs was changed by someone else (the watcher pokes then);
a change that matches is the operator's own (no poke)."""

REQUESTED_ANNOTATION = "bemade.org/requested-by"
"""On a job resource the instance workflow made on a request (a backup Schedule, the
`backup` signal or Update): what asked for it. Its creation pokes nobody (the
workflow reads it right after)."""

LABEL_VALUE_MAX = 63
"""Kubernetes label values (and DNS-1035 labels, Job names): at most 63 characters."""
POSTGRES_IDENTIFIER_MAX = 63
"""PostgreSQL identifiers: NAMEDATALEN - 1 = 63 bytes."""
INSTANCE_NAME_MAX = LABEL_VALUE_MAX
"""Longest OdooInstance name: its Service is named after it (DNS-1035 label)."""

_WORKFLOW_PREFIX = "odoo/"
_NOT_DB_SAFE = re.compile(r"[^a-z0-9]")
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_HASH_LENGTH = 8


def shorten(value: str, limit: int) -> str:
    """`value` unchanged when it fits in `limit` bytes, else a deterministic shorter form.

    The shorter form is the longest prefix that leaves room for `-<8 hex>`
    (the first 8 hex digits of the SHA-256 of the whole value), without a
    trailing `-` or `.`, then `-<8 hex>`: still unique in practice, always
    the same for the same input, and a valid DNS label when `value` was one.
    """
    if len(value.encode("utf-8")) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    prefix = value.encode("utf-8")[: limit - _HASH_LENGTH - 1].decode("utf-8", "ignore")
    return f"{prefix.rstrip('-.')}-{digest}"


def instance_name_problems(name: str) -> list[str]:
    """Why `name` cannot be an OdooInstance name (empty: it can), naming the derived objects.

    The Service `<name>` must be a DNS-1035 label of at most 63 characters,
    and `<name>` is the value of the labels `app` and `bemade.org/instance`
    (at most 63 characters). Every other derived name fits or is shortened.
    """
    problems: list[str] = []
    if len(name) > INSTANCE_NAME_MAX:
        problems.append(
            f"metadata.name: {len(name)} characters; the instance's Service {name[:20]}... "
            f"and its labels app and {INSTANCE_LABEL} take at most {INSTANCE_NAME_MAX} "
            "characters"
        )
    if not _DNS_1035_LABEL.match(name):
        problems.append(
            f"metadata.name: {name!r} cannot name the instance's Service, which must be a "
            "DNS-1035 label (lower-case letters, digits and '-', starting with a letter and "
            "ending with a letter or digit; no '.')"
        )
    return problems


def workflow_id(namespace: str, name: str) -> str:
    """The Temporal workflow id of an instance: `odoo/<namespace>/<name>`."""
    return f"{_WORKFLOW_PREFIX}{namespace}/{name}"


def follow_task_queue(task_queue: str) -> str:
    """The task queue of the follow_job activity (activities.job_follow) of the
    workflows on `task_queue`: its own worker, so long follows take no other slot."""
    return f"{task_queue}-follow"


def parse_workflow_id(value: str) -> tuple[str, str]:
    """(namespace, name) of a workflow id made by workflow_id()."""
    if not value.startswith(_WORKFLOW_PREFIX) or value.count("/") != 2:
        raise ValueError(f"not an odoo-operator workflow id: {value!r}")
    _, namespace, name = value.split("/")
    return namespace, name


def web_deployment_name(name: str) -> str:
    return name


def cron_deployment_name(name: str) -> str:
    """`<name>-cron`, shortened to 63 characters (its `app` label) when longer."""
    return shorten(f"{name}-cron", LABEL_VALUE_MAX)


def config_map_name(name: str) -> str:
    return f"{name}-odoo-conf"


def pvc_name(name: str) -> str:
    return f"{name}-filestore-pvc"


def db_password_secret_name(name: str) -> str:
    return f"{name}-db-password"


def auto_init_job_name(name: str) -> str:
    return f"{name}-auto-init"


def batch_job_name(job_resource_name: str, kind: str) -> str:
    """Deterministic batch/v1 Job name for a job resource.

    Deterministic (never generateName) so that a retried activity finds the Job
    it created instead of creating a second one. Shortened (see shorten()) to 63
    characters, the limit of the Job's `batch.kubernetes.io/job-name` label.
    """
    return shorten(f"{job_resource_name}-{kind}", LABEL_VALUE_MAX)


def s3_credentials_secret_name(job_resource_name: str) -> str:
    """Copy of a job resource's S3 credentials Secret when it lives in another namespace
    (a Pod's secretKeyRef reaches its own namespace only)."""
    return f"{job_resource_name}-s3-credentials"[:253]


def master_password_secret_name(job_resource_name: str) -> str:
    """Secret holding a restore's Odoo master password given inline in its spec."""
    return f"{job_resource_name}-master-password"[:253]


def restore_database_name(database: str) -> str:
    """Where a restore loads its backup before swapping it in: `<db>_restoring`.

    Fits PostgreSQL's 63-byte identifier limit: a long name is cut and
    disambiguated by a short hash of the whole name.
    """
    return _database_with_suffix(database, "_restoring")


def operation_tag(resource_uid: str) -> str:
    """The 8 hex digits naming what an operation (a job resource) keeps aside:
    the first 8 of its uid without dashes (a Kubernetes uid is a UUID)."""
    return resource_uid.replace("-", "").lower()[:_HASH_LENGTH]


def aside_database_name(database: str, resource_uid: str) -> str:
    """Where an operation keeps the database it replaced: `<db>_pre_<8 hex of its uid>`.

    A restore renames the live database to it; an upgrade copies the live
    database to it before `odoo -u`. Deterministic, so a retried step and a
    person rolling back by hand find it; fits 63 bytes like
    restore_database_name.
    """
    return _database_with_suffix(database, f"_pre_{operation_tag(resource_uid)}")


def failed_database_name(database: str, resource_uid: str) -> str:
    """Where a rolled-back upgrade puts the database it left: `<db>_failed_<8 hex>`,
    dropped once the kept-aside copy is back in place."""
    return _database_with_suffix(database, f"_failed_{operation_tag(resource_uid)}")


def operation_mark(kind: str, resource_uid: str) -> str:
    """The COMMENT ON DATABASE that names the incoming database of an operation's
    swap, so a retried swap tells which database is which after any crash."""
    return f"odoo-operator {kind} {resource_uid}"


def _database_with_suffix(database: str, suffix: str) -> str:
    name = database + suffix
    if len(name.encode()) <= POSTGRES_IDENTIFIER_MAX:
        return name
    digest = hashlib.sha256(database.encode()).hexdigest()[:_HASH_LENGTH]
    room = POSTGRES_IDENTIFIER_MAX - len(suffix) - _HASH_LENGTH - 1
    prefix = database.encode()[:room].decode("utf-8", "ignore")
    return f"{prefix}_{digest}{suffix}"


def safety_backup_name(resource_name: str) -> str:
    """The OdooBackupJob a restore or upgrade takes of what it replaces: `<resource>-safety`."""
    return shorten(f"{resource_name}-safety", 253)


def filestore_staging_dir(database: str) -> str:
    """The directory (beside `filestore/<db>`) where a restore unpacks the new filestore."""
    return f".restore-{database}"


def filestore_aside_dir(database: str, resource_uid: str) -> str:
    """The directory (beside `filestore/<db>`) where an operation keeps the filestore it
    replaced: `.<db>.pre-<8 hex of its uid>`."""
    return f".{database}.pre-{operation_tag(resource_uid)}"


_EXTENSIONS = {"zip": "zip", "sql": "sql", "dump": "dump"}


def backup_resource_name(instance: str, stamp: str, suffix: str, *, final: bool = False) -> str:
    """An OdooBackupJob made by the operator: `<instance>-backup-<stamp>-<suffix>`.

    `stamp` is the request's UTC time as YYYYmmddHHMMSS. The instance part is
    cut so that the batch Job's name (`<this>-backup`) fits 63 characters.
    """
    word = "final" if final else "backup"
    return f"{instance[:28].rstrip('-')}-{word}-{stamp}-{suffix}"


def operation_resource_name(instance: str, kind: str, stamp: str, suffix: str) -> str:
    """A restore or upgrade asked for by Update: `<instance>-<kind>-<stamp>-<suffix>`.

    `kind` is the job kind (`restore`, `upgrade`), `stamp` the request's UTC
    time as YYYYmmddHHMMSS. The instance part is cut so that the batch Job's
    name (`<this>-<kind>`) fits 63 characters, as backup_resource_name does.
    """
    tail = f"-{kind}-{stamp}-{suffix}"
    room = LABEL_VALUE_MAX - len(tail) - len(kind) - 1
    return f"{instance[:room].rstrip('-')}{tail}"


def backup_format_of(object_key: str) -> str | None:
    """The backup format an object key's extension names (`.zip`, `.sql`, `.dump`), if any."""
    _, dot, extension = object_key.rpartition(".")
    return _EXTENSIONS.get(extension.lower()) if dot else None


def backup_object_key(
    prefix: str, namespace: str, instance: str, stamp: str, suffix: str, fmt: str
) -> str:
    """`<prefix><namespace>/<instance>/<instance>-<stamp>-<suffix>.<ext>`."""
    return f"{prefix}{namespace}/{instance}/{instance}-{stamp}-{suffix}.{_EXTENSIONS[fmt]}"


def backup_schedule_id(namespace: str, name: str) -> str:
    """The Temporal Schedule of spec.backup: `odoo-backup/<namespace>/<name>`."""
    return f"odoo-backup/{namespace}/{name}"


def job_references_workflow_id(namespace: str, instance: str) -> str:
    """The workflow checking the job resources of `namespace` that name `instance`
    in spec.odooInstanceRef: `odoo-jobrefs/<namespace>/<instance>`."""
    return f"odoo-jobrefs/{namespace}/{instance}"


def scheduled_backup_workflow_id(namespace: str, name: str) -> str:
    """Id of the workflows that Schedule starts (Temporal appends the run time)."""
    return f"odoo-backup/{namespace}/{name}"


def role_name(namespace: str, name: str) -> str:
    """PostgreSQL role owning an instance's database: `odoo.<namespace>.<name>`.

    Shortened (see shorten()) to PostgreSQL's 63 bytes when longer.
    """
    return shorten(f"odoo.{namespace}.{name}", POSTGRES_IDENTIFIER_MAX)


def sanitize_uid(uid: str) -> str:
    """A Kubernetes uid made safe for a database name: [^a-z0-9] becomes `_`."""
    return _NOT_DB_SAFE.sub("_", uid.lower())


def database_name(uid: str, explicit: str | None = None) -> str:
    """`spec.database.name` when set, else `odoo_<sanitized uid>`."""
    return explicit or f"odoo_{sanitize_uid(uid)}"


def instance_labels(name: str, app: str | None = None) -> dict[str, str]:
    """Labels on every child object: `app` (selector) and `bemade.org/instance`."""
    return {"app": app or name, INSTANCE_LABEL: name}
