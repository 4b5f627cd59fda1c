"""What the activities need to know about the operator itself.

Owns `OperatorConfig`: the operator namespace, the clusters Secret name and
the defaults written into a new instance's spec. `odoo_operator.settings`
builds it from the environment; activities never read the environment
themselves (tests build this object directly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["OperatorConfig"]


@dataclass(frozen=True)
class OperatorConfig:
    """Operator-level facts and defaults the activities use."""

    operator_namespace: str
    """Namespace of the operator: holds the clusters Secret and image pull Secrets."""
    clusters_secret: str = "postgres-clusters"
    """Secret (key `clusters.yaml`) describing the PostgreSQL clusters."""
    default_image: str = "odoo:18.0"
    default_storage_class: str = "standard"
    default_storage_size: str = "2Gi"
    default_ingress_class: str = ""
    """Empty: no default (the cluster's default IngressClass applies)."""
    default_ingress_issuer: str = ""
    """Empty: no cert-manager annotation."""
    default_gateway_name: str = ""
    default_gateway_namespace: str = ""
    """Both set: new instances get an HTTPRoute to this Gateway instead of an Ingress."""
    default_resources: dict[str, Any] | None = None
    default_affinity: dict[str, Any] | None = None
    default_tolerations: tuple[dict[str, Any], ...] = field(default=())
    tools_image: str = "ghcr.io/bemade/odoo-operator-tools:0.1.0"
    """Image of the backup and restore tooling steps (Dockerfile.tools): PostgreSQL
    client tools, zip, curl, the aws CLI and scripts/jobs/ at SCRIPTS_DIR."""
    job_history_limit: int = 10
    """Finished job resources kept per instance and kind (0: keep all)."""
    reporting_instance: str = "odoo-operator"
    """`reportingInstance` of the Events we post (the worker's pod name)."""
