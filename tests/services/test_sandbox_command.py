"""`odoo-operator sandbox` run as a separate process.

Covers:
- the banner appears, the Temporal UI answers HTTP 200, the kubeconfig and
  the mode-600 password file are written, the password never reaches stdout,
  and SIGINT stops everything (ports free again, PostgreSQL down) within a
  deadline with exit code 0;
- a taken port fails at once with a message naming the flag to change;
- an OdooInstance applied to the sandbox's API reaches Running (the
  in-process watcher, worker and simulated kubelet, real PostgreSQL), with no
  Warning Event (the simulated init Job creates the database).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from odoo_operator.sandbox import processes, run

STARTUP_DEADLINE_SECONDS = 60.0
STOP_DEADLINE_SECONDS = 30.0


def sandbox_command(state_dir: Path, ports: dict[str, int]) -> list[str]:
    cmd = [sys.executable, "-m", "odoo_operator.cli", "sandbox", "--state-dir", str(state_dir)]
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


@pytest.fixture
def sandbox(
    tmp_path: Path, state_dir: Path, ports: dict[str, int]
) -> Iterator[subprocess.Popen[bytes]]:
    out = tmp_path / "stdout.log"
    err = tmp_path / "stderr.log"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            sandbox_command(state_dir, ports),
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
    assert f"127.0.0.1:{ports['--temporal-port']}" in banner
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
    sandbox: subprocess.Popen[bytes], ports: dict[str, int]
) -> None:
    import kubernetes

    configuration = kubernetes.client.Configuration()
    configuration.host = f"http://127.0.0.1:{ports['--kube-port']}"
    with kubernetes.client.ApiClient(configuration) as client:
        api = kubernetes.client.CustomObjectsApi(client)
        api.create_namespaced_custom_object(
            "bemade.org",
            "v1alpha1",
            "default",
            "odooinstances",
            {
                "apiVersion": "bemade.org/v1alpha1",
                "kind": "OdooInstance",
                "metadata": {"name": "demo"},
                "spec": {"adminPassword": "pw", "ingress": {"hosts": ["demo.example.com"]}},
            },
        )

        def phase() -> str | None:
            body = api.get_namespaced_custom_object(
                "bemade.org", "v1alpha1", "default", "odooinstances", "demo"
            )
            return ((body.get("status") or {}).get("phase")) if isinstance(body, dict) else None

        processes.wait_until(
            lambda: phase() == "Running",
            timeout=STARTUP_DEADLINE_SECONDS,
            what=f"the instance Running (last phase: {phase()})",
            failure=lambda: None if sandbox.poll() is None else "the sandbox exited",
        )
        # The simulated init Job left a real database behind, so nothing is
        # reported missing: a sandbox run shows no Warning at all.
        events = kubernetes.client.CoreV1Api(client).list_namespaced_event("default").items
        warnings = [(e.reason, e.message) for e in events if e.type == "Warning"]
        assert warnings == []
        assert {e.reason for e in events} == {"PhaseChanged"}
