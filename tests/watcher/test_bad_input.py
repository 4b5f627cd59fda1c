"""Malformed OdooInstances and job resources: refused, or shown as Error, never a crash loop.

Covers a table of bad objects, each with where it is stopped:
- by the CRD schema (created with the official client: the API server
  answers 422 with a message naming the field): wrong types, negative
  replicas, unknown enum values, missing required fields, oversized names,
  bad quantities, hosts, paths and URLs, CEL rules;
- by the admission webhook, which the API server calls (the watcher serving
  it, registered by the product's ValidatingWebhookConfiguration): created or
  updated with the official client, refused with 422 and a message naming the
  field and both values, for references to missing instances or other
  namespaces, incomplete S3 locations, a shrinking filestore, a changed
  storage class, a moved database cluster;
- accepted, then shown as Error with a clear message by the real worker and
  the real watcher (an unknown database cluster, an image pull Secret that
  does not exist), while a good instance beside it converges and the watcher
  keeps running (its webhook called for every write, the worker's included).
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import kubernetes
import pytest
from temporalio import client as temporal_client

from activities import api
from odoo_operator import worker
from odoo_operator.sandbox import postgres
from odoo_operator.settings import Settings
from tests.activities import kube_instance as ki
from tests.watcher.conftest import CustomObjects, eventually, indexed, refusal


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
    (
        "gatewayRef without namespace",
        _instance(ingress={"hosts": ["a.example.com"], "gatewayRef": {"name": "gw"}}),
        "gatewayRef.namespace",
    ),
]


@pytest.mark.parametrize(("body", "field"), [pytest.param(b, f, id=i) for i, b, f in SCHEMA_CASES])
async def test_object_refused_by_schema_naming_the_field_when_malformed(
    objects: CustomObjects, body: dict[str, Any], field: str
) -> None:
    with pytest.raises(kubernetes.client.ApiException) as refused:
        await objects.create(copy.deepcopy(body))
    status, message = refusal(refused.value)
    assert status == 422
    assert field in message


def _placed(
    size: str = "10Gi", storage_class: str = "fast", cluster: str = "main"
) -> dict[str, Any]:
    """An instance whose filestore and database cluster are set."""
    filestore = {"storageSize": size, "storageClass": storage_class}
    return _instance(filestore=filestore, database={"cluster": cluster})


_OLD = _placed()

WEBHOOK_CASES: list[tuple[str, dict[str, Any] | None, dict[str, Any], str]] = [
    ("job for a missing instance", None,
     _job("OdooInitJob", odooInstanceRef={"name": "nope"}),
     "spec.odooInstanceRef.name: no OdooInstance named nope in namespace {namespace}"),
    ("job for another namespace", None,
     _job("OdooInitJob", odooInstanceRef={"name": "shop", "namespace": "x"}),
     "spec.odooInstanceRef.namespace: must be the job's own namespace {namespace}, not x"),
    ("backup without credentials", None,
     _job("OdooBackupJob", destination=_S3),
     "spec.destination.s3CredentialsSecretRef: required for an S3 location"),
    ("restore without credentials", None,
     _job("OdooRestoreJob", source={"type": "s3", "s3": _S3}),
     "spec.source.s3.s3CredentialsSecretRef: required for an S3 location"),
    ("filestore shrinks", _OLD,
     _placed(size="1Gi"),
     "spec.filestore.storageSize: cannot decrease from 10Gi to 1Gi"),
    ("storage class changes", _OLD,
     _placed(storage_class="slow"),
     "spec.filestore.storageClass: cannot change once set (from fast to slow)"),
    ("cluster moves", _OLD,
     _placed(cluster="b"),
     "spec.database.cluster: cannot change once set (from main to b)"),
]  # fmt: skip
"""(id, object created first or None, object created or applied over it, refusal)."""


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [pytest.param(old, new, m, id=i) for i, old, new, m in WEBHOOK_CASES],
)
async def test_object_refused_by_webhook_naming_the_field_when_rule_broken(
    admission_webhook: object,
    objects: CustomObjects,
    namespace: str,
    old: dict[str, Any] | None,
    new: dict[str, Any],
    expected: str,
) -> None:
    await objects.create(_instance("shop"))
    await indexed(objects, "shop")
    if old is None:
        write = objects.create(copy.deepcopy(new))
    else:
        await objects.create(copy.deepcopy(old))
        plural = new["kind"].lower() + "s"
        write = objects.merge_patch(plural, new["metadata"]["name"], {"spec": new["spec"]})
    with pytest.raises(kubernetes.client.ApiException) as refused:
        await write
    status, message = refusal(refused.value)
    assert status == 422
    assert message.endswith(" denied the request: " + expected.format(namespace=namespace))


async def test_bad_instances_in_error_and_good_one_converges_when_references_are_missing(
    admission_webhook: object,
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

    # The watcher (its webhook called for every write, the worker's too) runs
    # until the fixture's teardown, after the worker stops.
    async with worker.build_worker(temporal_client, settings, api_client):
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
