"""The kube fixtures' waits.

Covers: wait_for_phase returning at once when the phase is already there,
returning from its watch when the phase arrives later, timing out with the
last phase seen; wait_for returning the predicate's value.
"""

from __future__ import annotations

import concurrent.futures

import kubernetes
import pytest

from tests.fixtures.kube import wait_for, wait_for_phase

GROUP = ("bemade.org", "v1alpha1")


def _instance(api_client, namespace: str) -> kubernetes.client.CustomObjectsApi:
    api = kubernetes.client.CustomObjectsApi(api_client)
    body = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": "i"},
        "spec": {"adminPassword": "x", "ingress": {"hosts": ["a.example.com"]}},
    }
    api.create_namespaced_custom_object(*GROUP, namespace, "odooinstances", body)
    return api


def test_wait_for_phase_returns_when_the_phase_arrives_later(api_client, namespace):
    api = _instance(api_client, namespace)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait_for_phase, api_client, namespace, "i", "Running")
        api.patch_namespaced_custom_object_status(
            *GROUP, namespace, "odooinstances", "i", {"status": {"phase": "Starting"}}
        )
        api.patch_namespaced_custom_object_status(
            *GROUP, namespace, "odooinstances", "i", {"status": {"phase": "Running"}}
        )
        assert waiting.result(timeout=10)["status"]["phase"] == "Running"
    assert wait_for_phase(api_client, namespace, "i", "Running")["metadata"]["name"] == "i"


def test_wait_for_phase_raises_when_the_deadline_passes(api_client, namespace):
    _instance(api_client, namespace)
    with pytest.raises(TimeoutError, match="last: None"):
        wait_for_phase(api_client, namespace, "i", "Running", timeout=1)


def test_wait_for_returns_the_truthy_value_when_the_predicate_holds():
    assert wait_for(lambda: 42) == 42
