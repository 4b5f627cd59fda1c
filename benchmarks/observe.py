"""Seeing the cluster change: Kubernetes watches with arrival times, and waiters.

Owns the suite's view of the API server (as admin, which the audit policy
does not count): one list-then-watch stream per resource across all
namespaces (`Watch`), each event stamped with `time.monotonic()` when it
arrives, and per-object waiters (`Watch.until`) resolved by the first event
whose object satisfies a condition. Nothing polls: at 500 instances a
waiter costs a dict lookup per event of its object. Also creating many
objects at once (`create_all`). It must not write anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["Key", "Watch", "create_all", "session"]

Key = tuple[str, str]
"""(namespace, name) of an object."""
Condition = Callable[[dict[str, Any]], bool]

_log = logging.getLogger(__name__)
_WATCH_SECONDS = 300


def session(ssl_context: ssl.SSLContext, *, connections: int = 100) -> aiohttp.ClientSession:
    """An HTTP session to the API server with `connections` parallel connections."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ssl_context, limit=connections))


@dataclass
class _Waiter:
    condition: Condition
    future: asyncio.Future[float]


class Watch:
    """The objects of one resource (`path`, e.g. `/apis/apps/v1/deployments`), kept
    current by a watch; `until(key, condition)` is the arrival time (monotonic
    seconds) of the first event of `key` satisfying `condition`."""

    def __init__(self, client: aiohttp.ClientSession, server: str, path: str) -> None:
        self._client = client
        self._url = server.rstrip("/") + path
        self.objects: dict[Key, dict[str, Any]] = {}
        self.arrived: dict[Key, float] = {}
        """When each object's current version arrived (monotonic seconds)."""
        self._waiters: dict[Key, list[_Waiter]] = {}
        self._task: asyncio.Task[None] | None = None
        self._synced = asyncio.Event()

    async def start(self) -> None:
        """Start watching; return once the first listing is in."""
        self._task = asyncio.create_task(self._run(), name=f"watch {self._url}")
        await self._synced.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def until(self, key: Key, condition: Condition) -> asyncio.Future[float]:
        """A future of the arrival time of the first version of `key` that satisfies
        `condition`: the current one if it does, else the first event that does
        (register it before causing the change, so the current one does not)."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        current = self.objects.get(key)
        if current is not None and condition(current):
            future.set_result(self.arrived[key])
            return future
        self._waiters.setdefault(key, []).append(_Waiter(condition, future))
        return future

    def _seen(self, obj: dict[str, Any], at: float) -> None:
        meta = obj["metadata"]
        key = (meta.get("namespace", ""), meta["name"])
        self.objects[key] = obj
        self.arrived[key] = at
        waiters = self._waiters.get(key)
        if not waiters:
            return
        left = []
        for waiter in waiters:
            if waiter.future.done():
                continue
            if waiter.condition(obj):
                waiter.future.set_result(at)
            else:
                left.append(waiter)
        if left:
            self._waiters[key] = left
        else:
            del self._waiters[key]

    async def _run(self) -> None:
        version = ""
        while True:
            try:
                if not version:
                    async with self._client.get(self._url) as response:
                        response.raise_for_status()
                        listing = await response.json()
                    at = time.monotonic()
                    for obj in listing["items"]:
                        self._seen(obj, at)
                    version = listing["metadata"]["resourceVersion"]
                    self._synced.set()
                params = {
                    "watch": "true",
                    "resourceVersion": version,
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": str(_WATCH_SECONDS),
                }
                timeout = aiohttp.ClientTimeout(total=None, sock_read=_WATCH_SECONDS + 30)
                async with self._client.get(self._url, params=params, timeout=timeout) as response:
                    if response.status != 200:
                        version = ""
                        continue
                    async for line in response.content:
                        if not line.strip():
                            continue
                        at = time.monotonic()
                        event = json.loads(line)
                        obj = event["object"]
                        if event["type"] == "ERROR":  # 410 Gone: list again
                            version = ""
                            break
                        version = obj["metadata"]["resourceVersion"]
                        if event["type"] in ("ADDED", "MODIFIED"):
                            self._seen(obj, at)
                        elif event["type"] == "DELETED":
                            meta = obj["metadata"]
                            key = (meta.get("namespace", ""), meta["name"])
                            self.objects.pop(key, None)
                            self.arrived.pop(key, None)
            except (TimeoutError, aiohttp.ClientError) as error:
                _log.debug("watch of %s interrupted (%s); listing again", self._url, error)
                version = ""
                await asyncio.sleep(0.2)


async def create_all(
    client: aiohttp.ClientSession, server: str, path: str, bodies: Sequence[dict[str, Any]]
) -> list[tuple[dict[str, Any], float]]:
    """POST every body to `path` at once; each created object with the monotonic
    time its create call returned. Raises RuntimeError naming a refused one."""

    async def create(body: dict[str, Any]) -> tuple[dict[str, Any], float]:
        async with client.post(server.rstrip("/") + path, json=body) as response:
            if response.status != 201:
                raise RuntimeError(f"create {path}: {response.status} {await response.text()}")
            created: dict[str, Any] = await response.json()
        return created, time.monotonic()

    return list(await asyncio.gather(*(create(body) for body in bodies)))
