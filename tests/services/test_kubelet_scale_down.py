"""The kubelet stand-ins when a Deployment scales down to zero.

Covers: fake_deployment_ready at 0 after 1 removes readyReplicas,
availableReplicas, replicas and updatedReplicas (the controller omits zero
counts; a merge patch used to keep the old ones, so an instance scaled to 0
showed readyReplicas 1 forever); SimulatedKubelet does the same on its own
when spec.replicas drops to 0.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import kubernetes

from odoo_operator.sandbox import kubelet
from odoo_operator.sandbox.emulator import EmulatorHandle

COUNTS = ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas")


def _deployment(name: str, replicas: int) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"a": name}},
            "template": {
                "metadata": {"labels": {"a": name}},
                "spec": {"containers": [{"name": "c", "image": "odoo:18"}]},
            },
        },
    }


def _counts(apps: kubernetes.client.AppsV1Api, namespace: str) -> dict[str, object]:
    raw = apps.api_client.sanitize_for_serialization(
        apps.read_namespaced_deployment("web", namespace)
    )
    status = raw.get("status") or {}
    return {key: status[key] for key in COUNTS if key in status}


def test_zero_counts_are_removed_when_faked_ready_at_zero(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    apps = kubernetes.client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("web", 1))
    kubelet.fake_deployment_ready(api_client, namespace, "web", 1)
    assert _counts(apps, namespace) == dict.fromkeys(COUNTS, 1)

    apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 0}})
    kubelet.fake_deployment_ready(api_client, namespace, "web", 0)
    assert _counts(apps, namespace) == {}


async def test_zero_counts_are_removed_when_the_simulated_kubelet_sees_a_scale_down(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    kube_emulator_server: EmulatorHandle,
) -> None:
    apps = kubernetes.client.AppsV1Api(api_client)
    async with kubelet.SimulatedKubelet(kube_emulator_server.url, delay=0.05):
        apps.create_namespaced_deployment(namespace, _deployment("web", 1))
        await _until(lambda: _counts(apps, namespace) == dict.fromkeys(COUNTS, 1))
        apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 0}})
        await _until(lambda: _counts(apps, namespace) == {})


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll in a thread, so the kubelet on this event loop keeps running."""
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)
