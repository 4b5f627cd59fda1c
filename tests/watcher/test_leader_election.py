"""Leader election of the watcher (watcher/leader.py) on the real control plane.

Covers, in process: of two candidates for the Lease exactly one holds it; a
released Lease is taken by the standby at its next attempt; a leader whose
Lease another process took stops with LeadershipLost once its renew deadline
passed. Then with two `odoo-operator watch --leader-election true` processes
(the chart's watcher Deployment runs two), with the default durations (lease
15 s, renew deadline 10 s, retry 2 s): exactly one reports itself leader
(`odoo_operator_watcher_leader` 1, the other 0) and holds the Lease; after a
SIGKILL of the leader the standby serves (an OdooInstance created right after
the kill gets its workflow from it) within lease + retry + Kopf's start-up;
after a SIGTERM (the Lease is released) the standby serves within retry +
Kopf's start-up. The measured times are printed (run with -s); the deadlines
are the stated bounds plus a margin for a loaded machine, not timings.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
from temporalio import client as temporal_client

from activities import api
from model import naming
from model.naming import LEASE_NAME
from model.settings import LeaderElectionSettings
from odoo_operator import runner
from sandbox import processes, temporal
from tests.fixtures.kube import wait_for
from tests.watcher.conftest import workflow_started
from watcher.config import ElectionConfig
from watcher.leader import LeaderElector, LeadershipLost

LEASE_SECONDS = 15.0
RETRY_SECONDS = 2.0
KOPF_START_MARGIN_SECONDS = 30.0
"""Kopf's start-up (login, listing, watches) plus a loaded 2-core machine."""


def elector(api_client: kubernetes.client.ApiClient, namespace: str, who: str) -> LeaderElector:
    return LeaderElector(
        runner.KubeLeaseStore(api.KubeApi(api_client)),
        ElectionConfig(
            settings=LeaderElectionSettings(
                lease_duration_seconds=3.0, renew_deadline_seconds=1.0, retry_period_seconds=0.2
            ),
            namespace=namespace,
            identity=who,
        ),
    )


def holder(api_client: kubernetes.client.ApiClient, namespace: str) -> str | None:
    coordination = kubernetes.client.CoordinationV1Api(api_client)
    try:
        lease = coordination.read_namespaced_lease(LEASE_NAME, namespace)
    except kubernetes.client.ApiException as err:
        if err.status == 404:
            return None
        raise
    return (lease.spec and lease.spec.holder_identity) or None


# --- in process ---------------------------------------------------------------------------


async def test_one_candidate_holds_the_lease_when_two_compete(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    first, second = elector(api_client, namespace, "a"), elector(api_client, namespace, "b")
    tasks = [asyncio.create_task(e.acquire()) for e in (first, second)]
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    try:
        assert len(done) == 1
        winner = first if first.leading else second
        assert holder(api_client, namespace) == winner.config.identity
        # The loser keeps trying while the winner renews: still one holder.
        holding = asyncio.create_task(winner.hold())
        await asyncio.sleep(1.0)  # a few retry periods of the loser (the behaviour under test)
        assert not pending.pop().done()
        assert holder(api_client, namespace) == winner.config.identity
        holding.cancel()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def test_the_standby_takes_the_lease_when_the_leader_releases_it(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    leader, standby = elector(api_client, namespace, "a"), elector(api_client, namespace, "b")
    await leader.acquire()
    waiting = asyncio.create_task(standby.acquire())

    await leader.release()

    await asyncio.wait_for(waiting, timeout=10.0)
    assert holder(api_client, namespace) == "b"


async def test_the_leader_stops_when_another_took_the_lease(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    leader = elector(api_client, namespace, "a")
    await leader.acquire()
    coordination = kubernetes.client.CoordinationV1Api(api_client)
    lease = coordination.read_namespaced_lease(LEASE_NAME, namespace)
    lease.spec.holder_identity = "intruder"
    coordination.replace_namespaced_lease(LEASE_NAME, namespace, lease)

    with pytest.raises(LeadershipLost):
        await asyncio.wait_for(leader.hold(), timeout=10.0)
    assert not leader.leading


# --- two watcher processes ------------------------------------------------------------------


class WatchProcess:
    """`odoo-operator watch` with leader election, as a child process."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.probe_port = processes.free_port()
        self.argv = [
            str(processes.find_binary("odoo-operator")),
            "watch",
            *args,
            "--pod-name",
            name,
            "--probe-port",
            str(self.probe_port),
        ]
        self.env = env
        self.log_file = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )

    def metric(self, name: str) -> float | None:
        try:
            url = f"http://{processes.LOCALHOST}:{self.probe_port}/metrics"
            with urllib.request.urlopen(url, timeout=1.0) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError):
            return None
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        return None

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> int:
        if self.process is None or self.process.poll() is not None:
            return 0 if self.process is None else int(self.process.returncode)
        return processes.stop_process(self.process, timeout=20.0)


@pytest.fixture
def watchers(
    kubeconfig: Path,
    namespace: str,
    task_queue: str,
    temporal_dev_server: temporal.TemporalDevServer,
    tmp_path: Path,
) -> Iterator[list[WatchProcess]]:
    args = [
        "--leader-election", "true",
        "--temporal-address", temporal_dev_server.address,
        "--task-queue", task_queue,
        "--operator-namespace", namespace,
        "--watch-namespaces", namespace,
        "--webhook-enabled", "false",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("ODOO_OPERATOR_")}
    env["KUBECONFIG"] = str(kubeconfig)
    pair = [WatchProcess(name, args, env, tmp_path) for name in ("watcher-a", "watcher-b")]
    try:
        yield pair
    finally:
        for watcher in pair:
            watcher.stop()


def create_instance(api_client: kubernetes.client.ApiClient, namespace: str) -> str:
    name = f"odoo-{uuid.uuid4().hex[:8]}"
    kubernetes.client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        naming.API_GROUP,
        naming.API_VERSION,
        namespace,
        "odooinstances",
        {
            "apiVersion": naming.GROUP_VERSION,
            "kind": "OdooInstance",
            "metadata": {"name": name},
            "spec": {"adminPassword": "x", "ingress": {"hosts": [f"{name}.example.com"]}},
        },
    )
    return name


async def served(
    client: temporal_client.Client, namespace: str, name: str, deadline: float
) -> float:
    """Seconds until the instance's workflow runs (a watcher signalled it)."""
    started = time.monotonic()
    workflow_id = naming.workflow_id(namespace, name)
    while await workflow_started(client, workflow_id) is None:
        if time.monotonic() - started > deadline:
            raise TimeoutError(f"no watcher served {namespace}/{name} within {deadline} s")
        await asyncio.sleep(0.1)  # poll period of a condition wait
    return time.monotonic() - started


def leader_of(pair: list[WatchProcess], api_client: Any, namespace: str) -> WatchProcess | None:
    """The process holding the Lease once both agree (gauge 1 on it, 0 on the other)."""
    identity = holder(api_client, namespace)
    gauges = {w.name: w.metric("odoo_operator_watcher_leader") for w in pair}
    for watcher in pair:
        others = [gauges[o.name] for o in pair if o is not watcher and o.process is not None]
        if (
            identity is not None
            and identity.startswith(watcher.name + "_")
            and gauges[watcher.name] == 1.0
            and all(g == 0.0 for g in others)
        ):
            return watcher
    return None


async def test_the_standby_serves_when_the_leader_is_killed_or_stopped(
    watchers: list[WatchProcess],
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    temporal_client: temporal_client.Client,
) -> None:
    for watcher in watchers:
        watcher.start()
    leader = await asyncio.to_thread(
        wait_for, lambda: leader_of(watchers, api_client, namespace), 60.0, 0.2
    )
    await served(temporal_client, namespace, create_instance(api_client, namespace), 30.0)
    standby = next(w for w in watchers if w is not leader)

    # SIGKILL: the Lease is not released, the standby waits it out.
    leader.kill()
    killed_at = time.monotonic()
    name = create_instance(api_client, namespace)
    bound = LEASE_SECONDS + RETRY_SECONDS
    await served(temporal_client, namespace, name, bound + KOPF_START_MARGIN_SECONDS)
    after_kill = time.monotonic() - killed_at
    assert holder(api_client, namespace).startswith(standby.name + "_")  # type: ignore[union-attr]

    # The killed one comes back as a standby; SIGTERM the leader: it releases the Lease.
    leader.start()
    await asyncio.to_thread(
        wait_for, lambda: leader.metric("odoo_operator_watcher_leader") == 0.0, 60.0, 0.2
    )
    assert await asyncio.to_thread(standby.stop) == 0
    stopped_at = time.monotonic()
    name = create_instance(api_client, namespace)
    await served(temporal_client, namespace, name, RETRY_SECONDS + KOPF_START_MARGIN_SECONDS)
    after_stop = time.monotonic() - stopped_at

    print(
        f"\nwatcher failover: {after_kill:.1f} s after SIGKILL of the leader "
        f"(bound {bound:.0f} s + Kopf start-up), {after_stop:.1f} s after SIGTERM "
        f"(bound {RETRY_SECONDS:.0f} s + Kopf start-up)"
    )
