"""Operator settings, loaded from the environment.

Owns every knob of the worker process: how to reach Temporal (address,
namespace, task queue, TLS or API key), the operator namespace and clusters
Secret, and the defaults written into new instances' specs. Each field names
its environment variable (`ODOO_OPERATOR_<FIELD>`, upper case) in its
description. Nothing else in the operator reads the environment; activities
get the relevant part as an `activities.config.OperatorConfig`.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from activities.config import OperatorConfig

__all__ = ["ENV_PREFIX", "Settings"]

ENV_PREFIX = "ODOO_OPERATOR_"


def _env(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


class Settings(BaseModel):
    """Everything the worker needs to start; see each field for its variable."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    temporal_address: str = Field(
        default="localhost:7233",
        description=f"Temporal frontend host:port. Env {_env('temporal_address')}.",
    )
    temporal_namespace: str = Field(
        default="default", description=f"Temporal namespace. Env {_env('temporal_namespace')}."
    )
    task_queue: str = Field(
        default="odoo-operator",
        description="Task queue of the instance workflows and activities. "
        f"Env {_env('task_queue')}.",
    )
    temporal_tls_cert: Path | None = Field(
        default=None,
        description="Client certificate (PEM) for mTLS to Temporal. "
        f"Env {_env('temporal_tls_cert')}.",
    )
    temporal_tls_key: Path | None = Field(
        default=None,
        description=f"Client key (PEM) for mTLS to Temporal. Env {_env('temporal_tls_key')}.",
    )
    temporal_tls_ca: Path | None = Field(
        default=None,
        description="CA bundle (PEM) that signed the Temporal server. "
        f"Env {_env('temporal_tls_ca')}.",
    )
    temporal_api_key: SecretStr | None = Field(
        default=None,
        description=f"API key for Temporal Cloud (implies TLS). Env {_env('temporal_api_key')}.",
    )
    operator_namespace: str = Field(
        default="odoo-operator",
        description="Namespace of the operator: clusters Secret, image pull Secrets. "
        f"Env {_env('operator_namespace')}.",
    )
    clusters_secret: str = Field(
        default="postgres-clusters",
        description="Secret (key clusters.yaml) describing the PostgreSQL clusters. "
        f"Env {_env('clusters_secret')}.",
    )
    default_image: str = Field(
        default="odoo:18.0", description=f"Default spec.image. Env {_env('default_image')}."
    )
    default_storage_class: str = Field(
        default="standard",
        description=f"Default spec.filestore.storageClass. Env {_env('default_storage_class')}.",
    )
    default_storage_size: str = Field(
        default="2Gi",
        description=f"Default spec.filestore.storageSize. Env {_env('default_storage_size')}.",
    )
    default_ingress_class: str = Field(
        default="",
        description="Default spec.ingress.class (empty: none). "
        f"Env {_env('default_ingress_class')}.",
    )
    default_ingress_issuer: str = Field(
        default="",
        description="Default cert-manager ClusterIssuer (empty: none). "
        f"Env {_env('default_ingress_issuer')}.",
    )
    default_gateway_name: str = Field(
        default="",
        description="Default Gateway name; with the namespace, new instances get an HTTPRoute. "
        f"Env {_env('default_gateway_name')}.",
    )
    default_gateway_namespace: str = Field(
        default="",
        description=f"Default Gateway namespace. Env {_env('default_gateway_namespace')}.",
    )
    default_resources: dict[str, Any] | None = Field(
        default=None,
        description="Default ResourceRequirements (JSON) of web and cron. "
        f"Env {_env('default_resources')}.",
    )
    default_affinity: dict[str, Any] | None = Field(
        default=None,
        description=f"Default pod Affinity (JSON). Env {_env('default_affinity')}.",
    )
    default_tolerations: tuple[dict[str, Any], ...] = Field(
        default=(),
        description=f"Default pod tolerations (JSON list). Env {_env('default_tolerations')}.",
    )
    tools_image: str = Field(
        default="ghcr.io/bemade/odoo-operator-tools:0.1.0",
        description="Image of the backup/restore tooling steps (built from Dockerfile.tools). "
        f"Env {_env('tools_image')}.",
    )
    job_history_limit: int = Field(
        default=10,
        ge=0,
        description="Finished job resources kept per instance and kind, oldest deleted first "
        f"(0: keep all). Env {_env('job_history_limit')}.",
    )
    max_concurrent_activities: int = Field(
        default=32,
        ge=1,
        description="Activity threads of the worker (each blocks on the Kubernetes API). "
        f"Env {_env('max_concurrent_activities')}.",
    )
    max_cached_workflows: int = Field(
        default=1000,
        ge=0,
        description="Workflows the worker keeps in memory (the SDK's sticky cache); one "
        "evicted replays its history on its next task (0: none kept). "
        f"Env {_env('max_cached_workflows')}.",
    )
    pod_name: str = Field(
        default_factory=socket.gethostname,
        description="Reporting instance of our Events. Env POD_NAME (the Downward API).",
    )
    watch_namespaces: tuple[str, ...] = Field(
        default=(),
        description="Namespaces the watcher watches, comma-separated (glob patterns allowed); "
        f"empty: the whole cluster. Env {_env('watch_namespaces')}.",
    )
    webhook_enabled: bool = Field(
        default=True,
        description="Serve the validating admission webhook from the watcher. "
        f"Env {_env('webhook_enabled')}.",
    )
    webhook_port: int = Field(
        default=9443,
        ge=1,
        le=65535,
        description=f"HTTPS port of the admission webhook. Env {_env('webhook_port')}.",
    )
    webhook_tls_cert: Path = Field(
        default=Path("/tmp/k8s-webhook-server/serving-certs/tls.crt"),
        description="Serving certificate (PEM) of the webhook; when the file is missing a "
        "self-signed one is generated (needs certbuilder). "
        f"Env {_env('webhook_tls_cert')}.",
    )
    webhook_tls_key: Path = Field(
        default=Path("/tmp/k8s-webhook-server/serving-certs/tls.key"),
        description=f"Private key (PEM) of the webhook certificate. Env {_env('webhook_tls_key')}.",
    )
    probe_port: int = Field(
        default=8081,
        ge=0,
        le=65535,
        description="HTTP port of /healthz, /readyz and /metrics (0: not served). "
        f"Env {_env('probe_port')}.",
    )
    leader_election: bool = Field(
        default=False,
        description="Elect one active watcher with the Lease odoo-operator-watcher in the "
        "operator namespace; the others stand by, serving only the webhook. "
        f"Env {_env('leader_election')}.",
    )
    leader_election_lease_seconds: float = Field(
        default=15.0,
        gt=0,
        description="A standby takes over a Lease not renewed for this long. "
        f"Env {_env('leader_election_lease_seconds')}.",
    )
    leader_election_renew_seconds: float = Field(
        default=10.0,
        gt=0,
        description="The leader stops when it could not renew the Lease for this long "
        f"(less than the lease). Env {_env('leader_election_renew_seconds')}.",
    )
    leader_election_retry_seconds: float = Field(
        default=2.0,
        gt=0,
        description="Period of the Lease renewals and of the standbys' attempts. "
        f"Env {_env('leader_election_retry_seconds')}.",
    )
    temporal_retry_max_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Cap of the watcher's doubling retry delay while Temporal is unreachable. "
        f"Env {_env('temporal_retry_max_seconds')}.",
    )

    @field_validator("watch_namespaces", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("default_resources", "default_affinity", mode="before")
    @classmethod
    def _json_object(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            return None if value in ("", "{}", "null") else json.loads(value)
        return value

    @field_validator("default_tolerations", mode="before")
    @classmethod
    def _json_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip()
            return () if value in ("", "[]", "null") else json.loads(value)
        return value

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `ODOO_OPERATOR_*` variables (and POD_NAME); unset means default."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for name in cls.model_fields:
            key = "POD_NAME" if name == "pod_name" else _env(name)
            if key in env:
                values[name] = env[key]
        return cls.model_validate(values)

    def operator_config(self) -> OperatorConfig:
        return OperatorConfig(
            operator_namespace=self.operator_namespace,
            clusters_secret=self.clusters_secret,
            default_image=self.default_image,
            default_storage_class=self.default_storage_class,
            default_storage_size=self.default_storage_size,
            default_ingress_class=self.default_ingress_class,
            default_ingress_issuer=self.default_ingress_issuer,
            default_gateway_name=self.default_gateway_name,
            default_gateway_namespace=self.default_gateway_namespace,
            default_resources=self.default_resources,
            default_affinity=self.default_affinity,
            default_tolerations=self.default_tolerations,
            tools_image=self.tools_image,
            job_history_limit=self.job_history_limit,
            reporting_instance=self.pod_name,
        )
