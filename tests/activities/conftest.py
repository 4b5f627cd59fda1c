"""Activity-tier fixtures: the real activities bound to the emulator."""

from __future__ import annotations

import kubernetes
import pytest

from tests.activities import kube_instance as ki


@pytest.fixture
def acts(api_client: kubernetes.client.ApiClient, namespace: str) -> ki.Activities:
    """Every real activity for one test namespace, with a clusters Secret in place."""
    acts = ki.activities(api_client, namespace)
    ki.create_clusters_secret(acts.kube, namespace)
    return acts
