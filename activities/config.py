"""What the activities need to know about the operator itself.

Owns `OperatorConfig`: the operator namespace, the clusters Secret name, the
tools image, the job history limit and, from specs.defaults.SpecDefaults,
the defaults written into a new instance's spec. `odoo_operator.settings`
builds it from the environment; activities never read the environment
themselves (tests build this object directly).
"""

from __future__ import annotations

from dataclasses import dataclass

from specs import defaults

__all__ = ["OperatorConfig"]


@dataclass(frozen=True, kw_only=True)
class OperatorConfig(defaults.SpecDefaults):
    """Operator-level facts and defaults the activities use."""

    operator_namespace: str
    """Namespace of the operator: holds the clusters Secret and image pull Secrets."""
    clusters_secret: str = "postgres-clusters"
    """Secret (key `clusters.yaml`) describing the PostgreSQL clusters."""
    tools_image: str = "ghcr.io/bemade/odoo-operator-tools:0.1.0"
    """Image of the backup and restore tooling steps (Dockerfile.tools): PostgreSQL
    client tools, zip, curl, the aws CLI and scripts/jobs/ at SCRIPTS_DIR."""
    job_history_limit: int = 10
    """Finished job resources kept per instance and kind (0: keep all)."""
    reporting_instance: str = "odoo-operator"
    """`reportingInstance` of the Events we post (the worker's pod name)."""
