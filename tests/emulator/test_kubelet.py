"""The kubelet/controller stand-ins.

Covers: fake_deployment_ready writing replica counts and observedGeneration via
/status, fake_job_succeeded/fake_job_failed writing the Job controller's
conditions, SimulatedKubelet making new Deployments ready and Jobs succeeded.
"""

from __future__ import annotations

import asyncio

import kubernetes

from odoo_operator.sandbox import kubelet
from tests.fixtures.kube import wait_for


def _deployment(name: str, replicas: int) -> dict:
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


def _job(name: str) -> dict:
    return {
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox:1"}],
                }
            }
        },
    }


def test_deployment_counts_are_written_when_faked_ready(api_client, namespace):
    apps = kubernetes.client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("web", 3))
    kubelet.fake_deployment_ready(api_client, namespace, "web", 2)
    status = apps.read_namespaced_deployment("web", namespace).status
    assert (
        status.replicas,
        status.ready_replicas,
        status.available_replicas,
        status.updated_replicas,
    ) == (3, 2, 2, 3)
    assert status.observed_generation == 1
    assert status.unavailable_replicas == 1


def test_job_conditions_match_the_controller_when_faked(api_client, namespace):
    batch = kubernetes.client.BatchV1Api(api_client)
    batch.create_namespaced_job(namespace, _job("ok"))
    batch.create_namespaced_job(namespace, _job("ko"))
    kubelet.fake_job_succeeded(api_client.configuration.host, namespace, "ok")
    kubelet.fake_job_failed(api_client, namespace, "ko")
    ok = batch.read_namespaced_job("ok", namespace).status
    assert ok.succeeded == 1
    assert ok.start_time
    assert ok.completion_time
    assert [(c.type, c.reason) for c in ok.conditions] == [
        ("SuccessCriteriaMet", "CompletionsReached"),
        ("Complete", "CompletionsReached"),
    ]
    ko = batch.read_namespaced_job("ko", namespace).status
    assert ko.failed == 7
    assert ko.start_time
    assert ko.completion_time is None
    assert [(c.type, c.reason) for c in ko.conditions] == [
        ("FailureTarget", "BackoffLimitExceeded"),
        ("Failed", "BackoffLimitExceeded"),
    ]


async def test_simulated_kubelet_readies_deployments_and_completes_jobs_when_running(
    api_client, namespace
):
    apps = kubernetes.client.AppsV1Api(api_client)
    batch = kubernetes.client.BatchV1Api(api_client)
    async with kubelet.SimulatedKubelet(api_client.configuration.host, delay=0.05):
        await asyncio.to_thread(apps.create_namespaced_deployment, namespace, _deployment("web", 2))
        await asyncio.to_thread(batch.create_namespaced_job, namespace, _job("init"))
        await asyncio.to_thread(
            wait_for,
            lambda: (
                (apps.read_namespaced_deployment("web", namespace).status or None)
                and apps.read_namespaced_deployment("web", namespace).status.ready_replicas == 2
            ),
        )
        await asyncio.to_thread(
            wait_for,
            lambda: (batch.read_namespaced_job("init", namespace).status.succeeded or 0) == 1,
        )
