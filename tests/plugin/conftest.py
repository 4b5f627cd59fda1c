"""Fixtures of the plugin tier: `kubectl-odoo` as a user runs it, against a running operator.

Module-wide, to stay cheap: a namespace, its Job Pods run for real
(tests.fixtures.jobs: the step scripts and the stand-in odoo on the embedded
PostgreSQL and S3), the operator's worker on the Temporal dev server
(tests/jobs/harness.py: every real activity; the Updates wake the workflow
themselves, so no watcher is needed), an S3 bucket and credentials Secret, and
one Running instance `erp` the module's tests share. `Plugin` runs the
installed console script `kubectl-odoo` (or `kubectl odoo ...` through the
pinned kubectl, which finds it on PATH) as a subprocess, with the admin
kubeconfig in KUBECONFIG, the namespace in -n and the dev server in
TEMPORAL_ADDRESS, as the README tells a user to.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import kubernetes
import pytest
import pytest_asyncio
from temporalio.client import Client

from sandbox import controlplane, kubelet, podrunner, postgres, processes, s3, temporal
from tests.fixtures import jobs
from tests.fixtures.kube import wait_for
from tests.jobs import harness

COMMAND_TIMEOUT = 120.0
"""Deadline of one plugin command (those that --wait carry a shorter --timeout)."""


@dataclass
class Plugin:
    """The installed `kubectl-odoo`, run as a user runs it."""

    env: dict[str, str]
    namespace: str

    def run(
        self, *args: str, via_kubectl: bool = False, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`kubectl-odoo -n <namespace> <args>` (`kubectl odoo ...` with via_kubectl)."""
        if via_kubectl:
            argv = [str(processes.find_binary("kubectl")), "odoo", "-n", self.namespace, *args]
        else:
            argv = [str(processes.find_binary("kubectl-odoo")), "-n", self.namespace, *args]
        result = subprocess.run(
            argv, capture_output=True, text=True, env=self.env, timeout=COMMAND_TIMEOUT, check=False
        )
        if check and result.returncode != 0:
            command = " ".join(argv[1:])
            raise AssertionError(
                f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def __call__(self, *args: str, via_kubectl: bool = False) -> str:
        return self.run(*args, via_kubectl=via_kubectl).stdout


@pytest.fixture(scope="module")
def admin(
    control_plane: controlplane.ControlPlane, kube_kubelet: kubelet.KubeletThread
) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(control_plane.kubeconfig))
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def plugin_namespace(admin: kubernetes.client.ApiClient) -> Iterator[str]:
    """A namespace for the module, once its default ServiceAccount exists (Pods need it)."""
    name = f"plugin-{uuid.uuid4().hex[:8]}"
    core = kubernetes.client.CoreV1Api(admin)
    core.create_namespace(
        kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name))
    )
    wait_for(
        lambda: (
            core.list_namespaced_service_account(name, field_selector="metadata.name=default").items
        ),
        timeout=30.0,
    )
    try:
        yield name
    finally:
        core.delete_namespace(name)


@pytest.fixture(scope="module")
def plugin_pods(
    pod_router: jobs.PodRouter,
    plugin_namespace: str,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[podrunner.LocalPodRunner]:
    """The module's Job Pods run the step scripts for real (their logs kept for pods/log)."""
    runner = jobs.local_runner(tmp_path_factory.mktemp("plugin-pods"), postgres_server, s3_server)
    pod_router.runners[plugin_namespace] = runner
    try:
        yield runner
    finally:
        pod_router.runners.pop(plugin_namespace, None)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def plugin_operator(
    temporal_client: Client,
    admin: kubernetes.client.ApiClient,
    plugin_namespace: str,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    plugin_pods: podrunner.LocalPodRunner,
) -> AsyncIterator[harness.Operator]:
    task_queue = f"plugin-{uuid.uuid4().hex}"
    async with harness.operator(
        temporal_client,
        admin,
        plugin_namespace,
        task_queue,
        postgres_server,
        s3_server,
        plugin_pods,
    ) as running:
        yield running


@pytest.fixture(scope="module")
def bucket(s3_server: s3.S3Server) -> str:
    name = f"plugin-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(name)
    return name


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def erp(plugin_operator: harness.Operator) -> harness.Instance:
    """The module's Running instance, with an S3 credentials Secret beside it."""
    plugin_operator.s3_secret()
    return await plugin_operator.running_instance("erp", replicas=1)


@pytest.fixture(scope="module")
def plugin(
    control_plane: controlplane.ControlPlane,
    temporal_dev_server: temporal.TemporalDevServer,
    postgres_server: postgres.EmbeddedPostgres,
    plugin_namespace: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Plugin:
    """`kubectl-odoo` with the environment a user sets: KUBECONFIG, TEMPORAL_ADDRESS, and a
    PATH holding the package's scripts (kubectl finds the plugin there) and psql."""
    venv_bin = processes.find_binary("kubectl-odoo").parent
    path = os.pathsep.join([str(venv_bin), str(postgres_server.bin_dir), os.environ["PATH"]])
    env = {
        **{
            k: v for k, v in os.environ.items() if not k.startswith(("ODOO_OPERATOR_", "TEMPORAL_"))
        },
        "PATH": path,
        "KUBECONFIG": str(control_plane.kubeconfig),
        "KUBECACHEDIR": str(tmp_path_factory.mktemp("kube-cache")),
        "TEMPORAL_ADDRESS": temporal_dev_server.address,
        "HOME": str(tmp_path_factory.mktemp("home")),
    }
    return Plugin(env, plugin_namespace)


def s3_flags(server: s3.S3Server) -> list[str]:
    """Where the module's backups go, as a user without spec.backup names it."""
    return ["--endpoint", server.endpoint, "--s3-secret", "s3-credentials"]
