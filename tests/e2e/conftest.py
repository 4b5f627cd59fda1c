"""Fixtures of the end-to-end tier: every part of the operator in its own process.

Session-wide: the API emulator process (CRDs registered) and the Temporal dev
server with its history in a sqlite file (a restart keeps it); embedded
PostgreSQL comes from tests.fixtures.services. Per test: a namespace that is
also the operator namespace (it holds the clusters Secret), a task queue,
`odoo-operator watch` and `odoo-operator worker` processes configured by
flags, and the test's Kubelet thread. Each process logs to a file; the tails
of all of them are attached to the report of a failed test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import kubernetes
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities import api
from odoo_operator.sandbox import postgres, processes, temporal
from tests.activities import kube_instance as ki
from tests.e2e import cluster
from tests.fixtures.kube import CRD_DIR

LOGS = pytest.StashKey[list[Path]]()
"""Log files of the processes a test used, for its failure report."""


@dataclass
class E2EKube:
    url: str
    kubeconfig: Path
    log_file: Path


@pytest.fixture(scope="session")
def e2e_kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EKube]:
    """The API emulator in a process of its own."""
    directory = tmp_path_factory.mktemp("e2e-kube")
    log_file = directory / "emulator.log"
    process, url = cluster.start_emulator(CRD_DIR, log_file)
    try:
        yield E2EKube(url, cluster.write_kubeconfig(directory / "kubeconfig", url), log_file)
    finally:
        processes.stop_process(process, timeout=cluster.STOP_TIMEOUT_SECONDS)
        if process.stdout is not None:
            process.stdout.close()


@pytest.fixture(scope="session")
def e2e_temporal(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[temporal.TemporalDevServer]:
    """A dev server whose history survives stop()/start() (sqlite file)."""
    directory = tmp_path_factory.mktemp("e2e-temporal")
    server = temporal.TemporalDevServer(
        headless=True, db_file=directory / "temporal.sqlite", log_file=directory / "temporal.log"
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest_asyncio.fixture(loop_scope="session")
async def e2e_client(e2e_temporal: temporal.TemporalDevServer) -> Client:
    return await Client.connect(
        e2e_temporal.address,
        namespace=e2e_temporal.namespace,
        data_converter=pydantic_data_converter,
    )


@pytest.fixture
def api_client(e2e_kube: E2EKube) -> Iterator[kubernetes.client.ApiClient]:
    """The official client, on the emulator process (the `namespace` fixture uses it)."""
    configuration = kubernetes.client.Configuration()
    configuration.host = e2e_kube.url
    client = kubernetes.client.ApiClient(configuration)
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def kube(api_client: kubernetes.client.ApiClient) -> api.KubeApi:
    return api.KubeApi(api_client)


@dataclass
class Operator:
    watcher: cluster.OperatorProcess
    worker: cluster.OperatorProcess


@pytest.fixture
def operator(
    request: pytest.FixtureRequest,
    e2e_kube: E2EKube,
    e2e_temporal: temporal.TemporalDevServer,
    postgres_server: postgres.EmbeddedPostgres,
    kube: api.KubeApi,
    namespace: str,
    task_queue: str,
    tmp_path: Path,
) -> Iterator[Operator]:
    """`odoo-operator watch` and `odoo-operator worker`, started and ready.

    Teardown stops both with SIGTERM and fails the test unless both exit 0
    within STOP_TIMEOUT_SECONDS.
    """
    ki.create_clusters_secret(kube, namespace, ki.ClusterAddress.of(postgres_server))
    args = [
        "--temporal-address",
        e2e_temporal.address,
        "--task-queue",
        task_queue,
        "--operator-namespace",
        namespace,
        "--clusters-secret",
        ki.CLUSTERS_SECRET,
        "--watch-namespaces",
        namespace,
        "--webhook-enabled",
        "false",
        "--pod-name",
        "e2e",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODOO_OPERATOR_")}
    env["KUBECONFIG"] = str(e2e_kube.kubeconfig)
    watcher = cluster.OperatorProcess("watch", args, env, tmp_path / "watcher.log")
    worker = cluster.OperatorProcess("worker", args, env, tmp_path / "worker.log")
    request.node.stash[LOGS] = [
        watcher.log_file,
        worker.log_file,
        e2e_temporal.log_file,
        e2e_kube.log_file,
    ]
    codes: dict[str, int] = {}
    try:
        worker.start()
        watcher.start()
        yield Operator(watcher, worker)
    finally:
        codes = {"watcher": watcher.stop(), "worker": worker.stop()}
    # 0: SIGTERM was handled (graceful stop, or the bounded exit after the grace
    # period); -15 would mean no handler, -9 that it had to be killed.
    assert codes == {"watcher": 0, "worker": 0}, (
        f"not stopped cleanly by SIGTERM within {cluster.STOP_TIMEOUT_SECONDS} s: {codes}"
    )


@pytest.fixture
def kubelet(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    postgres_server: postgres.EmbeddedPostgres,
) -> Iterator[cluster.Kubelet]:
    with cluster.Kubelet(api_client, namespace, postgres_server) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def temporal_down_then_up(
    e2e_temporal: temporal.TemporalDevServer,
) -> AsyncIterator[temporal.TemporalDevServer]:
    """The dev server, started again at teardown should a test leave it stopped."""
    yield e2e_temporal
    if not e2e_temporal.running:
        e2e_temporal.start()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and LOGS in item.stash:
        for path in item.stash[LOGS]:
            report.sections.append((f"log {path.name}", processes.tail(path, lines=60)))
    return report
