"""The e2e cluster's moving parts: operator processes, the API emulator process
and the test's stand-in for the kubelet and Odoo's init.

Not a test module. `OperatorProcess` runs `odoo-operator watch|worker` as a
child process (flags for every setting, KUBECONFIG in its environment, its
output appended to one log file across restarts); `start_emulator` runs
`python -m odoo_operator.sandbox.emulator` and reads its URL from the first
stdout line; `Kubelet` is a thread that marks Deployments ready and Jobs
succeeded (creating the database as the instance's role first, as Odoo's
init does), and can hold Jobs to freeze instances mid-init.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import kubernetes
import psycopg
import yaml

from activities import api, failures
from odoo_operator import runner
from odoo_operator.model import naming
from odoo_operator.model.payloads import InstanceRef
from odoo_operator.sandbox import kubelet, postgres, processes
from tests.activities import kube_instance as ki

START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = runner.SHUTDOWN_GRACE_SECONDS + 5.0
"""SIGTERM must end an operator process within its grace period plus a margin
(else it is killed: a failure)."""


class OperatorProcess:
    """`odoo-operator <command>` as a child process that can be killed and restarted."""

    def __init__(
        self, command: str, args: Sequence[str], env: dict[str, str], log_file: Path
    ) -> None:
        self.command = command
        self.probe_port = processes.free_port()
        self.argv = [
            str(processes.find_binary("odoo-operator")),
            command,
            *args,
            "--probe-port",
            str(self.probe_port),
        ]
        self.env = env
        self.log_file = log_file
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait_ready: bool = True) -> None:
        with self.log_file.open("ab") as log:
            log.write(f"=== start {' '.join(self.argv[1:])}\n".encode())
            log.flush()
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        if wait_ready:
            processes.wait_until(
                self.ready,
                timeout=START_TIMEOUT_SECONDS,
                what=f"odoo-operator {self.command} ready",
                failure=self._exited,
            )

    def ready(self) -> bool:
        try:
            url = f"http://{processes.LOCALHOST}:{self.probe_port}/readyz"
            with urllib.request.urlopen(url, timeout=1.0) as response:
                status: int = response.status
                return status == 200
        except (urllib.error.URLError, OSError):
            return False

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup of any kind."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        self._note(f"=== killed (SIGKILL), exit {self.process.returncode}")

    def stop(self) -> int:
        """SIGTERM; return the exit code (-9 when it had to be killed after the timeout)."""
        if self.process is None:
            return 0
        code = processes.stop_process(self.process, timeout=STOP_TIMEOUT_SECONDS)
        self._note(f"=== stopped (SIGTERM), exit {code}")
        self.process = None
        return code

    def _note(self, line: str) -> None:
        with self.log_file.open("a") as log:
            log.write(line + "\n")

    def _exited(self) -> str | None:
        if self.process is None or self.process.poll() is None:
            return None
        return f"exited with {self.process.returncode}:\n{processes.tail(self.log_file)}"


def start_emulator(crd_dir: Path, log_file: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The API emulator as a process; returns it and its URL (its first stdout line)."""
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "odoo_operator.sandbox.emulator",
                "--port",
                str(processes.free_port()),
                "--crd-dir",
                str(crd_dir),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    assert process.stdout is not None
    url = process.stdout.readline().decode().strip()
    if not url.startswith("http"):
        processes.stop_process(process, timeout=STOP_TIMEOUT_SECONDS)
        raise processes.ServiceError(f"emulator did not start:\n{processes.tail(log_file)}")
    return process, url


def write_kubeconfig(path: Path, url: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "emulator", "cluster": {"server": url}}],
        "users": [{"name": "emulator", "user": {"token": "emulator"}}],
        "contexts": [{"name": "emulator", "context": {"cluster": "emulator", "user": "emulator"}}],
        "current-context": "emulator",
    }
    path.write_text(yaml.safe_dump(config))
    return path


class Kubelet:
    """Plays the kubelet, the Deployment and Job controllers and Odoo's init, in a thread.

    Each round lists the namespace's Jobs and Deployments: a Job not yet
    succeeded gets its instance's database (created as the instance's role)
    and then a succeeded status, unless Jobs are held; a Deployment whose
    status lags its spec (generation or replicas) is marked ready at
    spec.replicas.
    """

    POLL_SECONDS = 0.1
    """Period of a round: a condition poll, not a timing guess."""

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        namespace: str,
        database: postgres.EmbeddedPostgres,
    ) -> None:
        self.api_client = api_client
        self.kube = api.KubeApi(api_client)
        self.namespace = namespace
        self.database = database
        self.hold_jobs = threading.Event()
        self.errors: list[str] = []
        self._initialized: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="e2e-kubelet", daemon=True)

    def __enter__(self) -> Kubelet:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._round()
            except (
                kubernetes.client.ApiException,
                failures.ApiError,
                OSError,
                ValueError,
                psycopg.Error,
            ) as err:  # objects come and go under us; the next round sees the new state
                self.errors.append(repr(err))
            self._stop.wait(self.POLL_SECONDS)

    def _round(self) -> None:
        ns = self.namespace
        if not self.hold_jobs.is_set():
            for job in self.kube.list_of(api.JOB, ns):
                status = job.get("status") or {}
                if status.get("succeeded") or job["metadata"].get("deletionTimestamp"):
                    continue
                instance = job["metadata"].get("labels", {}).get(naming.INSTANCE_LABEL)
                if instance:
                    self._init_database(instance)
                kubelet.fake_job_succeeded(self.api_client, ns, job["metadata"]["name"])
        for deployment in self.kube.list_of(api.DEPLOYMENT, ns):
            meta, status = deployment["metadata"], deployment.get("status") or {}
            replicas = int(deployment["spec"].get("replicas", 1))
            if meta.get("deletionTimestamp") or (
                status.get("observedGeneration") == meta.get("generation")
                and int(status.get("readyReplicas", 0)) == replicas
            ):
                continue
            kubelet.fake_deployment_ready(self.api_client, ns, meta["name"], replicas)

    def _init_database(self, name: str) -> None:
        if name in self._initialized:
            return
        body: dict[str, Any] = self.kube.get(api.INSTANCE, self.namespace, name)
        ref = InstanceRef(namespace=self.namespace, name=name, uid=body["metadata"]["uid"])
        if not ki.database_exists(self.database, naming.database_name(ref.uid)):
            with contextlib.closing(ki.create_database_as_role(self.database, self.kube, ref)):
                pass
        self._initialized.add(name)
