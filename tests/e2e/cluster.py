"""The e2e cluster's moving parts: operator processes, their least-privilege
credentials, and Odoo's init as the kubelet runs it.

Not a test module. `OperatorProcess` runs `odoo-operator watch|worker` as a
child process (flags for every setting, KUBECONFIG in its environment, its
output appended to one log file across restarts). `running_operator` starts
both with a kubeconfig carrying a token of a ServiceAccount bound to
charts/odoo-operator/files/rbac-rules.yaml (sandbox.operator_rbac) and, when
they stop, fails on any request the API server refused (`denials`).
`OdooInit` is the session kubelet's job runner: init Job Pods of the e2e
namespaces run their real command with a stand-in `odoo` (tests/e2e/fake_odoo.py)
that creates the database as the instance's role, as Odoo's init does; the
real Job, ReplicaSet and Deployment controllers do the rest.
"""

from __future__ import annotations

import contextlib
import fnmatch
import re
import shlex
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes

from activities import api
from odoo_operator import runner
from sandbox import controlplane, kubelet, operator_rbac, podrunner, postgres, processes, temporal
from tests.activities import kube_instance as ki
from tests.fixtures.kube import wait_for

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
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until /readyz answers 200; ServiceError with the log's tail if it exits."""
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


# --- Odoo's init, run by the kubelet ----------------------------------------------------

FAKE_ODOO = Path(__file__).with_name("fake_odoo.py")


class OdooInit:
    """A `kubelet.JobRunner` for the session kubelet: Job Pods in namespaces matching
    one of `patterns` run their container command locally (LocalPodRunner), with
    `/entrypoint.sh` and `odoo` played by stand-ins; other Job Pods succeed at once,
    as the session kubelet's do."""

    def __init__(self, work_dir: Path) -> None:
        bin_dir = work_dir / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        entrypoint = bin_dir / "entrypoint.sh"
        entrypoint.write_text('#!/bin/sh\nexec "$@"\n')
        odoo = bin_dir / "odoo"
        odoo.write_text(
            f'#!/bin/sh\nexec {shlex.quote(sys.executable)} {shlex.quote(str(FAKE_ODOO))} "$@"\n'
        )
        for script in (entrypoint, odoo):
            script.chmod(0o755)
        self.runner = podrunner.LocalPodRunner(
            work_dir / "pods", path_map={"/entrypoint.sh": entrypoint}, extra_path=[bin_dir]
        )
        self.patterns: set[str] = set()

    def watch(self, pattern: str) -> None:
        """Run the Job Pods of namespaces matching `pattern` (fnmatch)."""
        self.patterns.add(pattern)

    def forget(self, pattern: str) -> None:
        self.patterns.discard(pattern)

    async def __call__(
        self, pod: dict[str, Any], get: kubelet.Getter
    ) -> tuple[int, str] | kubelet.PodOutcome:
        namespace = pod["metadata"]["namespace"]
        if not any(fnmatch.fnmatchcase(namespace, p) for p in list(self.patterns)):
            return 0, ""
        return await self.runner(pod, get)

    def container_log(self, namespace: str, pod: str, container: str) -> bytes | None:
        """The log its runner kept (kubelet.LogSource)."""
        return self.runner.container_log(namespace, pod, container)


@contextlib.contextmanager
def odoo_init(kube_kubelet: kubelet.KubeletThread, work_dir: Path) -> Iterator[OdooInit]:
    """`OdooInit` as the session kubelet's job runner, the previous one restored after."""
    simulated = kube_kubelet.kubelet
    assert simulated is not None, "the session kubelet is not running"
    previous = simulated.job_runner
    init = OdooInit(work_dir)
    simulated.job_runner = init
    try:
        yield init
    finally:
        simulated.job_runner = previous


# --- the operator, least privileged -----------------------------------------------------

DENIAL = re.compile(r"forbidden|not enough permissions", re.IGNORECASE)
"""What a refused request leaves in our logs: the API server's 403 message
(`... is forbidden: User "system:serviceaccount:..." cannot ...`, reason
Forbidden) or Kopf's warning when it may not list or watch something. A 403
for a create in a namespace being deleted counts too: the operator must
expect it (an instance's namespace deleted under it), not log it."""


def denials(log_file: Path, offset: int = 0) -> list[str]:
    """Lines of `log_file` (from byte `offset`) telling of a refused request."""
    with log_file.open("rb") as log:
        log.seek(offset)
        text = log.read().decode("utf-8", "replace")
    return [line for line in text.splitlines() if DENIAL.search(line)]


def refused_report(lines: list[str], limit: int = 10) -> str:
    """An assertion message for `lines` of `denials`: the first few, shortened."""
    shown = [line if len(line) < 400 else line[:400] + " ..." for line in lines[:limit]]
    more = f"\n... and {len(lines) - limit} more" if len(lines) > limit else ""
    return "requests refused to the operator's ServiceAccount:\n" + "\n".join(shown) + more


def account_name(operator_namespace: str) -> str:
    """ServiceAccount, ClusterRole and ClusterRoleBinding name of one test's operator."""
    return f"odoo-operator-{operator_namespace}"


def wait_until_granted(
    client: kubernetes.client.ApiClient, user: str, rules: list[dict[str, Any]]
) -> None:
    """Wait until the authorizer answers yes for every verb of every rule.

    The RBAC authorizer learns new bindings from its informers, a moment after
    they are created: requests made before would be refused.
    """
    authorization = kubernetes.client.AuthorizationV1Api(client)

    def granted() -> bool:
        for rule in rules:
            group = rule.get("apiGroups", [""])[0]
            resource, _, sub = rule["resources"][0].partition("/")
            # A rule narrowed to names (the watcher's Lease) grants only those.
            name = (rule.get("resourceNames") or [None])[0]
            for verb in rule["verbs"]:
                review = kubernetes.client.V1SubjectAccessReview(
                    spec=kubernetes.client.V1SubjectAccessReviewSpec(
                        user=user,
                        resource_attributes=kubernetes.client.V1ResourceAttributes(
                            group=group,
                            resource=resource,
                            subresource=sub or None,
                            name=name,
                            verb=verb,
                        ),
                    )
                )
                answer = authorization.create_subject_access_review(review)
                if answer.status is None or not answer.status.allowed:
                    return False
        return True

    wait_for(granted, timeout=30.0, interval=0.1)


@dataclass
class Operator:
    """Both operator processes of a test, with the credentials they run with."""

    watcher: OperatorProcess
    worker: OperatorProcess
    namespace: str
    """The operator namespace (clusters Secret, ServiceAccount)."""
    account: str
    """`system:serviceaccount:<namespace>:<name>` the processes authenticate as."""
    kubeconfig: Path
    offsets: dict[Path, int] = field(default_factory=dict)

    @property
    def log_files(self) -> list[Path]:
        return [self.watcher.log_file, self.worker.log_file]

    def mark(self) -> None:
        """Remember where the logs end: `new_denials` reads only what follows."""
        self.offsets = {path: _size(path) for path in self.log_files}

    def new_denials(self) -> list[str]:
        return [
            f"{path.name}: {line}"
            for path in self.log_files
            for line in denials(path, self.offsets.get(path, 0))
        ]


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


@contextlib.contextmanager
def running_operator(
    *,
    control_plane: controlplane.ControlPlane,
    admin: kubernetes.client.ApiClient,
    temporal_server: temporal.TemporalDevServer,
    database: postgres.EmbeddedPostgres,
    operator_namespace: str,
    watch_namespaces: str,
    task_queue: str,
    directory: Path,
    env: dict[str, str],
) -> Iterator[Operator]:
    """`odoo-operator worker` and `odoo-operator watch`, ready, as a ServiceAccount
    bound to the rules file only; the clusters Secret in `operator_namespace`.

    On exit both get SIGTERM and must exit 0 within STOP_TIMEOUT_SECONDS, and
    their logs must show no refused request (AssertionError otherwise); the
    ClusterRole and ClusterRoleBinding are deleted.
    """
    name = account_name(operator_namespace)
    rules = operator_rbac.load_rules()
    operator_rbac.install(admin, name, operator_namespace, rules)
    try:
        user = f"system:serviceaccount:{operator_namespace}:{name}"
        wait_until_granted(admin, user, rules)
        token = operator_rbac.request_token(admin, name, operator_namespace)
        kubeconfig = control_plane.write_kubeconfig(
            directory / "operator.kubeconfig", user=name, token=token
        )
        ki.create_clusters_secret(
            api.KubeApi(admin), operator_namespace, ki.ClusterAddress.of(database)
        )
        args = [
            "--temporal-address",
            temporal_server.address,
            "--task-queue",
            task_queue,
            "--operator-namespace",
            operator_namespace,
            "--clusters-secret",
            ki.CLUSTERS_SECRET,
            "--watch-namespaces",
            watch_namespaces,
            "--webhook-enabled",
            "false",
            "--pod-name",
            "e2e",
        ]
        process_env = {**env, "KUBECONFIG": str(kubeconfig)}
        worker = OperatorProcess("worker", args, process_env, directory / "worker.log")
        watcher = OperatorProcess("watch", args, process_env, directory / "watcher.log")
        operator = Operator(watcher, worker, operator_namespace, user, kubeconfig)
        codes: dict[str, int] = {}
        try:
            worker.start(wait_ready=False)
            watcher.start(wait_ready=False)
            worker.wait_ready()
            watcher.wait_ready()
            yield operator
        finally:
            codes = {"watcher": watcher.stop(), "worker": worker.stop()}
        # 0: SIGTERM was handled (graceful stop, or the bounded exit after the grace
        # period); -15 would mean no handler, -9 that it had to be killed.
        assert codes == {"watcher": 0, "worker": 0}, (
            f"not stopped cleanly by SIGTERM within {STOP_TIMEOUT_SECONDS} s: {codes}"
        )
        refused = [f"{p.name}: {line}" for p in operator.log_files for line in denials(p)]
        assert not refused, refused_report(refused)
    finally:
        operator_rbac.uninstall(admin, name)
