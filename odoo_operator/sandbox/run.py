"""`odoo-operator sandbox`: everything on one machine, until Ctrl-C.

Owns the sandbox's start order, its state directory layout, the banner and a
clean shutdown in reverse order. It starts the Temporal dev server with its
UI (history in a sqlite file), embedded PostgreSQL (data reused across runs)
and the Kubernetes API emulator with the CRDs installed. It must not print
secrets: the PostgreSQL password stays in a mode-600 file.

State directory:
    temporal.sqlite    Temporal history, kept across runs
    postgres/          the cluster and its admin-password file (mode 600)
    kubeconfig         points kubectl and the operator at the emulator
    logs/              one log per server process
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from odoo_operator.sandbox import postgres, processes, temporal

__all__ = ["main"]

KUBE_NAMESPACE = "default"
READY_LINE = "Press Ctrl-C to stop."
"""The banner's last line; tests wait for it."""


def main(args: argparse.Namespace) -> int:
    state_dir: Path = args.state_dir.resolve()
    crd_dir: Path = args.crd_dir
    ports = {
        "--temporal-port": args.temporal_port,
        "--ui-port": args.ui_port,
        "--kube-port": args.kube_port,
        "--postgres-port": args.postgres_port,
    }
    problem = _port_problem(ports)
    if problem is not None:
        print(f"odoo-operator sandbox: {problem}", file=sys.stderr)
        return 2

    stop_requested = threading.Event()
    _on_stop_signals(stop_requested)
    logs = state_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as running:
        try:
            # Imported here: the emulator pulls in the Kubernetes validation
            # stack, which no other subcommand needs.
            from odoo_operator.sandbox import emulator

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

            kube = emulator.serve_in_thread(
                host=processes.LOCALHOST, port=args.kube_port, crd_dir=crd_dir
            )
            running.callback(kube.stop)
            kubeconfig = state_dir / "kubeconfig"
            kube.write_kubeconfig(kubeconfig, namespace=KUBE_NAMESPACE)
        except processes.ServiceError as error:
            print(f"odoo-operator sandbox: {error}", file=sys.stderr)
            return 1

        print(
            _banner(state_dir, dev_server, database, kube.url, kubeconfig),
            flush=True,
        )
        stop_requested.wait()
        print("stopping ...", flush=True)
    print("stopped", flush=True)
    return 0


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
    kube_url: str,
    kubeconfig: Path,
) -> str:
    password_file = database.password_file
    return "\n".join(
        [
            f"odoo-operator sandbox is up; state in {state_dir}",
            f"  Temporal UI        {dev_server.ui_url}",
            f"  Temporal address   {dev_server.address} (namespace {dev_server.namespace})",
            f"  Kubernetes API     {kube_url}",
            f"                     export KUBECONFIG={kubeconfig}",
            "                     kubectl get odoo -A",
            f"  PostgreSQL         {database.dsn(with_password=False)}",
            f"                     password in {password_file}",
            f"  Logs               {state_dir / 'logs'}, {database.log_file}",
            READY_LINE,
        ]
    )
