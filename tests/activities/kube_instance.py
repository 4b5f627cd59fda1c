"""Helpers for activity tests: an OdooInstance in the emulator and its activities.

Not a test module: plain functions the activity and lifecycle tests share.
The test namespace doubles as the operator namespace (it holds the clusters
Secret), so one fixture namespace is enough.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import kubernetes
from temporalio.testing import ActivityEnvironment

from activities import api
from activities.children import ChildrenActivities
from activities.cleanup import CleanupActivities
from activities.config import OperatorConfig
from activities.scaling import ScalingActivities
from activities.snapshot import SnapshotActivities
from activities.status import StatusActivities
from odoo_operator.model.crds import OdooInstanceSpec
from odoo_operator.model.payloads import InstanceRef

ADMIN_PASSWORD = "very-secret-admin"
CLUSTERS_YAML = """\
main:
  host: pg.example.svc
  port: 5432
  adminUser: postgres
  adminPassword: pg-admin-secret
  default: true
"""


def create_clusters_secret(kube: api.KubeApi, namespace: str) -> None:
    kube.create(
        api.SECRET,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "postgres-clusters"},
            "data": {"clusters.yaml": base64.b64encode(CLUSTERS_YAML.encode()).decode()},
        },
    )


def create_instance(
    kube: api.KubeApi, namespace: str, name: str, **spec: Any
) -> tuple[InstanceRef, OdooInstanceSpec]:
    """Create an OdooInstance; return its ref and its spec as the watcher would send it."""
    body = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "adminPassword": ADMIN_PASSWORD,
            "ingress": {"hosts": [f"{name}.example.com"]},
            **spec,
        },
    }
    created = kube.create(api.INSTANCE, namespace, body)
    ref = InstanceRef(namespace=namespace, name=name, uid=created["metadata"]["uid"])
    return ref, redacted_spec(created)


def redacted_spec(body: dict[str, Any]) -> OdooInstanceSpec:
    """The spec without its secret, as workflow payloads carry it."""
    return OdooInstanceSpec.model_validate(body["spec"]).redacted()


@dataclass
class Activities:
    """Every real activity, bound to one ApiClient, plus an ActivityEnvironment."""

    kube: api.KubeApi
    snapshot: SnapshotActivities
    children: ChildrenActivities
    scaling: ScalingActivities
    status: StatusActivities
    cleanup: CleanupActivities
    env: ActivityEnvironment


def activities(client: kubernetes.client.ApiClient, namespace: str) -> Activities:
    config = OperatorConfig(operator_namespace=namespace, reporting_instance="test-worker")
    return Activities(
        kube=api.KubeApi(client),
        snapshot=SnapshotActivities(client, config),
        children=ChildrenActivities(client, config),
        scaling=ScalingActivities(client, config),
        status=StatusActivities(client, config),
        cleanup=CleanupActivities(client, config),
        env=ActivityEnvironment(),
    )
