"""The `kubectl odoo` command line: its parser and help, and the two console scripts.

`main` is the console script `kubectl-odoo` (kubectl runs it for `kubectl odoo
...`), `complete` the console script `kubectl_complete-odoo` (kubectl runs it
to complete `kubectl odoo <TAB>`). Exit status: 0 done, 1 refused or failed
(the reason on stderr), 2 a command line that does not parse. The commands
themselves (odoo_operator.plugin.commands) load Kubernetes, Temporal and the
models, so they are imported only once a command runs: help and completion
answer at once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from odoo_operator.plugin import completion

__all__ = ["build_parser", "complete", "main"]

PROG = "kubectl odoo"
DEFAULT_WAIT_SECONDS = 3600.0
FORMATS = ("zip", "sql", "dump")
"""model.crds.BackupFormat's values (tests/unit/test_plugin_cli.py keeps them equal), written
out so that help and completion start without loading the models."""

_DESCRIPTION = """\
Day-2 operations on OdooInstances (bemade.org/v1alpha1): read an instance's state
and history, ask its workflow for a backup, a restore or an upgrade, hold it and
resume it, read a job's logs and open psql on its database.

Requests go to the instance's Temporal workflow as Updates and are answered at
once: accepted (the job resource made), queued behind the operations named (made
too: `kubectl get odoobackupjobs` shows it Pending), or refused with the reason.
Kubernetes is reached as kubectl does (--kubeconfig, --context, -n); Temporal at
TEMPORAL_ADDRESS (as the temporal CLI; default localhost:7233) or --temporal-address.
"""

_EPILOG = """\
examples:
  kubectl odoo status erp
  kubectl odoo backup erp --wait
  kubectl odoo backup erp --to s3://backups/erp/before-upgrade.zip --format zip
  kubectl odoo restore staging --from s3://backups/erp/before-upgrade.zip --wait
  kubectl odoo upgrade erp --modules sale,stock
  kubectl odoo hold erp --reason "incident 42: fixing the database by hand"
  kubectl odoo resume erp
  kubectl odoo history erp
  kubectl odoo logs backup/erp-backup-20261206020000-1a2b
  kubectl odoo psql erp -- -c 'select count(*) from res_users'
"""


def _connection_flags(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """The flags every command takes (before or after its name: kubectl passes none)."""
    default = None if defaults else argparse.SUPPRESS
    group = parser.add_argument_group("connections")
    group.add_argument(
        "-n", "--namespace", default=default,
        help="namespace of the instance (default: the kubeconfig context's, else default)",
    )  # fmt: skip
    group.add_argument(
        "--kubeconfig", type=Path, default=default,
        help="kubeconfig file (default: $KUBECONFIG, else ~/.kube/config; in-cluster in a Pod)",
    )  # fmt: skip
    group.add_argument("--context", default=default, help="kubeconfig context to use")
    group.add_argument(
        "--temporal-address", default=default,
        help="Temporal frontend host:port (default: $TEMPORAL_ADDRESS, else localhost:7233)",
    )  # fmt: skip
    group.add_argument(
        "--temporal-namespace", default=default,
        help="Temporal namespace (default: $TEMPORAL_NAMESPACE, else default)",
    )  # fmt: skip


def _s3_flags(parser: argparse.ArgumentParser, what: str) -> None:
    group = parser.add_argument_group(
        f"where {what} (default: the OdooBackupJob that wrote that object, else the "
        "instance's spec.backup.destination)"
    )
    group.add_argument("--endpoint", help="S3 endpoint URL, e.g. https://s3.amazonaws.com")
    group.add_argument("--region", help="region of the bucket")
    group.add_argument(
        "--s3-secret", metavar="SECRET", help="Secret with accessKey and secretKey (same namespace)"
    )
    group.add_argument("--insecure", action="store_true", help="skip TLS verification")


def _wait_flags(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--wait", action="store_true", help=f"wait until {what} finishes; exit 1 if it fails"
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_WAIT_SECONDS, metavar="SECONDS",
        help="with --wait, give up after this long (%(default).0f)",
    )  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _connection_flags(parser, defaults=True)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=description or help)
        _connection_flags(p, defaults=False)
        return p

    p = command(
        "status",
        "an instance's phase, URL, replicas, database, operations, backups and transitions",
    )
    p.add_argument("name", metavar="NAME", help="the OdooInstance")

    p = command(
        "history",
        "an instance's phase changes and operations, oldest first, with how long each lasted",
    )
    p.add_argument("name", metavar="NAME", help="the OdooInstance")

    p = command(
        "backup",
        "back the instance up now (an OdooBackupJob)",
        "Back the instance up now: the workflow makes an OdooBackupJob and answers with its "
        "name. Without --to, to spec.backup's bucket under a generated key.",
    )
    p.add_argument("name", metavar="NAME", help="the OdooInstance")
    p.add_argument("--to", metavar="s3://BUCKET/KEY", help="where the backup goes")
    p.add_argument("--format", choices=list(FORMATS), help="default: zip")
    p.add_argument(
        "--no-filestore", dest="with_filestore", action="store_false", default=None,
        help="leave the filestore out (zip only)",
    )  # fmt: skip
    _s3_flags(p, "--to is")
    _wait_flags(p, "the backup")

    p = command(
        "restore",
        "replace the instance's database and filestore with a backup (an OdooRestoreJob)",
        "Replace the instance's database and filestore with a backup from S3: the workflow "
        "makes an OdooRestoreJob (web and cron go to 0 while it runs). The copy is "
        "neutralized (mail servers, crons off; a new database identity) unless --no-neutralize.",
    )
    p.add_argument("name", metavar="NAME", help="the OdooInstance to restore into")
    p.add_argument(
        "--from", dest="source", required=True, metavar="s3://BUCKET/KEY", help="the backup"
    )
    p.add_argument(
        "--format", choices=list(FORMATS),
        help="default: the key's extension (.zip, .sql, .dump), else zip",
    )  # fmt: skip
    p.add_argument(
        "--no-neutralize", dest="neutralize", action="store_false",
        help="keep the database as it was (a production restore of the same database only)",
    )  # fmt: skip
    _s3_flags(p, "--from is")
    _wait_flags(p, "the restore")

    p = command(
        "upgrade",
        "update (odoo -u) or install (-i) modules (an OdooUpgradeJob)",
        "Update or install modules: the workflow makes an OdooUpgradeJob (a safety backup "
        "first while web serves, then web and cron at 0 until the upgraded instance is ready; "
        "rolled back on failure). Without --modules and --install: -u all.",
    )
    p.add_argument("name", metavar="NAME", help="the OdooInstance")
    p.add_argument("--modules", default="", metavar="A,B", help="modules to update (-u)")
    p.add_argument("--install", default="", metavar="C,D", help="modules to install (-i)")
    p.add_argument(
        "--at", metavar="TIME", type=_time,
        help="not before this time (RFC 3339, e.g. 2026-12-06T02:00:00Z)",
    )  # fmt: skip
    _wait_flags(p, "the upgrade")

    p = command(
        "hold",
        "stop the operator acting on the instance (a stop and the deletion excepted)",
        "Hold the instance: the operator applies nothing, scales nothing and starts no job "
        "until `kubectl odoo resume` (a stop, replicas 0, and the deletion are still served; "
        "the backup schedule pauses). Shown in status (condition Held) and in Temporal "
        "(OdooHeld, the workflow's details). Backup, restore and upgrade requests are "
        "refused meanwhile; job resources applied with kubectl wait.",
    )
    p.add_argument("name", metavar="NAME", help="the OdooInstance")
    p.add_argument("--reason", required=True, help="why (shown in status and Events)")

    p = command("resume", "end a hold: the spec is applied again and queued jobs run")
    p.add_argument("name", metavar="NAME", help="the OdooInstance")

    p = command(
        "logs",
        "the logs of a job resource's batch Job, every step in order",
    )
    p.add_argument(
        "job",
        metavar="JOB",
        help="KIND/NAME (backup/..., restore/..., upgrade/..., init/...) or NAME",
    )

    p = command(
        "psql",
        "psql on the instance's database, as the instance's role",
        "Run the local psql on the instance's database as its role (host, port, database "
        "and role from its ConfigMap, the password from its Secret, passed in PGPASSWORD "
        "only). Arguments after -- go to psql.",
    )
    p.add_argument("name", metavar="NAME", help="the OdooInstance")
    p.add_argument("--host", help="connect here instead (e.g. through kubectl port-forward)")
    p.add_argument("--port", help="and this port")
    p.add_argument("psql_args", nargs=argparse.REMAINDER, metavar="-- PSQL ARGS")

    p = command(
        "completion",
        "print a shell completion script for kubectl-odoo",
        "Print the completion script of kubectl-odoo for bash or zsh, e.g. "
        "`source <(kubectl-odoo completion bash)`. `kubectl odoo <TAB>` needs none: "
        "kubectl's own completion runs kubectl_complete-odoo, installed with this package.",
    )
    p.add_argument("shell", choices=["bash", "zsh"])
    return parser


def _time(text: str) -> datetime:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time") from err
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv[:1] == ["__complete"]:
        _print_completions(parser, argv[1:])
        return 0
    args = parser.parse_args(argv)
    if args.command == "completion":
        sys.stdout.write(completion.script(args.shell))
        return 0
    from odoo_operator.plugin import commands

    return commands.run(args)


def complete() -> int:
    """The console script `kubectl_complete-odoo`: kubectl's plugin completion."""
    _print_completions(build_parser(), sys.argv[1:])
    return 0


def _print_completions(parser: argparse.ArgumentParser, words: Sequence[str]) -> None:
    for line in completion.candidates(parser, words, completion.kube_of):
        print(line)
    print(f":{completion.NO_FILE_COMPLETION}")


if __name__ == "__main__":
    sys.exit(main())
