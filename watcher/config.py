"""What the watcher runs with: its settings groups and what was resolved at start.

Owns `WatcherConfig` (the groups of `model.settings` the watcher reads, and the
webhook as served), `WebhookConfig` (the webhook's settings and the
certificate files found at start) and `ElectionConfig` (the leader election's
settings and this process's identity). None of them has a default: every
default is a field of `model.settings`, and the composition root
(odoo_operator.runner) builds these from one `Settings`; the watcher never
reads the environment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from model.settings import (
    LeaderElectionSettings,
    OperatorSettings,
    WatcherSettings,
    WebhookSettings,
)

__all__ = ["ElectionConfig", "WatcherConfig", "WebhookConfig"]


@dataclass(frozen=True)
class ElectionConfig:
    """Client-go's three durations, where the Lease is, and who we are."""

    settings: LeaderElectionSettings
    namespace: str
    """The operator's namespace (the Lease `model.naming.LEASE_NAME` lives there)."""
    identity: str
    """Unique per process: the pod name and a random suffix."""


@dataclass(frozen=True)
class WebhookConfig:
    """The HTTPS admission webhook server as this process serves it."""

    settings: WebhookSettings
    certfile: Path | None
    """The serving certificate found at start; None lets Kopf generate a self-signed one."""
    pkeyfile: Path | None
    """Private key (PEM) of `certfile`."""


@dataclass(frozen=True)
class WatcherConfig:
    """Everything the Kopf handlers and the Kopf settings depend on."""

    watcher: WatcherSettings
    """Watched namespaces, watch timeouts and the Temporal retry backoff."""
    operator: OperatorSettings
    """Where the clusters Secret lives, and its name (a change of it pokes every instance)."""
    task_queue: str
    """Task queue of the instance workflows (started by signal-with-start)."""
    webhook: WebhookConfig | None
    """The admission webhook server; None runs no webhook (e.g. in most tests)."""
