"""Helpers for activity tests: an OdooInstance in the emulator, its activities,
and the embedded PostgreSQL seen through the clusters Secret.

Not a test module: plain functions the activity and lifecycle tests share.
The test namespace doubles as the operator namespace (it holds the clusters
Secret), so one fixture namespace is enough. Roles are `odoo.<ns>.<name>`
and namespaces are unique per test, so tests never share a role or database.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import kubernetes
import psycopg
import yaml
from psycopg import sql
from temporalio.testing import ActivityEnvironment

from activities import api, databases, manifests
from activities.children import ChildrenActivities
from activities.cleanup import CleanupActivities
from activities.config import OperatorConfig
from activities.scaling import ScalingActivities
from activities.snapshot import SnapshotActivities
from activities.status import StatusActivities
from odoo_operator.model import naming
from odoo_operator.model.crds import OdooInstanceSpec
from odoo_operator.model.payloads import InstanceRef
from odoo_operator.sandbox import postgres

Connection = psycopg.Connection[tuple[Any, ...]]

ADMIN_PASSWORD = "very-secret-admin"
CLUSTERS_SECRET = "postgres-clusters"


@dataclass(frozen=True)
class ClusterAddress:
    """Where the clusters Secret says PostgreSQL is, and its admin login."""

    host: str
    port: int
    admin_user: str
    admin_password: str

    @classmethod
    def of(cls, server: postgres.EmbeddedPostgres) -> ClusterAddress:
        return cls(server.host, server.port, server.admin_user, server.admin_password)

    def moved_to(self, port: int) -> ClusterAddress:
        return ClusterAddress(self.host, port, self.admin_user, self.admin_password)


def clusters_yaml(address: ClusterAddress, name: str = "main") -> str:
    return yaml.safe_dump(
        {
            name: {
                "host": address.host,
                "port": address.port,
                "adminUser": address.admin_user,
                "adminPassword": address.admin_password,
                "default": True,
            }
        }
    )


def _secret_body(address: ClusterAddress) -> dict[str, Any]:
    text = clusters_yaml(address)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": CLUSTERS_SECRET},
        "data": {"clusters.yaml": base64.b64encode(text.encode()).decode()},
    }


def create_clusters_secret(kube: api.KubeApi, namespace: str, address: ClusterAddress) -> None:
    """The clusters Secret with one default cluster `main` at `address`."""
    kube.create(api.SECRET, namespace, _secret_body(address))


def update_clusters_secret(kube: api.KubeApi, namespace: str, address: ClusterAddress) -> None:
    """Point cluster `main` somewhere else (a moved or repaired cluster)."""
    kube.merge_patch(
        api.SECRET, namespace, CLUSTERS_SECRET, {"data": _secret_body(address)["data"]}
    )


def superuser(server: postgres.EmbeddedPostgres, dbname: str = "postgres") -> Connection:
    """An autocommit superuser connection to the embedded server (scene setting only)."""
    return psycopg.connect(server.dsn(dbname), autocommit=True)


def role_exists(server: postgres.EmbeddedPostgres, role: str) -> bool:
    with superuser(server) as conn:
        row = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    return row is not None


def database_exists(server: postgres.EmbeddedPostgres, database: str) -> bool:
    with superuser(server) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone()
    return row is not None


def db_password(kube: api.KubeApi, namespace: str, name: str) -> str:
    """The generated role password, from the `<name>-db-password` Secret."""
    secret = kube.get(api.SECRET, namespace, naming.db_password_secret_name(name))
    return base64.b64decode(secret["data"][manifests.DB_PASSWORD_KEY]).decode()


def create_database_as_role(
    server: postgres.EmbeddedPostgres, kube: api.KubeApi, ref: InstanceRef
) -> Connection:
    """What Odoo's init does: log in as the instance's role and CREATE DATABASE.

    Returns an open connection to the new database (Odoo would hold several).
    """
    role = naming.role_name(ref.namespace, ref.name)
    database = naming.database_name(ref.uid)
    password = db_password(kube, ref.namespace, ref.name)
    with psycopg.connect(
        host=server.host,
        port=server.port,
        user=role,
        password=password,
        dbname="postgres",
        autocommit=True,
    ) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return psycopg.connect(
        host=server.host,
        port=server.port,
        user=role,
        password=password,
        dbname=database,
        autocommit=True,
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
    pg = databases.Databases()
    return Activities(
        kube=api.KubeApi(client),
        snapshot=SnapshotActivities(client, config, pg),
        children=ChildrenActivities(client, config, pg),
        scaling=ScalingActivities(client, config),
        status=StatusActivities(client, config),
        cleanup=CleanupActivities(client, config, pg),
        env=ActivityEnvironment(),
    )
