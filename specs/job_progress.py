"""What a running batch Job says of its progress: the step it is in and how far it came.

Owns turning a running Job's Pod and the tail of the running container's log
into a `JobProgress`. The step is the container that runs (a Pod runs its
init containers one after another, then its containers: specs.jobs names
them dump, package, upload; download, extract, load, neutralize, verify,
filestore; init; upgrade; a restore's filestore Job: filestore). How far it
came is the last line the step printed:

- the step scripts (scripts/jobs/, `progress` in common.sh) print to stderr
  every few seconds

      progress: step=backup-upload bytes=38000000 total=120000000

  (`bytes`, `rows` or `tables`; `total` when the step knows it; the script's
  own step name is not the container's, which is the one shown);
- Odoo (init, upgrade) logs `Loading module <name> (<i>/<n>)` at info level
  for each module it installs or updates (odoo/modules/loading.py, 14.0 on;
  the modules it only loads are logged at debug level): `i` of the `n`
  modules of the graph.

Pure: the follow_job activity (activities.job_follow) reads the Pod and the
log and hands them in; nothing here reads a clock or the API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from model.payloads import JobProgress

__all__ = ["LOG_TAIL_LINES", "newest", "progress", "running_container"]

LOG_TAIL_LINES = 40
"""The log lines follow_job reads each time: a step prints one progress line every
few seconds, so the last one is always among them."""

_PROGRESS = re.compile(
    r"progress: step=[\w.-]+ (?P<unit>bytes|rows|tables)=(?P<done>\d+)"
    r"(?: total=(?P<total>\d+))?"
)
_ODOO_MODULE = re.compile(r"Loading module [\w.]+ \((?P<done>\d+)/(?P<total>\d+)\)")


def running_container(pod: Mapping[str, Any]) -> str | None:
    """The container of `pod` that runs now: an init container running, else a
    container running; None before the first starts and after the last ended."""
    status = pod.get("status") or {}
    for statuses in (status.get("initContainerStatuses"), status.get("containerStatuses")):
        for container in statuses or []:
            if "running" in (container.get("state") or {}):
                return str(container["name"])
    return None


def progress(step: str, log: str) -> JobProgress:
    """How far `step` came, from the tail of its container's log (see the docstring)."""
    for line in reversed(log.splitlines()):
        match = _PROGRESS.search(line)
        if match is not None:
            total = match["total"]
            return JobProgress.model_validate(
                {
                    "step": step,
                    "done": int(match["done"]),
                    "total": int(total) if total is not None else None,
                    "unit": match["unit"],
                }
            )
        match = _ODOO_MODULE.search(line)
        if match is not None:
            return JobProgress(
                step=step, done=int(match["done"]), total=int(match["total"]), unit="modules"
            )
    return JobProgress(step=step)


def newest(pods: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The newest Pod of a Job (one per attempt)."""
    if not pods:
        return None
    return max(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")
