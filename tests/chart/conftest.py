"""Fixtures of the chart tests: the helm CLI and a control plane of their own.

`helm` is the Helm CLI built from its Go module by scripts/dev/helm-binary
(or $ODOO_OPERATOR_HELM_BIN_DIR), run with its cache and config in a
throwaway directory. `chart_plane` is a control plane started for these
tests only, with no CRD installed (Helm installs the chart's), the CRDs of
cert-manager and of the Prometheus Operator's ServiceMonitor (tests/chart/crds/,
so the optional objects are validated by the API server too), and
`--enable-aggregator-routing`: the API server then calls a Service's webhook
at the addresses of its EndpointSlices, which tests/chart/test_install.py
points at a local watcher (there is no kube-proxy here). `chart_kubelet` is
its simulated kubelet, whose Job Pods run for real (the stand-in `odoo`
and the step scripts, as in tests/jobs).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import yaml

from sandbox import controlplane, kubelet, postgres, processes, s3
from tests.fixtures.jobs import local_runner

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "odoo-operator"
THIRD_PARTY_CRDS = Path(__file__).resolve().parent / "crds"
HELM_BIN_VARIABLE = "ODOO_OPERATOR_HELM_BIN_DIR"


def helm_binary() -> Path:
    """$ODOO_OPERATOR_HELM_BIN_DIR/helm, else what scripts/dev/helm-binary builds (cached)."""
    configured = os.environ.get(HELM_BIN_VARIABLE)
    if configured:
        directory = Path(configured)
    else:
        result = subprocess.run(
            ["bash", str(ROOT / "scripts" / "dev" / "helm-binary")],
            stdout=subprocess.PIPE,
            check=True,
        )
        directory = Path(result.stdout.decode().strip().splitlines()[-1])
    binary = directory / "helm"
    if not binary.is_file():
        raise processes.ServiceError(f"no helm in {directory}")
    return binary


class CommandFailed(AssertionError):
    """A helm or kubectl command exited non-zero; the message holds its stderr."""


@dataclass
class Helm:
    """The helm CLI against one kubeconfig (its own cache and config directories)."""

    binary: Path
    kubeconfig: Path
    home: Path

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        result = subprocess.run(
            [str(self.binary), *args], env=env, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise CommandFailed(
                f"helm {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
            )
        return result

    def values_file(self, values: dict[str, Any]) -> Path:
        path = self.home / f"values-{uuid.uuid4().hex[:8]}.yaml"
        path.write_text(yaml.safe_dump(values))
        return path

    def template(
        self, values: dict[str, Any], *, release: str = "odoo-operator", namespace: str = "ops"
    ) -> list[dict[str, Any]]:
        """`helm template` of the chart with `values`: the rendered objects."""
        out = self.run(
            "template", release, str(CHART), "--namespace", namespace,
            "--values", str(self.values_file(values)),
        ).stdout  # fmt: skip
        return [doc for doc in yaml.safe_load_all(out) if doc]


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> str:
    """kubectl (from .venv/bin) with `kubeconfig`; its stdout, or CommandFailed."""
    result = subprocess.run(
        [str(processes.find_binary("kubectl")), "--kubeconfig", str(kubeconfig), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise CommandFailed(
            f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stderr}"
        )
    return result.stdout


def objects_of(docs: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc.get("kind") == kind]


@pytest.fixture(scope="session")
def chart_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[controlplane.ControlPlane]:
    """A control plane for the chart tests only: no operator CRD, Service webhooks by endpoint."""
    plane = controlplane.ControlPlane(
        tmp_path_factory.mktemp("chart-plane"),
        durable=False,
        extra_apiserver_args=["--enable-aggregator-routing=true"],
    )
    plane.start()
    try:
        plane.install_crds(THIRD_PARTY_CRDS)
        yield plane
    finally:
        plane.stop()


@pytest.fixture(scope="session")
def helm(chart_plane: controlplane.ControlPlane) -> Iterator[Helm]:
    with tempfile.TemporaryDirectory(prefix="odoo-operator-helm-") as home:
        yield Helm(helm_binary(), chart_plane.kubeconfig, Path(home))


@pytest.fixture
def chart_admin(chart_plane: controlplane.ControlPlane) -> Iterator[kubernetes.client.ApiClient]:
    client = kubernetes.config.new_client_from_config(config_file=str(chart_plane.kubeconfig))
    try:
        yield client
    finally:
        client.close()


def create_namespace(client: kubernetes.client.ApiClient, name: str) -> None:
    core = kubernetes.client.CoreV1Api(client)
    try:
        core.create_namespace(
            kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name))
        )
    except kubernetes.client.ApiException as err:
        if err.status != 409:
            raise


@pytest.fixture
def fresh_namespaces(chart_admin: kubernetes.client.ApiClient) -> Iterator[list[str]]:
    """Three new namespace names (created on demand by create_namespace), deleted afterwards."""
    names = [f"chart-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    yield names
    core = kubernetes.client.CoreV1Api(chart_admin)
    for name in names:
        try:
            core.delete_namespace(name)
        except kubernetes.client.ApiException as err:
            if err.status != 404:
                raise


@pytest.fixture(scope="session")
def chart_kubelet(
    chart_plane: controlplane.ControlPlane,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[kubelet.KubeletThread]:
    """The simulated kubelet of the chart plane: Deployment Pods become Ready and Job
    Pods run for real (tests/fixtures/jobs.py): the init Job's stand-in `odoo -i`
    creates the database, the backup Job's step scripts upload to S3."""
    runner = local_runner(tmp_path_factory.mktemp("chart-pods"), postgres_server, s3_server)
    thread = kubelet.KubeletThread(
        chart_plane.url, chart_plane.admin_ssl_context(), job_runner=runner
    )
    thread.start()
    try:
        yield thread
    finally:
        thread.stop()


def decoded(secret: dict[str, Any], key: str) -> bytes:
    import base64

    return base64.b64decode(secret["data"][key])


def as_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
