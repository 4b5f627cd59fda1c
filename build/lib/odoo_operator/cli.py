"""The `odoo-operator` command: the composition root.

Each subcommand imports what it needs lazily, so `odoo-operator crds` never
loads Temporal or the Kubernetes client.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]

_REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CRD_DIR = _REPO_ROOT / "charts" / "odoo-operator" / "crds"
DEFAULT_STATE_MACHINE_FILE = _REPO_ROOT / "STATE_MACHINE.md"


def _crds(args: argparse.Namespace) -> int:
    from odoo_operator import crdgen

    if args.stdout:
        sys.stdout.write(crdgen.render_all_yaml())
        return 0
    out: Path = args.output_dir
    out.mkdir(parents=True, exist_ok=True)
    for filename, text in crdgen.render_files().items():
        (out / filename).write_text(text)
        print(f"wrote {out / filename}")
    return 0


def _state_machine(args: argparse.Namespace) -> int:
    from workflows import diagram

    text = diagram.render_markdown()
    if args.stdout:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
        print(f"wrote {args.output}")
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from odoo_operator.sandbox import run

    return run.main(args)


def _settings_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per setting (`--temporal-address` for temporal_address); a flag wins
    over its environment variable, which wins over the default."""
    from odoo_operator.settings import Settings

    group = parser.add_argument_group("settings (each also read from its environment variable)")
    for name, field in Settings.model_fields.items():
        group.add_argument(
            f"--{name.replace('_', '-')}",
            dest=f"setting_{name}",
            metavar="VALUE",
            default=None,
            help=field.description,
        )


def _settings(args: argparse.Namespace) -> Any:
    from odoo_operator.settings import Settings

    values = Settings.from_env().model_dump(exclude_unset=True)
    for key, value in vars(args).items():
        if key.startswith("setting_") and value is not None:
            values[key.removeprefix("setting_")] = value
    return Settings.model_validate(values)


def _operator(args: argparse.Namespace, *, watch: bool, work: bool) -> int:
    import asyncio
    import logging

    from odoo_operator import runner

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = _settings(args)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner.run_until_signalled(settings, watch=watch, work=work))
    return 0


def _add_operator_command(sub: Any, name: str, help: str, *, watch: bool, work: bool) -> None:
    p = sub.add_parser(name, help=help)
    p.add_argument("--log-level", default="info", help="Python log level (%(default)s)")
    _settings_flags(p)
    p.set_defaults(func=lambda args: _operator(args, watch=watch, work=work))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="odoo-operator",
        description="Run Odoo instances on Kubernetes, driven by Temporal workflows.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("crds", help="generate the CustomResourceDefinition YAML from the models")
    p.add_argument("--output-dir", type=Path, default=DEFAULT_CRD_DIR, help="%(default)s")
    p.add_argument("--stdout", action="store_true", help="print one YAML stream instead")
    p.set_defaults(func=_crds)

    p = sub.add_parser("state-machine", help="write STATE_MACHINE.md from the transition table")
    p.add_argument("--output", type=Path, default=DEFAULT_STATE_MACHINE_FILE, help="%(default)s")
    p.add_argument("--stdout", action="store_true", help="print instead of writing the file")
    p.set_defaults(func=_state_machine)

    _add_operator_command(
        sub, "run", "run the watcher and the worker in one process", watch=True, work=True
    )
    _add_operator_command(
        sub, "watch", "run the Kopf watcher and admission webhook only", watch=True, work=False
    )
    _add_operator_command(
        sub,
        "worker",
        "run the Temporal worker (workflows, activities) only",
        watch=False,
        work=True,
    )

    p = sub.add_parser(
        "sandbox",
        help="run everything on one machine: Temporal with its UI, a Kubernetes control "
        "plane, PostgreSQL and the operator",
        description="Start the Temporal dev server with its UI, a real Kubernetes control "
        "plane (etcd, kube-apiserver, kube-controller-manager) with a simulated kubelet, "
        "an embedded PostgreSQL and the operator (watcher and worker), until Ctrl-C. "
        "Everything is kept in --state-dir: started again on it, every instance is still "
        "there and the operator picks it up again.",
    )
    p.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".sandbox"),
        metavar="DIR",
        help="where Temporal's history, the PostgreSQL cluster, the control plane's etcd "
        "data and certificates, the kubeconfig and the logs are kept across runs "
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
        default=DEFAULT_CRD_DIR,
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
    p.set_defaults(func=_sandbox)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
