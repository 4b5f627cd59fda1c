"""The suite's output: the machine's description, figures, JSON and Markdown.

Owns summarising lists of seconds (p50, p95, max), describing the machine
and the versions measured, and rendering one run's results as Markdown
tables (printed and written next to the JSON in bench/results/). It must
not measure anything.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

__all__ = ["describe_machine", "markdown", "seconds_summary", "write"]

ROOT = Path(__file__).resolve().parents[1]


def seconds_summary(values: Sequence[float]) -> dict[str, float]:
    """p50, p95 and max of `values` (seconds), rounded to 10 ms; empty when none."""
    if not values:
        return {}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return {
        "p50": round(statistics.median(ordered), 2),
        "p95": round(p95, 2),
        "max": round(ordered[-1], 2),
    }


def _run(*argv: str) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
    except OSError:
        return ""
    return result.stdout.strip()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_machine(
    *, kubernetes_version: str, temporal_binary: Path, postgres_version: str
) -> dict[str, Any]:
    """Cores, RAM (GiB), CPU model, load average, OS, and the versions and commit measured."""
    import temporalio

    commit = _run("git", "rev-parse", "HEAD")
    dirty = bool(_run("git", "status", "--porcelain", "--untracked-files=no"))
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 1024**3, 1),
        "cpu_model": _cpu_model(),
        "load_average_at_start": [round(x, 2) for x in psutil.getloadavg()],
        "os": platform.platform(),
        "python": platform.python_version(),
        "kubernetes": kubernetes_version,
        "temporal": _run(str(temporal_binary), "--version").removeprefix("temporal version "),
        "temporalio_sdk": temporalio.__version__,
        "postgresql": postgres_version,
        "git_commit": commit + (" (with uncommitted changes)" if dirty else ""),
    }


def write(results: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write `<date>_<commit>.json` and `.md` into `directory`; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    machine = results["machine"]
    stamp = machine["date"].replace(":", "").replace("-", "")
    stem = f"{stamp}_{machine['git_commit'][:8]}"
    json_path = directory / f"{stem}.json"
    md_path = directory / f"{stem}.md"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path.write_text(markdown(results))
    return json_path, md_path


def _fmt(value: Any, unit: str = "") -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, float):
        return f"{value:.2f}{unit}" if abs(value) < 10 else f"{value:.1f}{unit}"
    return f"{value}{unit}"


_APPLIED_KINDS = (
    "serviceaccounts",
    "roles",
    "rolebindings",
    "configmaps",
    "services",
    "persistentvolumeclaims",
    "ingresses",
    "httproutes",
)


def _apply_requests(by_kind: dict[str, float]) -> float:
    """An apply's requests per instance, from the convergence's (which applied once):
    every request on the kinds only apply_children touches, plus the two Deployments'
    get and apply."""
    return sum(v for k, v in by_kind.items() if k.split(" ", 1)[-1] in _APPLIED_KINDS) + 4


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) if not isinstance(c, str) else c for c in r) + " |"
              for r in rows]  # fmt: skip
    return lines


def _process_cell(processes: dict[str, Any], prefix: str) -> str:
    """`<cpu> s / <peak> MiB` per process whose name starts with `prefix`."""
    cells = [
        f"{p['cpu_seconds']:.1f} s / {p['peak_rss_mib']:.0f} MiB"
        for name, p in sorted(processes.items())
        if name.startswith(prefix)
    ]
    return ", ".join(cells)


def markdown(results: dict[str, Any]) -> str:
    """The whole result as Markdown: machine, then one table per scenario."""
    machine = results["machine"]
    setup = results["setup"]
    lines = [
        f"# odoo-operator benchmark, {machine['date']}",
        "",
        f"- machine: {machine['cores']} cores ({machine['physical_cores']} physical), "
        f"{machine['ram_gib']} GiB RAM, {machine['cpu_model']}; load average at start "
        f"{', '.join(str(x) for x in machine['load_average_at_start'])}",
        f"- Python {machine['python']}, Kubernetes {machine['kubernetes']}, Temporal "
        f"{machine['temporal']} (SDK {machine['temporalio_sdk']}), PostgreSQL "
        f"{machine['postgresql']}; commit {machine['git_commit']}",
        f"- simulated kubelet delay 0 s; kube-controller-manager client "
        f"{setup['kcm_qps']} requests/s, burst {setup['kcm_burst']}"
        + (" (raised from 20/30)" if (setup["kcm_qps"], setup["kcm_burst"]) != (20, 30) else ""),
        f"- instance workflow resync interval {setup['resync_interval_seconds']:.0f} s; "
        f"idle window {setup['idle_seconds']:.0f} s",
        "",
        "## Convergence: N instances created at once, until all Running",
        "",
    ]
    runs = results["runs"]
    rows = []
    for run in runs:
        c = run["convergence"]
        t = c["to_running"]
        h = c["history_per_instance"]
        rows.append(
            [
                str(run["size"]),
                str(run["workers"]),
                str(run["max_cached_workflows"]),
                _fmt(t.get("p50"), " s"),
                _fmt(t.get("p95"), " s"),
                _fmt(t.get("max"), " s"),
                _fmt(c["all_running_seconds"], " s"),
                _fmt(c["api_requests_per_instance"]["total"]),
                _fmt(c["pg_connections_per_instance"]),
                f"{h['events']:.0f} ({h['activities']:.0f} act, {h['local_activities']:.0f} "
                f"local, {h['signals']:.0f} sig)",
                _process_cell(c["processes"], "watcher"),
                _process_cell(c["processes"], "worker"),
            ]
        )
    lines += _table(
        [
            "N",
            "workers",
            "cache",
            "to Running p50",
            "p95",
            "max",
            "all Running",
            "API req/inst",
            "PG conn/inst",
            "history events/inst",
            "watcher CPU / peak RSS",
            "worker CPU / peak RSS",
        ],
        rows,
    )
    lines += ["", "## Idle: the N instances left alone", ""]
    rows = []
    resync = setup["resync_interval_seconds"]
    reapply = setup.get("reapply_interval_seconds", resync)
    for run in runs:
        i = run.get("idle")
        if not i:
            continue
        one_resync = i.get("resync_api_requests_per_instance")
        apply_cost = _apply_requests(run["convergence"]["api_requests_by_kind"])
        amortized = (
            i["api_requests_per_instance_per_minute"] * 5
            + one_resync * 300 / resync
            + apply_cost * 300 / reapply
            if one_resync is not None
            else None
        )
        rows.append(
            [
                str(run["size"]),
                str(run["workers"]),
                _fmt(i["seconds"], " s"),
                _fmt(i["api_requests_per_instance_per_minute"]),
                _fmt(i["pg_connections_per_instance_per_minute"]),
                _fmt(one_resync),
                _fmt(i.get("resync_pg_connections_per_instance")),
                _fmt(apply_cost),
                _fmt(amortized),
                _process_cell(i["processes"], "watcher"),
                _process_cell(i["processes"], "worker"),
            ]
        )
    lines += _table(
        [
            "N",
            "workers",
            "window",
            "API req/inst/min",
            "PG conn/inst/min",
            "one resync: API req/inst",
            "PG conn/inst",
            "one re-apply: API req/inst",
            "API req/inst per 5 min, resyncs and re-applies included",
            "watcher CPU / peak RSS",
            "worker CPU / peak RSS",
        ],
        rows,
    )
    lines += [
        "",
        f"A resync (every {resync:.0f} s) is one snapshot, measured by poking each instance "
        f"once; every {reapply:.0f} s it also re-applies the children (the apply requests of "
        "the convergence: the child kinds and the Deployments' get and patch).",
    ]
    lines += ["", "## Change: a new image on all N at once, until both Deployments rolled", ""]
    rows = []
    for run in runs:
        ch = run.get("change")
        if not ch:
            continue
        t = ch["to_rolled"]
        rows.append(
            [
                str(run["size"]),
                str(run["workers"]),
                _fmt(t.get("p50"), " s"),
                _fmt(t.get("p95"), " s"),
                _fmt(t.get("max"), " s"),
                _fmt(ch["all_rolled_seconds"], " s"),
                _fmt(ch["all_observed_seconds"], " s"),
                _fmt(ch["api_requests_per_instance"]["total"]),
                _process_cell(ch["processes"], "worker"),
            ]
        )
    lines += _table(
        [
            "N",
            "workers",
            "rolled p50",
            "p95",
            "max",
            "all rolled",
            "all Running at new generation",
            "API req/inst",
            "worker CPU / peak RSS",
        ],
        rows,
    )
    lines += ["", "## History budget: events an instance adds to its workflow history", ""]
    rows = []
    for run in runs:
        budget = run.get("history_budget") or {}
        cells = []
        for key in ("idle_day", "backup_cycle", "spec_change"):
            entry = budget.get(key) or {}
            events = entry.get("events")
            cell = "-" if events is None else f"{events:g} of {entry['budget']}"
            if entry.get("pokes") is not None:
                cell += f" ({entry['pokes']:g} pokes)"
            cells.append(cell)
        backup = run.get("backup") or {}
        seconds = (backup.get("to_completed") or {}).get("p50")
        rows.append([str(run["size"]), str(run["workers"]), *cells, _fmt(seconds, " s")])
    lines += _table(
        [
            "N",
            "workers",
            "idle day",
            "backup cycle",
            "spec change",
            "backup Completed p50",
        ],
        rows,
    )
    lines += [
        "",
        'Events per instance against the budget (README, "History budget"). A backup '
        "cycle (the `backup` signal a Schedule sends, until Running again) and a spec change "
        "(a new image: the apply, then the pokes of the rollout's readiness changes, 4 events "
        "each unless folded: with the default Recreate strategy the web Deployment's "
        "readiness drops to 0 and comes back) are measured; an "
        "idle day is the resync measured by a poke (plus the timer it restarts) times the "
        f"resyncs a day holds ({86400 / resync:g}), plus the apply measured in the change "
        f"times the re-applies a day holds ({86400 / reapply:g}).",
    ]
    lines += ["", "## Floors: the same N, without the operator", ""]
    rows = []
    for run in runs:
        f = run.get("floors")
        if not f:
            continue
        ta, sl = f["temporal_alone"], f["straight_line"]
        rows.append(
            [
                str(run["size"]),
                _fmt(run["convergence"]["all_running_seconds"], " s"),
                f"{ta['activities']} + {ta['local_activities']} local",
                _fmt(ta["seconds"], " s"),
                _fmt(f["operator_over_temporal_alone"], "x"),
                _fmt(sl["seconds"], " s"),
                _fmt(sl["to_running"].get("p50"), " s"),
                _fmt(sl["api_requests_per_instance"]),
                _fmt(sl["pg_connections_per_instance"]),
                _fmt(f["operator_over_straight_line"], "x"),
            ]
        )
    lines += _table(
        [
            "N",
            "operator all Running",
            "(a) activities/workflow",
            "(a) Temporal alone",
            "operator / (a)",
            "(b) straight line",
            "(b) p50",
            "(b) API req/inst",
            "(b) PG conn/inst",
            "operator / (b)",
        ],
        rows,
    )
    lines += ["", "## CPU seconds of every process during the convergence", ""]
    for run in runs:
        shown = ", ".join(
            f"{name} {p['cpu_seconds']:.1f}"
            for name, p in sorted(run["convergence"]["processes"].items())
        )
        lines.append(
            f"- N={run['size']}, workers {run['workers']}, cache "
            f"{run['max_cached_workflows']}: {shown}"
        )
    lines += ["", "## Where the requests went (convergence, per instance)", ""]
    for run in runs:
        top = run["convergence"]["api_requests_by_kind"]
        shown = ", ".join(f"{k} {v}" for k, v in list(top.items())[:12])
        lines.append(
            f"- N={run['size']}, workers {run['workers']}, cache "
            f"{run['max_cached_workflows']}: {shown}"
        )
    for error in results.get("errors", []):
        lines.append(
            f"- not measured: N={error['size']}, workers {error['workers']}, cache "
            f"{error['cache']}: {error['error']}"
        )
    return "\n".join(lines) + "\n"
