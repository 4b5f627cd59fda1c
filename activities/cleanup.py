"""The `cleanup_instance` activity: what must happen before an instance may go.

Owns the deletion sequence behind the finalizer `bemade.org/postgres-cleanup`:

1. scale both Deployments to 0 (open Odoo connections would hold the
   database; reference #153), only when they are the instance's: a
   Deployment of that name someone else made keeps its replicas (a Warning
   `NotOwned` Event says so, and the deletion goes on);
2. an instance that never got a role (no `status.activeCluster`, written by
   apply_children once the role exists, and no initialized database) has
   nothing in PostgreSQL: skip to 5 at once, whatever the cluster's state;
3. `spec.database.reclaimPolicy: Retain`: keep the database and the role, say
   so in a Normal `DatabaseRetained` Event, skip to 5;
4. find the instance's PostgreSQL cluster in the clusters Secret; drop the
   instance's database (`spec.database.name` or `odoo_<uid>`), terminating
   its connections, but only when the instance's role owns it (a database of
   another role, e.g. another instance's that this one was pointed at, is
   left in place with a Warning `DatabaseNotOwned` Event); then drop its role
   `odoo.<ns>.<name>` (with any other database it owns), through
   activities.databases;
5. remove the finalizer. Every other child object goes with the instance
   through its owner references.

Whenever step 4 fails, a Warning `CleanupFailed` Event says why (the real
PostgreSQL message, or what to fix in the clusters Secret), the finalizer
stays, and a retryable `CleanupFailed` error makes the workflow retry with
backoff. So does an API answer that retrying the same request cannot fix
(400, 403 such as missing RBAC, a stray 404, 409 on an immutable field,
422): elsewhere such an answer is a permanent `ApiRejected` failure, but a
deletion must finish once someone fixes the cause, so here it is a
`CleanupFailed` naming the object and the API's message. The message is also
written to `status.message` (best effort: that write may be refused too).
Unlike the reference (QUIRK §2.8), a missing clusters Secret or cluster
never lets the finalizer go silently: that would leave a role and a database
behind. To give up on them, remove the finalizer by hand.
"""

from __future__ import annotations

import contextlib
from typing import Any, NoReturn

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities import (
    api,
    clusters,
    converge,
    databases,
    failures,
    heartbeats,
    lookup,
    ownership,
    recorder,
)
from model import failures as failure_types
from model import naming
from model.crds import ReclaimPolicy
from model.payloads import CleanupInput, InstanceRef
from model.settings import OperatorSettings
from specs import events

__all__ = ["CLEANUP_FAILED", "CleanupActivities", "remove_finalizer"]

CLEANUP_FAILED = failure_types.CLEANUP_FAILED
"""ApplicationError type (retryable) and Event reason of a cleanup that must be retried."""


class CleanupActivities:
    def __init__(
        self, kube: api.KubeApi, operator: OperatorSettings, postgres: databases.Databases
    ) -> None:
        self._kube = kube
        self._operator = operator
        self._postgres = postgres

    @activity.defn(name="cleanup_instance", no_thread_cancel_exception=True)
    def cleanup_instance(self, input: CleanupInput) -> None:
        with heartbeats.heartbeating(), failures.boundary():
            try:
                self._cleanup(input)
            except failures.ApiError as err:
                if not (err.is_permanent() or isinstance(err, failures.Invalid)):
                    raise  # transient: retried with backoff as any API error
                self._failed(
                    input.ref,
                    f"Cannot finish the deletion: {err.summary}. The finalizer "
                    f"{naming.FINALIZER} stays and the deletion is retried until this is fixed",
                )

    def _cleanup(self, input: CleanupInput) -> None:
        kube, ref, spec = self._kube, input.ref, input.spec
        try:
            live = lookup.read_instance(kube, ref)
        except failures.InstanceGone:
            return  # already gone: nothing holds it any more
        for name in (naming.web_deployment_name(ref.name), naming.cron_deployment_name(ref.name)):
            try:
                converge.scale(kube, ref, name, 0)
            except ownership.NotOwned as err:
                # Someone else's Deployment of that name: left as it is, said once.
                ownership.report(
                    kube, ref, err, reporting_instance=self._operator.reporting_instance
                )
        role = naming.role_name(ref.namespace, ref.name)
        database = naming.database_name(ref.uid, spec.database.name)
        status = live.get("status") or {}
        if not status.get("activeCluster") and not status.get("dbInitialized"):
            remove_finalizer(kube, live)  # never got a role: nothing to drop
            return
        if spec.database.reclaim_policy is ReclaimPolicy.RETAIN:
            self._report(
                ref,
                "DatabaseRetained",
                f"spec.database.reclaimPolicy is Retain: database {database!r} and role "
                f"{role!r} are kept",
            )
            remove_finalizer(kube, live)
            return
        try:
            cluster = lookup.load_cluster(kube, self._operator, spec)
        except clusters.ClusterConfigError as err:
            self._failed(
                ref,
                f"Cannot drop database {database!r} and role {role!r}: {err.message}. "
                f"Fix the clusters Secret and the deletion continues, or remove the "
                f"finalizer {naming.FINALIZER} by hand to leave them behind",
            )
        try:
            outcome = self._postgres.drop_database(
                cluster, databases.database_name_for(ref.uid, spec.database.name), owner=role
            )
            if outcome is databases.DropOutcome.NOT_OWNED:
                self._report(
                    ref,
                    "DatabaseNotOwned",
                    f"Database {database!r} on {cluster.describe()} is not owned by this "
                    f"instance's role {role!r}: left in place",
                    warning=True,
                )
            self._postgres.drop_role(cluster, role)
        except databases.PostgresError as err:
            self._failed(
                ref,
                f"Failed to drop database {database!r} and role {role!r} on "
                f"{cluster.describe()}: {err.message}",
            )
        remove_finalizer(kube, live)

    def _report(self, ref: InstanceRef, reason: str, message: str, warning: bool = False) -> None:
        recorder.post(
            self._kube,
            ref,
            name=events.event_name(ref, reason),
            reason=reason,
            message=message,
            warning=warning,
            reporting_instance=self._operator.reporting_instance,
        )

    def _failed(self, ref: InstanceRef, message: str) -> NoReturn:
        """Post a CleanupFailed Warning (once per distinct message) and show it in
        status.message, then ask for a retry."""
        with contextlib.suppress(failures.ApiError):  # a report: it may be refused too
            # The uid makes it a precondition: never a new incarnation's status.
            patch = {"metadata": {"uid": ref.uid}, "status": {"message": message}}
            self._kube.merge_patch(api.INSTANCE, ref.namespace, ref.name, patch, sub="status")
        recorder.post(
            self._kube,
            ref,
            name=events.event_name(ref, "cleanupfailed", unique=message),
            reason=CLEANUP_FAILED,
            message=message,
            warning=True,
            reporting_instance=self._operator.reporting_instance,
        )
        # Retryable whatever the cause (even a privilege problem): the finalizer
        # holds the instance until someone fixes it, and then we must finish.
        raise ApplicationError(message, type=CLEANUP_FAILED, non_retryable=False)


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
