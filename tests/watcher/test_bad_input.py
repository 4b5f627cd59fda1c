"""Malformed OdooInstances and job resources: refused, or shown as Error, never a crash loop.

Covers a table of bad objects, each with where it is stopped:
- by the CRD schema (created in the emulator: 422 with a message naming the
  field): wrong types, negative replicas, unknown enum values, missing
  required fields, oversized names, bad quantities, hosts, paths and URLs,
  CEL rules;
- by the admission rules (watcher.admission, the webhook's pure functions):
  references to missing instances or other namespaces, incomplete S3
  locations, a shrinking filestore, a moved database cluster, a changed
  database name, a database name another instance uses, instance names that
  do not fit their Service or collide with another instance's Deployment,
  secrets in configOptions;
- by the schema's CEL transition rules on UPDATE (spec.database.name);
- accepted, then shown as Error with a clear message by the real worker and
  the real watcher (an unknown database cluster, an image pull Secret that
  does not exist), while a good instance beside it converges and the watcher
  keeps running.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import kubernetes
import pytest
from temporalio import client as temporal_client

from activities import api, failures
from odoo_operator import worker
from odoo_operator.sandbox import postgres
from odoo_operator.settings import Settings
from tests.activities import kube_instance as ki
from tests.watcher.conftest import RunWatcher, eventually
from watcher import admission


def _instance(name: str = "bad", **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": name},
        "spec": {"adminPassword": "pw", "ingress": {"hosts": ["bad.example.com"]}},
    }
    for key, value in spec.items():
        if value is None:
            body["spec"].pop(key, None)
        else:
            body["spec"][key] = value
    return body


def _job(kind: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": kind,
        "metadata": {"name": "bad-job"},
        "spec": {"odooInstanceRef": {"name": "shop"}, **spec},
    }


_S3 = {"bucket": "b", "objectKey": "k.zip", "endpoint": "http://minio:9000"}
_LONG = "x" * 254

SCHEMA_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("negative replicas", _instance(replicas=-1), "spec.replicas"),
    ("replicas as text", _instance(replicas="two"), "spec.replicas"),
    ("negative cron replicas", _instance(cron={"replicas": -2}), "spec.cron.replicas"),
    ("unknown environment", _instance(environment="Prod"), "spec.environment"),
    ("missing adminPassword", _instance(adminPassword=None), "spec.adminPassword"),
    ("adminPassword as number", _instance(adminPassword=123), "spec.adminPassword"),
    ("missing ingress", _instance(ingress=None), "spec.ingress"),
    ("no hosts", _instance(ingress={"hosts": []}), "spec.ingress.hosts"),
    ("host not a DNS name", _instance(ingress={"hosts": ["Not_A_Host"]}), "spec.ingress.hosts"),
    ("bad storage size", _instance(filestore={"storageSize": "lots"}), "storageSize"),
    ("unknown missingPolicy", _instance(database={"missingPolicy": "Drop"}), "missingPolicy"),
    ("unknown strategy", _instance(strategy={"type": "BlueGreen"}), "spec.strategy.type"),
    ("probe path without /", _instance(probes={"livenessPath": "health"}), "livenessPath"),
    ("empty database name", _instance(database={"name": ""}), "spec.database.name"),
    ("webhook not http", _instance(webhook={"url": "ftp://x"}), "spec.webhook.url"),
    (
        "connection limit < -1",
        _instance(readOnlySqlAccess={"connectionLimit": -5}),
        "connectionLimit",
    ),
    ("oversized name", {**_instance(), "metadata": {"name": _LONG}}, "metadata.name"),
    (
        "production with productionInstanceRef",
        _instance(environment="Production", productionInstanceRef={"name": "p"}),
        "productionInstanceRef",
    ),
    ("init job without ref", {**_job("OdooInitJob"), "spec": {}}, "spec.odooInstanceRef"),
    ("backup format unknown", _job("OdooBackupJob", destination=_S3, format="tar"), "spec.format"),
    ("backup without bucket", _job("OdooBackupJob", destination={"objectKey": "k"}), "bucket"),
    ("restore s3 without s3", _job("OdooRestoreJob", source={"type": "s3"}), "source.s3"),
    ("restore unknown source", _job("OdooRestoreJob", source={"type": "ftp"}), "source.type"),
    ("init module name empty", _job("OdooInitJob", modules=[""]), "spec.modules"),
    ("empty image", _instance(image=""), "spec.image"),
    (
        "smtp_password in configOptions",
        _instance(configOptions={"smtp_password": "s3cret"}),
        "spec.configSecretRef",
    ),
    ("db_password in configOptions", _instance(configOptions={"db_password": "x"}), "secrets"),
    ("admin_passwd in configOptions", _instance(configOptions={"admin_passwd": "x"}), "secrets"),
    (
        "negative maxSurge",
        _instance(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": -1}}),
        "maxSurge",
    ),
    (
        "maxUnavailable neither count nor percentage",
        _instance(strategy={"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "a"}}),
        "maxUnavailable",
    ),
    ("64-character name", {**_instance(), "metadata": {"name": "n" * 64}}, "DNS-1035"),
    ("name with a dot", {**_instance(), "metadata": {"name": "shop.eu"}}, "DNS-1035"),
    ("name starting with a digit", {**_instance(), "metadata": {"name": "1shop"}}, "DNS-1035"),
    ("reclaimPolicy unknown", _instance(database={"reclaimPolicy": "Keep"}), "reclaimPolicy"),
    (
        "gatewayRef without namespace",
        _instance(ingress={"hosts": ["a.example.com"], "gatewayRef": {"name": "gw"}}),
        "gatewayRef.namespace",
    ),
]

_PLURALS = {
    "OdooInstance": "odooinstances",
    "OdooInitJob": "odooinitjobs",
    "OdooBackupJob": "odoobackupjobs",
    "OdooRestoreJob": "odoorestorejobs",
    "OdooUpgradeJob": "odooupgradejobs",
}


@pytest.mark.parametrize(("body", "field"), [pytest.param(b, f, id=i) for i, b, f in SCHEMA_CASES])
def test_object_refused_by_schema_naming_the_field_when_malformed(
    kube: api.KubeApi, namespace: str, body: dict[str, Any], field: str
) -> None:
    resource = api.job_resource(_PLURALS[body["kind"]])
    with pytest.raises(failures.Invalid) as refused:
        kube.create(resource, namespace, copy.deepcopy(body))
    assert ": 422 " in str(refused.value)
    assert field in str(refused.value)


def _exists(namespace: str, name: str) -> bool:
    return (namespace, name) == ("ns", "shop")


def _meta(body: dict[str, Any]) -> dict[str, Any]:
    return {**body, "metadata": {"name": body["metadata"]["name"], "namespace": "ns"}}


_OLD = _meta(_instance(filestore={"storageSize": "10Gi"}, database={"cluster": "main"}))

WEBHOOK_CASES: list[tuple[str, str, dict[str, Any] | None, dict[str, Any], str]] = [
    ("job for a missing instance", "CREATE", None,
     _meta(_job("OdooInitJob", odooInstanceRef={"name": "nope"})), "spec.odooInstanceRef.name"),
    ("job for another namespace", "CREATE", None,
     _meta(_job("OdooInitJob", odooInstanceRef={"name": "shop", "namespace": "x"})),
     "spec.odooInstanceRef.namespace"),
    ("backup without credentials", "CREATE", None,
     _meta(_job("OdooBackupJob", destination=_S3)), "s3CredentialsSecretRef"),
    ("restore without credentials", "CREATE", None,
     _meta(_job("OdooRestoreJob", source={"type": "s3", "s3": _S3})), "s3CredentialsSecretRef"),
    ("filestore shrinks", "UPDATE", _OLD,
     _meta(_instance(filestore={"storageSize": "1Gi"}, database={"cluster": "main"})),
     "spec.filestore.storageSize: cannot decrease from 10Gi to 1Gi"),
    ("cluster moves", "UPDATE", _OLD,
     _meta(_instance(filestore={"storageSize": "10Gi"}, database={"cluster": "b"})),
     "spec.database.cluster: cannot change once set (from main to b)"),
    ("database renamed", "UPDATE", _meta(_instance(database={"name": "a"})),
     _meta(_instance(database={"name": "b"})),
     "spec.database.name: cannot change after creation (from a to b)"),
    ("database name added", "UPDATE", _meta(_instance()),
     _meta(_instance(database={"name": "b"})),
     "spec.database.name: cannot change after creation (from (unset) to b)"),
    ("database used by another instance", "CREATE", None,
     _meta(_instance(database={"name": "proddb", "cluster": "main"})),
     "database proddb on cluster main is already used by OdooInstance prod/shop"),
    ("database name over 63 bytes", "CREATE", None,
     _meta(_instance(database={"name": "é" * 32})), "spec.database.name: 64 bytes"),
    ("name collides with another's cron", "CREATE", None,
     {**_meta(_instance()), "metadata": {"name": "shop-cron", "namespace": "ns"}},
     "Deployment shop-cron would be both the web Deployment of OdooInstance shop-cron "
     "and the cron Deployment of OdooInstance shop"),
    ("cron collides with another's web", "CREATE", None,
     {**_meta(_instance()), "metadata": {"name": "erp", "namespace": "ns"}},
     "Deployment erp-cron would be both the cron Deployment of OdooInstance erp "
     "and the web Deployment of OdooInstance erp-cron"),
    ("name too long for its Service", "CREATE", None,
     {**_meta(_instance()), "metadata": {"name": "n" * 64, "namespace": "ns"}},
     "metadata.name: 64 characters; the instance's Service"),
    ("secret in configOptions", "CREATE", None,
     _meta(_instance(configOptions={"smtp_password": "x"})),
     "spec.configOptions smtp_password: configOptions must not hold secrets"),
]  # fmt: skip

_OTHERS = [
    admission.InstanceFacts("ns", "shop"),
    admission.InstanceFacts("ns", "erp-cron"),
    admission.InstanceFacts("prod", "shop", cluster="main", database="proddb"),
]


@pytest.mark.parametrize(
    ("operation", "old", "new", "message"),
    [pytest.param(o, old, new, m, id=i) for i, o, old, new, m in WEBHOOK_CASES],
)
def test_object_refused_by_admission_naming_the_field_when_rule_broken(
    operation: str, old: dict[str, Any] | None, new: dict[str, Any], message: str
) -> None:
    if new["kind"] == "OdooInstance":
        problems = admission.review_instance(operation, old, new, _OTHERS)
    else:
        problems = admission.review_job_resource(operation, old, new, _exists)
    assert any(message in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"name": "a"}, {"name": "b"}),
        ({"name": "a"}, {"name": None}),
        ({}, {"name": "b"}),
    ],
    ids=["renamed", "removed", "added"],
)
def test_database_name_refused_by_schema_when_changed_after_creation(
    kube: api.KubeApi, namespace: str, before: dict[str, Any], after: dict[str, Any]
) -> None:
    kube.create(api.INSTANCE, namespace, _instance("db", database=before))
    with pytest.raises(failures.Invalid) as refused:
        kube.merge_patch(api.INSTANCE, namespace, "db", {"spec": {"database": after}})
    assert "spec.database.name cannot change after creation" in str(refused.value)


def test_instance_accepted_when_names_and_counts_are_at_their_limit(
    kube: api.KubeApi, namespace: str
) -> None:
    body = _instance(
        "n" * 63,
        strategy={"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
        database={"name": "d" * 63, "reclaimPolicy": "Retain"},
        configSecretRef="mail",
    )
    created = kube.create(api.INSTANCE, namespace, body)
    assert created["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}


async def test_bad_instances_in_error_and_good_one_converges_when_references_are_missing(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    postgres_server: postgres.EmbeddedPostgres,
    api_client: kubernetes.client.ApiClient,
    kube: api.KubeApi,
    namespace: str,
    task_queue: str,
) -> None:
    address = ki.ClusterAddress.of(postgres_server)
    await asyncio.to_thread(ki.create_clusters_secret, kube, namespace, address)
    settings = Settings(operator_namespace=namespace, task_queue=task_queue, pod_name="test")

    def phase_of(name: str) -> tuple[str | None, str | None]:
        status = kube.get(api.INSTANCE, namespace, name).get("status") or {}
        return status.get("phase"), status.get("message")

    # The worker stops before the watcher (the other order hung in teardown once).
    async with run_watcher(), worker.build_worker(temporal_client, settings, api_client):
        await asyncio.to_thread(
            ki.create_instance, kube, namespace, "bad", database={"cluster": "nowhere"}
        )
        await asyncio.to_thread(
            ki.create_instance, kube, namespace, "nopull", imagePullSecret="missing-regcred"
        )
        await asyncio.to_thread(ki.create_instance, kube, namespace, "good")

        async def in_error() -> tuple[str | None, str | None] | None:
            phase, message = await asyncio.to_thread(phase_of, "bad")
            return (phase, message) if phase == "Error" else None

        async def good_converged() -> bool:
            phase, _ = await asyncio.to_thread(phase_of, "good")
            return phase not in (None, "Provisioning", "Error")

        _, message = await eventually(in_error, "bad instance in Error")

        async def pull_in_error() -> str | None:
            phase, text = await asyncio.to_thread(phase_of, "nopull")
            return text if phase == "Error" else None

        pull_message = await eventually(
            pull_in_error, "instance with a missing pull Secret in Error"
        )
        await eventually(good_converged, "good instance past Provisioning")
    assert message is not None
    assert "nowhere" in message
    assert "spec.imagePullSecret" in pull_message
    assert "missing-regcred" in pull_message
