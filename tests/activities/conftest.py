"""Activity-tier fixtures: the real activities bound to the control plane and PostgreSQL,
and the cluster add-ons some tests need (the Gateway API, an expandable
StorageClass with bound volumes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import kubernetes
import pytest

from sandbox import postgres
from tests.activities import kube_instance as ki


@pytest.fixture
def acts(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    postgres_server: postgres.EmbeddedPostgres,
) -> ki.Activities:
    """Every real activity for one test namespace, with a clusters Secret whose
    default cluster is the embedded PostgreSQL."""
    acts = ki.activities(api_client, namespace)
    ki.create_clusters_secret(acts.kube, namespace, ki.ClusterAddress.of(postgres_server))
    return acts


@pytest.fixture
def gateway_api(api_client: kubernetes.client.ApiClient) -> Iterator[None]:
    """The Gateway API's HTTPRoute served for this test, uninstalled afterwards
    (other tests run on a cluster without it)."""
    name = ki.install_gateway_api(api_client)
    try:
        yield
    finally:
        ki.uninstall_gateway_api(api_client, name)


@pytest.fixture
def bound_claim(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> Iterator[Callable[[str], None]]:
    """Binds a claim of the test namespace to a new volume of an expandable
    StorageClass, as a cluster with a provisioner would; all removed afterwards."""
    created_class = ki.install_expandable_storage_class(api_client)
    volumes: list[str] = []

    def bind(claim: str) -> None:
        volumes.append(ki.bind_claim(api_client, namespace, claim))

    try:
        yield bind
    finally:
        for volume in volumes:
            ki.delete_volume(api_client, volume)
        if created_class:
            ki.delete_storage_class(api_client)
