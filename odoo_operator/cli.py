"""The `odoo-operator` command: the composition root.

Each subcommand imports what it needs lazily, so `odoo-operator crds` never
loads Temporal or the Kubernetes client; the settings' flags and variables are
odoo_operator.environment's.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from odoo_operator import environment

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


def _sandbox(argv: Sequence[str]) -> int:
    """Hand over to the development wing's sandbox (python -m sandbox) when this is a
    checkout that has it; the wheel and the image do not ship it."""
    if not (_REPO_ROOT / "sandbox" / "__main__.py").is_file():
        print(
            "odoo-operator sandbox: the sandbox is a development tool, not part of the "
            "installed operator; run scripts/dev/sandbox from a checkout of the repository",
            file=sys.stderr,
        )
        return 2
    import os

    path = os.pathsep.join(filter(None, (str(_REPO_ROOT), os.environ.get("PYTHONPATH"))))
    env = {**os.environ, "PYTHONPATH": path}
    os.execve(sys.executable, [sys.executable, "-m", "sandbox", *argv], env)


def _operator(args: argparse.Namespace, *, watch: bool, work: bool) -> int:
    import asyncio
    import logging

    from odoo_operator import runner

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = environment.from_arguments(args)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner.run_until_signalled(settings, watch=watch, work=work))
    return 0


def _add_operator_command(sub: Any, name: str, help: str, *, watch: bool, work: bool) -> None:
    p = sub.add_parser(name, help=help)
    p.add_argument("--log-level", default="info", help="Python log level (%(default)s)")
    environment.add_flags(p)
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
        help="development checkout only: run the sandbox (scripts/dev/sandbox); "
        "`odoo-operator sandbox --help` lists its flags",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["sandbox"]:  # its flags are the sandbox's own (python -m sandbox)
        return _sandbox(argv[1:])
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
