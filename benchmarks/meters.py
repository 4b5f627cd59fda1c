"""What the suite counts: API requests, PostgreSQL connections, history events, CPU and RSS.

Owns reading the kube-apiserver's audit log (one line per request of an
audited user, `AUDIT_POLICY`), PostgreSQL's connection log lines
(`log_connections`), the Temporal histories of the instance workflows, and
sampling processes with psutil. Each meter reads from a mark to now, so a
scenario takes a mark when it starts and reads when it ends. It must not
start or stop anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from temporalio.client import Client

__all__ = [
    "AuditLog",
    "ConnectionLog",
    "HistoryCounts",
    "ProcessSampler",
    "audit_policy",
    "history_added",
    "history_counts",
    "history_lengths",
]

_SAMPLE_SECONDS = 0.25
"""How often ProcessSampler reads RSS: a peak between two samples is missed."""
_MIB = 1024 * 1024


def audit_policy(users: Sequence[str]) -> str:
    """An audit Policy (YAML text) logging one Metadata event per request of `users`
    (at RequestReceived: a watch counts when it is opened) and nothing else."""
    lines = [
        "apiVersion: audit.k8s.io/v1",
        "kind: Policy",
        "omitStages: [ResponseStarted, ResponseComplete, Panic]",
        "rules:",
        "- level: Metadata",
        f"  users: [{', '.join(json.dumps(u) for u in users)}]",
        "- level: None",
    ]
    return "\n".join(lines) + "\n"


class _Tail:
    """A log file read from a byte offset on."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def mark(self) -> int:
        """The file's current size in bytes: where the next read starts."""
        return self.path.stat().st_size if self.path.exists() else 0

    def lines_since(self, offset: int) -> list[str]:
        if not self.path.exists():
            return []
        with self.path.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode("utf-8", "replace")
        # A line still being written has no newline yet: it belongs to the next read.
        return text.split("\n")[:-1]


class AuditLog(_Tail):
    """kube-apiserver's JSON audit log (`--audit-log-format=json`)."""

    def requests_since(self, offset: int) -> Counter[tuple[str, str, str]]:
        """Requests since `offset` by (user, verb, resource[/subresource])."""
        counts: Counter[tuple[str, str, str]] = Counter()
        for line in self.lines_since(offset):
            if not line.strip():
                continue
            event = json.loads(line)
            ref = event.get("objectRef") or {}
            resource = ref.get("resource") or event.get("requestURI", "?").split("?")[0]
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            counts[(event["user"]["username"], event["verb"], resource)] += 1
        return counts


_AUTHORIZED = re.compile(r"connection authorized: user=(\S+)")


class ConnectionLog(_Tail):
    """PostgreSQL's server log with `log_connections` on."""

    def connections_since(self, offset: int) -> Counter[str]:
        """Connections authorized since `offset`, by user."""
        counts: Counter[str] = Counter()
        for line in self.lines_since(offset):
            match = _AUTHORIZED.search(line)
            if match:
                counts[match.group(1)] += 1
        return counts


@dataclass
class _Watched:
    process: psutil.Process
    children: bool
    """Count the CPU of its child processes too (PostgreSQL's backends)."""
    peak_rss: int = 0


@dataclass(frozen=True)
class ProcessFigures:
    """One process over one phase: CPU seconds used, peak and last RSS in MiB."""

    cpu_seconds: float
    peak_rss_mib: float
    rss_mib: float

    def as_dict(self) -> dict[str, float]:
        return {
            "cpu_seconds": round(self.cpu_seconds, 2),
            "peak_rss_mib": round(self.peak_rss_mib, 1),
            "rss_mib": round(self.rss_mib, 1),
        }


@dataclass
class Phase:
    """CPU seconds of each watched process when a phase began."""

    cpu: dict[str, float] = field(default_factory=dict)
    started: float = 0.0


class ProcessSampler:
    """Samples the RSS of named processes every 0.25 s in a thread; CPU from their
    cumulative times. `begin()` starts a phase (peaks reset), `end()` reads it."""

    def __init__(self) -> None:
        self._watched: dict[str, _Watched] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="process-sampler", daemon=True)

    def watch(self, name: str, pid: int, *, children: bool = False) -> None:
        with self._lock:
            self._watched[name] = _Watched(psutil.Process(pid), children)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._watched)

    def forget(self, name: str) -> None:
        with self._lock:
            self._watched.pop(name, None)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def begin(self) -> Phase:
        with self._lock:
            for watched in self._watched.values():
                watched.peak_rss = _rss(watched.process)
            return Phase({n: _cpu(w) for n, w in self._watched.items()}, time.monotonic())

    def end(self, phase: Phase) -> dict[str, ProcessFigures]:
        with self._lock:
            figures: dict[str, ProcessFigures] = {}
            for name, watched in self._watched.items():
                rss = _rss(watched.process)
                watched.peak_rss = max(watched.peak_rss, rss)
                figures[name] = ProcessFigures(
                    cpu_seconds=_cpu(watched) - phase.cpu.get(name, 0.0),
                    peak_rss_mib=watched.peak_rss / _MIB,
                    rss_mib=rss / _MIB,
                )
            return figures

    def _run(self) -> None:
        while not self._stop.wait(_SAMPLE_SECONDS):
            with self._lock:
                for watched in self._watched.values():
                    watched.peak_rss = max(watched.peak_rss, _rss(watched.process))


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.Error:
        return 0


def _cpu(watched: _Watched) -> float:
    """User plus system seconds; with `children`, also of its children, living
    (their own times) and ended (what the parent collected)."""
    try:
        times = watched.process.cpu_times()
        total = times.user + times.system
        if watched.children:
            total += times.children_user + times.children_system
            for child in watched.process.children(recursive=True):
                try:
                    child_times = child.cpu_times()
                except psutil.Error:
                    continue
                total += child_times.user + child_times.system
        return float(total)
    except psutil.Error:
        return 0.0


@dataclass(frozen=True)
class HistoryCounts:
    """Totals over the workflows read: events, activities, local activities
    (MarkerRecorded), signals and workflow tasks completed."""

    workflows: int
    events: int
    activities: int
    local_activities: int
    signals: int
    workflow_tasks: int

    def per_workflow(self) -> dict[str, float]:
        n = max(self.workflows, 1)
        return {
            "events": round(self.events / n, 1),
            "activities": round(self.activities / n, 1),
            "local_activities": round(self.local_activities / n, 1),
            "signals": round(self.signals / n, 1),
            "workflow_tasks": round(self.workflow_tasks / n, 1),
        }


_KINDS: Mapping[str, str] = {
    "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED": "activities",
    "EVENT_TYPE_MARKER_RECORDED": "local_activities",
    "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED": "signals",
    "EVENT_TYPE_WORKFLOW_TASK_COMPLETED": "workflow_tasks",
}


async def history_counts(
    client: Client, workflow_ids: Iterable[str], *, concurrency: int = 20
) -> HistoryCounts:
    """Fetch the current run's history of each workflow and count its events."""
    from temporalio.api.enums.v1 import EventType

    limit = asyncio.Semaphore(concurrency)
    totals: Counter[str] = Counter()

    async def one(workflow_id: str) -> None:
        async with limit:
            history = await client.get_workflow_handle(workflow_id).fetch_history()
        for event in history.events:
            totals["events"] += 1
            kind = _KINDS.get(EventType.Name(event.event_type))
            if kind is not None:
                totals[kind] += 1

    ids = list(workflow_ids)
    await asyncio.gather(*(one(workflow_id) for workflow_id in ids))
    return HistoryCounts(
        workflows=len(ids),
        events=totals["events"],
        activities=totals["activities"],
        local_activities=totals["local_activities"],
        signals=totals["signals"],
        workflow_tasks=totals["workflow_tasks"],
    )


async def history_lengths(
    client: Client, workflow_ids: Iterable[str], *, concurrency: int = 20
) -> dict[str, tuple[str, int]]:
    """Each workflow's current run and its history length (a mark for history_added)."""
    limit = asyncio.Semaphore(concurrency)

    async def one(workflow_id: str) -> tuple[str, tuple[str, int]]:
        async with limit:
            described = await client.get_workflow_handle(workflow_id).describe()
        length = described.raw_description.workflow_execution_info.history_length
        return workflow_id, (described.run_id, length)

    return dict(await asyncio.gather(*(one(workflow_id) for workflow_id in workflow_ids)))


async def history_added(
    client: Client, since: Mapping[str, tuple[str, int]], *, concurrency: int = 20
) -> dict[str, list[str]]:
    """The events each workflow's history gained after the mark `since`, as event type
    names without their prefix (`MARKER_RECORDED`), activity scheduling events with the
    activity's name (`ACTIVITY_TASK_SCHEDULED apply_children`). A run that continued
    as new meanwhile counts from its new run's start."""
    from temporalio.api.enums.v1 import EventType

    limit = asyncio.Semaphore(concurrency)

    async def one(workflow_id: str, mark: tuple[str, int]) -> tuple[str, list[str]]:
        run_id, length = mark
        async with limit:
            handle = client.get_workflow_handle(workflow_id)
            now_run = (await handle.describe()).run_id
            history = await handle.fetch_history()
        events = history.events
        start = length if now_run == run_id else 0
        names = []
        for event in events[start:]:
            name = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
            if event.HasField("activity_task_scheduled_event_attributes"):
                name += " " + event.activity_task_scheduled_event_attributes.activity_type.name
            if event.HasField("workflow_execution_signaled_event_attributes"):
                name += " " + _signal(event.workflow_execution_signaled_event_attributes)
            names.append(name)
        return workflow_id, names

    return dict(await asyncio.gather(*(one(w, n) for w, n in since.items())))


def _signal(attributes: Any) -> str:
    """A signal's name, and a poke's reason (what the watcher saw)."""
    name = str(attributes.signal_name)
    if name == "poke" and attributes.input.payloads:
        with contextlib.suppress(ValueError, KeyError, TypeError):
            name += f" ({json.loads(attributes.input.payloads[0].data)['reason']})"
    return name
