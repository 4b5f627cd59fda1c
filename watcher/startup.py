"""Kopf settings and the watcher's entry point.

Owns how Kopf runs for us: Events posted only for warnings and errors,
standalone (no peering), the watched namespaces (all, or a list), server-side
watch timeouts so watches reconnect, Kopf's own state in `bemade.org/`
annotations, no Kopf finalizer (the operator's own finalizer holds deleted
instances), and the HTTPS admission server. `run()` builds one fresh
registry per call, so several watchers (a restart in a test) never share
handlers.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import prometheus_client

from watcher import handlers, webhook
from watcher.config import WatcherConfig
from watcher.metrics import PhaseMetrics
from watcher.temporal import ClientFactory, InstanceSignals

__all__ = ["Watcher", "configure"]

KOPF_PREFIX = "bemade.org"
"""Prefix of Kopf's progress and last-handled-configuration annotations."""
KOPF_FINALIZER = "bemade.org/kopf-watcher"
"""Kopf's finalizer name; never added, since no delete handler is mandatory."""


def configure(settings: kopf.OperatorSettings, config: WatcherConfig) -> None:
    """Our Kopf settings (called from the startup handler)."""
    settings.posting.level = logging.WARNING  # Events only for problems, not every handler
    settings.peering.standalone = True
    settings.peering.mandatory = False
    settings.scanning.disabled = not config.scanning_namespaces
    settings.watching.server_timeout = config.server_timeout_seconds
    settings.watching.client_timeout = config.server_timeout_seconds + 30
    settings.watching.connect_timeout = 30
    settings.watching.reconnect_backoff = 1.0
    settings.persistence.finalizer = KOPF_FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=KOPF_PREFIX, key="last-handled-configuration"
    )
    settings.admission.managed = None  # the Helm chart owns the webhook configuration
    if config.webhook is not None:
        hook = config.webhook
        settings.admission.server = kopf.WebhookServer(
            addr=hook.addr,
            port=hook.port,
            host=hook.host,
            certfile=str(hook.certfile) if hook.certfile else None,
            pkeyfile=str(hook.pkeyfile) if hook.pkeyfile else None,
        )


class Watcher:
    """One Kopf operator bound to Temporal: handlers, webhook, metrics, readiness."""

    def __init__(
        self,
        config: WatcherConfig,
        connect: ClientFactory,
        *,
        login: kopf.ConnectionInfo | None = None,
        metrics: prometheus_client.CollectorRegistry | None = None,
    ) -> None:
        self.config = config
        self.signals = InstanceSignals(connect, config)
        self.ready_flag = asyncio.Event()
        self.registry = kopf.OperatorRegistry()
        self.metrics = PhaseMetrics(metrics or prometheus_client.CollectorRegistry())
        self._login = login
        self._register()

    def _register(self) -> None:
        registry, config = self.registry, self.config

        @kopf.on.startup(registry=registry)
        def _configure(settings: kopf.OperatorSettings, **_: Any) -> None:
            configure(settings, config)

        if self._login is not None:
            info = self._login

            @kopf.on.login(registry=registry)
            def _login(**_: Any) -> kopf.ConnectionInfo:
                return info

        else:
            kopf.on.login(registry=registry)(kopf.login_with_service_account)
            kopf.on.login(registry=registry)(kopf.login_with_kubeconfig)

        handlers.register(registry, handlers.InstanceHandlers(self.signals, config))
        if config.webhook is not None:
            webhook.register(registry)
        self.metrics.register(registry)

    async def run(self) -> None:
        """Run until cancelled (cancel the task: it stops at once)."""
        await kopf.operator(
            registry=self.registry,
            standalone=True,
            clusterwide=not self.config.namespaces,
            namespaces=self.config.namespaces,
            ready_flag=self.ready_flag,
        )

    async def ready(self) -> bool:
        """Readiness: Kopf has started its watches and Temporal answers."""
        return self.ready_flag.is_set() and await self.signals.reachable()
