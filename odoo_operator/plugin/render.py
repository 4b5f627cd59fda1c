"""The text of `kubectl odoo status` and `kubectl odoo history`: pure functions of a read.

Owns the words and layout: times in UTC (RFC 3339, seconds) with how long
ago, durations in the largest two units, the order of operations (the one
running, then the queue in the order the instance takes it: activities.
operation_resources.in_run_order), and the timeline of history (phase
changes with how long the instance stayed, operations with how long they
waited and ran). Must not read anything: `now` is given.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from activities import operation_resources
from model import naming
from model.payloads import JobKind
from odoo_operator.plugin.reads import InstanceView, JobView
from specs import conditions, events

__all__ = ["RECENT_TRANSITIONS", "duration", "history", "moment", "status"]

RECENT_TRANSITIONS = 5
"""Transitions `status` shows (`history` shows all the workflow keeps)."""
LAST_BACKUPS = 3
"""Finished backups `status` shows."""


def duration(span: timedelta) -> str:
    """`3d4h`, `2h5m`, `4m12s`, `9s`: the largest two units (never negative)."""
    seconds = max(int(span.total_seconds()), 0)
    parts = [
        (seconds // 86400, "d"),
        (seconds % 86400 // 3600, "h"),
        (seconds % 3600 // 60, "m"),
        (seconds % 60, "s"),
    ]
    first = next((i for i, (value, _) in enumerate(parts) if value), len(parts) - 1)
    return "".join(f"{value}{unit}" for value, unit in parts[first : first + 2])


def moment(at: datetime | None, now: datetime) -> str:
    """`2026-12-06T09:30:00Z (5m ago)`."""
    if at is None:
        return "-"
    stamp = at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{stamp} ({duration(now - at)} ago)"


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _row(*cells: str, widths: tuple[int, ...]) -> str:
    """One table row: each cell on one line (a script's several lines of error
    output joined with " | "), padded to its width."""
    cells = tuple(events.one_line(cell) for cell in cells)
    padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
    return "  " + "  ".join([*padded, *cells[len(widths) :]]).rstrip()


def status(view: InstanceView, now: datetime) -> str:
    """`kubectl odoo status NAME`."""
    spec, st, flow = view.spec, view.status, view.workflow
    lines = [f"Name:        {view.name}", f"Namespace:   {view.namespace}"]
    phase = st.get("phase") or "(none yet)"
    entered = next((r for r in reversed(flow.transitions) if r.to_phase == phase), None)
    if entered is not None:
        phase += f", since {moment(_at(entered.at), now)}"
    lines.append(f"Phase:       {phase}")
    message = st.get("message") or ""
    if flow.hold is not None:
        lines.append(f"Held:        since {moment(flow.hold.since, now)}: {flow.hold.reason}")
        # status.message opens with the hold's words: said just above.
        said = conditions.hold_message(flow.hold, view.name)
        if message.startswith(said):
            message = message.removeprefix(said).removeprefix("; ")
    if message:
        lines.append(f"Message:     {message}")
    lines.append(f"URL:         {st.get('url') or '-'}")
    lines.append(f"Image:       {spec.get('image') or '-'}")
    cron = (spec.get("cron") or {}).get("replicas", 1)
    lines.append(
        f"Replicas:    web {st.get('readyReplicas', 0)}/{spec.get('replicas', 1)} ready, "
        f"cron {cron}"
    )
    lines.append(f"Database:    {_database(view)}")
    lines.append(f"Workflow:    {_workflow_line(view)}")

    lines.append("Operations:")
    unfinished = [job for job in view.jobs if not job.finished_phase]
    ordered = operation_resources.in_run_order((job.kind, job.body) for job in unfinished)
    by_body = {id(job.body): job for job in unfinished}
    if not ordered:
        lines.append("  none running or queued")
    for _, body in ordered:
        job = by_body[id(body)]
        if job.phase == "Running" or job.job_name:
            when = f"started {moment(job.started, now)}"
            state = "Running"
        else:
            when = f"queued {moment(job.created, now)}"
            state = job.phase or "New"
        lines.append(_row(state, job.ref, when, job.message or "", widths=(9, 48, 36)))

    lines.append("Last backups:")
    backups = sorted(
        (j for j in view.jobs if j.kind is JobKind.BACKUP and j.finished_phase),
        key=lambda j: j.finished or j.created or now,
        reverse=True,
    )[:LAST_BACKUPS]
    if not backups:
        lines.append("  none")
    for job in backups:
        took = duration(job.finished - job.started) if job.finished and job.started else "-"
        lines.append(
            _row(
                job.phase or "",
                job.ref,
                f"{moment(job.finished, now)}, took {took}",
                job.location or "",
                widths=(9, 48, 36),
            )
        )

    lines.append("Recent transitions:")
    recent = flow.transitions[-RECENT_TRANSITIONS:]
    if not recent:
        lines.append(f"  {'none' if flow.problem is None else '(unknown: ' + flow.problem + ')'}")
    for record in recent:
        lines.append(
            _row(
                moment(_at(record.at), now),
                f"{record.from_phase} -> {record.to_phase}",
                record.guard,
                widths=(34, 31),
            )
        )
    return "\n".join(lines) + "\n"


def _database(view: InstanceView) -> str:
    conn = view.connection
    initialized = "initialized" if view.status.get("dbInitialized") else "not initialized"
    if not conn.get("db_name"):
        return f"- ({initialized})"
    return (
        f"{conn['db_name']} on {conn.get('db_host', '?')}:{conn.get('db_port', '?')} "
        f"as {conn.get('db_user', '?')} ({initialized})"
    )


def _workflow_line(view: InstanceView) -> str:
    workflow_id = naming.workflow_id(view.namespace, view.name)
    if view.workflow.problem is not None:
        return f"{workflow_id}: {view.workflow.problem}"
    held = ", on hold" if view.workflow.hold is not None else ""
    return f"{workflow_id} (phase {view.workflow.phase}{held})"


def history(view: InstanceView, now: datetime) -> str:
    """`kubectl odoo history NAME`: one timeline, oldest first."""
    lines = [_row("WHEN", "WHAT", "HOW LONG", widths=(22, 64))]
    entries = sorted(_timeline(view, now), key=lambda entry: entry[0])
    for at, what, how_long in entries:
        lines.append(_row(at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), what, how_long,
                          widths=(22, 64)))  # fmt: skip
    if view.workflow.problem is not None:
        lines.append(f"  (phase changes unknown: {view.workflow.problem})")
    return "\n".join(lines) + "\n"


def _timeline(view: InstanceView, now: datetime) -> Iterator[tuple[datetime, str, str]]:
    records = view.workflow.transitions
    for index, record in enumerate(records):
        at = _at(record.at)
        following = records[index + 1] if index + 1 < len(records) else None
        if following is not None:
            stayed = f"{record.to_phase} for {duration(_at(following.at) - at)}"
        else:
            stayed = f"{record.to_phase} for {duration(now - at)}, so far"
        yield at, f"phase {record.from_phase} -> {record.to_phase} ({record.guard})", stayed
    for held in view.workflow.holds:
        if held.until is not None:
            how_long = f"held {duration(held.until - held.since)}"
        else:
            how_long = f"held {duration(now - held.since)}, so far"
        yield held.since, f"on hold: {held.reason}", how_long
    for job in view.jobs:
        yield from _operation(job, now)


def _operation(job: JobView, now: datetime) -> Iterator[tuple[datetime, str, str]]:
    created = job.created or job.started or now
    if job.started is None:
        if not job.finished_phase:
            yield (
                created,
                f"{job.ref} queued ({job.phase or 'New'})",
                (f"waiting {duration(now - created)}, so far"),
            )
            return
        yield created, f"{job.ref} {job.phase}: {job.message or ''}".rstrip(": "), "never ran"
        return
    waited = duration(job.started - created)
    if job.finished is None:
        yield (
            job.started,
            f"{job.ref} running",
            (f"running {duration(now - job.started)} so far (waited {waited})"),
        )
        return
    what = f"{job.ref} {job.phase}"
    if job.message:
        what += f": {job.message}"
    yield job.started, what, f"ran {duration(job.finished - job.started)} (waited {waited})"
