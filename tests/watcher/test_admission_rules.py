"""The admission rules as pure functions (watcher.admission), no server.

Covers: Kubernetes quantities (plain, binary and decimal suffixes, milli,
exponents, garbage); OdooInstance updates refused for a filestore decrease,
a storage class change, a database cluster change once set, and a
productionInstanceRef on a production instance (create and update), each
message naming the field and both values; what stays allowed (growth, first
set, unchanged, delete); job resources refused for a missing instance, a
reference to another namespace and incomplete S3 locations; a metadata-only
update of a job whose instance is gone still allowed.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from watcher import admission


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("10", Decimal(10)),
        ("1Ki", Decimal(1024)),
        ("5Mi", Decimal(5 * 2**20)),
        ("10Gi", Decimal(10 * 2**30)),
        ("1Ti", Decimal(2**40)),
        ("1Pi", Decimal(2**50)),
        ("1k", Decimal(1000)),
        ("1.5G", Decimal("1.5e9")),
        ("2T", Decimal("2e12")),
        ("1P", Decimal("1e15")),
        ("100m", Decimal("0.1")),
        ("1e3", Decimal(1000)),
        ("500M", Decimal("5e8")),
    ],
)
def test_quantity_parsed_to_units_when_well_formed(text: str, value: Decimal) -> None:
    assert admission.parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "Gi", "10GB", "ten", "1.2.3Gi", "10 Gi x"])
def test_quantity_refused_when_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        admission.parse_quantity(text)


def _instance(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": "shop", "namespace": "ns"},
        "spec": {"adminPassword": "x", "ingress": {"hosts": ["a.example.com"]}, **spec},
    }


def _changed(old: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    new = copy.deepcopy(old)
    node = new["spec"]
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if value is None:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return new


@pytest.mark.parametrize(
    ("old_spec", "path", "value", "message"),
    [
        (
            {"filestore": {"storageSize": "10Gi"}},
            ("filestore", "storageSize"),
            "5Gi",
            "spec.filestore.storageSize: cannot decrease from 10Gi to 5Gi",
        ),
        (
            {"filestore": {"storageSize": "2Gi"}},
            ("filestore", "storageSize"),
            "2000M",
            "spec.filestore.storageSize: cannot decrease from 2Gi to 2000M",
        ),
        (
            {"filestore": {"storageSize": "2Gi"}},
            ("filestore", "storageSize"),
            "2 Gi",
            "spec.filestore.storageSize: '2 Gi' is not a Kubernetes quantity",
        ),
        (
            {"filestore": {"storageClass": "standard"}},
            ("filestore", "storageClass"),
            "fast",
            "spec.filestore.storageClass: cannot change once set (from standard to fast)",
        ),
        (
            {"database": {"cluster": "main"}},
            ("database", "cluster"),
            "other",
            "spec.database.cluster: cannot change once set (from main to other)",
        ),
        (
            {"database": {"cluster": "main"}},
            ("database", "cluster"),
            None,
            "spec.database.cluster: cannot change once set (from main to (unset))",
        ),
        (
            {"environment": "Production"},
            ("productionInstanceRef",),
            {"name": "prod"},
            "spec.productionInstanceRef: forbidden when spec.environment is Production "
            "(it names prod)",
        ),
    ],
)
def test_instance_update_refused_with_field_and_values_when_rule_broken(
    old_spec: dict[str, Any], path: tuple[str, ...], value: Any, message: str
) -> None:
    old = _instance(**old_spec)
    assert admission.review_instance("UPDATE", old, _changed(old, path, value)) == [message]


@pytest.mark.parametrize(
    ("old_spec", "path", "value"),
    [
        ({"filestore": {"storageSize": "5Gi"}}, ("filestore", "storageSize"), "10Gi"),
        ({"filestore": {"storageSize": "1Gi"}}, ("filestore", "storageSize"), "1024Mi"),
        ({}, ("filestore", "storageClass"), "fast"),
        ({}, ("database", "cluster"), "main"),
        ({"database": {"cluster": "main"}}, ("replicas",), 3),
        ({"environment": "Staging"}, ("productionInstanceRef",), {"name": "prod"}),
    ],
)
def test_instance_update_allowed_when_no_rule_broken(
    old_spec: dict[str, Any], path: tuple[str, ...], value: Any
) -> None:
    old = _instance(**old_spec)
    assert admission.review_instance("UPDATE", old, _changed(old, path, value)) == []


def test_instance_create_refused_when_production_names_a_production_instance() -> None:
    new = _instance(environment="Production", productionInstanceRef={"name": "prod"})
    assert admission.review_instance("CREATE", None, new) == [
        "spec.productionInstanceRef: forbidden when spec.environment is Production (it names prod)"
    ]
    assert admission.review_instance("DELETE", new, None) == []


def _job(kind: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": kind,
        "metadata": {"name": "j", "namespace": "ns"},
        "spec": {"odooInstanceRef": {"name": "shop"}, **spec},
    }


_S3 = {
    "bucket": "b",
    "objectKey": "k.zip",
    "endpoint": "http://minio:9000",
    "s3CredentialsSecretRef": {"name": "s3"},
}


def _exists(namespace: str, name: str) -> bool:
    return (namespace, name) == ("ns", "shop")


@pytest.mark.parametrize(
    ("job", "messages"),
    [
        (_job("OdooInitJob"), []),
        (_job("OdooBackupJob", destination=_S3), []),
        (_job("OdooRestoreJob", source={"type": "s3", "s3": _S3}), []),
        (_job("OdooRestoreJob", source={"type": "odoo", "odoo": {"url": "http://o"}}), []),
        (
            _job("OdooInitJob", odooInstanceRef={"name": "nope"}),
            ["spec.odooInstanceRef.name: no OdooInstance named nope in namespace ns"],
        ),
        (
            _job("OdooUpgradeJob", odooInstanceRef={"name": "shop", "namespace": "other"}),
            ["spec.odooInstanceRef.namespace: must be the job's own namespace ns, not other"],
        ),
        (
            _job("OdooBackupJob", destination={**_S3, "s3CredentialsSecretRef": None}),
            ["spec.destination.s3CredentialsSecretRef: required for an S3 location"],
        ),
        (
            _job("OdooRestoreJob", source={"type": "s3", "s3": {"bucket": "b"}}),
            [
                "spec.source.s3.objectKey: required for an S3 location",
                "spec.source.s3.endpoint: required for an S3 location",
                "spec.source.s3.s3CredentialsSecretRef: required for an S3 location",
            ],
        ),
        # Without destination: the instance's spec.backup says where (or the
        # snapshot refuses it, naming spec.destination).
        (_job("OdooBackupJob"), []),
    ],
)
def test_job_resource_reviewed_when_created(job: dict[str, Any], messages: list[str]) -> None:
    assert admission.review_job_resource("CREATE", None, job, _exists) == messages


def test_job_metadata_update_allowed_when_its_instance_is_gone() -> None:
    old = _job("OdooInitJob", odooInstanceRef={"name": "gone"})
    new = copy.deepcopy(old)
    new["metadata"]["labels"] = {"x": "y"}
    assert admission.review_job_resource("UPDATE", old, new, _exists) == []
    new["spec"]["modules"] = ["sale"]
    assert admission.review_job_resource("UPDATE", old, new, _exists) == [
        "spec.odooInstanceRef.name: no OdooInstance named gone in namespace ns"
    ]
