"""Kopf settings and the watcher's entry point.

Owns how Kopf runs for us: Events posted only for warnings and errors,
standalone (no Kopf peering: leader election is a Lease, watcher.leader), the
watched namespaces (all, or a list), server-side watch timeouts so watches
reconnect, Kopf's own state in `bemade.org/` annotations, no Kopf finalizer
(the operator's own finalizer holds deleted instances), and the HTTPS
admission server. Each Watcher builds fresh registries, so several watchers
(a restart in a test) never share handlers. Kopf's last-handled-configuration
annotation holds no secret (SecretFreeDiffBaseStorage).

The event handlers run as two Kopf operators (Kopf's server-side selectors
are per resource and operator): the handling one watches the instances, the
job resources and the owned objects, those by the label bemade.org/instance
(`restrict_owned`: never the cluster's other Secrets and ConfigMaps); the
clusters one watches only the clusters Secret, in the operator's namespace,
by name. Without leader election they also serve the webhook. With it, the
serving operator (the admission webhook and the instance index it reads)
runs from the start, on every replica, so the webhook Service may route to
any of them; and the two handling ones (every event handler and the phase
metrics) only while this process holds the Lease. Losing the Lease ends
run() with LeadershipLost (the process exits and restarts as a standby);
stopping releases it once the leading operator has stopped. A change of the
webhook's certificate files (a cert-manager renewal) ends run() with
CertificateChanged: Kopf loads them only at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

import kopf
import prometheus_client

from model import naming
from watcher import handlers, webhook
from watcher.config import WatcherConfig
from watcher.leader import LeaderElector
from watcher.metrics import PhaseMetrics
from watcher.signals import ClientFactory, InstanceSignals

__all__ = [
    "SECRET_FIELDS",
    "CertificateChanged",
    "SecretFreeDiffBaseStorage",
    "Watcher",
    "configure",
    "restrict_owned",
]

_log = logging.getLogger(__name__)

KOPF_PREFIX = "bemade.org"
"""Prefix of Kopf's progress and last-handled-configuration annotations."""
KOPF_FINALIZER = "bemade.org/kopf-watcher"
"""Kopf's finalizer name; never added, since no delete handler is mandatory."""


SECRET_FIELDS = (("spec", "adminPassword"),)
"""Fields of an OdooInstance that may hold a secret value (the inline master password):
never copied into Kopf's last-handled-configuration annotation. Every other secret
reaches the operator through a Secret it names (adminPasswordSecretRef,
configSecretRef, s3CredentialsSecretRef...), and configOptions refuses secret keys."""


class SecretFreeDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """Kopf's last-handled-configuration annotation, without the SECRET_FIELDS.

    Kopf keeps the essence of each object it handled in an annotation, so
    `kubectl describe odoo` would show the master password a second time. The
    fields are dropped from the essence and metadata.generation stands in for
    them: the API server bumps it on every spec change, so a change of a
    dropped field alone still reaches the update handler (the whole spec is
    then sent, as always).
    """

    def build(
        self,
        *,
        body: kopf.Body,
        extra_fields: Iterable[kopf.FieldSpec] | None = None,
    ) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        stored = cast(dict[str, Any], essence)
        for *parents, name in SECRET_FIELDS:
            holder: Any = stored
            for key in parents:
                holder = holder.get(key) if isinstance(holder, dict) else None
            if isinstance(holder, dict):
                holder.pop(name, None)
        generation = (body.get("metadata") or {}).get("generation")
        if generation is not None:
            stored.setdefault("metadata", {})["generation"] = generation
        return essence


def configure(settings: kopf.OperatorSettings, config: WatcherConfig) -> None:
    """Our Kopf settings (called from the startup handler)."""
    settings.posting.level = logging.WARNING  # Events only for problems, not every handler
    settings.peering.standalone = True
    settings.peering.mandatory = False
    settings.scanning.disabled = not config.watcher.scanning_namespaces
    settings.watching.server_timeout = config.watcher.server_timeout_seconds
    settings.watching.client_timeout = config.watcher.server_timeout_seconds + 30
    settings.watching.connect_timeout = 30
    settings.watching.reconnect_backoff = 1.0
    settings.persistence.finalizer = KOPF_FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = SecretFreeDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.admission.managed = None  # the Helm chart owns the webhook configuration
    if config.webhook is not None:
        hook = config.webhook
        settings.admission.server = kopf.WebhookServer(
            addr=hook.settings.addr,
            port=hook.settings.port,
            host=hook.settings.host,
            certfile=str(hook.certfile) if hook.certfile else None,
            pkeyfile=str(hook.pkeyfile) if hook.pkeyfile else None,
        )


def restrict_owned(settings: kopf.OperatorSettings) -> None:
    """Watch the owned kinds (handlers.OWNED) only where labelled bemade.org/instance:
    the API server filters, so other objects never reach the watcher."""
    for group, version, plural in handlers.OWNED:
        key = (group, version, plural) if group else (version, plural)
        settings.watching.label_selectors[key] = naming.INSTANCE_LABEL


def watch_clusters_secret(settings: kopf.OperatorSettings, config: WatcherConfig) -> None:
    """Watch no Secret but the clusters Secret (by name; the namespace is the operator's)."""
    name = config.operator.clusters_secret
    settings.watching.field_selectors[("v1", "secrets")] = f"metadata.name={name}"
    settings.scanning.disabled = True  # one exact namespace: nothing to discover


class Watcher:
    """Kopf bound to Temporal: handlers, webhook, metrics, readiness, leader election."""

    def __init__(
        self,
        config: WatcherConfig,
        connect: ClientFactory,
        *,
        login: kopf.ConnectionInfo | None = None,
        metrics: prometheus_client.CollectorRegistry | None = None,
        elector: LeaderElector | None = None,
        instance_lookup: webhook.InstanceLookup | None = None,
    ) -> None:
        self.config = config
        self._instance_lookup = instance_lookup
        self.signals = InstanceSignals(connect, config)
        self.ready_flag = asyncio.Event()
        metrics = metrics or prometheus_client.CollectorRegistry()
        self.metrics = PhaseMetrics(metrics)
        self.leader_gauge = prometheus_client.Gauge(
            "odoo_operator_watcher_leader",
            "1 while this watcher handles events (holds the Lease, or runs unelected).",
            registry=metrics,
        )
        self._login = login
        self.elector = elector
        self._handlers = handlers.InstanceHandlers(self.signals, config)
        serve_webhook = config.webhook is not None
        if elector is None:
            self.registry = self._registry(handle=True, serve=serve_webhook)
            self.serving_registry: kopf.OperatorRegistry | None = None
        else:
            self.registry = self._registry(handle=True, serve=False)
            self.serving_registry = (
                self._registry(handle=False, serve=True) if serve_webhook else None
            )
        self.clusters_registry = self._clusters_registry()

    def _registry(self, *, handle: bool, serve: bool) -> kopf.OperatorRegistry:
        registry, config = kopf.OperatorRegistry(), self.config

        @kopf.on.startup(registry=registry)
        def _configure(settings: kopf.OperatorSettings, **_: Any) -> None:
            configure(settings, config if serve else _without_webhook(config))
            if handle:
                restrict_owned(settings)

        self._add_login(registry)
        if handle:
            handlers.register(registry, self._handlers)
            self.metrics.register(registry)
        if serve:
            webhook.register(registry, self._instance_lookup)
        return registry

    def _clusters_registry(self) -> kopf.OperatorRegistry:
        """The clusters Secret's operator (see the module docstring)."""
        registry, config = kopf.OperatorRegistry(), _without_webhook(self.config)

        @kopf.on.startup(registry=registry)
        def _configure(settings: kopf.OperatorSettings, **_: Any) -> None:
            configure(settings, config)
            watch_clusters_secret(settings, config)

        self._add_login(registry)
        handlers.register_clusters_secret(registry, self._handlers)
        return registry

    def _add_login(self, registry: kopf.OperatorRegistry) -> None:
        if self._login is not None:
            info = self._login

            @kopf.on.login(registry=registry)
            def _login(**_: Any) -> kopf.ConnectionInfo:
                return info

        else:
            kopf.on.login(registry=registry)(kopf.login_with_service_account)
            kopf.on.login(registry=registry)(kopf.login_with_kubeconfig)

    async def run(self) -> None:
        """Run until cancelled (cancel the task: it stops at once).

        Raises CertificateChanged when the webhook's certificate files change
        (cert-manager renewed it): Kopf loads them only when it starts, so the
        process ends and Kubernetes starts it again with the new ones.
        """
        if self.elector is None:
            self.leader_gauge.set(1)
            operator = asyncio.create_task(self._handling(self.ready_flag))
            tasks = {operator, *self._certificate_watch()}
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            return
        await self._run_elected(self.elector)

    def _certificate_watch(self) -> set[asyncio.Task[None]]:
        hook = self.config.webhook
        if hook is None or hook.certfile is None or hook.pkeyfile is None:
            return set()
        files = (hook.certfile, hook.pkeyfile)
        return {asyncio.create_task(_until_changed(files, hook.settings.reload_poll_seconds))}

    async def _run_elected(self, elector: LeaderElector) -> None:
        tasks: set[asyncio.Task[None]] = self._certificate_watch()
        if self.serving_registry is not None:
            serving = self._operator(self.serving_registry, self.ready_flag)
            tasks.add(asyncio.create_task(serving, name="kopf-serving"))
        else:
            self.ready_flag.set()  # nothing to serve: ready to take over
        try:
            acquiring = asyncio.create_task(elector.acquire(), name="leader-election")
            done, _ = await asyncio.wait({acquiring, *tasks}, return_when=asyncio.FIRST_COMPLETED)
            if acquiring not in done:  # the serving operator ended first
                acquiring.cancel()
                for task in done:
                    task.result()
                return
            acquiring.result()
            self.leader_gauge.set(1)
            leading = asyncio.create_task(self._handling(asyncio.Event()), name="kopf-leading")
            holding = asyncio.create_task(elector.hold(), name="lease-renewal")
            tasks |= {leading, holding}
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            # The leading operator stops before the Lease is released: never two at once.
            leading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leading
            for task in done:
                task.result()  # LeadershipLost, or why an operator stopped
        finally:
            self.leader_gauge.set(0)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await elector.release()

    async def _handling(self, ready_flag: asyncio.Event) -> None:
        """The handling operator and the clusters Secret's, until either stops;
        `ready_flag` is set once both are."""
        handling_ready, clusters_ready = asyncio.Event(), asyncio.Event()
        operators = {
            asyncio.create_task(self._operator(self.registry, handling_ready)),
            asyncio.create_task(
                self._operator(
                    self.clusters_registry,
                    clusters_ready,
                    namespaces=(self.config.operator.namespace,),
                )
            ),
        }

        async def both_ready() -> None:
            await handling_ready.wait()
            await clusters_ready.wait()
            ready_flag.set()

        readiness = asyncio.create_task(both_ready())
        try:
            done, _ = await asyncio.wait(operators, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in (*operators, readiness):
                task.cancel()
            await asyncio.gather(*operators, readiness, return_exceptions=True)

    async def _operator(
        self,
        registry: kopf.OperatorRegistry,
        ready_flag: asyncio.Event,
        namespaces: tuple[str, ...] | None = None,
    ) -> None:
        """One Kopf operator over `namespaces` (default: the watched ones)."""
        watched = self.config.watcher.namespaces if namespaces is None else namespaces
        await kopf.operator(
            registry=registry,
            standalone=True,
            clusterwide=not watched,
            namespaces=watched,
            ready_flag=ready_flag,
        )

    async def ready(self) -> bool:
        """Readiness: Kopf has started its watches (the serving operator's, when elected:
        a standby is ready, it serves the webhook), the webhook server accepts
        connections (Kopf opens it after its watches) and Temporal answers."""
        if not self.ready_flag.is_set():
            return False
        hook = self.config.webhook
        if hook is not None and not await _accepts(hook.settings.addr, hook.settings.port):
            return False
        return await self.signals.reachable()


async def _accepts(addr: str, port: int) -> bool:
    host = "127.0.0.1" if addr in ("", "0.0.0.0", "::") else addr
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 2.0)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


class CertificateChanged(RuntimeError):
    """The webhook's certificate or key file changed since the server started."""


def _digest(files: tuple[Path, ...]) -> bytes:
    digest = hashlib.sha256()
    for path in files:
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"(missing)")  # between the kubelet's swaps of the volume
    return digest.digest()


async def _until_changed(files: tuple[Path, ...], period: float) -> None:
    """Return never; raise CertificateChanged once the files' content changed."""
    initial = await asyncio.to_thread(_digest, files)
    while True:
        await asyncio.sleep(period)  # a file has no change notification here
        if await asyncio.to_thread(_digest, files) != initial:
            _log.warning("the webhook certificate %s changed: restarting", files[0])
            raise CertificateChanged(f"{files[0]} changed")


def _without_webhook(config: WatcherConfig) -> WatcherConfig:
    return dataclasses.replace(config, webhook=None)
