"""What the watcher needs to know, as one frozen object.

Owns the watcher's knobs (task queue, watched namespaces, operator namespace
and clusters Secret, retry backoff, webhook and probe endpoints, leader
election). It is built
by the composition root (odoo_operator.cli) from `odoo_operator.settings`;
the watcher never reads the environment or imports the settings module
(which pulls in activities).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["LEASE_NAME", "ElectionConfig", "WatcherConfig", "WebhookConfig"]

LEASE_NAME = "odoo-operator-watcher"
"""The Lease the watchers of one operator namespace compete for (also named in
charts/odoo-operator/files/rbac-rules.yaml, which grants get/update on it only)."""


@dataclass(frozen=True)
class ElectionConfig:
    """Where the Lease is, who we are, and client-go's three durations."""

    namespace: str
    """The operator's namespace (the Lease lives there)."""
    identity: str
    """Unique per process: the pod name and a random suffix."""
    lease_duration_seconds: float = 15.0
    """A standby takes an unrenewed Lease after this long."""
    renew_deadline_seconds: float = 10.0
    """The leader gives up after failing to renew for this long (< lease duration)."""
    retry_period_seconds: float = 2.0
    """Period of the standby's attempts and of the leader's renewals."""
    name: str = LEASE_NAME


@dataclass(frozen=True)
class WebhookConfig:
    """The HTTPS admission webhook server of the watcher."""

    port: int = 9443
    """TCP port of the HTTPS server (the chart's Service maps 443 to it)."""
    host: str | None = None
    """Host name the server's certificate is for, when kopf generates one."""
    addr: str = "0.0.0.0"
    """Bind address; all interfaces by default so the API server reaches it."""
    certfile: Path | None = None
    """Serving certificate (PEM); None lets kopf generate a self-signed one."""
    pkeyfile: Path | None = None
    """Private key (PEM) of `certfile`."""
    reload_poll_seconds: float = 30.0
    """How often the files are checked; when they change (a renewal) the watcher ends
    so that its process restarts with them (Kopf reads them only at start)."""


@dataclass(frozen=True)
class WatcherConfig:
    """Everything the Kopf handlers and the Kopf settings depend on."""

    task_queue: str = "odoo-operator"
    """Task queue of the instance workflows (started by signal-with-start)."""
    namespaces: tuple[str, ...] = ()
    """Watched namespaces (glob patterns allowed); empty means the whole cluster."""
    operator_namespace: str = "odoo-operator"
    """Where the clusters Secret lives."""
    clusters_secret: str = "postgres-clusters"
    """Name of the clusters Secret; a change of it pokes every instance."""
    retry_delay_seconds: float = 1.0
    """First delay before retrying a Temporal call; it doubles on each retry."""
    retry_delay_max_seconds: float = 60.0
    """Cap of the doubling retry delay while Temporal is unreachable."""
    server_timeout_seconds: int = 300
    """Watch requests end after this long and reconnect (covers silent drops)."""
    webhook: WebhookConfig | None = field(default=None)
    """The admission webhook server; None runs no webhook (e.g. in most tests)."""
    scanning_namespaces: bool = False
    """List Namespace objects to follow glob patterns (needs cluster-wide list on namespaces)."""
    election: ElectionConfig | None = None
    """Leader election: only the Lease holder handles events, every process serves the
    webhook; None handles events unconditionally (one watcher only)."""

    def backoff(self, retry: int) -> float:
        """Seconds before retry number `retry` (0-based): doubling, capped."""
        return float(min(self.retry_delay_seconds * (2**retry), self.retry_delay_max_seconds))
