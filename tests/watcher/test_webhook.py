"""The admission webhook over HTTPS: Kopf's server, our handlers, real objects.

Covers: AdmissionReview requests POSTed over TLS (a self-signed certificate
the client trusts) to the running watcher; an OdooInstance fetched from the
emulator is allowed unchanged and refused (with the field and both values)
when its filestore shrinks; a job resource is allowed when its instance
exists (the watcher's index of instances) and refused when it does not; a
production instance naming a production instance is refused at CREATE;
request latency is printed.
"""

from __future__ import annotations

import asyncio
import copy
import ssl
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from activities import api
from odoo_operator.sandbox import processes
from tests.activities import kube_instance as ki
from tests.watcher.conftest import RunWatcher, eventually
from watcher import webhook
from watcher.config import WatcherConfig, WebhookConfig


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed serving certificate for 127.0.0.1 (openssl, like the chart's fallback)."""
    folder = tmp_path_factory.mktemp("webhook-tls")
    cert, key = folder / "tls.crt", folder / "tls.key"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def webhook_config(watcher_config: WatcherConfig, certificate: tuple[Path, Path]) -> WatcherConfig:
    cert, key = certificate
    hook = WebhookConfig(
        port=processes.free_port(), addr="127.0.0.1", host="127.0.0.1", certfile=cert, pkeyfile=key
    )
    return WatcherConfig(**{**watcher_config.__dict__, "webhook": hook})


class Reviewer:
    """Sends AdmissionReview requests the way the API server does."""

    def __init__(self, config: WatcherConfig, cafile: Path) -> None:
        assert config.webhook is not None
        self.port = config.webhook.port
        self.base = f"https://127.0.0.1:{self.port}"
        self.ssl = ssl.create_default_context(cafile=str(cafile))
        self.latencies: list[float] = []

    async def review(
        self,
        path: str,
        plural: str,
        operation: str,
        new: dict[str, Any] | None,
        old: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        body = new if new is not None else old
        assert body is not None
        request = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": str(uuid.uuid4()),
                "kind": {"group": "bemade.org", "version": "v1alpha1", "kind": body["kind"]},
                "resource": {"group": "bemade.org", "version": "v1alpha1", "resource": plural},
                "operation": operation,
                "userInfo": {"username": "kubernetes-admin"},
                "namespace": body["metadata"]["namespace"],
                "name": body["metadata"]["name"],
                "object": new,
                "oldObject": old,
                "dryRun": False,
            },
        }
        if not self.latencies:  # Kopf starts its server shortly after the watches

            async def listening() -> bool:
                return await asyncio.to_thread(processes.port_accepts, self.port)

            await eventually(listening, "the webhook server listens")
        started = time.monotonic()
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{self.base}/{path}", json=request, ssl=self.ssl) as response,
        ):
            assert response.status == 200, await response.text()
            answer = await response.json()
        self.latencies.append(time.monotonic() - started)
        assert answer["response"]["uid"] == request["request"]["uid"]
        return dict(answer["response"])


async def test_real_instance_allowed_unchanged_and_refused_when_filestore_shrinks(
    run_watcher: RunWatcher,
    webhook_config: WatcherConfig,
    certificate: tuple[Path, Path],
    kube: api.KubeApi,
    namespace: str,
) -> None:
    await asyncio.to_thread(
        ki.create_instance, kube, namespace, "shop", filestore={"storageSize": "10Gi"}
    )
    stored = await asyncio.to_thread(kube.get, api.INSTANCE, namespace, "shop")
    shrunk = copy.deepcopy(stored)
    shrunk["spec"]["filestore"]["storageSize"] = "5Gi"
    async with run_watcher(webhook_config):
        reviewer = Reviewer(webhook_config, certificate[0])
        path, plural = webhook.INSTANCE_WEBHOOK, "odooinstances"
        same = await reviewer.review(path, plural, "UPDATE", stored, stored)
        refused = await reviewer.review(path, plural, "UPDATE", shrunk, stored)
        for _ in range(20):
            await reviewer.review(path, plural, "UPDATE", stored, stored)

    assert same["allowed"] is True
    assert refused["allowed"] is False
    assert refused["status"]["message"] == (
        "spec.filestore.storageSize: cannot decrease from 10Gi to 5Gi"
    )
    assert refused["status"]["code"] == 422
    latencies = sorted(reviewer.latencies)
    print(f"webhook latency: median {latencies[len(latencies) // 2] * 1000:.1f} ms")


async def test_job_allowed_when_its_instance_exists_and_refused_when_not(
    run_watcher: RunWatcher,
    webhook_config: WatcherConfig,
    certificate: tuple[Path, Path],
    kube: api.KubeApi,
    namespace: str,
) -> None:
    await asyncio.to_thread(ki.create_instance, kube, namespace, "shop")

    def init_job(instance: str) -> dict[str, Any]:
        return {
            "apiVersion": "bemade.org/v1alpha1",
            "kind": "OdooInitJob",
            "metadata": {"name": f"init-{instance}", "namespace": namespace},
            "spec": {"odooInstanceRef": {"name": instance}},
        }

    async with run_watcher(webhook_config):
        reviewer = Reviewer(webhook_config, certificate[0])

        async def allowed() -> bool:
            answer = await reviewer.review(
                webhook.JOB_WEBHOOK, "odooinitjobs", "CREATE", init_job("shop")
            )
            return bool(answer["allowed"])

        await eventually(allowed, "the index knows the instance")
        refused = await reviewer.review(
            webhook.JOB_WEBHOOK, "odooinitjobs", "CREATE", init_job("nope")
        )
    assert refused["allowed"] is False
    assert refused["status"]["message"] == (
        f"spec.odooInstanceRef.name: no OdooInstance named nope in namespace {namespace}"
    )


async def test_production_instance_refused_at_create_when_it_names_a_production_ref(
    run_watcher: RunWatcher,
    webhook_config: WatcherConfig,
    certificate: tuple[Path, Path],
    namespace: str,
) -> None:
    body = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": "prod2", "namespace": namespace},
        "spec": {
            "adminPassword": "x",
            "ingress": {"hosts": ["p.example.com"]},
            "environment": "Production",
            "productionInstanceRef": {"name": "prod"},
        },
    }
    async with run_watcher(webhook_config):
        reviewer = Reviewer(webhook_config, certificate[0])
        answer = await reviewer.review(webhook.INSTANCE_WEBHOOK, "odooinstances", "CREATE", body)
    assert answer["allowed"] is False
    assert "spec.productionInstanceRef" in answer["status"]["message"]
