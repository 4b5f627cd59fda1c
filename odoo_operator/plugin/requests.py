"""The plugin's mutating commands: the instance workflow's Updates, and waiting on their result.

Owns turning a command line into the Update's input (workflows.instance:
`backup`, `restore`, `upgrade`, `hold`, `resume`; payloads of model.payloads),
the words of its three answers (accepted, with the job resource's name;
queued behind the operations named; refused, with the workflow's reason,
`Refused`), where an S3 location without an endpoint takes one (the flags,
else the OdooBackupJob that wrote that object, else the instance's
spec.backup.destination), and `wait` for a job resource to finish, printing
each phase and message as it changes. Must not make a job resource itself:
the workflow does, so kubectl and the temporal CLI show the same thing.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO, TypeVar

from pydantic import BaseModel
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from activities import api
from model.crds import BackupFormat, S3Config
from model.crds.common import SecretReference
from model.payloads import (
    BackupRequest,
    BackupRequested,
    HoldInput,
    HoldResult,
    JobKind,
    RestoreInput,
    RestoreResult,
    ResumeInput,
    ResumeResult,
    UpgradeInput,
    UpgradeResult,
)
from odoo_operator.plugin import session as sessions
from specs import job_outcome

__all__ = [
    "Location",
    "Refused",
    "S3Options",
    "backup",
    "hold",
    "parse_location",
    "restore",
    "resume",
    "upgrade",
    "wait",
]

_R = TypeVar("_R", bound=BaseModel)
POLL_SECONDS = 1.0
"""How often `--wait` reads the job resource."""


class Refused(Exception):
    """The workflow refused the request (or there is no workflow to ask); the message says why."""


@dataclass(frozen=True)
class Location:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_location(text: str) -> Location:
    """`s3://bucket/key` (ValueError naming the form when it is not)."""
    bucket, _, key = text.removeprefix("s3://").partition("/")
    if not text.startswith("s3://") or not bucket or not key:
        raise ValueError(f"{text!r} is not s3://BUCKET/KEY")
    return Location(bucket, key)


@dataclass(frozen=True)
class S3Options:
    """Where an S3 location's endpoint and credentials come from when the flags give them."""

    endpoint: str | None = None
    region: str | None = None
    secret: str | None = None
    insecure: bool = False


def _s3_config(
    session: sessions.Session, instance: dict[str, Any], where: Location, given: S3Options
) -> S3Config:
    """`where` with an endpoint and credentials: the flags, else those of the OdooBackupJob
    that wrote that object, else the instance's spec.backup.destination."""
    known: dict[str, Any] = {}
    for item in session.kube.list_of(api.job_resource(JobKind.BACKUP.plural), session.namespace):
        destination = job_outcome.backup_destination(item)
        if (destination.get("bucket"), destination.get("objectKey")) == (where.bucket, where.key):
            known = destination
            break
    else:
        known = ((instance.get("spec") or {}).get("backup") or {}).get("destination") or {}
    endpoint = given.endpoint or known.get("endpoint")
    if not endpoint:
        raise Refused(
            f"{where}: no endpoint known for it (no OdooBackupJob wrote it, and the instance "
            "has no spec.backup); give --endpoint and --s3-secret"
        )
    secret = known.get("s3CredentialsSecretRef")
    return S3Config(
        bucket=where.bucket,
        object_key=where.key,
        endpoint=endpoint,
        region=given.region or known.get("region"),
        insecure=given.insecure or bool(known.get("insecure")),
        s3_credentials_secret_ref=(
            SecretReference(name=given.secret)
            if given.secret
            else SecretReference.model_validate(secret)
            if secret
            else None
        ),
    )


def _instance(session: sessions.Session, name: str) -> dict[str, Any]:
    body = session.kube.find(api.INSTANCE, session.namespace, name)
    if body is None:
        raise Refused(f"no OdooInstance {name} in namespace {session.namespace}")
    return body


async def _update(
    session: sessions.Session, name: str, update: str, request: BaseModel, result: type[_R]
) -> _R:
    """The answer of Update `update` of the instance's workflow, or Refused saying why not."""
    _instance(session, name)  # a name that is no instance says so, not "no workflow"
    handle = await session.workflow(name)
    try:
        answer = await handle.execute_update(update, request, result_type=result)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        raise Refused(cause.message if isinstance(cause, ApplicationError) else str(err)) from err
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise Refused(
                f"no workflow {handle.id}: the operator has not picked up "
                f"{session.namespace}/{name} (is it running and watching this namespace?)"
            ) from err
        raise
    assert isinstance(answer, result)
    return answer


def _answer(kind: JobKind, name: str, namespace: str, behind: tuple[str, ...]) -> str:
    made = f"{kind.resource_kind}/{name} in namespace {namespace}"
    if behind:
        return f"queued: {made}, behind {', '.join(behind)}"
    return f"accepted: {made}"


async def backup(
    session: sessions.Session,
    name: str,
    *,
    to: Location | None,
    fmt: BackupFormat | None,
    with_filestore: bool | None,
    s3: S3Options,
    out: TextIO,
) -> BackupRequested:
    destination = None
    if to is not None:
        destination = _s3_config(session, _instance(session, name), to, s3)
    request = BackupRequest(destination=destination, format=fmt, with_filestore=with_filestore)
    try:
        made = await _update(session, name, "backup", request, BackupRequested)
    except Refused as err:
        if to is None and str(err).startswith("destination:"):
            raise Refused(f"{err} (here: --to s3://BUCKET/KEY)") from err
        raise
    print(_answer(JobKind.BACKUP, made.name, made.namespace, made.queued_behind), file=out)
    print(f"  to s3://{made.bucket}/{made.object_key}", file=out)
    return made


async def restore(
    session: sessions.Session,
    name: str,
    *,
    source: Location,
    fmt: BackupFormat | None,
    neutralize: bool,
    s3: S3Options,
    out: TextIO,
) -> RestoreResult:
    config = _s3_config(session, _instance(session, name), source, s3)
    request = RestoreInput(source=config, format=fmt, neutralize=neutralize)
    made = await _update(session, name, "restore", request, RestoreResult)
    print(_answer(JobKind.RESTORE, made.name, made.namespace, made.queued_behind), file=out)
    print(f"  from {source} ({request.backup_format.value})", file=out)
    return made


async def upgrade(
    session: sessions.Session,
    name: str,
    *,
    modules: tuple[str, ...],
    install: tuple[str, ...],
    at: datetime | None,
    out: TextIO,
) -> UpgradeResult:
    request = UpgradeInput(modules=modules, modules_install=install, scheduled_time=at)
    made = await _update(session, name, "upgrade", request, UpgradeResult)
    print(_answer(JobKind.UPGRADE, made.name, made.namespace, made.queued_behind), file=out)
    # What the OdooUpgradeJob runs (specs.odoo_cli.upgrade_args: both empty means -u all).
    words = [f"-u {','.join(modules) or 'all'}"] if modules or not install else []
    if install:
        words.append(f"-i {','.join(install)}")
    print(f"  odoo {' '.join(words)}" + (f", not before {at.isoformat()}" if at else ""), file=out)
    return made


async def hold(session: sessions.Session, name: str, *, reason: str, out: TextIO) -> HoldResult:
    held = await _update(session, name, "hold", HoldInput(reason=reason), HoldResult)
    since = held.hold.since.strftime("%Y-%m-%dT%H:%M:%SZ")
    again = " (already on hold: reason replaced)" if held.already_held else ""
    print(f"on hold: {session.namespace}/{name} since {since}{again}", file=out)
    print(
        "  the operator applies, scales and starts nothing but a stop (replicas 0) or the "
        f"deletion until: kubectl odoo resume {name}",
        file=out,
    )
    return held


async def resume(session: sessions.Session, name: str, *, out: TextIO) -> ResumeResult:
    resumed = await _update(session, name, "resume", ResumeInput(), ResumeResult)
    if resumed.ended is None:
        print(f"not on hold: {session.namespace}/{name}; nothing to resume", file=out)
    else:
        print(
            f"resumed: {session.namespace}/{name} (the hold was: {resumed.ended.reason})", file=out
        )
    return resumed


async def wait(
    session: sessions.Session,
    kind: JobKind,
    name: str,
    *,
    timeout: float,
    out: TextIO = sys.stdout,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Wait until the job resource finishes, printing each phase and message once; True
    when it Completed. TimeoutError after `timeout` seconds."""
    resource = api.job_resource(kind.plural)
    until = clock() + timeout
    said: tuple[str | None, str | None] | None = None
    while True:
        body = session.kube.find(resource, session.namespace, name)
        if body is None:
            print(f"{kind.resource_kind}/{name} was deleted", file=out)
            return False
        status = body.get("status") or {}
        now: tuple[str | None, str | None] = (status.get("phase"), status.get("message"))
        if now != said:
            message = f": {now[1]}" if now[1] else ""
            print(f"{kind.resource_kind}/{name} {now[0] or 'New'}{message}", file=out, flush=True)
            said = now
        if now[0] in ("Completed", "Failed"):
            return now[0] == "Completed"
        if clock() > until:
            raise TimeoutError(f"{kind.resource_kind}/{name} not finished after {timeout:.0f} s")
        await asyncio.sleep(POLL_SECONDS)
