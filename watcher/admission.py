"""Admission rules as pure functions: old and new bodies in, refusals out.

Owns what the schema cannot say because it needs the old object or other
objects: no shrinking of the filestore, no change of its storage class or of
the database cluster once set, spec.database.name fixed at creation and
unique per cluster, instance names whose derived objects fit (naming) and do
not collide with another instance's (`shop` and `shop-cron` would share the
Deployment `shop-cron`), no secret in configOptions (in any case: Odoo
lower-cases the keys), a spec.backup.schedule that Temporal reads and that
fires at least once a year (model.cron), no productionInstanceRef
on a production instance, and job resources that name an existing instance
in their own namespace with complete S3 locations. Each refusal names the
field and both values. Kopf wiring and HTTPS live in watcher/webhook.py;
nothing here does I/O.

The CRD schema repeats the rules it can express (CEL) so that they hold when
the webhook is not installed; the workflow repeats the database-name and
collision checks at apply time for the same reason.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from model import cron, naming
from model.crds import instance, job_resources

__all__ = [
    "InstanceExists",
    "InstanceFacts",
    "facts_of",
    "parse_quantity",
    "review_instance",
    "review_job_resource",
]

InstanceExists = Callable[[str, str], bool]
"""(namespace, name) -> whether that OdooInstance exists."""


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceFacts:
    """What the instance rules need to know about another OdooInstance."""

    namespace: str
    name: str
    uid: str = ""
    cluster: str = ""
    """spec.database.cluster ("" means the default cluster)."""
    database: str = ""
    """spec.database.name ("" means odoo_<uid>, unique by construction)."""


def facts_of(body: Mapping[str, Any]) -> InstanceFacts:
    """The InstanceFacts of an OdooInstance body."""
    return InstanceFacts(
        namespace=str(_get(body, "metadata", "namespace") or ""),
        name=str(_get(body, "metadata", "name") or ""),
        uid=str(_get(body, "metadata", "uid") or ""),
        cluster=str(_get(body, "spec", "database", "cluster") or ""),
        database=str(_get(body, "spec", "database", "name") or ""),
    )


_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:\d+\.?\d*|\.\d+))(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?$"
)
_S3_FIELDS = ("bucket", "objectKey", "endpoint", "s3CredentialsSecretRef")


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes quantity (`10Gi`, `500M`, `1.5G`, `100m`, `1e3`) as a number of units."""
    match = _QUANTITY.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as err:
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from err
    suffix = match["suffix"] or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E"):
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _DECIMAL[suffix]


def _get(body: Mapping[str, Any] | None, *path: str) -> Any:
    value: Any = body
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _shown(value: Any) -> str:
    return "(unset)" if value in (None, "") else str(value)


def review_instance(
    operation: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    others: Iterable[InstanceFacts] = (),
) -> list[str]:
    """Refusals for an OdooInstance CREATE or UPDATE (empty: allowed).

    `others` are the other OdooInstances the watcher knows (any namespace):
    the database-name and Deployment-collision rules check against them.
    """
    problems: list[str] = []
    if new is None or operation not in ("CREATE", "UPDATE"):
        return problems
    problems += _name_and_options(new)
    problems += _backup_schedule(new)
    problems += _conflicts(facts_of(new), others)
    environment = _get(new, "spec", "environment")
    production_ref = _get(new, "spec", "productionInstanceRef")
    if environment == "Production" and production_ref:
        named = _get(production_ref, "name")
        problems.append(
            "spec.productionInstanceRef: forbidden when spec.environment is Production "
            f"(it names {_shown(named)})"
        )
    if operation != "UPDATE" or old is None:
        return problems

    old_size = _get(old, "spec", "filestore", "storageSize")
    new_size = _get(new, "spec", "filestore", "storageSize")
    if old_size and new_size and old_size != new_size:
        try:
            if parse_quantity(str(new_size)) < parse_quantity(str(old_size)):
                problems.append(
                    f"spec.filestore.storageSize: cannot decrease from {old_size} to {new_size}"
                )
        except ValueError as err:
            problems.append(f"spec.filestore.storageSize: {err}")

    old_db = _get(old, "spec", "database", "name")
    new_db = _get(new, "spec", "database", "name")
    if old_db != new_db:
        problems.append(
            "spec.database.name: cannot change after creation "
            f"(from {_shown(old_db)} to {_shown(new_db)})"
        )
    for path, what in (
        (("filestore", "storageClass"), "spec.filestore.storageClass"),
        (("database", "cluster"), "spec.database.cluster"),
    ):
        before = _get(old, "spec", *path)
        after = _get(new, "spec", *path)
        if before and after != before:
            problems.append(
                f"{what}: cannot change once set (from {_shown(before)} to {_shown(after)})"
            )
    return problems


def _name_and_options(new: Mapping[str, Any]) -> list[str]:
    """The instance's name fits its derived objects; no secret in configOptions."""
    problems: list[str] = []
    name = _get(new, "metadata", "name")
    if isinstance(name, str):
        problems += naming.instance_name_problems(name)
    options = _get(new, "spec", "configOptions")
    if isinstance(options, Mapping):
        keys = instance.secret_option_keys(dict(options))
        if keys:
            problems.append(
                f"spec.configOptions {', '.join(keys)}: {instance.SECRET_OPTIONS_MESSAGE}"
            )
    database = _get(new, "spec", "database", "name")
    if isinstance(database, str):
        size = len(database.encode("utf-8"))
        if size > naming.POSTGRES_IDENTIFIER_MAX:
            problems.append(
                f"spec.database.name: {size} bytes; PostgreSQL names are at most "
                f"{naming.POSTGRES_IDENTIFIER_MAX} bytes"
            )
    return problems


def _backup_schedule(new: Mapping[str, Any]) -> list[str]:
    """spec.backup.schedule is one a Temporal Schedule reads and fires at least yearly."""
    schedule = _get(new, "spec", "backup", "schedule")
    if not isinstance(schedule, str):
        return []
    problem = cron.schedule_problem(schedule)
    return [] if problem is None else [f"spec.backup.schedule: {problem}"]


def _conflicts(new: InstanceFacts, others: Iterable[InstanceFacts]) -> list[str]:
    """Another instance already uses this database, or one of this instance's Deployments."""
    problems: list[str] = []
    deployments = {
        naming.web_deployment_name(new.name): "web",
        naming.cron_deployment_name(new.name): "cron",
    }
    for other in others:
        if (other.namespace, other.name) == (new.namespace, new.name):
            continue
        if new.database and (other.cluster, other.database) == (new.cluster, new.database):
            cluster = new.cluster or "(default)"
            problems.append(
                f"spec.database.name: database {new.database} on cluster {cluster} is already "
                f"used by OdooInstance {other.namespace}/{other.name}; choose another name"
            )
        if other.namespace != new.namespace:
            continue
        theirs = {
            naming.web_deployment_name(other.name): "web",
            naming.cron_deployment_name(other.name): "cron",
        }
        for shared in sorted(deployments.keys() & theirs.keys()):
            problems.append(
                f"metadata.name: Deployment {shared} would be both the {deployments[shared]} "
                f"Deployment of OdooInstance {new.name} and the {theirs[shared]} Deployment "
                f"of OdooInstance {other.name}; choose another name"
            )
    return problems


def review_job_resource(
    operation: str,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any] | None,
    instance_exists: InstanceExists,
) -> list[str]:
    """Refusals for a job resource CREATE or UPDATE (empty: allowed).

    The instance must exist at CREATE and at any spec change; metadata-only
    updates (labels, finalizers, deletion) of a job whose instance is gone pass.
    """
    problems: list[str] = []
    if new is None or operation not in ("CREATE", "UPDATE"):
        return problems
    namespace = _get(new, "metadata", "namespace")
    spec_changed = operation == "CREATE" or _get(old, "spec") != _get(new, "spec")
    if not spec_changed:
        return problems
    ref = _get(new, "spec", "odooInstanceRef")
    name, ref_namespace = _get(ref, "name"), _get(ref, "namespace")
    problem = job_resources.reference_problem(
        str(namespace or ""),
        str(name) if name else None,
        str(ref_namespace) if ref_namespace else None,
        instance_exists,
    )
    if problem is not None:
        problems.append(problem)
    kind = _get(new, "kind")
    destination = _get(new, "spec", "destination")
    if kind == "OdooBackupJob" and destination is not None:
        # Without one, the instance's spec.backup says where (the snapshot refuses
        # the resource when the instance has none).
        problems += _s3_complete(destination, "spec.destination")
    elif kind == "OdooRestoreJob" and _get(new, "spec", "source", "type") == "s3":
        problems += _s3_complete(_get(new, "spec", "source", "s3"), "spec.source.s3")
    return problems


def _s3_complete(location: Any, where: str) -> list[str]:
    if not isinstance(location, Mapping):
        return [f"{where}: required (bucket, objectKey, endpoint, s3CredentialsSecretRef)"]
    missing = [field for field in _S3_FIELDS if not location.get(field)]
    return [f"{where}.{field}: required for an S3 location" for field in missing]
