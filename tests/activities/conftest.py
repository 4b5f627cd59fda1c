"""Activity-tier fixtures: the real activities bound to the emulator and PostgreSQL."""

from __future__ import annotations

import kubernetes
import pytest

from odoo_operator.sandbox import postgres
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
