"""`scripts/dev/sandbox` (`python -m sandbox`): everything on one machine, until Ctrl-C.

Owns the sandbox's start order, its state directory layout, the banner and a
clean shutdown in reverse order. It starts the Temporal dev server with its
UI (history in a sqlite file), embedded PostgreSQL (data reused across runs)
and a real Kubernetes control plane (`controlplane.ControlPlane`: etcd,
kube-apiserver, kube-controller-manager) with the CRDs installed. It must
not print secrets: the PostgreSQL password stays in a mode-600 file.

Then it runs `kubelet.KubeletThread`, the simulated kubelet that binds Pods
to the Node `sandbox-node`, makes Deployment Pods Ready and runs Job Pods
(`--kubelet-delay` seconds each; an init Job's Pod creates the database, as
`odoo -i` would), and the operator in-process (watcher and worker, one
thread with its own event loop, webhook and probes off) against the
control plane, so a `kubectl apply` of an OdooInstance goes all the way to
Running. The clusters Secret (operator namespace `odoo-operator`) points at
the embedded PostgreSQL.

Every server keeps its data in the state directory, so a sandbox started
again on it has every instance, its workflow and its database: the operator
picks the instances up where they were.

Backups and restores run for real: Job Pods run the Job scripts
(scripts/jobs/) and a stand-in `odoo` (sandbox/standins/) as local
processes (podrunner.LocalPodRunner), against the embedded PostgreSQL and an
embedded S3 server (versitygw) with a bucket `backups` and, in the namespace
`default`, a Secret `s3-credentials` (accessKey, secretKey) to use in
OdooBackupJob/OdooRestoreJob and spec.backup.

State directory:
    temporal.sqlite    Temporal's history (the instances' workflows)
    postgres/          the PostgreSQL cluster and its admin-password file (mode 600)
    kube/              the control plane: etcd/ (every Kubernetes object), pki/
                       (CA and certificates, kept so old kubeconfigs stay valid),
                       logs/, admin.kubeconfig
    kubeconfig         the admin kubeconfig for kubectl and the operator
                       (context namespace `default`)
    s3/                the S3 server's buckets and its credentials file (mode 600)
    pods/              the Job Pods' volumes (claims/: each instance's filestore)
    logs/              temporal.log
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from odoo_operator import cli
from sandbox import (
    controlplane,
    kubelet,
    podrunner,
    postgres,
    processes,
    s3,
    temporal,
)

__all__ = ["build_parser", "main"]

KUBE_NAMESPACE = "default"
"""The kubeconfig's namespace: where `kubectl apply` puts an instance."""
BACKUP_BUCKET = "backups"
S3_SECRET = "s3-credentials"
_ROOT = Path(__file__).resolve().parents[1]
OPERATOR_NAMESPACE = "odoo-operator"
READY_LINE = "Press Ctrl-C to stop."
"""The banner's last line; tests wait for it."""
OPERATOR_STOP_SECONDS = 10.0


def build_parser() -> argparse.ArgumentParser:
    """The flags of `scripts/dev/sandbox` (python -m sandbox)."""
    p = argparse.ArgumentParser(
        prog="scripts/dev/sandbox",
        description="Start the Temporal dev server with its UI, a real Kubernetes control "
        "plane (etcd, kube-apiserver, kube-controller-manager) with a simulated kubelet, "
        "an embedded PostgreSQL, an embedded S3 server and the operator (watcher and "
        "worker), until Ctrl-C. "
        "Everything is kept in --state-dir: started again on it, every instance is still "
        "there and the operator picks it up again.",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".sandbox"),
        metavar="DIR",
        help="where Temporal's history, the PostgreSQL cluster, the S3 buckets, the control "
        "plane's etcd data and certificates, the kubeconfig and the logs are kept across runs "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--kube-port",
        type=int,
        metavar="PORT",
        default=6443,
        help="the kube-apiserver's HTTPS port on 127.0.0.1, written into the kubeconfig "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--temporal-port",
        type=int,
        metavar="PORT",
        default=7233,
        help="the Temporal frontend's gRPC port on 127.0.0.1, for workers and the "
        "temporal CLI (default: %(default)s)",
    )
    p.add_argument(
        "--ui-port",
        type=int,
        metavar="PORT",
        default=8233,
        help="the Temporal web UI's HTTP port on 127.0.0.1 (default: %(default)s)",
    )
    p.add_argument(
        "--postgres-port",
        type=int,
        metavar="PORT",
        default=15432,
        help="the embedded PostgreSQL server's port on 127.0.0.1, the cluster the "
        "clusters Secret names (default: %(default)s)",
    )
    p.add_argument(
        "--crd-dir",
        type=Path,
        default=cli.DEFAULT_CRD_DIR,
        metavar="DIR",
        help="the CustomResourceDefinition YAML files installed into the control plane "
        "(default: the chart's crds/)",
    )
    p.add_argument(
        "--kubelet-delay",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="how long the simulated kubelet takes before a Deployment's Pod is Ready or "
        "a Job's Pod finishes, so phases such as Starting can be watched "
        "(default: %(default)s)",
    )
    p.add_argument(
        "--s3-port",
        type=int,
        metavar="PORT",
        default=19000,
        help="the embedded S3-compatible server's port on 127.0.0.1, where the sandbox's "
        "backups go (default: %(default)s)",
    )
    return p


def main(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    crd_dir: Path = args.crd_dir
    ports = {
        "--temporal-port": args.temporal_port,
        "--ui-port": args.ui_port,
        "--kube-port": args.kube_port,
        "--postgres-port": args.postgres_port,
        "--s3-port": args.s3_port,
    }
    problem = _port_problem(ports)
    if problem is not None:
        print(f"sandbox: {problem}", file=sys.stderr)
        return 2

    stop_requested = threading.Event()
    _on_stop_signals(stop_requested)
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as running:
        try:
            dev_server = temporal.TemporalDevServer(
                port=args.temporal_port,
                ui_port=args.ui_port,
                headless=False,
                db_file=state_dir / "temporal.sqlite",
                log_file=logs / "temporal.log",
            )
            running.callback(dev_server.stop)
            dev_server.start()

            database = postgres.EmbeddedPostgres(
                state_dir / "postgres", port=args.postgres_port, durable=True
            )
            running.callback(database.stop)
            database.start()

            storage = s3.S3Server(state_dir / "s3", port=args.s3_port)
            running.callback(storage.stop)
            storage.start()
            storage.create_bucket(BACKUP_BUCKET)

            kube = controlplane.ControlPlane(state_dir / "kube", port=args.kube_port)
            running.callback(kube.stop)
            print("starting the Kubernetes control plane ...", flush=True)
            waited = kube.start()
            print(f"the Kubernetes control plane is ready ({waited:.1f} s)", flush=True)
            kube.install_crds(crd_dir)
            kubeconfig = kube.write_kubeconfig(state_dir / "kubeconfig", namespace=KUBE_NAMESPACE)
            _install_clusters_secret(kubeconfig, database)
            _install_s3_secret(kubeconfig, storage)
            pods = kubelet.KubeletThread(
                kube.url,
                kube.admin_ssl_context(),
                ready_delay=args.kubelet_delay,
                job_runner=_pod_runner(state_dir, database, storage),
            )
            running.callback(pods.stop)
            pods.start()
            operator = _OperatorThread(
                kube, kubeconfig, dev_server.address, on_failure=stop_requested.set
            )
            running.callback(operator.stop)
            operator.start()
        except processes.ServiceError as error:
            print(f"sandbox: {error}", file=sys.stderr)
            return 1

        print(
            _banner(state_dir, dev_server, database, kube, kubeconfig, storage, args.kubelet_delay),
            flush=True,
        )
        stop_requested.wait()
        print("stopping ...", flush=True)
    print("stopped", flush=True)
    return 1 if operator.failed else 0


def _install_clusters_secret(kubeconfig: Path, database: postgres.EmbeddedPostgres) -> None:
    """The operator's namespace and the clusters Secret (the embedded server)."""
    import base64

    import kubernetes
    import yaml

    from model.settings import DEFAULT_CLUSTERS_SECRET

    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    with client:
        core = kubernetes.client.CoreV1Api(client)
        for namespace in (OPERATOR_NAMESPACE,):
            try:
                core.create_namespace(
                    kubernetes.client.V1Namespace(
                        metadata=kubernetes.client.V1ObjectMeta(name=namespace)
                    )
                )
            except kubernetes.client.ApiException as err:
                if err.status != 409:
                    raise
        clusters = {
            "main": {
                "host": database.host,
                "port": database.port,
                "adminUser": database.admin_user,
                "adminPassword": database.admin_password,
                "default": True,
            }
        }
        data = base64.b64encode(yaml.safe_dump(clusters).encode()).decode()
        body = kubernetes.client.V1Secret(
            metadata=kubernetes.client.V1ObjectMeta(name=DEFAULT_CLUSTERS_SECRET),
            data={"clusters.yaml": data},
        )
        try:
            core.create_namespaced_secret(OPERATOR_NAMESPACE, body)
        except kubernetes.client.ApiException as err:
            if err.status != 409:
                raise
            core.replace_namespaced_secret(DEFAULT_CLUSTERS_SECRET, OPERATOR_NAMESPACE, body)


class _NotMainThreadNotice(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "running not in the main thread" not in record.getMessage()


class _OperatorThread:
    """The watcher and the worker on one event loop in a thread of their own.

    Both use the control plane's admin credentials. Should the operator end
    by itself (an error), it says why and calls `on_failure`, so the sandbox
    stops instead of serving without an operator.
    """

    def __init__(
        self,
        kube: controlplane.ControlPlane,
        kubeconfig: Path,
        temporal_address: str,
        on_failure: Callable[[], None],
    ) -> None:
        self._kube = kube
        self._kubeconfig = kubeconfig
        self._temporal_address = temporal_address
        self._on_failure = on_failure
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._thread = threading.Thread(target=self._run, name="odoo-operator", daemon=True)
        self._stopping = False
        self.failed = False

    def start(self) -> None:
        # Kopf warns "OS signals are ignored" when it runs off the main thread,
        # which reads as if Ctrl-C would not work; the sandbox handles Ctrl-C.
        logging.getLogger("kopf._core.reactor.running").addFilter(_NotMainThreadNotice())
        self._thread.start()
        self._started.wait()

    def stop(self) -> None:
        self._stopping = True
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            loop.call_soon_threadsafe(task.cancel)
        # Bounded: a Temporal worker shutdown can wait on outstanding polls;
        # the thread is a daemon, and PostgreSQL and Temporal must still be
        # stopped cleanly after it.
        self._thread.join(timeout=OPERATOR_STOP_SECONDS)
        if self._thread.is_alive():
            print(
                f"the operator did not stop within {OPERATOR_STOP_SECONDS:.0f} s; leaving it",
                file=sys.stderr,
                flush=True,
            )

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except Exception as error:  # reported, then the sandbox stops
            problem = f"failed: {error!r}"
        else:
            if self._stopping:
                return
            problem = "ended by itself"
        self.failed = True
        print(f"sandbox: the operator {problem}; stopping", file=sys.stderr)
        self._on_failure()

    async def _main(self) -> None:
        import kopf

        from model.settings import (
            OperatorSettings,
            ProbeSettings,
            Settings,
            TemporalSettings,
            WebhookSettings,
        )
        from odoo_operator import runner

        settings = Settings(
            temporal=TemporalSettings(address=self._temporal_address),
            operator=OperatorSettings(namespace=OPERATOR_NAMESPACE, reporting_instance="sandbox"),
            webhook=WebhookSettings(enabled=False),
            probes=ProbeSettings(port=0),
        )
        login = kopf.ConnectionInfo(
            server=self._kube.url,
            ca_path=str(self._kube.ca_file),
            certificate_path=str(self._kube.admin.cert),
            private_key_path=str(self._kube.admin.key),
        )
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()
        self._started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await runner.run(settings, kubeconfig=self._kubeconfig, kube_login=login)


def _pod_runner(
    state_dir: Path, database: postgres.EmbeddedPostgres, storage: s3.S3Server
) -> podrunner.LocalPodRunner:
    """Job Pods run for real: the Job scripts, the stand-in odoo (its init creates
    the database as the instance's role, as Odoo does), PostgreSQL's client tools
    and the aws CLI on PATH."""
    from specs import jobs

    standins = Path(__file__).resolve().parent / "standins"
    return podrunner.LocalPodRunner(
        state_dir / "pods",
        path_map={
            jobs.SCRIPTS_DIR: _ROOT / "scripts" / "jobs",
            "/entrypoint.sh": standins / "entrypoint.sh",
        },
        extra_path=[standins, database.bin_dir, storage.client_path],
    )


def _install_s3_secret(kubeconfig: Path, storage: s3.S3Server) -> None:
    """Secret `s3-credentials` in the default namespace: the embedded S3 server's keys."""
    import kubernetes

    client = kubernetes.config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    with client:
        core = kubernetes.client.CoreV1Api(client)
        body = kubernetes.client.V1Secret(
            metadata=kubernetes.client.V1ObjectMeta(name=S3_SECRET),
            string_data={"accessKey": storage.access_key, "secretKey": storage.secret_key},
        )
        try:
            core.create_namespaced_secret(KUBE_NAMESPACE, body)
        except kubernetes.client.ApiException as err:
            if err.status != 409:
                raise
            core.replace_namespaced_secret(S3_SECRET, KUBE_NAMESPACE, body)


def _port_problem(ports: dict[str, int]) -> str | None:
    """A message naming the flag to change, for the first port that is taken."""
    seen: dict[int, str] = {}
    for flag, port in ports.items():
        if port in seen:
            return f"{flag} and {seen[port]} are both {port}; give them different ports"
        seen[port] = flag
        if not processes.port_is_free(port):
            return f"port {port} is already in use; choose another with {flag}"
    return None


def _on_stop_signals(event: threading.Event) -> None:
    def request_stop(signum: int, frame: FrameType | None) -> None:
        event.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


def _banner(
    state_dir: Path,
    dev_server: temporal.TemporalDevServer,
    database: postgres.EmbeddedPostgres,
    kube: controlplane.ControlPlane,
    kubeconfig: Path,
    storage: s3.S3Server,
    kubelet_delay: float,
) -> str:
    password_file = database.password_file
    return "\n".join(
        [
            f"the sandbox is up; state in {state_dir}",
            f"  Temporal UI        {dev_server.ui_url}",
            f"  Temporal address   {dev_server.address} (namespace {dev_server.namespace})",
            f"                     export TEMPORAL_ADDRESS={dev_server.address}",
            f"  Kubernetes API     {kube.url} (kube-apiserver, etcd, kube-controller-manager)",
            f"                     export KUBECONFIG={kubeconfig}",
            f"                     export PATH={Path(sys.prefix) / 'bin'}:$PATH",
            "                     kubectl get odoo -A",
            f"  PostgreSQL         {database.dsn(with_password=False)}",
            f"                     password in {password_file}",
            f"  S3                 {storage.endpoint} (bucket {BACKUP_BUCKET}; keys in the "
            f"Secret {KUBE_NAMESPACE}/{S3_SECRET})",
            f"  Logs               {state_dir / 'logs'}, {kube.logs}, {database.log_file},",
            f"                     {storage.log_file}",
            "  Operator           watcher + worker, in this process, and a simulated kubelet",
            f"                     (Node {kubelet.NODE_NAME}: Pods ready and Jobs done after "
            f"{kubelet_delay:g} s);",
            "                     try: kubectl apply -f <an OdooInstance>; kubectl get odoo -w;",
            "                     kubectl odoo status <name>",
            READY_LINE,
        ]
    )
