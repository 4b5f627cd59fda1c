"""The chart installed, used, upgraded and uninstalled with the helm CLI, as a user does.

One release for the module, in order (each test builds on the previous):

- The README's "Production install" with its own commands (the namespace,
  the clusters Secret from clusters.yaml, `helm install --values --wait`) on
  a control plane with no CRD: the five CRDs Established, the
  ServiceAccount, ClusterRole and binding, the webhook's Service, Secret and
  ValidatingWebhookConfiguration, both Deployments available; the chart's
  notes (`helm status`) tell how to list instances, open the Temporal UI
  and back up; `kubectl auth can-i` as the ServiceAccount allows what the
  operator does and refuses what it never does.
- The operator under the chart's credentials alone: `odoo-operator watch` and
  `odoo-operator worker` started from the installed Deployments (their args,
  ConfigMap, Secret volumes) with a `kubectl create token` of the chart's
  ServiceAccount, against a Temporal dev server started WITHOUT the search
  attributes (the worker adds them). The API server calls the webhook through
  the chart's Service, certificate and caBundle (an EndpointSlice stands in
  for kube-proxy). An OdooInstance applied with kubectl goes to Running, a
  shrinking storageSize is refused by the webhook, it is backed up to S3 both
  ways the notes show (an OdooBackupJob applied with kubectl, the `backup`
  Update sent with the temporal CLI), and deleting the instance drops its
  database and role; no request was refused (no Forbidden in the
  logs); the Lease names the local watcher (the README's check).
- `helm upgrade` with a changed value rolls both Deployments (new
  ReplicaSets, the config checksum moved) and keeps the webhook's CA and
  certificate; an upgrade with the same values rolls nothing.
- CRDs: `helm upgrade` leaves an older CRD as it is; the documented step
  (`helm show crds | kubectl apply --server-side --force-conflicts -f -`)
  brings the new one.
- `helm uninstall` removes the operator and leaves the CRDs and the
  instances in place.
"""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import psycopg
import pytest
import yaml
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from model import naming
from sandbox import controlplane, kubelet, postgres, processes, s3, temporal
from tests.chart.conftest import CHART, Helm, create_namespace, kubectl
from tests.chart.operator_pods import OperatorPod, host_address, serve_service_locally
from tests.fixtures.kube import wait_for, wait_for_phase

RELEASE = "odoo-operator"
CRDS = (
    "odooinstances.bemade.org",
    "odooinitjobs.bemade.org",
    "odooupgradejobs.bemade.org",
    "odoorestorejobs.bemade.org",
    "odoobackupjobs.bemade.org",
)
LIFECYCLE_DEADLINE = 120.0
"""Running, from kubectl apply: Temporal, the webhook, two processes and the simulated
kubelet on a loaded 2-core machine (a deadline, not a timing)."""


@dataclass
class Release:
    namespace: str
    helm: Helm
    admin: kubernetes.client.ApiClient
    kubeconfig: Path
    temporal: temporal.TemporalDevServer

    def upgrade(self, *values: str) -> None:
        args = [item for value in values for item in ("--set", value)]
        self.helm.run(
            "upgrade", RELEASE, str(CHART), "--namespace", self.namespace,
            "--reuse-values", "--wait", "--timeout", "3m", *args,
        )  # fmt: skip


@pytest.fixture(scope="module")
def bare_temporal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[temporal.TemporalDevServer]:
    """Temporal as a fresh production server is: no custom search attribute."""
    server = temporal.TemporalDevServer(
        headless=True,
        search_attributes={},
        log_file=tmp_path_factory.mktemp("chart-temporal") / "temporal.log",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def release(
    helm: Helm,
    chart_plane: controlplane.ControlPlane,
    chart_kubelet: kubelet.KubeletThread,
    bare_temporal: temporal.TemporalDevServer,
    postgres_server: postgres.EmbeddedPostgres,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Release]:
    """The README's "Production install", steps 2 and 3, with its commands: the
    namespace, the clusters Secret from a clusters.yaml file, `helm install` with a
    values file naming Temporal (step 1 is the dev server, started bare)."""
    namespace = f"ops-{uuid.uuid4().hex[:8]}"
    work = tmp_path_factory.mktemp("readme")
    kubeconfig = chart_plane.kubeconfig
    kubectl(kubeconfig, "create", "namespace", namespace)
    clusters = work / "clusters.yaml"
    clusters.write_text(clusters_yaml(postgres_server))
    kubectl(
        kubeconfig, "-n", namespace, "create", "secret", "generic", "postgres-clusters",
        f"--from-file={clusters}",
    )  # fmt: skip
    values = work / "operator-values.yaml"
    values.write_text(
        yaml.safe_dump(
            {"temporal": {"address": bare_temporal.address, "namespace": bare_temporal.namespace}}
        )
    )
    helm.run(
        "install", RELEASE, str(CHART), "--namespace", namespace, "--values", str(values),
        "--wait", "--timeout", "3m",
    )  # fmt: skip
    admin = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))
    try:
        yield Release(namespace, helm, admin, chart_plane.kubeconfig, bare_temporal)
    finally:
        helm.run("uninstall", RELEASE, "--namespace", namespace, check=False)
        admin.close()


@dataclass
class Operator:
    watcher: OperatorPod
    worker: OperatorPod
    instances: str
    """A namespace for the test instances (the release watches every namespace)."""

    def stop(self) -> None:
        self.watcher.stop()
        self.worker.stop()

    def logs(self) -> str:
        return self.watcher.log() + self.worker.log()


def clusters_yaml(server: postgres.EmbeddedPostgres) -> str:
    """The README's clusters.yaml: one default cluster, the embedded server."""
    clusters = {
        "main": {
            "host": server.host,
            "port": server.port,
            "adminUser": server.admin_user,
            "adminPassword": server.admin_password,
            "default": True,
        }
    }
    return yaml.safe_dump(clusters)


@pytest.fixture(scope="module")
def operator(
    release: Release,
    chart_plane: controlplane.ControlPlane,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Operator]:
    """The chart's watcher and worker as local processes with the chart's credentials only."""
    address = host_address()
    if address is None:
        pytest.skip("no non-loopback IPv4 address: the API server could not reach the webhook")
    token = kubectl(
        release.kubeconfig, "create", "token", RELEASE, "--namespace", release.namespace,
        "--duration", "2h",
    ).strip()  # fmt: skip
    work = tmp_path_factory.mktemp("chart-operator")
    credentials = chart_plane.write_kubeconfig(work / "operator.kubeconfig", token=token)
    pods = {
        component: OperatorPod.from_deployment(
            release.admin,
            release.namespace,
            f"{RELEASE}-{component}",
            pod_name=f"{RELEASE}-{component}-local",
            kubeconfig=credentials,
            work_dir=work,
        )
        for component in ("watcher", "worker")
    }
    serve_service_locally(
        release.admin,
        release.namespace,
        f"{RELEASE}-webhook",
        address,
        {"webhook": pods["watcher"].webhook_port},
    )
    instances = f"shop-{uuid.uuid4().hex[:8]}"
    create_namespace(release.admin, instances)
    running = Operator(pods["watcher"], pods["worker"], instances)
    try:
        running.worker.start()
        running.watcher.start()
        yield running
    finally:
        running.stop()


def instance_body(name: str, size: str = "2Gi") -> dict[str, Any]:
    return {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "OdooInstance",
        "metadata": {"name": name},
        "spec": {
            "adminPassword": "change-me",
            "ingress": {"hosts": [f"{name}.example.com"]},
            "filestore": {"storageSize": size},
            "init": {"enabled": True},
        },
    }


def apply(kubeconfig: Path, namespace: str, body: dict[str, Any]) -> str:
    return kubectl(
        kubeconfig, "apply", "--namespace", namespace, "-f", "-", stdin=yaml.safe_dump(body)
    )


def objects(client: kubernetes.client.ApiClient) -> kubernetes.client.CustomObjectsApi:
    return kubernetes.client.CustomObjectsApi(client)


def find_instance(client: kubernetes.client.ApiClient, namespace: str, name: str) -> Any:
    try:
        return objects(client).get_namespaced_custom_object(
            naming.API_GROUP, naming.API_VERSION, namespace, "odooinstances", name
        )
    except kubernetes.client.ApiException as err:
        if err.status == 404:
            return None
        raise


def exists(server: postgres.EmbeddedPostgres, query: str, name: str) -> bool:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        return conn.execute(query, (name,)).fetchone() is not None


def backup_job(client: kubernetes.client.ApiClient, namespace: str, name: str) -> Any:
    """The OdooBackupJob once it finished (Completed or Failed), else None."""
    job = objects(client).get_namespaced_custom_object(
        naming.API_GROUP, naming.API_VERSION, namespace, "odoobackupjobs", name
    )
    return job if (job.get("status") or {}).get("phase") in ("Completed", "Failed") else None


async def back_up_both_ways(
    release: Release, namespace: str, name: str, s3_server: s3.S3Server
) -> None:
    """The chart notes' two ways to back up, each uploading to S3 and Completed: an
    OdooBackupJob applied with kubectl, and the workflow's `backup` Update sent with
    the temporal CLI (answering with the OdooBackupJob it made)."""
    bucket = f"backups-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(bucket)
    kubectl(
        release.kubeconfig, "-n", namespace, "create", "secret", "generic", "s3-credentials",
        f"--from-literal=accessKey={s3_server.access_key}",
        f"--from-literal=secretKey={s3_server.secret_key}",
    )  # fmt: skip
    destination = {
        "bucket": bucket,
        "endpoint": s3_server.endpoint,
        "s3CredentialsSecretRef": {"name": "s3-credentials"},
    }
    body = {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "OdooBackupJob",
        "metadata": {"name": f"{name}-backup-1"},
        "spec": {
            "odooInstanceRef": {"name": name},
            "destination": {**destination, "objectKey": f"{name}/backup-1.zip"},
        },
    }
    await asyncio.to_thread(apply, release.kubeconfig, namespace, body)
    request = {"destination": {**destination, "objectKey": f"{name}/now.sql"}, "format": "sql"}
    answer = await asyncio.to_thread(
        subprocess.run,
        [
            str(processes.find_binary("temporal")), "workflow", "update", "execute",
            "--address", release.temporal.address, "--namespace", release.temporal.namespace,
            "--workflow-id", naming.workflow_id(namespace, name), "--name", "backup",
            "--input", json.dumps(request), "--output", "json",
        ],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert answer.returncode == 0, answer.stderr
    answered = json.loads(answer.stdout)
    by_update = answered.get("result", answered)["name"]
    made = ((f"{name}-backup-1", f"{name}/backup-1.zip"), (by_update, f"{name}/now.sql"))
    for job_name, key in made:
        done = await asyncio.to_thread(
            wait_for,
            lambda job_name=job_name: backup_job(release.admin, namespace, job_name),
            LIFECYCLE_DEADLINE,
        )
        assert done["status"]["phase"] == "Completed", done["status"]
        assert s3_server.client().head_object(bucket, key) is not None, key


# --- install --------------------------------------------------------------------------------


def test_install_establishes_the_crds_and_creates_rbac_and_the_webhook(release: Release) -> None:
    extensions = kubernetes.client.ApiextensionsV1Api(release.admin)
    for name in CRDS:
        crd = extensions.read_custom_resource_definition(name)
        assert crd.metadata.annotations is None or "meta.helm.sh/release-name" not in (
            crd.metadata.annotations
        )  # from crds/: Helm never owns, upgrades or deletes them
        assert any(c.type == "Established" and c.status == "True" for c in crd.status.conditions)
    rbac_api = kubernetes.client.RbacAuthorizationV1Api(release.admin)
    assert rbac_api.read_cluster_role(RELEASE).rules
    binding = rbac_api.read_cluster_role_binding(RELEASE)
    assert [(s.name, s.namespace) for s in binding.subjects] == [(RELEASE, release.namespace)]
    assert rbac_api.read_namespaced_role(RELEASE, release.namespace).rules
    registration = kubernetes.client.AdmissionregistrationV1Api(release.admin)
    webhooks = registration.read_validating_webhook_configuration(RELEASE).webhooks
    assert [w.client_config.service.name for w in webhooks] == [f"{RELEASE}-webhook"] * 2
    apps = kubernetes.client.AppsV1Api(release.admin)
    for component in ("watcher", "worker"):
        deployment = apps.read_namespaced_deployment(f"{RELEASE}-{component}", release.namespace)
        assert deployment.status.available_replicas == deployment.spec.replicas == 2

    account = f"system:serviceaccount:{release.namespace}:{RELEASE}"

    def can(verb: str, resource: str, namespace: str | None = None) -> bool:
        where = ["--namespace", namespace] if namespace else ["--all-namespaces"]
        result = subprocess.run(
            [str(processes.find_binary("kubectl")), "--kubeconfig", str(release.kubeconfig),
             "auth", "can-i", verb, resource, "--as", account, *where],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        return result.stdout.strip() == "yes"

    assert can("patch", "odooinstances.bemade.org")
    assert can("watch", "deployments.apps")
    assert can("update", "leases/odoo-operator-watcher", release.namespace)
    assert not can("update", "leases/odoo-operator-watcher", "default")  # its namespace only
    notes = release.helm.run("status", RELEASE, "--namespace", release.namespace).stdout
    for hint in (
        "kubectl get odooinstances -A",
        "port-forward svc/temporal-web",
        "OdooBackupJob",
        "temporal workflow update execute",
        "--name backup",
    ):
        assert hint in notes
    for verb, resource in (
        ("delete", "deployments.apps"),
        ("update", "odooinstances.bemade.org"),
        ("delete", "secrets"),
        ("create", "pods"),
        ("list", "nodes"),
    ):
        assert not can(verb, resource), f"{verb} {resource}"


# --- the operator under the chart's credentials ---------------------------------------------


async def test_an_instance_runs_and_is_deleted_with_its_database_under_the_chart_credentials(
    release: Release,
    operator: Operator,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
) -> None:
    name, namespace = "erp", operator.instances
    await asyncio.to_thread(apply, release.kubeconfig, namespace, instance_body(name))

    live = await asyncio.to_thread(
        wait_for_phase, release.admin, namespace, name, "Running", LIFECYCLE_DEADLINE
    )
    database = naming.database_name(live["metadata"]["uid"])
    role = naming.role_name(namespace, name)
    assert exists(postgres_server, "SELECT 1 FROM pg_database WHERE datname = %s", database)

    # The webhook, reached by the API server through the chart's Service and caBundle.
    with pytest.raises(AssertionError, match="denied the request"):
        await asyncio.to_thread(apply, release.kubeconfig, namespace, instance_body(name, "1Gi"))

    # The worker registered the search attributes on a server that had none.
    client = await Client.connect(release.temporal.address, namespace=release.temporal.namespace)
    listing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=client.namespace)
    )
    assert {"OdooPhase", "OdooNamespace", "OdooInstanceName", "OdooImage"} <= set(
        listing.custom_attributes
    )
    found = [w.id async for w in client.list_workflows('OdooPhase="Running"')]
    assert naming.workflow_id(namespace, name) in found

    await back_up_both_ways(release, namespace, name, s3_server)

    await asyncio.to_thread(
        kubectl, release.kubeconfig, "delete", "odooinstance", name, "--namespace", namespace,
        "--wait=false",
    )  # fmt: skip
    await asyncio.to_thread(
        wait_for, lambda: find_instance(release.admin, namespace, name) is None, LIFECYCLE_DEADLINE
    )
    assert not exists(postgres_server, "SELECT 1 FROM pg_database WHERE datname = %s", database)
    assert not exists(postgres_server, "SELECT 1 FROM pg_roles WHERE rolname = %s", role)
    assert "Forbidden" not in operator.logs()
    # The README's check of the active watcher.
    lease = kubectl(
        release.kubeconfig, "-n", release.namespace, "get", "lease", "odoo-operator-watcher",
        "-o", "jsonpath={.spec.holderIdentity}",
    )  # fmt: skip
    assert lease.startswith(operator.watcher.name + "_")


# --- upgrade --------------------------------------------------------------------------------


def rollout_state(release: Release) -> dict[str, tuple[str, str | None]]:
    """Per Deployment: its config checksum and its webhook certificate checksum."""
    apps = kubernetes.client.AppsV1Api(release.admin)
    state = {}
    for component in ("watcher", "worker"):
        deployment = apps.read_namespaced_deployment(f"{RELEASE}-{component}", release.namespace)
        annotations = deployment.spec.template.metadata.annotations
        state[component] = (annotations["checksum/config"], annotations.get("checksum/webhook-tls"))
    return state


def replica_sets(release: Release, component: str) -> dict[str, int]:
    """pod-template-hash -> replicas of the component's ReplicaSets."""
    apps = kubernetes.client.AppsV1Api(release.admin)
    listing = apps.list_namespaced_replica_set(
        release.namespace, label_selector=f"app.kubernetes.io/component={component}"
    )
    return {
        rs.metadata.labels["pod-template-hash"]: int(rs.spec.replicas or 0) for rs in listing.items
    }


def webhook_tls(release: Release) -> tuple[bytes, bytes, str]:
    """(tls.crt, ca.crt of the Secret, caBundle of the webhook configuration)."""
    secret = kubernetes.client.CoreV1Api(release.admin).read_namespaced_secret(
        f"{RELEASE}-webhook-tls", release.namespace
    )
    registration = kubernetes.client.AdmissionregistrationV1Api(release.admin)
    webhooks = registration.read_validating_webhook_configuration(RELEASE).webhooks
    bundles = {w.client_config.ca_bundle for w in webhooks}
    assert len(bundles) == 1
    return (
        base64.b64decode(secret.data["tls.crt"]),
        base64.b64decode(secret.data["ca.crt"]),
        bundles.pop(),
    )


def test_upgrade_rolls_the_operator_and_keeps_the_webhook_certificate_when_a_value_changes(
    release: Release,
) -> None:
    before, tls_before = rollout_state(release), webhook_tls(release)
    sets_before = {c: replica_sets(release, c) for c in ("watcher", "worker")}

    release.upgrade("defaults.image=odoo:19.0")

    after = rollout_state(release)
    for component in ("watcher", "worker"):
        assert after[component][0] != before[component][0]  # config checksum moved
        # The Deployment controller rolled it: a new ReplicaSet holds every replica.
        current = wait_for(
            lambda c=component: (
                (sets := replica_sets(release, c))
                and len(sets) == len(sets_before[c]) + 1
                and sum(n for h, n in sets.items() if h not in sets_before[c]) == 2
                and all(sets[h] == 0 for h in sets_before[c])
                and sets
            ),
            timeout=60.0,
            interval=0.2,
        )
        assert current
    assert after["watcher"][1] == before["watcher"][1]  # same certificate checksum
    assert webhook_tls(release) == tls_before
    config = kubernetes.client.CoreV1Api(release.admin).read_namespaced_config_map(
        f"{RELEASE}-config", release.namespace
    )
    assert config.data["ODOO_OPERATOR_DEFAULT_IMAGE"] == "odoo:19.0"

    # The same values again: nothing rolls, nothing is regenerated.
    settled = {c: replica_sets(release, c) for c in ("watcher", "worker")}
    release.upgrade()
    assert rollout_state(release) == after
    assert {c: replica_sets(release, c) for c in ("watcher", "worker")} == settled
    assert webhook_tls(release) == tls_before


def test_crds_are_upgraded_by_the_documented_step_and_not_by_helm_upgrade(
    release: Release, tmp_path: Path
) -> None:
    extensions = kubernetes.client.ApiextensionsV1Api(release.admin)

    def spec_properties() -> set[str]:
        crd = extensions.read_custom_resource_definition("odooinstances.bemade.org")
        schema = crd.spec.versions[0].schema.open_apiv3_schema
        return set(schema.properties["spec"].properties)

    current = spec_properties()
    older = yaml.safe_load((CHART / "crds" / "bemade.org_odooinstances.yaml").read_text())
    del older["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
        "properties"
    ]["configOptions"]  # a field "a later chart version added"
    kubectl(
        release.kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-",
        stdin=yaml.safe_dump(older),
    )  # fmt: skip
    assert spec_properties() == current - {"configOptions"}

    release.upgrade()
    assert spec_properties() == current - {"configOptions"}  # Helm left it alone

    crds = release.helm.run("show", "crds", str(CHART)).stdout
    kubectl(
        release.kubeconfig, "apply", "--server-side", "--force-conflicts", "-f", "-", stdin=crds
    )
    assert spec_properties() == current


# --- uninstall ------------------------------------------------------------------------------


def test_uninstall_leaves_the_crds_and_the_instances(release: Release, operator: Operator) -> None:
    name, namespace = "kept", operator.instances
    apply(release.kubeconfig, namespace, instance_body(name))
    wait_for_phase(release.admin, namespace, name, "Running", LIFECYCLE_DEADLINE)
    operator.stop()

    release.helm.run("uninstall", RELEASE, "--namespace", release.namespace, "--wait")

    extensions = kubernetes.client.ApiextensionsV1Api(release.admin)
    assert {c.metadata.name for c in extensions.list_custom_resource_definition().items} >= set(
        CRDS
    )
    kept = find_instance(release.admin, namespace, name)
    assert kept is not None
    assert kept["status"]["phase"] == "Running"
    apps = kubernetes.client.AppsV1Api(release.admin)
    assert apps.list_namespaced_deployment(release.namespace).items == []
    rbac_api = kubernetes.client.RbacAuthorizationV1Api(release.admin)
    with pytest.raises(kubernetes.client.ApiException, match="404"):
        rbac_api.read_cluster_role(RELEASE)
    registration = kubernetes.client.AdmissionregistrationV1Api(release.admin)
    with pytest.raises(kubernetes.client.ApiException, match="404"):
        registration.read_validating_webhook_configuration(RELEASE)
    # Without the operator nothing removes its finalizer: let the namespace go.
    objects(release.admin).patch_namespaced_custom_object(
        naming.API_GROUP, naming.API_VERSION, namespace, "odooinstances", name,
        {"metadata": {"finalizers": None}},
    )  # fmt: skip
