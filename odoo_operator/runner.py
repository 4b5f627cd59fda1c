"""Run the operator's processes: the watcher, the worker, or both in one process.

Owns process wiring shared by `odoo-operator run|watch|worker` and the
sandbox: Kubernetes credentials (in-cluster, else the kubeconfig), one
Temporal client (pydantic converter; reconnecting with backoff while the
server is unreachable), the watcher's configuration from the settings, the
probe server (/healthz, /readyz, /metrics) and clean cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kopf
import prometheus_client
from temporalio import client as temporal_client

from activities import api, failures
from model.settings import Settings
from odoo_operator import probes, worker
from watcher import webhook
from watcher.config import ElectionConfig, WatcherConfig, WebhookConfig
from watcher.leader import LeaderElector, LeaseUnavailable
from watcher.startup import Watcher

__all__ = ["election_config", "run", "watcher_config"]

_log = logging.getLogger(__name__)
_CONNECT_BACKOFF_MAX_SECONDS = 30.0


def watcher_config(settings: Settings) -> WatcherConfig:
    """The watcher's part of the settings, with the webhook's certificate files
    looked up now (Kopf generates a self-signed one when they are missing)."""
    webhook: WebhookConfig | None = None
    hook = settings.webhook
    if hook.enabled:
        have_files = hook.tls_cert.is_file() and hook.tls_key.is_file()
        webhook = WebhookConfig(
            settings=hook,
            certfile=hook.tls_cert if have_files else None,
            pkeyfile=hook.tls_key if have_files else None,
        )
    return WatcherConfig(
        watcher=settings.watcher,
        operator=settings.operator,
        task_queue=settings.temporal.task_queue,
        webhook=webhook,
    )


def election_config(settings: Settings) -> ElectionConfig | None:
    """Who this process is in the leader election; None when it is not enabled."""
    if not settings.leader_election.enabled:
        return None
    return ElectionConfig(
        settings=settings.leader_election,
        namespace=settings.operator.namespace,
        # Unique per process, as client-go's: a restarted container waits the
        # Lease out instead of assuming it still holds it.
        identity=f"{settings.operator.reporting_instance}_{uuid.uuid4().hex[:8]}",
    )


def instance_lookup(kube: api.KubeApi) -> webhook.InstanceLookup:
    """The admission webhook's check with the API server for an instance its index
    does not know yet (a GET; the ClusterRole grants get on odooinstances)."""

    async def exists(namespace: str, name: str) -> bool:
        found = await asyncio.to_thread(kube.find, api.INSTANCE, namespace, name)
        return found is not None

    return exists


class KubeLeaseStore:
    """watcher.leader.LeaseStore over the operator's Kubernetes client."""

    def __init__(self, kube: api.KubeApi) -> None:
        self._kube = kube

    def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        with _lease_errors():
            return self._kube.find(api.LEASE, namespace, name)

    def create(self, namespace: str, body: dict[str, Any]) -> bool:
        with _lease_errors():
            try:
                self._kube.create(api.LEASE, namespace, body)
            except failures.Conflict:
                return False  # another candidate created it first
        return True

    def replace(self, namespace: str, body: dict[str, Any]) -> bool:
        with _lease_errors():
            try:
                self._kube.replace(api.LEASE, namespace, body)
            except failures.Conflict:
                return False  # written by someone else since it was read
        return True


@contextlib.contextmanager
def _lease_errors() -> Iterator[None]:
    try:
        yield
    except failures.Conflict:
        raise
    except failures.ApiError as err:
        raise LeaseUnavailable(str(err)) from err


async def run(
    settings: Settings,
    *,
    watch: bool = True,
    work: bool = True,
    kubeconfig: Path | None = None,
    kube_login: kopf.ConnectionInfo | None = None,
) -> None:
    """Run the watcher and/or the worker until cancelled."""
    metrics = prometheus_client.CollectorRegistry()
    activity_metrics = probes.ActivityMetrics(metrics)
    shared: temporal_client.Client | None = None
    lock = asyncio.Lock()

    async def client() -> temporal_client.Client:
        nonlocal shared
        async with lock:
            if shared is None:
                connected = await worker.connect(settings.temporal)
                shared = probes.with_interceptor(connected, activity_metrics)
            return shared

    async def temporal_reachable() -> bool:
        try:
            return bool(await (await client()).service_client.check_health())
        except (RuntimeError, OSError):
            return False

    readiness: list[probes.ReadinessCheck] = [temporal_reachable]
    tasks: list[asyncio.Task[None]] = []
    async with contextlib.AsyncExitStack() as stack:
        if watch:
            config = watcher_config(settings)
            election = election_config(settings)
            elector: LeaderElector | None = None
            lookup: webhook.InstanceLookup | None = None
            if election is not None or config.webhook is not None:
                watch_client = stack.enter_context(api.connect(kubeconfig))
                if election is not None:
                    elector = LeaderElector(KubeLeaseStore(watch_client), election)
                if config.webhook is not None:
                    lookup = instance_lookup(watch_client)
            watcher = Watcher(
                config,
                client,
                login=kube_login,
                metrics=metrics,
                elector=elector,
                instance_lookup=lookup,
            )
            readiness.append(watcher.ready)
            tasks.append(asyncio.create_task(watcher.run(), name="watcher"))
        if work:
            # One pooled connection per activity thread.
            kube = stack.enter_context(
                api.connect(kubeconfig, connections=settings.worker.max_concurrent_activities)
            )
            tasks.append(asyncio.create_task(_work(settings, client, kube), name="worker"))
        if settings.probes.port:
            await stack.enter_async_context(probes.serve(settings.probes.port, metrics, readiness))
        try:
            # The first task to end (with an error) ends the process; others are cancelled.
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


SHUTDOWN_GRACE_SECONDS = 10.0
"""After SIGTERM/SIGINT, how long the processes may take to stop cleanly
(in-flight activities finish, Kopf closes its watches). A Temporal worker
shutdown can wait on a long poll for about a minute; past the grace period
the process exits anyway, inside Kubernetes' default 30 s termination grace."""


async def run_until_signalled(settings: Settings, *, watch: bool = True, work: bool = True) -> None:
    """run() until SIGTERM or SIGINT, then a graceful stop bounded by the grace period."""
    loop = asyncio.get_running_loop()
    signalled = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, signalled.set)
    main = asyncio.create_task(run(settings, watch=watch, work=work), name="operator")
    waiting = asyncio.create_task(signalled.wait())
    await asyncio.wait({main, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if main.done():
        waiting.cancel()
        main.result()  # run() ended by itself: an error, re-raised
        return
    _log.info("stopping (at most %.0f s)", SHUTDOWN_GRACE_SECONDS)
    main.cancel()
    done, _ = await asyncio.wait({main}, timeout=SHUTDOWN_GRACE_SECONDS)
    if not done:
        # Waiting longer only delays the SIGKILL that follows; asyncio.run()
        # would wait for the same tasks again, so leave now.
        _log.warning("not stopped within %.0f s; exiting", SHUTDOWN_GRACE_SECONDS)
        logging.shutdown()
        os._exit(0)


async def _work(
    settings: Settings,
    client: probes.ClientFactory,
    kube: api.KubeApi,
) -> None:
    connected: temporal_client.Client | None = None
    delay = 1.0
    while connected is None:
        try:
            connected = await client()
        except (RuntimeError, OSError) as err:
            _log.warning("Temporal at %s unreachable (%s); retrying in %.0f s",
                         settings.temporal.address, err, delay)  # fmt: skip
            await asyncio.sleep(delay)  # backoff while Temporal is down
            delay = min(delay * 2, _CONNECT_BACKOFF_MAX_SECONDS)
    # Before polling: the workflows upsert these from their first task on.
    await worker.register_search_attributes(connected)
    await worker.build_worker(connected, settings, kube).run()
