"""Reading the clusters Secret through the Kubernetes API (the real kube-apiserver).

Covers: a missing Secret (404) is a CONFIG_INVALID saying to create it; a
Secret without the clusters.yaml key names the keys it has; invalid YAML in
the Secret is reported with its line; a valid Secret yields the default or the
named cluster with its admin password intact and hidden.
"""

from __future__ import annotations

import base64
import textwrap

import kubernetes
import pytest

from activities import api, clusters
from model import failures

SECRET = "postgres-clusters"
PASSWORD = "s3cret-admin-password"

CLUSTERS_YAML = textwrap.dedent(
    f"""\
    main:
      host: pg-main.databases.svc
      adminUser: postgres
      adminPassword: {PASSWORD}
      default: true
    reports:
      host: pg-reports.databases.svc
      port: 6432
      adminUser: admin
      adminPassword: other
    """
)


def _create_secret(
    api_client: kubernetes.client.ApiClient, namespace: str, data: dict[str, str]
) -> None:
    encoded = {key: base64.b64encode(value.encode()).decode() for key, value in data.items()}
    kubernetes.client.CoreV1Api(api_client).create_namespaced_secret(
        namespace,
        kubernetes.client.V1Secret(
            metadata=kubernetes.client.V1ObjectMeta(name=SECRET), data=encoded
        ),
    )


def test_config_invalid_asks_to_create_the_secret_when_it_is_missing(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    with pytest.raises(clusters.ClusterConfigError) as caught:
        clusters.read_cluster(api.KubeApi(api_client), namespace, SECRET, None)

    assert caught.value.message == (
        f"Secret {namespace}/{SECRET} not found: create it with a clusters.yaml key"
    )
    assert (caught.value.type, caught.value.non_retryable) == (failures.CONFIG_INVALID, True)


def test_config_invalid_names_the_keys_when_clusters_yaml_key_is_missing(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    _create_secret(api_client, namespace, {"clusters.yml": CLUSTERS_YAML, "other": "x"})

    with pytest.raises(clusters.ClusterConfigError) as caught:
        clusters.read_cluster(api.KubeApi(api_client), namespace, SECRET, None)

    assert caught.value.message == (
        f"Secret {namespace}/{SECRET} has no clusters.yaml key (keys: clusters.yml, other); add it"
    )


def test_config_invalid_gives_the_line_when_the_secret_holds_invalid_yaml(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    _create_secret(api_client, namespace, {"clusters.yaml": "main:\n  host: [pg\n"})

    with pytest.raises(clusters.ClusterConfigError) as caught:
        clusters.read_cluster(api.KubeApi(api_client), namespace, SECRET, None)

    assert (
        f"clusters.yaml in Secret {namespace}/{SECRET} is not valid YAML: line "
        in caught.value.message
    )


def test_cluster_is_loaded_when_the_secret_is_valid(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    _create_secret(api_client, namespace, {"clusters.yaml": CLUSTERS_YAML})

    default = clusters.read_cluster(api.KubeApi(api_client), namespace, SECRET, None)
    named = clusters.read_cluster(api.KubeApi(api_client), namespace, SECRET, "reports")

    assert (default.name, default.address) == ("main", "pg-main.databases.svc:5432")
    assert default.admin_password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(default)
    assert (named.name, named.address, named.admin_user) == (
        "reports",
        "pg-reports.databases.svc:6432",
        "admin",
    )
