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
  storage class, a moved database cluster, a database name another instance
  uses or PostgreSQL cannot hold, instance names that collide with another
  instance's Deployment, a backup schedule that never fires or whose range
  ends before it starts;
- by the schema's CEL rules (names that do not fit their Service, secrets in
  configOptions in any case, the master password given both inline and by
  Secret) and transition rules on UPDATE (spec.database.name); by its pattern,
  a backup schedule field out of range or using syntax Temporal does not read;
- accepted, then shown as Error with a clear message by the real worker and
  the real watcher (an unknown database cluster, an image pull Secret that
  does not exist), while a good instance beside it converges and the watcher
  keeps running (its webhook called for every write, the worker's included);
- accepted by the schema without the webhook (or before a rule existed), then
  refused by the model: a backup schedule that never fires ("0 0 31 2 *")
  puts the instance in Error with status.message naming
  spec.backup.schedule (it used to sit with an empty phase and an
  InvalidSpec Event only), and fixing the spec brings it out.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import kubernetes
import pytest
from temporalio import client as temporal_client

from activities import api, failures
from model.settings import Settings
from odoo_operator import worker
from sandbox import postgres
from tests.activities import kube_instance as ki
from tests.fixtures import operator_settings
from tests.watcher.conftest import CustomObjects, RunWatcher, eventually, indexed, refusal


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
_S3_DESTINATION = {"bucket": "b", "endpoint": "http://minio:9000"}
_LONG = "x" * 254

SCHEMA_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("negative replicas", _instance(replicas=-1), "spec.replicas"),
    ("replicas as text", _instance(replicas="two"), "spec.replicas"),
    ("negative cron replicas", _instance(cron={"replicas": -2}), "spec.cron.replicas"),
    ("unknown environment", _instance(environment="Prod"), "spec.environment"),
    (
        "adminPassword and adminPasswordSecretRef both set",
        _instance(adminPasswordSecretRef={"name": "admin", "key": "password"}),
        "spec.adminPasswordSecretRef: Forbidden: spec.adminPassword and "
        "spec.adminPasswordSecretRef are both set",
    ),
    (
        "adminPasswordSecretRef without key",
        _instance(adminPassword=None, adminPasswordSecretRef={"name": "admin"}),
        "spec.adminPasswordSecretRef.key",
    ),
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
    # Odoo lower-cases the keys it reads: SMTP_PASSWORD is smtp_password.
    ("SMTP_PASSWORD in configOptions", _instance(configOptions={"SMTP_PASSWORD": "x"}), "secrets"),
    ("Db_Passwd in configOptions", _instance(configOptions={"Db_Passwd": "x"}), "secrets"),
    (
        "backup schedule minute out of range",
        _instance(backup={"schedule": "61 2 * * *", "destination": _S3_DESTINATION}),
        "spec.backup.schedule",
    ),
    (
        "backup schedule with Quartz's L",
        _instance(backup={"schedule": "0 2 L * *", "destination": _S3_DESTINATION}),
        "spec.backup.schedule",
    ),
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
    ("database used by another instance",
     _instance("prod", database={"name": "proddb", "cluster": "main"}),
     _instance("other", database={"name": "proddb", "cluster": "main"}),
     "spec.database.name: database proddb on cluster main is already used by "
     "OdooInstance {namespace}/prod; choose another name"),
    ("database name over 63 bytes", None,
     _instance(database={"name": "é" * 32}),
     "spec.database.name: 64 bytes; PostgreSQL names are at most 63 bytes"),
    ("name collides with another's cron", None,
     _instance("shop-cron"),
     "metadata.name: Deployment shop-cron would be both the web Deployment of OdooInstance "
     "shop-cron and the cron Deployment of OdooInstance shop; choose another name"),
    ("backup schedule that never fires", None,
     _instance(backup={"schedule": "0 0 31 2 *", "destination": _S3_DESTINATION}),
     "spec.backup.schedule: '0 0 31 2 *' never fires (no fire time in the next 366 days, "
     "nor ever: no date has its day-of-month, month and day-of-week, which Temporal "
     "requires together), so no backup would ever run"),
    ("backup schedule with a reversed range", None,
     _instance(backup={"schedule": "0 2 5-1 * *", "destination": _S3_DESTINATION}),
     "spec.backup.schedule: '0 2 5-1 * *': Bad day-of-month: a range a-b must not end "
     "before it starts"),
    ("cron collides with another's web",
     _instance("erp-cron"),
     _instance("erp"),
     "metadata.name: Deployment erp-cron would be both the cron Deployment of OdooInstance "
     "erp and the web Deployment of OdooInstance erp-cron; choose another name"),
]  # fmt: skip
"""(id, object created first or None, object created (another name) or applied over it
(the same name), refusal). The instance `shop` exists in every case."""


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
    elif old["metadata"]["name"] != new["metadata"]["name"]:
        await objects.create(copy.deepcopy(old))
        await indexed(objects, old["metadata"]["name"])
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


async def _worker_settings(
    kube: api.KubeApi, namespace: str, task_queue: str, server: postgres.EmbeddedPostgres
) -> Settings:
    """The real worker's settings for this test, its clusters Secret naming `server`."""
    address = ki.ClusterAddress.of(server)
    await asyncio.to_thread(ki.create_clusters_secret, kube, namespace, address)
    return operator_settings.for_test(namespace, task_queue)


async def test_bad_instances_in_error_and_good_one_converges_when_references_are_missing(
    admission_webhook: object,
    temporal_client: temporal_client.Client,
    postgres_server: postgres.EmbeddedPostgres,
    api_client: kubernetes.client.ApiClient,
    kube: api.KubeApi,
    namespace: str,
    task_queue: str,
) -> None:
    settings = await _worker_settings(kube, namespace, task_queue, postgres_server)

    def phase_of(name: str) -> tuple[str | None, str | None]:
        status = kube.get(api.INSTANCE, namespace, name).get("status") or {}
        return status.get("phase"), status.get("message")

    # The watcher (its webhook called for every write, the worker's too) runs
    # until the fixture's teardown, after the worker stops.
    async with worker.build_worker(temporal_client, settings, api.KubeApi(api_client)):
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


async def test_instance_in_error_naming_the_field_when_the_model_refuses_what_the_schema_took(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    postgres_server: postgres.EmbeddedPostgres,
    api_client: kubernetes.client.ApiClient,
    kube: api.KubeApi,
    namespace: str,
    task_queue: str,
) -> None:
    settings = await _worker_settings(kube, namespace, task_queue, postgres_server)
    never = {"schedule": "0 0 31 2 *", "destination": _S3_DESTINATION}

    async def status() -> dict[str, Any]:
        body = await asyncio.to_thread(kube.get, api.INSTANCE, namespace, "never")
        return dict(body.get("status") or {})

    async with (
        run_watcher(),
        worker.build_worker(temporal_client, settings, api.KubeApi(api_client)),
    ):
        body = _instance("never", backup=never)
        await asyncio.to_thread(kube.create, api.INSTANCE, namespace, body)

        async def in_error() -> dict[str, Any] | None:
            found = await status()
            return found if found.get("phase") == "Error" else None

        shown = await eventually(in_error, "the instance in Error")
        fixed = {"schedule": "0 2 * * *", "destination": _S3_DESTINATION}
        await asyncio.to_thread(
            kube.merge_patch, api.INSTANCE, namespace, "never", {"spec": {"backup": fixed}}
        )

        async def out_of_error() -> dict[str, Any] | None:
            found = await status()
            return found if found.get("phase") not in (None, "Error") else None

        await eventually(out_of_error, "the fixed instance out of Error")
    assert shown["message"].startswith("spec.backup.schedule: '0 0 31 2 *' never fires")
