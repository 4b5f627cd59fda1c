"""Health, readiness and Prometheus metrics of an operator process.

Owns the probe HTTP server (`/healthz`: the process serves; `/readyz`: every
readiness check passes, e.g. Kopf's watches started and Temporal answers;
`/metrics`: the text exposition of one `CollectorRegistry`) and the worker's
`odoo_operator_activity_failures_total{activity}` counter, fed by a Temporal
interceptor. It makes no decision and calls no Kubernetes API.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import prometheus_client
from aiohttp import web
from temporalio import activity
from temporalio import client as temporal_client
from temporalio import worker as temporal_worker

__all__ = [
    "ActivityMetrics",
    "ClientFactory",
    "ReadinessCheck",
    "serve",
    "with_interceptor",
]

ReadinessCheck = Callable[[], Awaitable[bool]]
ClientFactory = Callable[[], Awaitable[temporal_client.Client]]


class _CountingActivityInbound(temporal_worker.ActivityInboundInterceptor):
    def __init__(
        self, next: temporal_worker.ActivityInboundInterceptor, failures: prometheus_client.Counter
    ) -> None:
        super().__init__(next)
        self._failures = failures

    async def execute_activity(self, input: temporal_worker.ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except Exception:
            self._failures.labels(activity.info().activity_type).inc()
            raise


class ActivityMetrics(temporal_client.Interceptor, temporal_worker.Interceptor):
    """Counts failed activity attempts by activity type.

    A client interceptor that is also a worker interceptor is applied to every
    worker built on that client, so `worker.build_worker` needs no change.
    """

    def __init__(self, registry: prometheus_client.CollectorRegistry) -> None:
        self.failures = prometheus_client.Counter(
            "odoo_operator_activity_failures",
            "Failed activity attempts (each retry counts), by activity type.",
            ["activity"],
            registry=registry,
        )

    def intercept_activity(
        self, next: temporal_worker.ActivityInboundInterceptor
    ) -> temporal_worker.ActivityInboundInterceptor:
        return _CountingActivityInbound(next, self.failures)


def with_interceptor(
    client: temporal_client.Client, interceptor: temporal_client.Interceptor
) -> temporal_client.Client:
    """The same connection with one more interceptor."""
    config = client.config()
    config["interceptors"] = [*config["interceptors"], interceptor]
    return temporal_client.Client(**config)


@contextlib.asynccontextmanager
async def serve(
    port: int,
    registry: prometheus_client.CollectorRegistry,
    readiness: Sequence[ReadinessCheck],
    *,
    host: str = "0.0.0.0",
) -> AsyncIterator[int]:
    """Serve /healthz, /readyz and /metrics on `port` until the context exits."""

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        for check in readiness:
            if not await check():
                return web.Response(status=503, text="not ready\n")
        return web.Response(text="ready\n")

    async def metrics(request: web.Request) -> web.Response:
        body = prometheus_client.generate_latest(registry)
        return web.Response(
            body=body, headers={"Content-Type": prometheus_client.CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        yield port
    finally:
        await runner.cleanup()
