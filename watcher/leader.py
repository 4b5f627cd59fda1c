"""Leader election of the watcher: one coordination.k8s.io Lease, as client-go does it.

Owns acquiring, renewing and releasing the Lease `model.naming.LEASE_NAME` in the operator
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

It talks to the API through a `LeaseStore` (synchronous, run in a thread)
that the composition root hands in (odoo_operator.runner adapts the
operator's one Kubernetes client to it), and makes no decision about
instances.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from model.naming import LEASE_NAME
from watcher.config import ElectionConfig

__all__ = [
    "LeaderElector",
    "LeadershipLost",
    "LeaseStore",
    "LeaseUnavailable",
]

_log = logging.getLogger(__name__)


class LeadershipLost(RuntimeError):
    """The Lease could not be renewed within the renew deadline (or another took it)."""


class LeaseUnavailable(Exception):
    """A LeaseStore call failed for another reason than a conflict (API down, 5xx, 403)."""


class LeaseStore(Protocol):
    """The Lease objects of coordination.k8s.io/v1, as JSON bodies.

    Every method raises `LeaseUnavailable` when the API cannot answer.
    """

    def read(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Lease, or None when there is none."""

    def create(self, namespace: str, body: dict[str, Any]) -> bool:
        """Create it; False when one of that name exists already (409)."""

    def replace(self, namespace: str, body: dict[str, Any]) -> bool:
        """Write it back (PUT, optimistic on metadata.resourceVersion); False on 409."""


def _micro_time(at: datetime.datetime) -> str:
    """A MicroTime as the API server writes it (RFC 3339, microseconds, UTC)."""
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class _Observed:
    holder: str | None
    renew_time: str | None
    transitions: int


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class LeaderElector:
    """Competes for one Lease through `store`."""

    def __init__(
        self,
        store: LeaseStore,
        config: ElectionConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not config.settings.renew_deadline_seconds < config.settings.lease_duration_seconds:
            raise ValueError("the renew deadline must be shorter than the lease duration")
        self.config = config
        self._store = store
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
                  config.namespace, LEASE_NAME, config.identity)  # fmt: skip
        while True:
            try:
                if await asyncio.to_thread(self._try_acquire_or_renew):
                    break
            except LeaseUnavailable as err:
                _log.warning("reading the Lease %s/%s failed: %s", config.namespace,
                             LEASE_NAME, err)  # fmt: skip
            await asyncio.sleep(config.settings.retry_period_seconds)  # client-go's retry period
        self.leading = True
        _log.info("leading: holding the Lease %s/%s", config.namespace, LEASE_NAME)

    async def hold(self) -> None:
        """Renew the Lease every retry period; raise LeadershipLost when that fails for
        longer than the renew deadline. Never returns otherwise."""
        config = self.config
        last_renewal = self._clock()
        while True:
            await asyncio.sleep(config.settings.retry_period_seconds)  # client-go's retry period
            try:
                renewed = await asyncio.to_thread(self._try_acquire_or_renew)
            except LeaseUnavailable as err:
                _log.warning("renewing the Lease %s/%s failed: %s", config.namespace,
                             LEASE_NAME, err)  # fmt: skip
                renewed = False
            if renewed:
                last_renewal = self._clock()
            elif self._clock() - last_renewal >= config.settings.renew_deadline_seconds:
                self.leading = False
                raise LeadershipLost(
                    f"Lease {config.namespace}/{LEASE_NAME} not renewed for "
                    f"{config.settings.renew_deadline_seconds:.0f} s"
                )

    async def release(self) -> None:
        """Give the Lease up (no holder) if we hold it; errors are only logged."""
        if not self.leading:
            return
        self.leading = False
        try:
            await asyncio.to_thread(self._release)
        except LeaseUnavailable as err:
            _log.warning("releasing the Lease failed (a standby waits it out): %s", err)
        else:
            _log.info("released the Lease %s/%s", self.config.namespace, LEASE_NAME)

    # --- one attempt (in a thread) ---------------------------------------------------

    def _try_acquire_or_renew(self) -> bool:
        with self._exchange:
            return self._attempt()

    def _attempt(self) -> bool:
        config = self.config
        now = _micro_time(_now())
        lease = self._store.read(config.namespace, LEASE_NAME)
        if lease is None:
            return self._create(now)
        spec: dict[str, Any] = lease.get("spec") or {}
        observed = _Observed(
            holder=spec.get("holderIdentity") or None,
            renew_time=spec.get("renewTime") or None,
            transitions=int(spec.get("leaseTransitions") or 0),
        )
        if observed != self._observed:
            self._observed, self._observed_at = observed, self._clock()
        duration = float(spec.get("leaseDurationSeconds") or config.settings.lease_duration_seconds)
        ours = observed.holder == config.identity
        expired = self._clock() - self._observed_at >= duration
        if observed.holder is not None and not ours and not expired:
            return False
        transitions = observed.transitions if ours else observed.transitions + 1
        lease["spec"] = {
            "holderIdentity": config.identity,
            "leaseDurationSeconds": int(config.settings.lease_duration_seconds),
            "acquireTime": spec.get("acquireTime") if ours else now,
            "renewTime": now,
            "leaseTransitions": transitions,
        }
        if not self._store.replace(config.namespace, lease):
            return False  # someone else wrote it since we read it
        self._observed = _Observed(config.identity, now, transitions)
        self._observed_at = self._clock()
        return True

    def _create(self, now: str) -> bool:
        config = self.config
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {
                "name": LEASE_NAME,
                "namespace": config.namespace,
                "labels": {"app.kubernetes.io/name": "odoo-operator"},
            },
            "spec": {
                "holderIdentity": config.identity,
                "leaseDurationSeconds": int(config.settings.lease_duration_seconds),
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": 0,
            },
        }
        if not self._store.create(config.namespace, body):
            return False  # another candidate created it first
        self._observed = _Observed(config.identity, now, 0)
        self._observed_at = self._clock()
        return True

    def _release(self) -> None:
        with self._exchange:
            for _ in range(3):  # False: a write raced ours; read again
                if self._release_once():
                    return
            self._release_once()

    def _release_once(self) -> bool:
        """Clear the holder if it is us; False when another write raced ours (409)."""
        config = self.config
        lease = self._store.read(config.namespace, LEASE_NAME)
        spec: dict[str, Any] = (lease or {}).get("spec") or {}
        if lease is None or spec.get("holderIdentity") != config.identity:
            return True  # already taken over: nothing of ours to release
        now = _micro_time(_now())
        lease["spec"] = {
            "holderIdentity": None,
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": spec.get("leaseTransitions"),
        }
        return self._store.replace(config.namespace, lease)
