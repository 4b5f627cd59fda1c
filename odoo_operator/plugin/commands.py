"""Running one `kubectl odoo` command: open the session, do it, say what happened.

Owns dispatching a parsed command line (odoo_operator.plugin.cli) to the
modules that read (reads, render, logs), ask (requests) or hand over (psql),
and turning their refusals into a message on stderr and exit status 1.
Imported only once a command runs (it loads Kubernetes, Temporal and the
models).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from activities import failures
from model.crds import BackupFormat
from model.payloads import JobKind
from odoo_operator import environment
from odoo_operator.plugin import logs, psql, reads, render, requests
from odoo_operator.plugin import session as sessions

__all__ = ["run"]

PROG = "kubectl odoo"


def run(args: argparse.Namespace) -> int:
    """Run the command `args` names; its exit status."""
    try:
        return asyncio.run(_run(args))
    except (
        requests.Refused,
        reads.NotFound,
        logs.JobNotFound,
        psql.PsqlError,
        sessions.TemporalUnreachable,
        TimeoutError,
        ValueError,
    ) as err:
        print(f"{PROG} {args.command}: {err}", file=sys.stderr)
        return 1
    except failures.ApiError as err:
        print(f"{PROG} {args.command}: {err.summary}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _modules(text: str) -> tuple[str, ...]:
    return tuple(m.strip() for m in text.split(",") if m.strip())


def _session(args: argparse.Namespace) -> sessions.Session:
    temporal = environment.temporal_client(
        {"address": args.temporal_address, "namespace": args.temporal_namespace}
    )
    return sessions.open_session(
        namespace=args.namespace,
        kubeconfig=args.kubeconfig,
        context=args.context,
        temporal=temporal,
    )


async def _run(args: argparse.Namespace) -> int:
    out = sys.stdout
    session = _session(args)
    try:
        command: str = args.command
        if command in ("status", "history"):
            view = await reads.read_instance(session, args.name)
            text = render.status if command == "status" else render.history
            out.write(text(view, datetime.now(UTC)))
            return 0
        if command == "logs":
            logs.print_logs(session.kube, session.namespace, args.job, out)
            return 0
        if command == "psql":
            extra = list(args.psql_args)
            if extra[:1] == ["--"]:
                extra = extra[1:]
            conn = psql.connection(
                session.kube, session.namespace, args.name, host=args.host, port=args.port
            )
            psql.exec_psql(conn, extra)  # does not return
            return 0
        if command == "hold":
            await requests.hold(session, args.name, reason=args.reason, out=out)
            return 0
        if command == "resume":
            await requests.resume(session, args.name, out=out)
            return 0
        return await _operation(session, args)
    finally:
        session.close()


async def _operation(session: sessions.Session, args: argparse.Namespace) -> int:
    """backup, restore and upgrade: the Update, then --wait."""
    out = sys.stdout
    fmt = BackupFormat(args.format) if getattr(args, "format", None) else None
    kind: JobKind
    if args.command == "backup":
        s3 = requests.S3Options(args.endpoint, args.region, args.s3_secret, args.insecure)
        to = requests.parse_location(args.to) if args.to else None
        made = await requests.backup(
            session, args.name, to=to, fmt=fmt, with_filestore=args.with_filestore, s3=s3, out=out
        )
        kind, name = JobKind.BACKUP, made.name
    elif args.command == "restore":
        s3 = requests.S3Options(args.endpoint, args.region, args.s3_secret, args.insecure)
        source = requests.parse_location(args.source)
        restored = await requests.restore(
            session, args.name, source=source, fmt=fmt, neutralize=args.neutralize, s3=s3, out=out
        )
        kind, name = JobKind.RESTORE, restored.name
    else:
        upgraded = await requests.upgrade(
            session,
            args.name,
            modules=_modules(args.modules),
            install=_modules(args.install),
            at=args.at,
            out=out,
        )
        kind, name = JobKind.UPGRADE, upgraded.name
    if not args.wait:
        return 0
    done = await requests.wait(session, kind, name, timeout=args.timeout, out=out)
    return 0 if done else 1
