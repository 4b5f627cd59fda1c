"""Admission rules as pure functions: old and new bodies in, refusals out.

Owns what the schema cannot say because it needs the old object or other
objects: no shrinking of the filestore, no change of its storage class or of
the database cluster once set, no productionInstanceRef on a production
instance, and job resources that name an existing instance in their own
namespace with complete S3 locations. Each refusal names the field and both
values. Kopf wiring and HTTPS live in watcher/webhook.py; nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "InstanceExists",
    "parse_quantity",
    "review_instance",
    "review_job_resource",
]

InstanceExists = Callable[[str, str], bool]
"""(namespace, name) -> whether that OdooInstance exists."""

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
    operation: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None
) -> list[str]:
    """Refusals for an OdooInstance CREATE or UPDATE (empty: allowed)."""
    problems: list[str] = []
    if new is None or operation not in ("CREATE", "UPDATE"):
        return problems
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
    name = _get(ref, "name")
    ref_namespace = _get(ref, "namespace")
    if ref_namespace and ref_namespace != namespace:
        problems.append(
            "spec.odooInstanceRef.namespace: must be the job's own namespace "
            f"{_shown(namespace)}, not {ref_namespace}"
        )
    elif name and namespace and not instance_exists(str(namespace), str(name)):
        problems.append(
            f"spec.odooInstanceRef.name: no OdooInstance named {name} in namespace {namespace}"
        )
    kind = _get(new, "kind")
    if kind == "OdooBackupJob":
        problems += _s3_complete(_get(new, "spec", "destination"), "spec.destination")
    elif kind == "OdooRestoreJob" and _get(new, "spec", "source", "type") == "s3":
        problems += _s3_complete(_get(new, "spec", "source", "s3"), "spec.source.s3")
    return problems


def _s3_complete(location: Any, where: str) -> list[str]:
    if not isinstance(location, Mapping):
        return [f"{where}: required (bucket, objectKey, endpoint, s3CredentialsSecretRef)"]
    missing = [field for field in _S3_FIELDS if not location.get(field)]
    return [f"{where}.{field}: required for an S3 location" for field in missing]
