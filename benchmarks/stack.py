"""Everything one benchmark run stands on, started in order and stopped in reverse.

Owns a throwaway state directory and, in it: the real control plane
(`ControlPlane`, with kube-apiserver audit logging of the operator's
requests and kube-controller-manager's client rate as asked), the simulated
kubelet at zero delay whose init Job Pods create the instance's database as
its role (`InitDatabases`, what Odoo's init does to PostgreSQL, in-process),
the Temporal dev server, embedded PostgreSQL logging its connections, and the
operator as separate `odoo-operator watch` and `worker` processes of this
checkout, each authenticating as a ServiceAccount of its own bound to the
chart's rules (so the audit log tells their requests apart) and logging in
to PostgreSQL as a superuser of its own (so the connection log does).
It must not measure anything: `meters` reads what this sets up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes
import psycopg
import yaml
from psycopg import sql

from activities import api
from benchmarks import meters
from model.settings import DEFAULT_CLUSTERS_SECRET, WorkerSettings
from odoo_operator.cli import DEFAULT_CRD_DIR
from sandbox import controlplane, kubelet, operator_rbac, podrunner, postgres, temporal
from tests.e2e.cluster import OperatorProcess, wait_until_granted

__all__ = [
    "FLOOR_ACCOUNT",
    "INSTANCE_NAMESPACE",
    "OPERATOR_NAMESPACE",
    "InitDatabases",
    "Stack",
    "StackOptions",
    "operator_process",
]

ROOT = Path(__file__).resolve().parents[1]
OPERATOR_NAMESPACE = "bench-operator"
INSTANCE_NAMESPACE = "bench-instances"
"""Where the measured instances live; the watcher watches `bench-instances` only."""
FLOOR_NAMESPACE = "floor-instances"
"""Where the straight-line floor's instances live, unwatched."""
WATCHER_ACCOUNT = "bench-watcher"
WORKER_ACCOUNT = "bench-worker"
FLOOR_ACCOUNT = "bench-floor"
OPERATOR_PG_USER = "bench_operator"
FLOOR_PG_USER = "bench_floor"
CLUSTERS_SECRET = DEFAULT_CLUSTERS_SECRET
TASK_QUEUE = "odoo-operator"
TOKEN_SECONDS = 48 * 3600
"""The ServiceAccount tokens outlive the longest run (500 instances, every scenario)."""
INIT_CONNECTIONS = 16
"""Init Job Pods creating their database at the same time (PostgreSQL's
max_connections is shared with the operator)."""


def account_user(name: str) -> str:
    return f"system:serviceaccount:{OPERATOR_NAMESPACE}:{name}"


@dataclass(frozen=True)
class StackOptions:
    """What a run varies: worker processes, the worker's workflow cache, and
    kube-controller-manager's client rate (requests/s, burst)."""

    workers: int = 1
    max_cached_workflows: int = field(default_factory=lambda: WorkerSettings().max_cached_workflows)
    kcm_qps: int = 20
    kcm_burst: int = 30
    log_level: str = "info"
    keep: bool = False


class InitDatabases:
    """The kubelet's Job runner: an init Job Pod (`odoo -i ... -d <db>`) logs in as the
    instance's role with the Pod's environment (HOST, PORT, USER, PASSWORD from
    its ConfigMap and Secret) and creates the database, as Odoo's init would,
    without starting a process; any other Job Pod succeeds at once."""

    def __init__(self, work_dir: Path) -> None:
        self._env = podrunner.LocalPodRunner(work_dir)
        self._limit: asyncio.Semaphore | None = None  # made on the kubelet's loop

    async def __call__(self, pod: dict[str, Any], get: kubelet.Getter) -> tuple[int, str]:
        containers = (pod.get("spec") or {}).get("containers") or []
        args = [str(a) for a in (containers[0].get("args") or [])] if containers else []
        if "-d" not in args or "-i" not in args:
            return 0, ""
        database = args[args.index("-d") + 1]
        if self._limit is None:
            self._limit = asyncio.Semaphore(INIT_CONNECTIONS)
        try:
            env = await self._env.environment(pod, containers[0], get)
            async with self._limit:
                conn = await psycopg.AsyncConnection.connect(
                    host=env["HOST"],
                    port=env["PORT"],
                    user=env["USER"],
                    password=env["PASSWORD"],
                    dbname="postgres",
                    autocommit=True,
                    connect_timeout=30,
                )
                async with conn:
                    cursor = await conn.execute(
                        "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
                    )
                    if await cursor.fetchone() is None:
                        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database))
                        await conn.execute(create)
        except (psycopg.Error, podrunner.PodRunError, KeyError) as error:
            return 1, f"init stand-in: {error}"
        return 0, ""


def operator_process(
    command: str, args: list[str], env: dict[str, str], log: Path
) -> OperatorProcess:
    """`odoo-operator <command>` as e2e runs it, but as `python -m odoo_operator.cli`
    with this checkout first on PYTHONPATH: the code measured is the checkout's,
    whichever odoo-operator the virtual environment installed."""
    process = OperatorProcess(command, args, env, log)
    process.argv[0:1] = [sys.executable, "-m", "odoo_operator.cli"]
    return process


@dataclass
class Stack:
    """The servers and the operator of one run (see the module docstring)."""

    options: StackOptions
    directory: Path
    kube: controlplane.ControlPlane
    temporal: temporal.TemporalDevServer
    database: postgres.EmbeddedPostgres
    pods: kubelet.KubeletThread
    admin: kubernetes.client.ApiClient
    tokens: dict[str, str] = field(default_factory=dict)
    operator: list[OperatorProcess] = field(default_factory=list)
    pg_passwords: dict[str, str] = field(default_factory=dict)

    @property
    def audit_log(self) -> Path:
        return self.directory / "kube" / "logs" / "audit.log"

    def users(self) -> dict[str, str]:
        """Audited user name -> what it is (watcher, worker, floor)."""
        return {
            account_user(WATCHER_ACCOUNT): "watcher",
            account_user(WORKER_ACCOUNT): "worker",
            account_user(FLOOR_ACCOUNT): "floor",
        }

    def kubeconfig(self, account: str) -> Path:
        return self.kube.write_kubeconfig(
            self.directory / f"{account}.kubeconfig", user=account, token=self.tokens[account]
        )

    def cluster_entry(self, user: str) -> dict[str, Any]:
        """The clusters.yaml entry `main` logging in as `user`."""
        return {
            "host": self.database.host,
            "port": self.database.port,
            "adminUser": user,
            "adminPassword": self.pg_passwords[user],
            "default": True,
        }

    def start_operator(self) -> list[OperatorProcess]:
        """The watcher and `options.workers` workers, ready."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ODOO_OPERATOR_")}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        common = [
            "--log-level",
            self.options.log_level,
            "--temporal-address",
            self.temporal.address,
            "--task-queue",
            TASK_QUEUE,
            "--operator-namespace",
            OPERATOR_NAMESPACE,
            "--clusters-secret",
            CLUSTERS_SECRET,
            "--watch-namespaces",
            INSTANCE_NAMESPACE,
            "--webhook-enabled",
            "false",
            "--pod-name",
            "bench",
        ]
        logs = self.directory / "logs"
        watcher_env = {**env, "KUBECONFIG": str(self.kubeconfig(WATCHER_ACCOUNT))}
        worker_env = {**env, "KUBECONFIG": str(self.kubeconfig(WORKER_ACCOUNT))}
        started = [operator_process("watch", common, watcher_env, logs / "watcher.log")]
        for index in range(self.options.workers):
            worker_args = [
                *common,
                "--max-cached-workflows",
                str(self.options.max_cached_workflows),
            ]
            started.append(
                operator_process("worker", worker_args, worker_env, logs / f"worker-{index}.log")
            )
        self.operator = started
        for process in started:
            process.start(wait_ready=False)
        for process in started:
            process.wait_ready()
        return started

    def stop_operator(self) -> None:
        for process in reversed(self.operator):
            process.stop()
        self.operator = []


@contextlib.contextmanager
def running(options: StackOptions) -> Iterator[Stack]:
    """A fresh Stack in a temporary directory (deleted after unless `options.keep`);
    every process stopped on the way out, also on Ctrl-C."""
    directory = Path(tempfile.mkdtemp(prefix="odoo-operator-bench-"))
    (directory / "logs").mkdir()
    with contextlib.ExitStack() as stack:
        if not options.keep:
            stack.callback(_remove, directory)
        else:
            print(f"state and logs kept in {directory}", flush=True)
        policy = directory / "audit-policy.yaml"
        policy.write_text(
            meters.audit_policy(
                [account_user(a) for a in (WATCHER_ACCOUNT, WORKER_ACCOUNT, FLOOR_ACCOUNT)]
            )
        )
        kube_dir = directory / "kube"
        kube = controlplane.ControlPlane(
            kube_dir,
            durable=False,
            extra_apiserver_args=[
                f"--audit-policy-file={policy}",
                f"--audit-log-path={kube_dir / 'logs' / 'audit.log'}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
            ],
            extra_controller_manager_args=[
                f"--kube-api-qps={options.kcm_qps}",
                f"--kube-api-burst={options.kcm_burst}",
            ],
        )
        stack.callback(kube.stop)
        kube.start()
        kube.install_crds(DEFAULT_CRD_DIR)

        dev_server = temporal.TemporalDevServer(log_file=directory / "logs" / "temporal.log")
        stack.callback(dev_server.stop)
        dev_server.start()

        database = postgres.EmbeddedPostgres(directory / "postgres")
        stack.callback(database.remove)
        stack.callback(database.stop)
        database.start()

        pods = kubelet.KubeletThread(
            kube.url,
            kube.admin_ssl_context(),
            ready_delay=0.0,
            job_runner=InitDatabases(directory / "pods"),
        )
        stack.callback(pods.stop)
        pods.start()

        admin = kubernetes.config.new_client_from_config(config_file=str(kube.kubeconfig))  # type: ignore[no-untyped-call]
        stack.callback(admin.close)
        result = Stack(options, directory, kube, dev_server, database, pods, admin)
        _prepare_postgres(result)
        _prepare_kubernetes(result)
        stack.callback(result.stop_operator)
        yield result


def _remove(directory: Path) -> None:
    import shutil

    shutil.rmtree(directory, ignore_errors=True)


def _prepare_postgres(stack: Stack) -> None:
    """Log every connection; a superuser each for the operator and the floor."""
    import secrets

    with psycopg.connect(stack.database.dsn(), autocommit=True) as conn:
        for user in (OPERATOR_PG_USER, FLOOR_PG_USER):
            password = secrets.token_hex(16)
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN SUPERUSER PASSWORD {}").format(
                    sql.Identifier(user), sql.Literal(password)
                )
            )
            stack.pg_passwords[user] = password
        conn.execute("ALTER SYSTEM SET log_connections = 'on'")
        conn.execute("SELECT pg_reload_conf()")


def _prepare_kubernetes(stack: Stack) -> None:
    """Namespaces, the clusters Secret, and one ServiceAccount per audited user,
    each bound to the chart's rules, with a token."""
    kube = api.KubeApi(stack.admin)
    core = kubernetes.client.CoreV1Api(stack.admin)
    for namespace in (OPERATOR_NAMESPACE, INSTANCE_NAMESPACE, FLOOR_NAMESPACE):
        core.create_namespace(
            kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=namespace))
        )
    clusters = yaml.safe_dump({"main": stack.cluster_entry(OPERATOR_PG_USER)})
    kube.create(
        api.SECRET,
        OPERATOR_NAMESPACE,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": CLUSTERS_SECRET},
            "data": {"clusters.yaml": base64.b64encode(clusters.encode()).decode()},
        },
    )
    rules = operator_rbac.load_rules()
    for account in (WATCHER_ACCOUNT, WORKER_ACCOUNT, FLOOR_ACCOUNT):
        operator_rbac.install(stack.admin, account, OPERATOR_NAMESPACE, rules)
    for account in (WATCHER_ACCOUNT, WORKER_ACCOUNT, FLOOR_ACCOUNT):
        wait_until_granted(stack.admin, account_user(account), rules)
        stack.tokens[account] = operator_rbac.request_token(
            stack.admin, account, OPERATOR_NAMESPACE, seconds=TOKEN_SECONDS
        )
