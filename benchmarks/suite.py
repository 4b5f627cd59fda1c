"""The benchmark suite: the operator on the real control plane, measured.

For each N of `--sizes` (and each `--workers` and `--cache` variant), a
fresh `stack.Stack` (real kube-apiserver, etcd and kube-controller-manager,
simulated kubelet at zero delay, Temporal dev server, embedded PostgreSQL,
the operator as separate watcher and worker processes) and, in order:

- convergence: N OdooInstances created at once; per instance, seconds from
  its create call returning to the watch event showing status.phase
  Running; seconds from the first create until all are Running; per
  instance, the operator's Kubernetes API requests (audit log), PostgreSQL
  connections (connection log), CPU seconds and peak RSS of each process,
  counted until the operator made no request for 3 s (its writes right
  after Running included), and Temporal history events (read then);
- idle (`--idle-seconds`): nothing happens; the same counts per instance per
  minute; then one resync (a poke), with the history events it added;
- change: spec.image patched on all N at once; per instance, seconds until
  both its Deployments rolled (the new image in the template, observed
  generation, every replica updated and ready, no old one left), and until
  the instance is Running at its new generation; the history events added;
- backup: a `backup` signal to all N at once, as a backup Schedule sends it
  (the Job Pods succeed at once); per instance, seconds until its
  OdooBackupJob Completed and the history events the cycle added;
- the history budget (README, "History budget"), from those: events an idle
  instance adds a day (the resyncs and the re-apply a day holds, each as
  measured), a backup cycle, a reconcile after a spec change;
- floors, with the operator stopped: (a) Temporal alone, N workflows of as
  many trivial activities as an instance needed; (b) the straight line
  (`floors.StraightLine`); and the operator's all-Running time over each.

Idle, change and floors run for the first `--workers` and `--cache` value
only; the other variants (two workers; a workflow cache smaller than N, so
workflows are evicted and replay their histories) run the convergence.
Prints a Markdown report and writes it with the JSON into `--output-dir`.
Asserts nothing; exits non-zero when a scenario does not finish in time.

    scripts/dev/bench --sizes 1,10,100 --workers 1,2 --cache 1000,20
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import aiohttp
import psutil
import psycopg
from temporalio.client import Client

from benchmarks import floors, meters, observe, report, stack
from model import naming
from model.payloads import Poke, WorkflowSettings
from model.settings import WorkerSettings
from sandbox import processes

__all__ = ["main"]

INSTANCES = "/apis/bemade.org/v1alpha1/odooinstances"
DEPLOYMENTS = "/apis/apps/v1/deployments"
JOBS = "/apis/batch/v1/jobs"
BACKUPS = f"/apis/{naming.GROUP_VERSION}/odoobackupjobs"
NEW_IMAGE = "odoo:18.0-bench"
ADMIN_PASSWORD = "bench-admin-password"
HISTORY_BUDGET = {"idle_day": 20, "backup_cycle": 25, "spec_change": 15}
"""Events a history may gain (README, "History budget"; tests/workflows/test_history_budget.py)."""
QUIET_SECONDS = 3.0
"""A scenario's counts run until the operator made no request for this long
(what it does right after the last instance is Running belongs to it)."""


def deadline(size: int) -> float:
    """Seconds a scenario over `size` instances may take before the run fails: a
    guard against a hang, not a target (5 minutes plus 3 s per instance)."""
    return 300.0 + 3.0 * size


def instance_body(namespace: str, name: str) -> dict[str, Any]:
    return {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "OdooInstance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "adminPassword": ADMIN_PASSWORD,
            "ingress": {"hosts": [f"{name}.bench.example.com"]},
        },
    }


def _instances_path(namespace: str) -> str:
    return f"/apis/{naming.GROUP_VERSION}/namespaces/{namespace}/odooinstances"


def _running(obj: dict[str, Any]) -> bool:
    return (obj.get("status") or {}).get("phase") == "Running"


def _running_with(image: str) -> observe.Condition:
    def check(obj: dict[str, Any]) -> bool:
        status = obj.get("status") or {}
        return (
            obj["spec"].get("image") == image
            and status.get("phase") == "Running"
            and status.get("observedGeneration") == obj["metadata"]["generation"]
        )

    return check


def _rolled(image: str) -> observe.Condition:
    """The Deployment runs `image` everywhere: template, observed generation, every
    replica updated and ready, none of the old ReplicaSet left."""

    def check(deployment: dict[str, Any]) -> bool:
        spec, status = deployment["spec"], deployment.get("status") or {}
        want = int(spec.get("replicas", 1))
        images = [c.get("image") for c in spec["template"]["spec"]["containers"]]
        return (
            image in images
            and int(status.get("observedGeneration") or 0) >= deployment["metadata"]["generation"]
            and int(status.get("updatedReplicas") or 0) == want
            and int(status.get("readyReplicas") or 0) == want
            and int(status.get("replicas") or 0) == want
        )

    return check


@dataclass
class Meters:
    """The run's meters, shared by its scenarios."""

    audit: meters.AuditLog
    connections: meters.ConnectionLog
    sampler: meters.ProcessSampler
    users: dict[str, str]

    async def quiet(self, seconds: float, timeout: float) -> float:
        """Wait until no audited request came for `seconds` (the operator finished what
        a scenario set off, e.g. its writes after Running); the seconds waited."""
        started = time.monotonic()
        size, since = self.audit.mark(), started
        while time.monotonic() - since < seconds and time.monotonic() - started < timeout:
            await asyncio.sleep(0.25)
            now = self.audit.mark()
            if now != size:
                size, since = now, time.monotonic()
        return time.monotonic() - started

    def mark(self) -> tuple[int, int, meters.Phase]:
        return self.audit.mark(), self.connections.mark(), self.sampler.begin()

    def read(
        self, mark: tuple[int, int, meters.Phase], who: tuple[str, ...], pg_user: str
    ) -> tuple[Counter[str], Counter[str], int, dict[str, Any]]:
        """API requests by kind ("verb resource") and by process for the users whose
        role is in `who`, PostgreSQL connections of `pg_user`, process figures."""
        audit_at, pg_at, phase = mark
        figures = self.sampler.end(phase)
        by_kind: Counter[str] = Counter()
        by_process: Counter[str] = Counter()
        for (user, verb, resource), count in self.audit.requests_since(audit_at).items():
            role = self.users.get(user)
            if role in who:
                by_kind[f"{verb} {resource}"] += count
                by_process[role] += count
        pg = self.connections.connections_since(pg_at)[pg_user]
        return by_kind, by_process, pg, {k: v.as_dict() for k, v in figures.items()}


def _completed(obj: dict[str, Any]) -> bool:
    return (obj.get("status") or {}).get("phase") == "Completed"


def _events_per(added: dict[str, list[str]], size: int) -> float:
    return round(sum(len(events) for events in added.values()) / size, 1)


def _per(count: float, size: int, minutes: float = 1.0) -> float:
    return round(count / size / minutes, 2)


class ScenarioTimeout(Exception):
    """A scenario did not finish within its deadline; the message says where it stood."""


class Run:
    """One Stack's scenarios (see the module docstring)."""

    def __init__(self, run: stack.Stack, http: aiohttp.ClientSession, size: int) -> None:
        self.stack = run
        self.http = http
        self.size = size
        self.server = run.kube.url
        self.names = [f"i{index:04d}" for index in range(size)]
        self.meters = Meters(
            meters.AuditLog(run.audit_log),
            meters.ConnectionLog(run.database.log_file),
            meters.ProcessSampler(),
            run.users(),
        )
        self.instances = observe.Watch(http, self.server, INSTANCES)
        self.deployments = observe.Watch(http, self.server, DEPLOYMENTS)
        self.jobs = observe.Watch(http, self.server, JOBS)
        self.backups = observe.Watch(http, self.server, BACKUPS)

    async def start(self) -> None:
        for watch in (self.instances, self.deployments, self.jobs, self.backups):
            await watch.start()
        sampler = self.meters.sampler
        own = psutil.Process()
        for child in own.children(recursive=True):
            name = child.name()
            if name in ("etcd", "kube-apiserver", "kube-controller-manager"):
                sampler.watch(name, child.pid)
        if self.stack.temporal.pid is not None:
            sampler.watch("temporal", self.stack.temporal.pid)
        postmaster = self.stack.database.postmaster_pid
        if postmaster is not None:
            sampler.watch("postgres", postmaster, children=True)
        sampler.watch("suite (kubelet, watches)", own.pid)
        sampler.start()
        started = await asyncio.to_thread(self.stack.start_operator)
        for index, process in enumerate(started):
            name = "watcher" if process.command == "watch" else f"worker-{index - 1}"
            assert process.process is not None
            sampler.watch(name, process.process.pid)

    async def stop(self) -> None:
        self.meters.sampler.stop()
        for watch in (self.instances, self.deployments, self.jobs, self.backups):
            await watch.stop()

    async def _wait(self, futures: dict[str, asyncio.Future[float]], what: str) -> dict[str, float]:
        try:
            await asyncio.wait_for(asyncio.gather(*futures.values()), deadline(self.size))
        except TimeoutError:
            late = [name for name, f in futures.items() if f.cancelled() or not f.done()]
            phases = Counter(
                str((self.instances.objects.get((stack.INSTANCE_NAMESPACE, n)) or {})
                    .get("status", {}).get("phase"))
                for n in late
            )  # fmt: skip
            raise ScenarioTimeout(
                f"{what}: {len(late)} of {self.size} not done after {deadline(self.size):.0f} s "
                f"(phases: {dict(phases)}); logs in {self.stack.directory / 'logs'} "
                "(run with --keep to keep them)"
            ) from None
        return {name: f.result() for name, f in futures.items()}

    async def convergence(self, client: Client) -> dict[str, Any]:
        namespace = stack.INSTANCE_NAMESPACE
        futures = {n: self.instances.until((namespace, n), _running) for n in self.names}
        mark = self.meters.mark()
        started = time.monotonic()
        created = await observe.create_all(
            self.http,
            self.server,
            f"/apis/{naming.GROUP_VERSION}/namespaces/{namespace}/odooinstances",
            [instance_body(namespace, n) for n in self.names],
        )
        created_at = {body["metadata"]["name"]: at for body, at in created}
        running = await self._wait(futures, "convergence")
        all_running = max(running.values()) - started
        quiet = await self.meters.quiet(QUIET_SECONDS, deadline(self.size))
        by_kind, by_process, pg, figures = self.meters.read(
            mark, ("watcher", "worker"), stack.OPERATOR_PG_USER
        )
        histories = await meters.history_counts(
            client, (naming.workflow_id(namespace, n) for n in self.names)
        )
        return {
            "create_seconds": round(max(created_at.values()) - started, 2),
            "to_running": report.seconds_summary([running[n] - created_at[n] for n in self.names]),
            "all_running_seconds": round(all_running, 2),
            "quiet_after_seconds": round(quiet, 2),
            "api_requests_per_instance": {
                "total": _per(sum(by_process.values()), self.size),
                **{k: _per(v, self.size) for k, v in sorted(by_process.items())},
            },
            "api_requests_by_kind": {k: _per(v, self.size) for k, v in by_kind.most_common()},
            "pg_connections_per_instance": _per(pg, self.size),
            "history_per_instance": histories.per_workflow(),
            "processes": figures,
        }

    async def idle(self, client: Client, seconds: float) -> dict[str, Any]:
        """Nothing happens for `seconds`; then one resync's worth of work, measured.

        A window shorter than the workflows' resync interval sees no resync, so
        each instance is then poked once: a poke does exactly what a resync
        timer does when no re-apply is due (one snapshot). The resync and
        re-apply intervals turn that, and the apply of the convergence, into
        requests per instance per 5 minutes.
        """
        mark = self.meters.mark()
        await asyncio.sleep(seconds)
        by_kind, by_process, pg, figures = self.meters.read(
            mark, ("watcher", "worker"), stack.OPERATOR_PG_USER
        )
        minutes = seconds / 60
        mark = self.meters.mark()
        namespace = stack.INSTANCE_NAMESPACE
        ids = [naming.workflow_id(namespace, n) for n in self.names]
        before = await meters.history_lengths(client, ids)
        await asyncio.gather(
            *(
                client.get_workflow_handle(naming.workflow_id(namespace, n)).signal(
                    "poke", Poke(reason="benchmark: one resync")
                )
                for n in self.names
            )
        )
        await self.meters.quiet(QUIET_SECONDS, deadline(self.size))
        _, resync_process, resync_pg, _ = self.meters.read(
            mark, ("watcher", "worker"), stack.OPERATOR_PG_USER
        )
        added = await meters.history_added(client, before)
        return {
            # A poke's wake; a resync timer's also starts the next timer (one event more).
            "resync_history_events_per_instance": _events_per(added, self.size) + 1,
            "resync_history_events_of_one": added[next(iter(added))],
            "seconds": seconds,
            "api_requests_per_instance_per_minute": _per(
                sum(by_process.values()), self.size, minutes
            ),
            "api_requests_by_kind": {
                k: _per(v, self.size, minutes) for k, v in by_kind.most_common()
            },
            "pg_connections_per_instance_per_minute": _per(pg, self.size, minutes),
            "resync_api_requests_per_instance": _per(sum(resync_process.values()), self.size),
            "resync_pg_connections_per_instance": _per(resync_pg, self.size),
            "processes": figures,
        }

    async def change(self, client: Client) -> dict[str, Any]:
        namespace = stack.INSTANCE_NAMESPACE
        before = await meters.history_lengths(
            client, [naming.workflow_id(namespace, n) for n in self.names]
        )
        rolled = _rolled(NEW_IMAGE)
        web: dict[str, asyncio.Future[float]] = {}
        cron: dict[str, asyncio.Future[float]] = {}
        for n in self.names:
            web[n] = self.deployments.until((namespace, naming.web_deployment_name(n)), rolled)
            cron[n] = self.deployments.until((namespace, naming.cron_deployment_name(n)), rolled)
        observed = {
            n: self.instances.until((namespace, n), _running_with(NEW_IMAGE)) for n in self.names
        }
        mark = self.meters.mark()
        started = time.monotonic()

        async def patch(name: str) -> tuple[str, float]:
            url = f"{self.server}{_instances_path(namespace)}/{name}"
            async with self.http.patch(
                url,
                json={"spec": {"image": NEW_IMAGE}},
                headers={"Content-Type": "application/merge-patch+json"},
            ) as response:
                if response.status != 200:
                    raise RuntimeError(f"patch {name}: {response.status} {await response.text()}")
            return name, time.monotonic()

        patched = dict(await asyncio.gather(*(patch(n) for n in self.names)))
        web_at = await self._wait(web, "change (web Deployments)")
        cron_at = await self._wait(cron, "change (cron Deployments)")
        observed_at = await self._wait(observed, "change (instances Running at the new generation)")
        both = {n: max(web_at[n], cron_at[n]) for n in self.names}
        quiet = await self.meters.quiet(QUIET_SECONDS, deadline(self.size))
        by_kind, by_process, pg, figures = self.meters.read(
            mark, ("watcher", "worker"), stack.OPERATOR_PG_USER
        )
        added = await meters.history_added(client, before)
        applies = sum(
            e == "ACTIVITY_TASK_SCHEDULED apply_children" for a in added.values() for e in a
        )
        pokes = sum(
            e.startswith("WORKFLOW_EXECUTION_SIGNALED poke") for a in added.values() for e in a
        )
        return {
            "history_events_per_instance": _events_per(added, self.size),
            "history_events_of_one": added[next(iter(added))],
            # The watcher's pokes (the rollout's readiness changes): a signal and,
            # unless folded with another, the workflow task it starts (4 events).
            "pokes_per_instance": round(pokes / self.size, 1),
            # An apply: its activity's three events and the workflow task its result starts.
            "apply_history_events_per_instance": round(6 * applies / self.size, 1),
            "to_rolled": report.seconds_summary([both[n] - patched[n] for n in self.names]),
            "all_rolled_seconds": round(max(both.values()) - started, 2),
            "all_observed_seconds": round(max(observed_at.values()) - started, 2),
            "quiet_after_seconds": round(quiet, 2),
            "api_requests_per_instance": {
                "total": _per(sum(by_process.values()), self.size),
                **{k: _per(v, self.size) for k, v in sorted(by_process.items())},
            },
            "api_requests_by_kind": {k: _per(v, self.size) for k, v in by_kind.most_common()},
            "pg_connections_per_instance": _per(pg, self.size),
            "processes": figures,
        }

    async def backup(self, client: Client) -> dict[str, Any]:
        """A `backup` signal to every instance at once, as a backup Schedule sends it,
        until its OdooBackupJob Completed and the instance is back in Running; the
        history events each cycle added."""
        namespace = stack.INSTANCE_NAMESPACE
        ids = {n: naming.workflow_id(namespace, n) for n in self.names}
        before = await meters.history_lengths(client, ids.values())
        mark = self.meters.mark()
        started = time.monotonic()

        async def request(name: str) -> tuple[str, float]:
            destination = {
                "bucket": "bench",
                "objectKey": f"{name}.zip",
                "endpoint": "http://s3.bench.invalid",
            }
            await client.get_workflow_handle(ids[name]).signal(
                "backup", {"destination": destination}
            )
            until = time.monotonic() + deadline(self.size)
            while not self._backed_up(namespace, name):
                if time.monotonic() > until:
                    raise ScenarioTimeout(f"backup: no OdooBackupJob of {name} Completed")
                await asyncio.sleep(0.1)
            # Completed, then Running: the transition back is written right after.
            running = self.instances.until((namespace, name), _running)
            return name, await asyncio.wait_for(running, deadline(self.size))

        finished = dict(await asyncio.gather(*(request(n) for n in self.names)))
        quiet = await self.meters.quiet(QUIET_SECONDS, deadline(self.size))
        _, by_process, _, figures = self.meters.read(
            mark, ("watcher", "worker"), stack.OPERATOR_PG_USER
        )
        added = await meters.history_added(client, before)
        return {
            "to_completed": report.seconds_summary([t - started for t in finished.values()]),
            "quiet_after_seconds": round(quiet, 2),
            "api_requests_per_instance": _per(sum(by_process.values()), self.size),
            "history_events_per_instance": _events_per(added, self.size),
            "history_events_of_one": added[next(iter(added))],
            "processes": figures,
        }

    def _backed_up(self, namespace: str, name: str) -> bool:
        """An OdooBackupJob of instance `name` Completed."""
        return any(
            key[0] == namespace
            and (body.get("spec") or {}).get("odooInstanceRef", {}).get("name") == name
            and _completed(body)
            for key, body in self.backups.objects.items()
        )

    async def floors(self, history: dict[str, float], operator_seconds: float) -> dict[str, Any]:
        await asyncio.to_thread(self.stack.stop_operator)
        for name in self.meters.sampler.names():
            if name.startswith(("watcher", "worker")):
                self.meters.sampler.forget(name)
        activities = round(history["activities"])
        local = round(history["local_activities"])
        mark = self.meters.mark()
        process = floors.start_temporal_alone(
            self.stack.temporal.address, self.size, activities, local
        )
        self.meters.sampler.watch("temporal-floor", process.pid)
        try:
            answer = await asyncio.to_thread(
                floors.finish_temporal_alone, process, deadline(self.size)
            )
        finally:
            if process.poll() is None:  # interrupted
                process.kill()
        figures = self.meters.sampler.end(mark[2])
        self.meters.sampler.forget("temporal-floor")
        temporal_alone = {
            "activities": activities,
            "local_activities": local,
            "seconds": round(answer["seconds"], 2),
            "each": report.seconds_summary(answer["each"]),
            "processes": {k: v.as_dict() for k, v in figures.items()},
        }

        namespace = stack.FLOOR_NAMESPACE
        line = floors.StraightLine(self.stack, self.jobs, self.deployments)
        try:
            mark = self.meters.mark()
            started = time.monotonic()
            created = await observe.create_all(
                self.http,
                self.server,
                _instances_path(namespace),
                [instance_body(namespace, n) for n in self.names],
            )
            each = await asyncio.wait_for(line.drive(created), deadline(self.size))
            seconds = time.monotonic() - started
        finally:
            line.close()
        _, by_process, pg, figures_b = self.meters.read(mark, ("floor",), stack.FLOOR_PG_USER)
        straight = {
            "seconds": round(seconds, 2),
            "to_running": report.seconds_summary(each),
            "api_requests_per_instance": _per(by_process["floor"], self.size),
            "pg_connections_per_instance": _per(pg, self.size),
            "processes": figures_b,
        }
        return {
            "temporal_alone": temporal_alone,
            "straight_line": straight,
            "operator_over_temporal_alone": round(operator_seconds / answer["seconds"], 2),
            "operator_over_straight_line": round(operator_seconds / seconds, 2),
        }


async def measure(
    size: int, options: stack.StackOptions, args: argparse.Namespace, *, full: bool
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One Stack, its scenarios; (the run's results, the machine's description)."""
    print(
        f"== N={size}, workers {options.workers}, workflow cache "
        f"{options.max_cached_workflows}: starting the servers ...",
        flush=True,
    )
    with stack.running(options) as run:
        version = run.kube.get("/version")
        with psycopg.connect(run.database.dsn(), autocommit=True) as conn:
            row = conn.execute("SELECT current_setting('server_version')").fetchone()
        machine = report.describe_machine(
            kubernetes_version=str(version["gitVersion"]),  # type: ignore[index]
            temporal_binary=run.temporal.binary,
            postgres_version=str(row[0]) if row else "",
        )
        client = await Client.connect(run.temporal.address)
        async with observe.session(run.kube.admin_ssl_context()) as http:
            scenarios = Run(run, http, size)
            await scenarios.start()
            try:
                result: dict[str, Any] = {
                    "size": size,
                    "workers": options.workers,
                    "max_cached_workflows": options.max_cached_workflows,
                }
                print("   convergence ...", flush=True)
                result["convergence"] = await scenarios.convergence(client)
                _say(result["convergence"], "to_running", "all_running_seconds")
                if full and "idle" not in args.skip:
                    print(f"   idle for {args.idle_seconds:.0f} s ...", flush=True)
                    result["idle"] = await scenarios.idle(client, args.idle_seconds)
                if full and "change" not in args.skip:
                    print("   change ...", flush=True)
                    result["change"] = await scenarios.change(client)
                    _say(result["change"], "to_rolled", "all_rolled_seconds")
                if full and "backup" not in args.skip:
                    print("   backup ...", flush=True)
                    result["backup"] = await scenarios.backup(client)
                result["history_budget"] = history_budget(result)
                _say_budget(result["history_budget"])
                if full and "floors" not in args.skip:
                    print("   floors ...", flush=True)
                    result["floors"] = await scenarios.floors(
                        result["convergence"]["history_per_instance"],
                        result["convergence"]["all_running_seconds"],
                    )
            finally:
                await scenarios.stop()
    return result, machine


def history_budget(result: dict[str, Any]) -> dict[str, Any]:
    """Events per instance against the budget: a backup cycle and a spec change as
    measured; an idle day from the resync measured, as often as a day holds, and the
    apply measured in the change, as often as a day re-applies."""
    settings = WorkflowSettings()
    day = 86_400.0
    measured: dict[str, float | None] = {
        "idle_day": None,
        "backup_cycle": None,
        "spec_change": None,
    }
    idle, change, backup = result.get("idle"), result.get("change"), result.get("backup")
    pokes = None
    if change:
        measured["spec_change"] = change["history_events_per_instance"]
        pokes = change.get("pokes_per_instance")
    if backup:
        measured["backup_cycle"] = backup["history_events_per_instance"]
    if idle and change:
        resyncs = day / settings.resync_interval.total_seconds()
        applies = day / settings.reapply_interval.total_seconds()
        measured["idle_day"] = round(
            resyncs * idle["resync_history_events_per_instance"]
            + applies * change["apply_history_events_per_instance"],
            1,
        )
    budget = {
        key: {"events": value, "budget": HISTORY_BUDGET[key]} for key, value in measured.items()
    }
    if pokes is not None:
        budget["spec_change"]["pokes"] = pokes
    return budget


def _say_budget(budget: dict[str, Any]) -> None:
    parts = [
        f"{key.replace('_', ' ')} {entry['events']} (budget {entry['budget']})"
        for key, entry in budget.items()
        if entry["events"] is not None
    ]
    if parts:
        print(f"   history events per instance: {', '.join(parts)}", flush=True)


def _say(figures: dict[str, Any], each: str, total: str) -> None:
    summary = figures[each]
    print(
        f"   p50 {summary.get('p50')} s, p95 {summary.get('p95')} s, max "
        f"{summary.get('max')} s; all {figures[total]} s",
        flush=True,
    )


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="scripts/dev/bench", description=(__doc__ or "").split("\n\n")[0]
    )
    p.add_argument(
        "--sizes",
        type=_ints,
        default=[1, 10, 100, 500],
        metavar="N,N",
        help="instance counts, one run each (default: 1,10,100,500)",
    )
    p.add_argument(
        "--workers",
        type=_ints,
        default=[1],
        metavar="K,K",
        help="worker processes; the first is the full run, others convergence "
        "only (default: 1; e.g. 1,2)",
    )
    p.add_argument(
        "--cache",
        type=_ints,
        default=[WorkerSettings().max_cached_workflows],
        metavar="C,C",
        help="the worker's max cached workflows; the first is the full run, "
        "others convergence only (default: the operator's, %(default)s; e.g. 1000,20)",
    )
    p.add_argument(
        "--variant-sizes",
        type=_ints,
        default=None,
        metavar="N,N",
        help="the sizes the --workers and --cache variants run at (default: every size)",
    )
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="the idle window (default: %(default)s; a resync, every 12 h, is "
        "measured apart by poking every instance once)",
    )
    p.add_argument(
        "--skip",
        type=lambda s: set(s.split(",")),
        default=set(),
        metavar="idle,change,backup,floors",
        help="scenarios to leave out",
    )
    p.add_argument(
        "--kcm-qps",
        type=int,
        default=300,
        metavar="QPS",
        help="kube-controller-manager's client requests/s (default: %(default)s; "
        "its own default of 20 paces the Deployment and Job controllers at N=500)",
    )
    p.add_argument(
        "--kcm-burst",
        type=int,
        default=600,
        metavar="BURST",
        help="kube-controller-manager's client burst (default: %(default)s)",
    )
    p.add_argument("--operator-log-level", default="info", metavar="LEVEL")
    p.add_argument(
        "--output-dir",
        type=Path,
        default=report.ROOT / "bench" / "results",
        help="where the JSON and Markdown go (default: bench/results/)",
    )
    p.add_argument("--no-write", action="store_true", help="print only")
    p.add_argument(
        "--keep", action="store_true", help="keep each run's state directory and logs (printed)"
    )
    return p  # fmt: skip


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    machine: dict[str, Any] = {}
    for size in args.sizes:
        for workers, cache in itertools.product(args.workers, args.cache):
            full = workers == args.workers[0] and cache == args.cache[0]
            if not full and workers != args.workers[0] and cache != args.cache[0]:
                continue  # one variant at a time
            if not full and args.variant_sizes is not None and size not in args.variant_sizes:
                continue
            if cache != args.cache[0] and cache >= size:
                print(f"== N={size}: no run with a workflow cache of {cache} (not below N)")
                continue
            options = stack.StackOptions(
                workers=workers,
                max_cached_workflows=cache,
                kcm_qps=args.kcm_qps,
                kcm_burst=args.kcm_burst,
                log_level=args.operator_log_level,
                keep=args.keep,
            )
            try:
                result, described = await measure(size, options, args, full=full)
            except ScenarioTimeout as error:
                print(f"   {error}", flush=True)
                errors.append(
                    {"size": size, "workers": workers, "cache": cache, "error": str(error)}
                )
                continue
            machine = machine or described
            runs.append(result)
    return {
        "machine": machine,
        "setup": {
            "kcm_qps": args.kcm_qps,
            "kcm_burst": args.kcm_burst,
            "kubelet_delay_seconds": 0.0,
            "idle_seconds": args.idle_seconds,
            "resync_interval_seconds": WorkflowSettings().resync_interval.total_seconds(),
            "reapply_interval_seconds": WorkflowSettings().reapply_interval.total_seconds(),
            "new_image": NEW_IMAGE,
        },
        "runs": runs,
        "errors": errors,
    }


def _stop_on_sigterm() -> None:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _stop_on_sigterm()
    try:
        results = asyncio.run(run_all(args))
    except KeyboardInterrupt:
        print("interrupted; every process stopped", file=sys.stderr)
        return 130
    except processes.ServiceError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    if not results["runs"]:
        print("bench: nothing measured", file=sys.stderr)
        return 1
    text = report.markdown(results)
    print()
    print(text)
    if not args.no_write:
        json_path, md_path = report.write(results, args.output_dir)
        print(f"wrote {os.path.relpath(json_path)} and {os.path.relpath(md_path)}")
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
