"""Helpers for activity tests: an OdooInstance on the real control plane, its
activities, and the embedded PostgreSQL seen through the clusters Secret.

Not a test module: plain functions the activity and lifecycle tests share.
The test namespace doubles as the operator namespace (it holds the clusters
Secret), so one fixture namespace is enough. Roles are `odoo.<ns>.<name>`
and namespaces are unique per test, so tests never share a role or database.

A ServiceAccount of the test namespace whose Role the test sets (RBAC
refusals the operator must survive), with an ApiClient logged in as it.

Also the parts of a cluster the control plane lacks and some tests need:
the Gateway API's HTTPRoute CRD, a StorageClass that allows volume
expansion, and the PersistentVolume controller's binding of a claim (there
is no volume provisioner).
"""

from __future__ import annotations

import base64
import contextlib
import pathlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import kubernetes
import psycopg
import yaml
from psycopg import sql
from temporalio.testing import ActivityEnvironment

from activities import api, databases
from activities.backup_resources import BackupActivities
from activities.children import ChildrenActivities
from activities.cleanup import CleanupActivities
from activities.converge import ConvergeActivities
from activities.edge_actions import EdgeActivities
from activities.snapshot import SnapshotActivities
from activities.status import StatusActivities
from model import naming
from model.crds import OdooInstanceSpec
from model.payloads import InstanceRef
from model.settings import (
    DEFAULT_CLUSTERS_SECRET,
    InstanceDefaults,
    JobSettings,
    OperatorSettings,
)
from sandbox import controlplane, kubelet, postgres
from specs import config
from tests.fixtures.kube import wait_for

Connection = psycopg.Connection[tuple[Any, ...]]

DEADLINE = 30.0
"""Seconds a controller may take to report what the Pods did (a loaded machine is slow)."""
ADMIN_PASSWORD = "very-secret-admin"
CLUSTERS_SECRET = DEFAULT_CLUSTERS_SECRET
POD = api.Resource("v1", "pods")
GATEWAY_API_CRD = pathlib.Path(__file__).with_name("gateway-api-httproute.yaml")
STORAGE_CLASS = "standard"
"""The operator's default spec.filestore.storageClass."""


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
    return base64.b64decode(secret["data"][config.DB_PASSWORD_KEY]).decode()


ODOO_CONFIG_TABLES = """
CREATE TABLE ir_config_parameter (
    id serial PRIMARY KEY, key varchar NOT NULL UNIQUE, value text NOT NULL,
    create_uid int, create_date timestamp, write_uid int, write_date timestamp);
CREATE SEQUENCE base_cache_signaling_default;
"""
"""What Odoo's init creates that the operator writes to: its system parameters
(ir_config_parameter, a unique key) and its cache-signaling sequence."""


def create_database_as_role(
    server: postgres.EmbeddedPostgres, kube: api.KubeApi, ref: InstanceRef
) -> Connection:
    """What Odoo's init does: log in as the instance's role and CREATE DATABASE.

    Returns an open connection to the new database (Odoo would hold several).
    """
    database = naming.database_name(ref.uid)
    with role_connection(server, kube, ref, "postgres") as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    return role_connection(server, kube, ref)


def role_connection(
    server: postgres.EmbeddedPostgres, kube: api.KubeApi, ref: InstanceRef, dbname: str = ""
) -> Connection:
    """An autocommit connection as the instance's role (its password from its Secret)
    to `dbname`, by default the instance's database: as Odoo connects."""
    return psycopg.connect(
        host=server.host,
        port=server.port,
        user=naming.role_name(ref.namespace, ref.name),
        password=db_password(kube, ref.namespace, ref.name),
        dbname=dbname or naming.database_name(ref.uid),
        autocommit=True,
    )


def create_instance(
    kube: api.KubeApi, namespace: str, name: str, **spec: Any
) -> tuple[InstanceRef, OdooInstanceSpec]:
    """Create an OdooInstance; return its ref and its spec as the watcher would send it.

    A field given as None is left out (`adminPassword=None`: no inline master password).
    """
    fields = {"adminPassword": ADMIN_PASSWORD, "ingress": {"hosts": [f"{name}.example.com"]}}
    fields.update(spec)
    body = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {key: value for key, value in fields.items() if value is not None},
    }
    created = kube.create(api.INSTANCE, namespace, body)
    ref = InstanceRef(namespace=namespace, name=name, uid=created["metadata"]["uid"])
    return ref, redacted_spec(created)


def create_deployment(
    kube: api.KubeApi, namespace: str, name: str, owner: InstanceRef | None = None
) -> dict[str, Any]:
    """What `kubectl create deployment <name> --image=nginx` makes: a user's own
    Deployment (or, with `owner`, one owned by that instance)."""
    labels = {"app": name}
    meta: dict[str, Any] = {"name": name, "labels": labels}
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": naming.GROUP_VERSION,
                "kind": "OdooInstance",
                "name": owner.name,
                "uid": owner.uid,
            }
        ]
    return kube.create(
        api.DEPLOYMENT,
        namespace,
        {
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx"}]},
                },
            },
        },
    )


@contextlib.contextmanager
def holding(pods: kubelet.KubeletThread, match: kubelet.PodMatcher) -> Iterator[None]:
    """Matching Pods stay Pending inside the block (the kubelet does not start
    them); every hold is released when it ends, even on a failure."""
    pods.hold(match)
    try:
        yield
    finally:
        pods.release()


def deployment_pods(kube: api.KubeApi, namespace: str, name: str) -> list[dict[str, Any]]:
    """The Pods of a Deployment (by its selector), oldest name first."""
    deployment = kube.get(api.DEPLOYMENT, namespace, name)
    labels = deployment["spec"]["selector"]["matchLabels"]
    selector = ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
    pods = kube.list_of(POD, namespace, label_selector=selector)
    return sorted(pods, key=lambda pod: str(pod["metadata"]["name"]))


def ready_replicas(kube: api.KubeApi, namespace: str, name: str) -> int:
    """A Deployment's status.readyReplicas as its controller counts it (0 when absent)."""
    status = kube.get(api.DEPLOYMENT, namespace, name).get("status") or {}
    return int(status.get("readyReplicas") or 0)


def job_finished(kube: api.KubeApi, namespace: str, name: str) -> str | None:
    """The Job's condition type, Complete or Failed, once its controller set one; else None."""
    job = kube.find(api.JOB, namespace, name) or {}
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
            return str(condition["type"])
    return None


def redacted_spec(body: dict[str, Any]) -> OdooInstanceSpec:
    """The spec without its secret, as workflow payloads carry it."""
    return OdooInstanceSpec.model_validate(body["spec"]).redacted()


@dataclass
class Activities:
    """Every real activity, bound to one KubeApi, plus an ActivityEnvironment."""

    kube: api.KubeApi
    snapshot: SnapshotActivities
    children: ChildrenActivities
    converge: ConvergeActivities
    edges: EdgeActivities
    status: StatusActivities
    cleanup: CleanupActivities
    env: ActivityEnvironment


def activities(client: kubernetes.client.ApiClient, namespace: str) -> Activities:
    operator = OperatorSettings(namespace=namespace, reporting_instance="test-worker")
    jobs, defaults = JobSettings(), InstanceDefaults()
    pg = databases.Databases()
    kube = api.KubeApi(client)
    return Activities(
        kube=kube,
        snapshot=SnapshotActivities(kube, operator, pg),
        children=ChildrenActivities(kube, operator, defaults, pg),
        converge=ConvergeActivities(kube, operator, jobs),
        edges=EdgeActivities(kube, operator, jobs, BackupActivities(kube, operator), pg),
        status=StatusActivities(kube, operator),
        cleanup=CleanupActivities(kube, operator, pg),
        env=ActivityEnvironment(),
    )


# --- credentials with less than admin's rights ----------------------------


def service_account_client(
    plane: controlplane.ControlPlane,
    admin: kubernetes.client.ApiClient,
    namespace: str,
    name: str,
    rules: list[dict[str, Any]],
    directory: pathlib.Path,
) -> kubernetes.client.ApiClient:
    """An ApiClient logged in as ServiceAccount `name` of `namespace`, whose Role
    (same name, bound to it) holds `rules`; `set_role_rules` changes them."""
    core = kubernetes.client.CoreV1Api(admin)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    rbac = kubernetes.client.RbacAuthorizationV1Api(admin)
    rbac.create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": rules})
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    )
    token = core.create_namespaced_service_account_token(
        name, namespace, {"spec": {"expirationSeconds": 3600}}
    ).status.token
    path = plane.write_kubeconfig(directory / f"{name}.kubeconfig", token=token, user=name)
    return kubernetes.config.new_client_from_config(config_file=str(path))


def set_role_rules(
    admin: kubernetes.client.ApiClient, namespace: str, name: str, rules: list[dict[str, Any]]
) -> None:
    """Replace the rules of the Role made by `service_account_client`."""
    kubernetes.client.RbacAuthorizationV1Api(admin).patch_namespaced_role(
        name, namespace, {"rules": rules}
    )


# --- what a cluster has and the control plane lacks ------------------------


def install_gateway_api(client: kubernetes.client.ApiClient) -> str:
    """Install the HTTPRoute CRD and wait until it is served; return its name."""
    body = yaml.safe_load(GATEWAY_API_CRD.read_text())
    extensions = kubernetes.client.ApiextensionsV1Api(client)
    name: str = body["metadata"]["name"]
    extensions.patch_custom_resource_definition(
        name,
        body,
        field_manager="odoo-operator-tests",
        force=True,
        _content_type="application/apply-patch+yaml",
    )

    def established() -> bool:
        conditions = extensions.read_custom_resource_definition(name).status.conditions or []
        return any(c.type == "Established" and c.status == "True" for c in conditions)

    wait_for(established, timeout=DEADLINE)
    return name


def uninstall_gateway_api(client: kubernetes.client.ApiClient, name: str) -> None:
    """Delete the CRD (and with it every HTTPRoute); wait until it is gone."""
    extensions = kubernetes.client.ApiextensionsV1Api(client)
    try:
        extensions.delete_custom_resource_definition(name)
    except kubernetes.client.ApiException as err:
        if err.status != 404:
            raise

    def gone() -> bool:
        try:
            extensions.read_custom_resource_definition(name)
        except kubernetes.client.ApiException as err:
            if err.status == 404:
                return True
            raise
        return False

    wait_for(gone, timeout=DEADLINE)


def install_expandable_storage_class(client: kubernetes.client.ApiClient) -> bool:
    """The StorageClass `standard`, allowing volume expansion (as cloud default
    classes do); False when it was there already."""
    storage = kubernetes.client.StorageV1Api(client)
    body = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS},
        "provisioner": "example.com/sandbox",
        "allowVolumeExpansion": True,
    }
    try:
        storage.create_storage_class(body)
    except kubernetes.client.ApiException as err:
        if err.status != 409:
            raise
        return False
    return True


def delete_storage_class(client: kubernetes.client.ApiClient) -> None:
    kubernetes.client.StorageV1Api(client).delete_storage_class(STORAGE_CLASS)


def bind_claim(client: kubernetes.client.ApiClient, namespace: str, claim: str) -> str:
    """Play the PersistentVolume controller: a PV of the claim's size and class,
    bound to the claim (PV claimRef, PVC volumeName, PVC status Bound).
    Returns the PV's name; the caller deletes it (PVs are cluster-wide)."""
    core = kubernetes.client.CoreV1Api(client)
    pvc = core.read_namespaced_persistent_volume_claim(claim, namespace)
    size = pvc.spec.resources.requests["storage"]
    volume = f"pv-{namespace}-{claim}"[:63]
    core.create_persistent_volume(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": volume},
            "spec": {
                "capacity": {"storage": size},
                "accessModes": pvc.spec.access_modes,
                "storageClassName": pvc.spec.storage_class_name,
                "persistentVolumeReclaimPolicy": "Delete",
                "hostPath": {"path": f"/tmp/{volume}"},
                "claimRef": {
                    "kind": "PersistentVolumeClaim",
                    "namespace": namespace,
                    "name": claim,
                    "uid": pvc.metadata.uid,
                },
            },
        }
    )
    core.patch_persistent_volume_status(volume, {"status": {"phase": "Bound"}})
    core.patch_namespaced_persistent_volume_claim(
        claim, namespace, {"spec": {"volumeName": volume}}
    )
    core.patch_namespaced_persistent_volume_claim_status(
        claim,
        namespace,
        {
            "status": {
                "phase": "Bound",
                "accessModes": pvc.spec.access_modes,
                "capacity": {"storage": size},
            }
        },
    )
    return volume


def delete_volume(client: kubernetes.client.ApiClient, volume: str) -> None:
    """Delete a PV made by `bind_claim` and wait until it is gone. Admission gave
    it the kubernetes.io/pv-protection finalizer, and no pv-protection
    controller runs: play it (the volume is released) by removing the finalizer."""
    core = kubernetes.client.CoreV1Api(client)
    core.delete_persistent_volume(volume)
    try:
        core.patch_persistent_volume(volume, {"metadata": {"finalizers": None}})
    except kubernetes.client.ApiException as err:
        if err.status != 404:  # gone already: nothing held it
            raise

    def gone() -> bool:
        try:
            core.read_persistent_volume(volume)
        except kubernetes.client.ApiException as err:
            if err.status == 404:
                return True
            raise
        return False

    wait_for(gone, timeout=DEADLINE)
