"""The operator's settings: one root `Settings` made of small per-concern groups.

Owns every knob of the operator's processes, as Kopf's configuration does:
each group is a frozen model, each field has its default (written here and
nowhere else), its unit in its name or type, and a description saying what
it is and why; the description ends with the environment variable the field
is read from (`ODOO_OPERATOR_<NAME>`, or `POD_NAME`), which `--help` shows.
Also owns the constants those defaults name and that other floors refer to
(`DEFAULT_IMAGE`, `DEFAULT_STORAGE_SIZE`, `DEFAULT_CLUSTERS_SECRET`).

Must not read the environment or the command line: the composition root
(`odoo_operator.environment`) does, builds one `Settings` and hands each floor
the groups it needs (the activities `OperatorSettings`, `InstanceDefaults` and
`JobSettings`; the watcher `WatcherSettings` and its neighbours). Text from the
environment is parsed by the fields themselves (comma lists, JSON), so a group
built in a test reads the same text the same way.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.fields import FieldInfo

from model import naming

__all__ = [
    "DEFAULT_CLUSTERS_SECRET",
    "DEFAULT_IMAGE",
    "DEFAULT_STORAGE_SIZE",
    "ENV_PREFIX",
    "InstanceDefaults",
    "JobSettings",
    "LeaderElectionSettings",
    "OperatorSettings",
    "ProbeSettings",
    "Settings",
    "SettingsGroup",
    "TemporalSettings",
    "WatcherSettings",
    "WebhookSettings",
    "WorkerSettings",
    "variable",
]

DEFAULT_IMAGE = "odoo:18.0"
"""ODOO_OPERATOR_DEFAULT_IMAGE's default: the Odoo image written into a new instance's
spec when it names none (the builders fall back to it for a spec never defaulted)."""
DEFAULT_STORAGE_SIZE = "2Gi"
"""ODOO_OPERATOR_DEFAULT_STORAGE_SIZE's default: the filestore size written into a new
instance's spec (the PVC builder falls back to it for a spec never defaulted)."""
DEFAULT_CLUSTERS_SECRET = "postgres-clusters"
"""ODOO_OPERATOR_CLUSTERS_SECRET's default: the Secret (key clusters.yaml, in the
operator namespace) describing the PostgreSQL clusters."""
ENV_PREFIX = "ODOO_OPERATOR_"
"""Every setting's variable starts with it, except POD_NAME (the Downward API's)."""

_VARIABLE = "variable"


def _setting(variable: str, description: str, **field: Any) -> Any:
    """A field read from environment variable `variable`; its description names it."""
    return Field(
        description=f"{description} Env {variable}.",
        json_schema_extra={_VARIABLE: variable},
        **field,
    )


def variable(field: FieldInfo) -> str:
    """The environment variable a settings field is read from."""
    extra = field.json_schema_extra
    name = extra.get(_VARIABLE) if isinstance(extra, dict) else None
    if not isinstance(name, str):
        raise TypeError(f"a settings field without a variable: {field!r}")
    return name


def _json(value: object, empty: object, empty_text: str) -> object:
    """JSON text as the chart renders it (`toJson`); "", "null" and `empty_text`
    (what an empty value renders as) mean `empty`."""
    if isinstance(value, str):
        value = value.strip()
        return empty if value in ("", "null", empty_text) else json.loads(value)
    return value


_FROZEN = ConfigDict(frozen=True, extra="forbid", validate_default=True)
"""Defaults are validated like given values, so a wrong default fails at once."""


class SettingsGroup(BaseModel):
    """One concern's settings: each field a setting with its variable."""

    model_config = _FROZEN


class TemporalSettings(SettingsGroup):
    """How the worker and the watcher reach Temporal."""

    address: str = _setting(
        "ODOO_OPERATOR_TEMPORAL_ADDRESS",
        "Temporal frontend host:port.",
        default="localhost:7233",
    )
    namespace: str = _setting(
        "ODOO_OPERATOR_TEMPORAL_NAMESPACE", "Temporal namespace.", default="default"
    )
    task_queue: str = _setting(
        "ODOO_OPERATOR_TASK_QUEUE",
        "Task queue of the instance workflows and activities.",
        default="odoo-operator",
    )
    tls_cert: Path | None = _setting(
        "ODOO_OPERATOR_TEMPORAL_TLS_CERT",
        "Client certificate (PEM) for mTLS to Temporal.",
        default=None,
    )
    tls_key: Path | None = _setting(
        "ODOO_OPERATOR_TEMPORAL_TLS_KEY", "Client key (PEM) for mTLS to Temporal.", default=None
    )
    tls_ca: Path | None = _setting(
        "ODOO_OPERATOR_TEMPORAL_TLS_CA",
        "CA bundle (PEM) that signed the Temporal server.",
        default=None,
    )
    api_key: SecretStr | None = _setting(
        "ODOO_OPERATOR_TEMPORAL_API_KEY",
        "API key for Temporal Cloud (implies TLS).",
        default=None,
    )


class OperatorSettings(SettingsGroup):
    """The operator's own place in Kubernetes."""

    namespace: str = _setting(
        "ODOO_OPERATOR_OPERATOR_NAMESPACE",
        "Namespace of the operator: clusters Secret, image pull Secrets.",
        default="odoo-operator",
    )
    clusters_secret: str = _setting(
        "ODOO_OPERATOR_CLUSTERS_SECRET",
        "Secret (key clusters.yaml) describing the PostgreSQL clusters.",
        default=DEFAULT_CLUSTERS_SECRET,
    )
    reporting_instance: str = _setting(
        "POD_NAME",
        "Reporting instance of our Events (the pod name, from the Downward API; "
        "default: the host name).",
        default_factory=socket.gethostname,
    )


class InstanceDefaults(SettingsGroup):
    """What a new OdooInstance gets written into its spec when it leaves a field out."""

    image: str = _setting(
        "ODOO_OPERATOR_DEFAULT_IMAGE", "Default spec.image.", default=DEFAULT_IMAGE
    )
    storage_class: str = _setting(
        "ODOO_OPERATOR_DEFAULT_STORAGE_CLASS",
        "Default spec.filestore.storageClass.",
        default="standard",
    )
    storage_size: str = _setting(
        "ODOO_OPERATOR_DEFAULT_STORAGE_SIZE",
        "Default spec.filestore.storageSize.",
        default=DEFAULT_STORAGE_SIZE,
    )
    ingress_class: str = _setting(
        "ODOO_OPERATOR_DEFAULT_INGRESS_CLASS",
        "Default spec.ingress.class (empty: none).",
        default="",
    )
    ingress_issuer: str = _setting(
        "ODOO_OPERATOR_DEFAULT_INGRESS_ISSUER",
        "Default cert-manager ClusterIssuer (empty: none).",
        default="",
    )
    gateway_name: str = _setting(
        "ODOO_OPERATOR_DEFAULT_GATEWAY_NAME",
        "Default Gateway name; with the namespace, new instances get an HTTPRoute.",
        default="",
    )
    gateway_namespace: str = _setting(
        "ODOO_OPERATOR_DEFAULT_GATEWAY_NAMESPACE", "Default Gateway namespace.", default=""
    )
    resources: dict[str, Any] | None = _setting(
        "ODOO_OPERATOR_DEFAULT_RESOURCES",
        "Default ResourceRequirements (JSON) of web and cron.",
        default=None,
    )
    affinity: dict[str, Any] | None = _setting(
        "ODOO_OPERATOR_DEFAULT_AFFINITY", "Default pod Affinity (JSON).", default=None
    )
    tolerations: tuple[dict[str, Any], ...] = _setting(
        "ODOO_OPERATOR_DEFAULT_TOLERATIONS", "Default pod tolerations (JSON list).", default=()
    )

    @field_validator("resources", "affinity", mode="before")
    @classmethod
    def _json_object(cls, value: object) -> object:
        return _json(value, None, "{}")

    @field_validator("tolerations", mode="before")
    @classmethod
    def _json_list(cls, value: object) -> object:
        return _json(value, (), "[]")


class JobSettings(SettingsGroup):
    """The batch Jobs the operator runs and the job resources it keeps."""

    tools_image: str = _setting(
        "ODOO_OPERATOR_TOOLS_IMAGE",
        "Image of the backup/restore tooling steps (built from Dockerfile.tools: "
        "PostgreSQL client tools, zip, curl, the aws CLI and scripts/jobs/).",
        default="ghcr.io/bemade/odoo-operator-tools:0.1.0",
    )
    history_limit: int = _setting(
        "ODOO_OPERATOR_JOB_HISTORY_LIMIT",
        "Finished job resources kept per instance and kind, oldest deleted first (0: keep all).",
        default=10,
        ge=0,
    )


class WorkerSettings(SettingsGroup):
    """The Temporal worker's capacity."""

    max_concurrent_activities: int = _setting(
        "ODOO_OPERATOR_MAX_CONCURRENT_ACTIVITIES",
        "Activity threads of the worker (each blocks on the Kubernetes API).",
        default=32,
        ge=1,
    )
    max_cached_workflows: int = _setting(
        "ODOO_OPERATOR_MAX_CACHED_WORKFLOWS",
        "Workflows the worker keeps in memory (the SDK's sticky cache); one evicted "
        "replays its history on its next task (0: none kept).",
        default=1000,
        ge=0,
    )


class WatcherSettings(SettingsGroup):
    """What the Kopf watcher watches, and how it retries Temporal."""

    namespaces: tuple[str, ...] = _setting(
        "ODOO_OPERATOR_WATCH_NAMESPACES",
        "Namespaces the watcher watches, comma-separated (glob patterns allowed); "
        "empty: the whole cluster.",
        default=(),
    )
    scanning_namespaces: bool = _setting(
        "ODOO_OPERATOR_WATCH_SCANNING_NAMESPACES",
        "List and watch Namespace objects, so that glob patterns in the watched "
        "namespaces follow namespaces created later (needs list and watch on namespaces); "
        "off: each pattern is taken as an exact name.",
        default=False,
    )
    server_timeout_seconds: int = _setting(
        "ODOO_OPERATOR_WATCH_SERVER_TIMEOUT_SECONDS",
        "Watch requests end after this long and reconnect (covers connections dropped silently).",
        default=300,
        gt=0,
    )
    retry_delay_seconds: float = _setting(
        "ODOO_OPERATOR_TEMPORAL_RETRY_MIN_SECONDS",
        "First delay of the watcher's retry of a Temporal call; it doubles on each retry.",
        default=1.0,
        gt=0,
    )
    retry_delay_max_seconds: float = _setting(
        "ODOO_OPERATOR_TEMPORAL_RETRY_MAX_SECONDS",
        "Cap of the watcher's doubling retry delay while Temporal is unreachable.",
        default=60.0,
        gt=0,
    )

    @field_validator("namespaces", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def backoff(self, retry: int) -> float:
        """Seconds before retry number `retry` (0-based): doubling, capped."""
        return float(min(self.retry_delay_seconds * (2**retry), self.retry_delay_max_seconds))


class WebhookSettings(SettingsGroup):
    """The validating admission webhook the watcher serves over HTTPS."""

    enabled: bool = _setting(
        "ODOO_OPERATOR_WEBHOOK_ENABLED",
        "Serve the validating admission webhook from the watcher.",
        default=True,
    )
    port: int = _setting(
        "ODOO_OPERATOR_WEBHOOK_PORT",
        "HTTPS port of the admission webhook (the chart's Service maps 443 to it).",
        default=9443,
        ge=1,
        le=65535,
    )
    addr: str = _setting(
        "ODOO_OPERATOR_WEBHOOK_ADDR",
        "Bind address of the webhook server; all interfaces, so the API server reaches it.",
        default="0.0.0.0",
    )
    host: str | None = _setting(
        "ODOO_OPERATOR_WEBHOOK_HOST",
        "Host name of the certificate generated when the files are missing (none: Kopf's choice).",
        default=None,
    )
    tls_cert: Path = _setting(
        "ODOO_OPERATOR_WEBHOOK_TLS_CERT",
        "Serving certificate (PEM) of the webhook; when the file is missing a self-signed "
        "one is generated (needs certbuilder).",
        default=Path("/tmp/k8s-webhook-server/serving-certs/tls.crt"),
    )
    tls_key: Path = _setting(
        "ODOO_OPERATOR_WEBHOOK_TLS_KEY",
        "Private key (PEM) of the webhook certificate.",
        default=Path("/tmp/k8s-webhook-server/serving-certs/tls.key"),
    )
    reload_poll_seconds: float = _setting(
        "ODOO_OPERATOR_WEBHOOK_RELOAD_POLL_SECONDS",
        "How often the certificate files are checked; when they change (a renewal) the "
        "watcher ends, so that its process restarts with them (Kopf reads them only at "
        "start).",
        default=30.0,
        gt=0,
    )


class LeaderElectionSettings(SettingsGroup):
    """One active watcher among replicas: client-go's Lease election and its durations."""

    enabled: bool = _setting(
        "ODOO_OPERATOR_LEADER_ELECTION",
        f"Elect one active watcher with the Lease {naming.LEASE_NAME} in the operator "
        "namespace; the others stand by, serving only the webhook.",
        default=False,
    )
    lease_duration_seconds: float = _setting(
        "ODOO_OPERATOR_LEADER_ELECTION_LEASE_SECONDS",
        "A standby takes over a Lease not renewed for this long.",
        default=15.0,
        gt=0,
    )
    renew_deadline_seconds: float = _setting(
        "ODOO_OPERATOR_LEADER_ELECTION_RENEW_SECONDS",
        "The leader stops when it could not renew the Lease for this long (less than the lease).",
        default=10.0,
        gt=0,
    )
    retry_period_seconds: float = _setting(
        "ODOO_OPERATOR_LEADER_ELECTION_RETRY_SECONDS",
        "Period of the Lease renewals and of the standbys' attempts.",
        default=2.0,
        gt=0,
    )


class ProbeSettings(SettingsGroup):
    """The HTTP endpoint of the kubelet's probes and Prometheus."""

    port: int = _setting(
        "ODOO_OPERATOR_PROBE_PORT",
        "HTTP port of /healthz, /readyz and /metrics (0: not served).",
        default=8081,
        ge=0,
        le=65535,
    )


class Settings(BaseModel):
    """Everything the operator's processes are configured with, one group per concern."""

    model_config = _FROZEN

    temporal: TemporalSettings = Field(default_factory=TemporalSettings)
    operator: OperatorSettings = Field(default_factory=OperatorSettings)
    defaults: InstanceDefaults = Field(default_factory=InstanceDefaults)
    jobs: JobSettings = Field(default_factory=JobSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    watcher: WatcherSettings = Field(default_factory=WatcherSettings)
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    leader_election: LeaderElectionSettings = Field(default_factory=LeaderElectionSettings)
    probes: ProbeSettings = Field(default_factory=ProbeSettings)
