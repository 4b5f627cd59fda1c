"""The `cleanup_instance` activity: what must happen before an instance may go.

Owns the deletion sequence behind the finalizer `bemade.org/postgres-cleanup`:
scale both Deployments to 0 (open connections would block DROP DATABASE),
drop the instance's role and the databases it owns (through the
`RoleManager`, activities.databases in production), then remove the
finalizer. Every other child object goes with the instance through its owner
references. When the PostgreSQL step fails, a Warning `CleanupFailed` Event
says why and the error propagates: the finalizer stays and the activity is
retried.
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from kubernetes.client import ApiClient
from pydantic import SecretStr
from temporalio import activity

from activities import api, clusters, context, events, failures, scaling
from activities.config import OperatorConfig
from odoo_operator.model import naming
from odoo_operator.model.payloads import CleanupInput

__all__ = ["CleanupActivities", "RoleManager", "remove_finalizer"]


class RoleManager(Protocol):
    """The PostgreSQL operations the Kubernetes-side activities need."""

    def ensure_role(self, cluster: clusters.Cluster, role: str, password: SecretStr) -> Any: ...

    def drop_role(self, cluster: clusters.Cluster, role: str) -> tuple[str, ...]: ...


class CleanupActivities:
    def __init__(
        self, client: ApiClient, config: OperatorConfig, roles: RoleManager | None = None
    ) -> None:
        self._kube = api.KubeApi(client)
        self._config = config
        self._roles = roles

    @activity.defn(name="cleanup_instance")
    def cleanup_instance(self, input: CleanupInput) -> None:
        with failures.boundary():
            self._cleanup(input)

    def _cleanup(self, input: CleanupInput) -> None:
        kube, ref = self._kube, input.ref
        try:
            live = context.read_instance(kube, ref)
        except failures.InstanceGone:
            return  # already gone: nothing holds it any more
        scaling.scale(kube, ref.namespace, naming.web_deployment_name(ref.name), 0)
        scaling.scale(kube, ref.namespace, naming.cron_deployment_name(ref.name), 0)
        if self._roles is not None:
            try:
                cluster = context.load_cluster(kube, self._config, input.spec)
                self._roles.drop_role(cluster, naming.role_name(ref.namespace, ref.name))
            except Exception as err:  # reported, then re-raised: the finalizer stays
                events.post(
                    kube,
                    ref,
                    name=events.event_name(ref, "cleanupfailed", unique=str(err)),
                    reason="CleanupFailed",
                    message=f"Failed to drop the database role: {err}",
                    warning=True,
                    reporting_instance=self._config.reporting_instance,
                )
                raise
        remove_finalizer(kube, live)


def remove_finalizer(kube: api.KubeApi, live: dict[str, Any]) -> None:
    """Drop naming.FINALIZER, guarded by resourceVersion (a conflict is retried)."""
    meta = live.get("metadata") or {}
    finalizers = list(meta.get("finalizers") or [])
    if naming.FINALIZER not in finalizers:
        return
    remaining = [f for f in finalizers if f != naming.FINALIZER]
    with contextlib.suppress(failures.NotFound):  # removed and deleted meanwhile
        kube.merge_patch(
            api.INSTANCE,
            meta["namespace"],
            meta["name"],
            {"metadata": {"finalizers": remaining, "resourceVersion": meta.get("resourceVersion")}},
        )
