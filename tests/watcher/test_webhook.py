"""The admission webhook as the API server calls it: registered, over TLS, refusing via the API.

Covers: the product's ValidatingWebhookConfiguration
(watcher.webhook_configuration: the cluster CA as caBundle, the watcher's
HTTPS port on 127.0.0.1, limited to the test namespace) accepted by the API
server, which then calls the watcher's webhook for OdooInstances and every
job kind; an OdooInstance updated with its filestore unchanged or grown is
allowed, and refused with 422 and a message naming the field and both sizes
when its filestore shrinks (latency of updates through the webhook is
printed); a job resource is allowed once the watcher's index knows its
instance and refused (every job kind) when the instance is missing; a
metadata-only update of a job whose instance is gone still passes;
failurePolicy Fail refuses writes while the webhook cannot be reached; the
same configuration pointing at the chart's Service (every namespace) is
accepted by the API server; a production instance naming a production
instance is refused by the CRD schema before any webhook is called, so the
webhook's own rule for it is checked with a direct AdmissionReview, the one
case the API cannot express.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from typing import Any

import aiohttp
import kubernetes
import pytest

from model import naming
from sandbox import controlplane, processes
from tests.watcher.conftest import (
    JOB_SPECS,
    CustomObjects,
    eventually,
    indexed,
    job_resource,
    refusal,
)
from watcher import webhook, webhook_configuration
from watcher.config import WatcherConfig

DENIED_INSTANCE = 'admission webhook "odooinstances.bemade.org" denied the request: '
DENIED_JOB = 'admission webhook "jobs.bemade.org" denied the request: '


def _instance(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "OdooInstance",
        "metadata": {"name": name},
        "spec": {"adminPassword": "x", "ingress": {"hosts": [f"{name}.example.com"]}, **spec},
    }


async def _refused(call: Any) -> tuple[int, str]:
    """(status, message) of an awaited API call that must be refused."""
    with pytest.raises(kubernetes.client.ApiException) as refused:
        await call
    return refusal(refused.value)


async def test_instance_refused_naming_both_sizes_when_filestore_shrinks(
    admission_webhook: object, objects: CustomObjects
) -> None:
    await objects.create(_instance("shop", filestore={"storageSize": "10Gi"}))
    latencies = []
    for replicas in range(1, 21):  # unchanged filestore: allowed, the webhook called each time
        started = time.monotonic()
        await objects.merge_patch("odooinstances", "shop", {"spec": {"replicas": replicas % 3}})
        latencies.append(time.monotonic() - started)
    grown = await objects.merge_patch(
        "odooinstances", "shop", {"spec": {"filestore": {"storageSize": "20Gi"}}}
    )
    status, message = await _refused(
        objects.merge_patch(
            "odooinstances", "shop", {"spec": {"filestore": {"storageSize": "5Gi"}}}
        )
    )

    assert grown["spec"]["filestore"]["storageSize"] == "20Gi"
    assert status == 422
    assert message == DENIED_INSTANCE + (
        "spec.filestore.storageSize: cannot decrease from 20Gi to 5Gi"
    )
    latencies.sort()
    print(f"update through the webhook: median {latencies[len(latencies) // 2] * 1000:.1f} ms")


async def test_job_allowed_when_its_instance_exists_and_refused_when_not(
    admission_webhook: object, objects: CustomObjects, namespace: str
) -> None:
    await objects.create(_instance("shop"))
    await indexed(objects, "shop")
    created = await objects.create(job_resource("OdooInitJob", "init-shop", {"name": "shop"}))
    refusals = {
        kind: await _refused(
            objects.create(job_resource(kind, f"{kind.lower()}-nope", {"name": "nope"}))
        )
        for kind in JOB_SPECS
    }

    assert created["spec"]["odooInstanceRef"] == {"name": "shop"}
    expected = DENIED_JOB + (
        f"spec.odooInstanceRef.name: no OdooInstance named nope in namespace {namespace}"
    )
    assert refusals == {kind: (422, expected) for kind in JOB_SPECS}


async def test_job_metadata_update_allowed_when_its_instance_is_gone(
    admission_webhook: object, objects: CustomObjects
) -> None:
    await objects.create(_instance("shop"))
    await indexed(objects, "shop")
    await objects.create(job_resource("OdooBackupJob", "nightly", {"name": "shop"}))
    await objects.delete("odooinstances", "shop")

    async def forgotten() -> bool:  # the index drops the instance: a new job is refused
        try:
            await objects.create(
                job_resource("OdooInitJob", "probe", {"name": "shop"}), dry_run=True
            )
        except kubernetes.client.ApiException as err:
            return "no OdooInstance named shop" in refusal(err)[1]
        return False

    await eventually(forgotten, "the webhook no longer knows shop")
    labelled = await objects.merge_patch(
        "odoobackupjobs", "nightly", {"metadata": {"labels": {"kept": "yes"}}}
    )
    assert labelled["metadata"]["labels"] == {"kept": "yes"}


async def test_writes_refused_when_the_webhook_cannot_be_reached(
    api_client: kubernetes.client.ApiClient,
    control_plane: controlplane.ControlPlane,
    objects: CustomObjects,
    namespace: str,
) -> None:
    assert control_plane.ca is not None
    nothing_listens = processes.free_port()
    registration = kubernetes.client.AdmissionregistrationV1Api(api_client)
    body = webhook_configuration.validating_webhook_configuration(
        f"odoo-operator-{namespace}",
        control_plane.ca.cert_pem,
        base_url=f"https://127.0.0.1:{nothing_listens}",
        namespaces=(namespace,),
    )
    await asyncio.to_thread(registration.create_validating_webhook_configuration, body)
    try:

        async def refused() -> tuple[int, str] | None:
            try:
                await objects.create(_instance("shop"), dry_run=True)
            except kubernetes.client.ApiException as err:
                return refusal(err)
            return None  # the configuration is not loaded yet

        status, message = await eventually(refused, "the API server calls the webhook")
    finally:
        await asyncio.to_thread(
            registration.delete_validating_webhook_configuration, body["metadata"]["name"]
        )
    assert status == 500
    assert 'failed calling webhook "odooinstances.bemade.org"' in message


async def test_configuration_accepted_when_it_points_at_the_chart_service(
    api_client: kubernetes.client.ApiClient, control_plane: controlplane.ControlPlane
) -> None:
    assert control_plane.ca is not None
    body = webhook_configuration.validating_webhook_configuration(
        "odoo-operator",
        control_plane.ca.cert_pem,
        service=webhook_configuration.ServiceEndpoint("odoo-operator", "odoo-operator-webhook"),
    )
    registration = kubernetes.client.AdmissionregistrationV1Api(api_client)
    stored = await asyncio.to_thread(
        registration.create_validating_webhook_configuration, body, dry_run="All"
    )

    by_name = {hook.name: hook for hook in stored.webhooks}
    instances, jobs = by_name["odooinstances.bemade.org"], by_name["jobs.bemade.org"]
    assert instances.client_config.service.path == f"/{webhook.INSTANCE_WEBHOOK}"
    assert jobs.client_config.service.path == f"/{webhook.JOB_WEBHOOK}"
    assert instances.rules[0].resources == ["odooinstances"]
    assert sorted(jobs.rules[0].resources) == [
        "odoobackupjobs",
        "odooinitjobs",
        "odoorestorejobs",
        "odooupgradejobs",
    ]
    for hook in stored.webhooks:
        assert (hook.failure_policy, hook.side_effects) == ("Fail", "None")
        assert hook.rules[0].operations == ["CREATE", "UPDATE"]
        assert hook.namespace_selector.match_expressions is None  # every namespace


async def test_production_instance_refused_when_it_names_a_production_ref(
    admission_webhook: object,
    webhook_config: WatcherConfig,
    control_plane: controlplane.ControlPlane,
    objects: CustomObjects,
    namespace: str,
) -> None:
    body = _instance("prod2", environment="Production", productionInstanceRef={"name": "prod"})
    # Through the API, the CRD schema refuses it before any webhook is called.
    status, message = await _refused(objects.create(body))
    assert status == 422
    assert "spec.productionInstanceRef" in message
    assert "denied the request" not in message

    # The webhook's own rule, as the API server would send it.
    assert webhook_config.webhook is not None
    request = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": str(uuid.uuid4()),
            "kind": {
                "group": naming.API_GROUP,
                "version": naming.API_VERSION,
                "kind": "OdooInstance",
            },
            "resource": {
                "group": naming.API_GROUP,
                "version": naming.API_VERSION,
                "resource": "odooinstances",
            },
            "operation": "CREATE",
            "userInfo": {"username": "odoo-operator-admin"},
            "namespace": namespace,
            "name": "prod2",
            "object": {**body, "metadata": {"name": "prod2", "namespace": namespace}},
            "oldObject": None,
            "dryRun": False,
        },
    }
    url = f"https://127.0.0.1:{webhook_config.webhook.settings.port}/{webhook.INSTANCE_WEBHOOK}"
    trust = ssl.create_default_context(cafile=str(control_plane.ca_file))
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json=request, ssl=trust) as answer,
    ):
        assert answer.status == 200, await answer.text()
        review = await answer.json()
    response = review["response"]
    assert response["uid"] == request["request"]["uid"]
    assert response["allowed"] is False
    assert response["status"]["code"] == 422
    assert response["status"]["message"] == (
        "spec.productionInstanceRef: forbidden when spec.environment is Production (it names prod)"
    )
