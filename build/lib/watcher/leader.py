"""Leader election of the watcher: one coordination.k8s.io Lease, as client-go does it.

Owns acquiring, renewing and releasing the Lease `LEASE_NAME` in the operator
namespace, so exactly one of several watcher processes (the chart's watcher
Deployment runs two) handles events while the others stand by. The algorithm
is client-go's `leaderelection` package:

- every `retry_period` a candidate reads the Lease; it takes it when it has no
  holder or when the holder's record has not changed for `lease_duration`
  seconds of the candidate's own monotonic clock (never comparing timestamps
  written by another machine's clock);
- writes are optimistic (`update` with the read resourceVersion): two
  candidates racing for an expired Lease cannot both win, the loser gets 409;
- the leader renews every `retry_period`; when no renewal succeeded for
  `renew_deadline` it has lost the Lease (`LeadershipLost`): the watcher
  stops and the process exits, and Kubernetes starts it again as a standby;
- a leader stopping cleanly releases the Lease (no holder), so a standby
  takes over at its next retry instead of after `lease_duration`.

A standby therefore takes over from a leader that died without releasing
(SIGKILL, a node lost) within `lease_duration + retry_period` plus the time
Kopf needs to start its watches, and from one that stopped cleanly within
`retry_period` plus that start time.

It talks to the API through the official client (synchronous, run in a
thread) and makes no decision about instances.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kubernetes
import urllib3

from watcher.config import LEASE_NAME, ElectionConfig

__all__ = ["LEASE_NAME", "ElectionConfig", "LeaderElector", "LeadershipLost"]

_log = logging.getLogger(__name__)


class LeadershipLost(RuntimeError):
    """The Lease could not be renewed within the renew deadline (or another took it)."""


@dataclass(frozen=True)
class _Observed:
    holder: str | None
    renew_time: str | None
    transitions: int


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class LeaderElector:
    """Competes for one Lease through `api_client` (an official-client ApiClient)."""

    def __init__(
        self,
        api_client: kubernetes.client.ApiClient,
        config: ElectionConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not config.renew_deadline_seconds < config.lease_duration_seconds:
            raise ValueError("the renew deadline must be shorter than the lease duration")
        self.config = config
        self._api = kubernetes.client.CoordinationV1Api(api_client)
        self._clock = clock
        self._observed: _Observed | None = None
        self._observed_at = 0.0
        # One API exchange at a time: a renewal still running in its thread when
        # the leader stops must finish before the release reads the Lease.
        self._exchange = threading.Lock()
        self.leading = False

    # --- the three phases ---------------------------------------------------------

    async def acquire(self) -> None:
        """Return once we hold the Lease (retrying every retry period)."""
        config = self.config
        _log.info("waiting for the Lease %s/%s (we are %s)",
                  config.namespace, config.name, config.identity)  # fmt: skip
        while True:
            try:
                if await asyncio.to_thread(self._try_acquire_or_renew):
                    break
            except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError, OSError) as err:
                _log.warning("reading the Lease %s/%s failed: %s", config.namespace,
                             config.name, err)  # fmt: skip
            await asyncio.sleep(config.retry_period_seconds)  # client-go's retry period
        self.leading = True
        _log.info("leading: holding the Lease %s/%s", config.namespace, config.name)

    async def hold(self) -> None:
        """Renew the Lease every retry period; raise LeadershipLost when that fails for
        longer than the renew deadline. Never returns otherwise."""
        config = self.config
        last_renewal = self._clock()
        while True:
            await asyncio.sleep(config.retry_period_seconds)  # client-go's retry period
            try:
                renewed = await asyncio.to_thread(self._try_acquire_or_renew)
            except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError, OSError) as err:
                _log.warning("renewing the Lease %s/%s failed: %s", config.namespace,
                             config.name, err)  # fmt: skip
                renewed = False
            if renewed:
                last_renewal = self._clock()
            elif self._clock() - last_renewal >= config.renew_deadline_seconds:
                self.leading = False
                raise LeadershipLost(
                    f"Lease {config.namespace}/{config.name} not renewed for "
                    f"{config.renew_deadline_seconds:.0f} s"
                )

    async def release(self) -> None:
        """Give the Lease up (no holder) if we hold it; errors are only logged."""
        if not self.leading:
            return
        self.leading = False
        try:
            await asyncio.to_thread(self._release)
        except (kubernetes.client.ApiException, urllib3.exceptions.HTTPError, OSError) as err:
            _log.warning("releasing the Lease failed (a standby waits it out): %s", err)
        else:
            _log.info("released the Lease %s/%s", self.config.namespace, self.config.name)

    # --- one attempt (in a thread) ---------------------------------------------------

    def _try_acquire_or_renew(self) -> bool:
        with self._exchange:
            return self._attempt()

    def _attempt(self) -> bool:
        config = self.config
        now = _now()
        try:
            lease = self._api.read_namespaced_lease(config.name, config.namespace)
        except kubernetes.client.ApiException as err:
            if err.status != 404:
                raise
            return self._create(now)
        spec = lease.spec or kubernetes.client.V1LeaseSpec()
        observed = _Observed(
            holder=spec.holder_identity or None,
            renew_time=str(spec.renew_time) if spec.renew_time else None,
            transitions=int(spec.lease_transitions or 0),
        )
        if observed != self._observed:
            self._observed, self._observed_at = observed, self._clock()
        duration = float(spec.lease_duration_seconds or config.lease_duration_seconds)
        ours = observed.holder == config.identity
        expired = self._clock() - self._observed_at >= duration
        if observed.holder is not None and not ours and not expired:
            return False
        transitions = observed.transitions if ours else observed.transitions + 1
        lease.spec = kubernetes.client.V1LeaseSpec(
            holder_identity=config.identity,
            lease_duration_seconds=int(config.lease_duration_seconds),
            acquire_time=spec.acquire_time if ours else now,
            renew_time=now,
            lease_transitions=transitions,
        )
        try:
            self._api.replace_namespaced_lease(config.name, config.namespace, lease)
        except kubernetes.client.ApiException as err:
            if err.status == 409:  # someone else wrote it since we read it
                return False
            raise
        self._observed = _Observed(config.identity, str(now), transitions)
        self._observed_at = self._clock()
        return True

    def _create(self, now: datetime.datetime) -> bool:
        config = self.config
        body = kubernetes.client.V1Lease(
            metadata=kubernetes.client.V1ObjectMeta(
                name=config.name,
                namespace=config.namespace,
                labels={"app.kubernetes.io/name": "odoo-operator"},
            ),
            spec=kubernetes.client.V1LeaseSpec(
                holder_identity=config.identity,
                lease_duration_seconds=int(config.lease_duration_seconds),
                acquire_time=now,
                renew_time=now,
                lease_transitions=0,
            ),
        )
        try:
            self._api.create_namespaced_lease(config.namespace, body)
        except kubernetes.client.ApiException as err:
            if err.status == 409:  # another candidate created it first
                return False
            raise
        self._observed = _Observed(config.identity, str(now), 0)
        self._observed_at = self._clock()
        return True

    def _release(self) -> None:
        with self._exchange:
            for _ in range(3):  # 409: a write raced ours; read again
                try:
                    self._release_once()
                    return
                except kubernetes.client.ApiException as err:
                    if err.status != 409:
                        raise
            self._release_once()

    def _release_once(self) -> None:
        config = self.config
        lease: Any = self._api.read_namespaced_lease(config.name, config.namespace)
        spec = lease.spec or kubernetes.client.V1LeaseSpec()
        if spec.holder_identity != config.identity:
            return  # already taken over: nothing of ours to release
        now = _now()
        lease.spec = kubernetes.client.V1LeaseSpec(
            holder_identity=None,
            lease_duration_seconds=1,
            acquire_time=now,
            renew_time=now,
            lease_transitions=spec.lease_transitions,
        )
        self._api.replace_namespaced_lease(config.name, config.namespace, lease)
