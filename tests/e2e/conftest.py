"""Fixtures of the end-to-end tier: every part of the operator in its own process.

Session-wide: the real control plane and its simulated kubelet
(tests.fixtures.kube), with `OdooInit` as the kubelet's job runner (init Job
Pods create their database as the instance's role, as Odoo's init does); the
Temporal dev server with its history in a sqlite file (a restart keeps it);
embedded PostgreSQL (tests.fixtures.services). Per test: a namespace that is
also the operator namespace (it holds the clusters Secret and the operator's
ServiceAccount), a task queue, and `odoo-operator watch` and
`odoo-operator worker` processes configured by flags and authenticated as a
ServiceAccount bound to charts/odoo-operator/files/rbac-rules.yaml only. Each
process logs to a file; the tails are attached to the report of a failed
test, and a request refused by RBAC fails the test.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path

import kubernetes
import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from activities import api
from sandbox import controlplane, kubelet, postgres, processes, temporal
from tests.e2e import cluster

LOGS = pytest.StashKey[list[Path]]()
"""Log files of the processes a test used, for its failure report."""


@pytest.fixture(scope="session")
def odoo_init(
    kube_kubelet: kubelet.KubeletThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[cluster.OdooInit]:
    """The session kubelet runs init Job Pods of the namespaces tests register."""
    with cluster.odoo_init(kube_kubelet, tmp_path_factory.mktemp("odoo-init")) as init:
        yield init


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
def kube(api_client: kubernetes.client.ApiClient) -> api.KubeApi:
    """The user's hands: writes under kubectl's field manager, not the operator's
    (the watcher tells the operator's own writes to a child by it)."""
    return api.KubeApi(api_client, field_manager="kubectl-edit")


def operator_env() -> dict[str, str]:
    """The environment of operator processes: ours, without ODOO_OPERATOR_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("ODOO_OPERATOR_")}


@pytest.fixture
def operator(
    request: pytest.FixtureRequest,
    control_plane: controlplane.ControlPlane,
    api_client: kubernetes.client.ApiClient,
    e2e_temporal: temporal.TemporalDevServer,
    postgres_server: postgres.EmbeddedPostgres,
    odoo_init: cluster.OdooInit,
    namespace: str,
    task_queue: str,
    tmp_path: Path,
) -> Iterator[cluster.Operator]:
    """`odoo-operator watch` and `odoo-operator worker` on the test namespace, ready.

    Teardown stops both with SIGTERM and fails the test unless both exit 0
    within STOP_TIMEOUT_SECONDS and no request of theirs was refused.
    """
    odoo_init.watch(namespace)
    request.node.stash[LOGS] = [
        tmp_path / "watcher.log",
        tmp_path / "worker.log",
        e2e_temporal.log_file,
    ]
    try:
        with cluster.running_operator(
            control_plane=control_plane,
            admin=api_client,
            temporal_server=e2e_temporal,
            database=postgres_server,
            operator_namespace=namespace,
            watch_namespaces=namespace,
            task_queue=task_queue,
            directory=tmp_path,
            env=operator_env(),
        ) as running:
            yield running
    finally:
        odoo_init.forget(namespace)


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
            if not path.exists():
                continue
            report.sections.append((f"log {path.name}", processes.tail(path, lines=60)))
    return report
