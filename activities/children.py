"""The `apply_children` activity: make every child object match the spec.

Owns, for one generation of an instance: the finalizer, the operator
defaults written into a new spec, the credentials Secret, the image pull
Secret copy, ServiceAccount/Role/RoleBinding, ConfigMap, filestore PVC,
Service, Ingress or HTTPRoute, and both Deployments. The bodies come from
the pure builders (specs.defaults, config, rbac, network, storage,
workloads); this module reads, decides how to write, and writes. It does not
scale anything: the phase machine (converge_phase) owns replica counts.

How each object is written:

- server-side apply (field manager `odoo-operator`, force) for the
  ServiceAccount, Role, RoleBinding, ConfigMap, Service, Ingress/HTTPRoute and
  Deployments; switching Ingress <-> HTTPRoute deletes the other one;
- create-if-absent for the Secret (its database password is generated once
  and never rotated by the operator; only `admin-password`, Odoo's master
  password, follows the spec: the key of the Secret spec.adminPasswordSecretRef
  names, or the inline spec.adminPassword read from the live object because
  workflow payloads carry no secret, or, with neither, a password generated
  once) and for the image pull Secret copy. A database password someone else
  put into the Secret is followed, not reverted: the role gets it and the pods
  roll (their template carries the Secret's resourceVersion); a Secret without
  one is a CONFIG_INVALID naming it;
- the PVC is created if absent, grown in place when the spec is larger and
  never shrunk (a smaller spec posts a Warning Event and changes nothing).

Replica ownership under server-side apply: the Deployment apply re-sends the
replica count it reads from the live Deployment (0 when creating it). If the
apply omitted `spec.replicas`, SSA would remove the field it owned and the
API server would default it to 1, starting Odoo on an uninitialized
database; re-stating the live value makes the apply a no-op for replicas,
so converge_phase (a merge patch, run by the same workflow, never
concurrently) stays their only writer.

The PostgreSQL role `odoo.<ns>.<name>` (password from the Secret) is
ensured last, through activities.databases, so the Kubernetes objects
converge even while PostgreSQL is down; then, once the database is
initialized, Odoo's report.url and web.base.url (activities.odoo_settings,
as the role, never fatal). An unreachable cluster
(`PostgresUnavailable`, retried with backoff by the workflow) is made
visible before the error propagates: a Warning `DatabaseUnavailable` Event
naming host:port (once per generation) and `status.message` plus the
conditions' message ("PostgreSQL cluster 'main' (10.0.0.5:5432)
unreachable: ...; retrying"). The first successful apply afterwards clears
that message (record_status may skip an unchanged status, so it cannot be
left to it).

What was written comes back in `AppliedChildren.children`, each object with
its fingerprint as the API server answered (model.children): the snapshot
measures drift against it. An apply that repairs drift
(`ApplyChildrenInput.restoring`, found by the snapshot) posts, once it
succeeded, a Normal Event per object: `ChildRestored` ("Restored Service shop
(it was missing)"), or `CredentialsChanged` for a credentials Secret whose
password it followed; named by the activity execution, so a retry posts none
twice.

Ownership (never take over what the instance does not own; the rule is
activities.ownership's): before writing a named object, the live one (if
any) must carry an owner reference to this OdooInstance (or to an earlier
incarnation of the same name, being garbage-collected). An object of another
instance (`shop-cron` is both the cron Deployment of `shop` and the web
Deployment of an instance `shop-cron`) or one nobody of ours created is left
alone: CONFIG_INVALID naming the object and its owner. Likewise
spec.database.name must not be claimed by an older instance on the same
cluster (any namespace; the admission webhook refuses it earlier when
installed). After the role is ensured, `status.activeCluster` records the
cluster: an instance without it never got a role, and its deletion does not
wait for PostgreSQL (cleanup.py).

Permanent problems (a 422 for an object built from the spec, a missing
cluster or pull Secret, the Gateway API not installed, an admin login the
cluster refuses, the ownership rules above) raise CONFIG_INVALID with a
message naming the field or object; API answers retrying cannot fix (400,
403 such as a StorageClass that does not allow expansion, 404, 409
immutable; see failures) raise API_REJECTED after a Warning `ApplyRefused`
Event naming the object and the API's message (once per generation and
message). Everything else is retried.

A namespace being deleted refuses every create (403, reason
NamespaceTerminating): the instance goes with it, so there is nothing to
restore and nothing to report; the apply stops there and answers
`AppliedChildren.namespace_terminating` (its deletion reaches the workflow
next, through the watcher).
"""

from __future__ import annotations

import base64
import contextlib
import secrets
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import SecretStr
from temporalio import activity

from activities import (
    api,
    clusters,
    databases,
    failures,
    heartbeats,
    lookup,
    odoo_settings,
    ownership,
    recorder,
    status,
)
from model import children as model_children
from model import naming
from model.crds import OdooInstanceSpec
from model.payloads import AppliedChild, AppliedChildren, ApplyChildrenInput, Drift, InstanceRef
from model.phases import Phase
from model.settings import InstanceDefaults, OperatorSettings
from specs import conditions, config, defaults, events, facts, network, rbac, storage, workloads

__all__ = [
    "UNAVAILABLE_PREFIX",
    "UNAVAILABLE_SUFFIX",
    "ChildrenActivities",
    "delete_if_owned",
    "ensure_finalizer",
]

_WAS = {Drift.MISSING: "missing", Drift.DELETING: "deleted", Drift.CHANGED: "changed"}
"""How a restore Event words the drift it repaired."""

UNAVAILABLE_PREFIX = "PostgreSQL "
UNAVAILABLE_SUFFIX = "; retrying"
"""How status.message reads while the cluster is unreachable (and how we recognise it)."""


class ChildrenActivities:
    def __init__(
        self,
        kube: api.KubeApi,
        operator: OperatorSettings,
        defaults: InstanceDefaults,
        postgres: databases.Databases,
    ) -> None:
        self._kube = kube
        self._operator = operator
        self._defaults = defaults
        self._postgres = postgres

    @activity.defn(name="apply_children", no_thread_cancel_exception=True)
    def apply_children(self, input: ApplyChildrenInput) -> AppliedChildren:
        with heartbeats.heartbeating(), failures.boundary():
            try:
                applied = self._apply(input)
            except failures.NamespaceTerminating:
                return AppliedChildren(generation=input.generation, namespace_terminating=True)
            except failures.ApiError as err:
                if err.is_permanent() or isinstance(err, failures.Invalid):
                    self._report_refused(input, err.summary)
                raise
            except failures.ConfigProblem as err:
                self._report_refused(input, str(err))
                raise
            self._report_restored(input)
            return applied

    def _report_restored(self, input: ApplyChildrenInput) -> None:
        """A Normal Event for each child this apply restored (or followed: the
        credentials Secret), named by the activity execution: once, whatever the retries."""
        info = activity.info()
        unique = f"{info.workflow_id}/{info.workflow_run_id}/{info.activity_id}"
        for drift in input.restoring:
            what = f"{drift.kind} {drift.name}"
            if drift.kind in model_children.SOURCE_KINDS and drift.drift is Drift.CHANGED:
                reason = "CredentialsChanged"
                message = (
                    f"{what} changed: the database role now authenticates with its "
                    "password, and the pods restart to read it"
                )
            else:
                reason = "ChildRestored"
                message = f"Restored {what} (it was {_WAS[drift.drift]})"
            recorder.post(
                self._kube,
                input.ref,
                name=events.event_name(
                    input.ref, "restored", drift.kind, drift.name, unique=unique
                ),
                reason=reason,
                message=message,
                reporting_instance=self._operator.reporting_instance,
            )

    def _report_refused(self, input: ApplyChildrenInput, message: str) -> None:
        recorder.post(
            self._kube,
            input.ref,
            name=events.event_name(input.ref, "applyrefused", input.generation, unique=message),
            reason="ApplyRefused",
            message=message,
            warning=True,
            reporting_instance=self._operator.reporting_instance,
        )

    def _apply(self, input: ApplyChildrenInput) -> AppliedChildren:
        """Apply everything; the generation applied and what was written (see
        AppliedChildren)."""
        kube, ref = self._kube, input.ref
        live = lookup.read_instance(kube, ref)
        live = ensure_finalizer(kube, live)
        live_spec: dict[str, Any] = live.get("spec") or {}
        applied = input.generation
        patch = defaults.defaults_patch(live_spec, self._defaults)
        if patch:
            before = _generation(live)
            patched = kube.merge_patch(api.INSTANCE, ref.namespace, ref.name, {"spec": patch})
            if before == input.generation:
                # The defaults went onto the very spec applied here: the new
                # generation is this spec with them, applied below.
                applied = _generation(patched)
        spec = defaults.with_defaults(input.spec, patch)
        problems = naming.instance_name_problems(ref.name)
        if problems:
            raise failures.ConfigProblem("; ".join(problems))
        cluster = lookup.load_cluster(kube, self._operator, spec)
        self._check_database_claim(ref, spec, cluster)
        inst = lookup.instance_facts(ref, spec, cluster)

        secret = self._ensure_secret(inst, self._master_password(inst, live_spec))
        credentials_version, password = _version(secret), _password(secret)
        if not password.get_secret_value():
            raise failures.ConfigProblem(
                f"Secret {naming.db_password_secret_name(ref.name)} has no "
                f"{config.DB_PASSWORD_KEY!r} key (the database password): put one back, or "
                "delete the Secret and the operator makes a new one"
            )
        written = [secret]
        self._ensure_pull_secret(inst)
        for res, body in (
            (api.SERVICE_ACCOUNT, rbac.service_account(inst)),
            (api.ROLE, rbac.role(inst)),
            (api.ROLE_BINDING, rbac.role_binding(inst)),
            (api.CONFIG_MAP, config.config_map(inst)),
            (api.SERVICE, network.service(inst)),
        ):
            ownership.ensure_owned(kube.find(res, ref.namespace, body["metadata"]["name"]), ref)
            written.append(kube.apply(res, ref.namespace, body))
        written.append(self._ensure_pvc(inst, ref, input.generation))
        written.append(self._ensure_routing(inst))
        for name, build in (
            (naming.web_deployment_name(ref.name), workloads.web_deployment),
            (naming.cron_deployment_name(ref.name), workloads.cron_deployment),
        ):
            current = kube.find(api.DEPLOYMENT, ref.namespace, name)
            ownership.ensure_owned(current, ref)
            replicas = int((current or {}).get("spec", {}).get("replicas", 0))
            body = build(inst, replicas=replicas, credentials_version=credentials_version)
            written.append(kube.apply(api.DEPLOYMENT, ref.namespace, body))
        try:
            self._postgres.ensure_role(cluster, inst.database.user, password)
        except databases.PostgresUnavailable as err:
            self._report_unavailable(ref, cluster, err, input.generation, live)
            raise
        self._clear_unavailable(ref, live)
        if (live.get("status") or {}).get("dbInitialized"):
            reporting = self._operator.reporting_instance
            odoo_settings.keep(
                kube, self._postgres, inst, cluster, password, reporting_instance=reporting
            )
        if (live.get("status") or {}).get("activeCluster") != cluster.name:
            kube.merge_patch(
                api.INSTANCE,
                ref.namespace,
                ref.name,
                {"status": {"activeCluster": cluster.name}},
                sub="status",
            )
        return AppliedChildren(
            generation=applied,
            children=tuple(
                AppliedChild(
                    kind=str(body.get("kind") or ""),
                    name=str(body["metadata"]["name"]),
                    fingerprint=model_children.fingerprint(body),
                )
                for body in written
            ),
        )

    def _check_database_claim(
        self, ref: InstanceRef, spec: OdooInstanceSpec, cluster: clusters.Cluster
    ) -> None:
        """spec.database.name is not used by an older instance on the same cluster."""
        database = spec.database.name
        if not database:
            return  # odoo_<uid>: unique by construction
        default: str | None = None
        # Oldest claim wins: creationTimestamp (seconds), then the instance that
        # already got its role (status.activeCluster), then namespace/name.
        mine: tuple[str, bool, str, str] | None = None
        claims: list[tuple[str, bool, str, str]] = []
        for other in self._kube.list_all(api.INSTANCE):
            meta = other.get("metadata") or {}
            db = (other.get("spec") or {}).get("database") or {}
            if db.get("name") != database or meta.get("deletionTimestamp"):
                continue
            key = (
                str(meta.get("creationTimestamp") or ""),
                not (other.get("status") or {}).get("activeCluster"),
                str(meta["namespace"]),
                str(meta["name"]),
            )
            if meta.get("uid") == ref.uid:
                mine = key
                continue
            other_cluster = db.get("cluster")
            if not other_cluster:
                if default is None:
                    default = clusters.read_cluster(
                        self._kube,
                        self._operator.namespace,
                        self._operator.clusters_secret,
                        None,
                    ).name
                other_cluster = default
            if other_cluster == cluster.name:
                claims.append(key)
        older = sorted(c for c in claims if mine is None or c < mine)
        if older:
            _, _, namespace, name = older[0]
            raise failures.ConfigProblem(
                f"spec.database.name: database {database} on cluster {cluster.name} is already "
                f"used by OdooInstance {namespace}/{name}; choose another name (this instance "
                "does not touch it)"
            )

    def _report_unavailable(
        self,
        ref: InstanceRef,
        cluster: clusters.Cluster,
        err: databases.PostgresUnavailable,
        generation: int,
        live: dict[str, Any],
    ) -> None:
        """Say why the instance is stuck: a Warning Event (once per generation) and
        status.message, which `kubectl get odoo -o yaml` and describe show."""
        reason = err.message.removeprefix(f"{cluster.describe()} is unavailable: ")
        message = (
            f"{UNAVAILABLE_PREFIX}cluster {cluster.name!r} ({cluster.address}) unreachable: "
            f"{reason}{UNAVAILABLE_SUFFIX}"
        )
        recorder.post(
            self._kube,
            ref,
            name=events.event_name(ref, "databaseunavailable", generation),
            reason="DatabaseUnavailable",
            message=message,
            warning=True,
            reporting_instance=self._operator.reporting_instance,
        )
        self._write_message(ref, live, message)

    def _clear_unavailable(self, ref: InstanceRef, live: dict[str, Any]) -> None:
        """Clear the message _report_unavailable wrote, now that the cluster answers."""
        message = str((live.get("status") or {}).get("message") or "")
        if message.startswith(UNAVAILABLE_PREFIX) and message.endswith(UNAVAILABLE_SUFFIX):
            self._write_message(ref, live, None)

    def _write_message(self, ref: InstanceRef, live: dict[str, Any], message: str | None) -> None:
        current = live.get("status") or {}
        patch: dict[str, Any] = {"message": message}
        try:
            phase = Phase(current.get("phase") or Phase.PROVISIONING)
        except ValueError:
            phase = Phase.PROVISIONING
        patch["conditions"] = conditions.for_phase(
            phase,
            message,
            int(current.get("observedGeneration") or 0),
            list(current.get("conditions") or []),
            status.now(),
        )
        self._kube.merge_patch(
            api.INSTANCE, ref.namespace, ref.name, {"status": patch}, sub="status"
        )

    def _master_password(self, inst: facts.Instance, live_spec: dict[str, Any]) -> str | None:
        """Odoo's master password as the live spec gives it: the key of the Secret
        spec.adminPasswordSecretRef names, or the inline spec.adminPassword ("" disables
        it); None when neither is given (the Secret keeps a generated one)."""
        ref = inst.spec.admin_password_secret_ref
        if ref is None:
            inline = live_spec.get("adminPassword")  # read live: payloads carry no secret
            return None if inline is None else str(inline)
        secret = self._kube.find(api.SECRET, inst.namespace, ref.name)
        where = "spec.adminPasswordSecretRef"
        if secret is None:
            raise failures.ConfigProblem(
                f"{where}: Secret {ref.name} not found in namespace {inst.namespace}"
            )
        raw = (secret.get("data") or {}).get(ref.key)
        if raw is None:
            raise failures.ConfigProblem(f"{where}: Secret {ref.name} has no key {ref.key}")
        return base64.b64decode(raw).decode()

    def _ensure_secret(self, inst: facts.Instance, admin_password: str | None) -> dict[str, Any]:
        """Create the credentials Secret once; keep admin-password in sync.

        admin-password follows `admin_password`; without one (None) it keeps what
        it holds, or gets a generated password when it holds none. Returns the
        live Secret: its resourceVersion goes into a pod-template annotation (a
        changed Secret rolls the pods without revealing anything), its database
        password to the PostgreSQL role.
        """
        kube = self._kube
        name = naming.db_password_secret_name(inst.name)
        generated = secrets.token_urlsafe(18)
        body = config.db_secret(
            inst,
            password=secrets.token_hex(24),
            admin_password=generated if admin_password is None else admin_password,
        )
        try:
            created = kube.create(api.SECRET, inst.namespace, body)
        except failures.Conflict:
            existing = kube.get(api.SECRET, inst.namespace, name)
            ownership.ensure_owned(existing, _ref(inst))
        else:
            return created
        data = existing.get("data") or {}
        if admin_password is None:
            admin_password = base64.b64decode(data.get(config.ADMIN_PASSWORD_KEY, "")).decode()
            admin_password = admin_password or generated
        wanted = base64.b64encode(admin_password.encode()).decode()
        if data.get(config.ADMIN_PASSWORD_KEY, "") != wanted:
            existing = kube.merge_patch(
                api.SECRET,
                inst.namespace,
                name,
                {"data": {config.ADMIN_PASSWORD_KEY: wanted}},
            )
        return existing

    def _ensure_pull_secret(self, inst: facts.Instance) -> None:
        """Copy spec.imagePullSecret from the operator namespace (once; shared, unowned)."""
        pull = inst.spec.image_pull_secret
        operator_ns = self._operator.namespace
        if not pull or operator_ns == inst.namespace:
            return
        if self._kube.find(api.SECRET, inst.namespace, pull) is not None:
            return
        source = self._kube.find(api.SECRET, operator_ns, pull)
        if source is None:
            raise failures.ConfigProblem(
                f"spec.imagePullSecret: Secret {pull} not found in the operator namespace "
                f"{operator_ns}"
            )
        copy = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": pull, "namespace": inst.namespace},
            "type": source.get("type", "kubernetes.io/dockerconfigjson"),
            "data": source.get("data") or {},
        }
        # A Conflict: created meanwhile (a retry or another instance), same content.
        with contextlib.suppress(failures.Conflict):
            self._kube.create(api.SECRET, inst.namespace, copy)

    def _ensure_pvc(
        self, inst: facts.Instance, ref: InstanceRef, generation: int
    ) -> dict[str, Any]:
        """Create, grow or leave the filestore claim; the live claim."""
        kube = self._kube
        body = storage.pvc(inst)
        name = body["metadata"]["name"]
        current = kube.find(api.PVC, inst.namespace, name)
        ownership.ensure_owned(current, ref)
        if current is None:
            try:
                return kube.create(api.PVC, inst.namespace, body)
            except failures.Conflict:  # created by an earlier attempt
                return kube.get(api.PVC, inst.namespace, name)
        wanted = body["spec"]["resources"]["requests"]["storage"]
        have = (current.get("spec") or {}).get("resources", {}).get("requests", {}).get("storage")
        if have is None or _bytes(wanted) == _bytes(have):
            return current
        if _bytes(wanted) > _bytes(have):
            return kube.merge_patch(
                api.PVC,
                inst.namespace,
                name,
                {"spec": {"resources": {"requests": {"storage": wanted}}}},
            )
        recorder.post(
            kube,
            ref,
            name=events.event_name(ref, "pvc-shrink-refused", generation),
            reason="StorageShrinkRefused",
            message=(
                f"spec.filestore.storageSize {wanted} is smaller than the volume ({have}); "
                "a filestore volume never shrinks, so it stays at its current size"
            ),
            warning=True,
            reporting_instance=self._operator.reporting_instance,
        )
        return current

    def _ensure_routing(self, inst: facts.Instance) -> dict[str, Any]:
        """Apply the Ingress or the HTTPRoute, delete the other; the one applied."""
        kube = self._kube
        ref = _ref(inst)
        if inst.spec.ingress.gateway_ref is None:
            ownership.ensure_owned(kube.find(api.INGRESS, inst.namespace, inst.name), ref)
            ingress = kube.apply(api.INGRESS, inst.namespace, network.ingress(inst))
            delete_if_owned(kube, api.HTTP_ROUTE, inst.namespace, inst.name, ref)
            return ingress
        try:
            ownership.ensure_owned(kube.find(api.HTTP_ROUTE, inst.namespace, inst.name), ref)
            route = kube.apply(api.HTTP_ROUTE, inst.namespace, network.http_route(inst))
        except failures.NotFound as err:
            raise failures.ConfigProblem(
                "spec.ingress.gatewayRef is set but the Gateway API (HTTPRoute, "
                f"{api.HTTP_ROUTE.api_version}) is not installed in the cluster: {err.message}"
            ) from err
        delete_if_owned(kube, api.INGRESS, inst.namespace, inst.name, ref)
        return route


def delete_if_owned(
    kube: api.KubeApi, res: api.Resource, namespace: str, name: str, ref: InstanceRef
) -> bool:
    """Delete the object when this instance owns it (ownership.owned_by); an object of
    another instance or of nobody of ours is left alone. True when deleted."""
    live = kube.find(res, namespace, name)
    if live is None or not ownership.owned_by(live, ref):
        return False
    uid = str((live.get("metadata") or {}).get("uid") or "")
    try:
        # The uid precondition: never an object that replaced ours meanwhile.
        return kube.delete(res, namespace, name, uid=uid or None)
    except failures.Conflict:
        return False  # replaced since the read: not ours to delete


def _generation(body: Mapping[str, Any]) -> int:
    return int((body.get("metadata") or {}).get("generation") or 0)


def _ref(inst: facts.Instance) -> InstanceRef:
    return InstanceRef(namespace=inst.namespace, name=inst.name, uid=inst.uid)


def ensure_finalizer(kube: api.KubeApi, live: dict[str, Any]) -> dict[str, Any]:
    """Add naming.FINALIZER, guarded by resourceVersion (a conflict is retried)."""
    meta = live.get("metadata") or {}
    finalizers = list(meta.get("finalizers") or [])
    if naming.FINALIZER in finalizers or meta.get("deletionTimestamp"):
        return live
    return kube.merge_patch(
        api.INSTANCE,
        meta["namespace"],
        meta["name"],
        {
            "metadata": {
                "finalizers": [*finalizers, naming.FINALIZER],
                "resourceVersion": meta.get("resourceVersion"),
            }
        },
    )


def _bytes(value: str) -> Decimal:
    return api.quantity(value)


def _version(secret: Mapping[str, Any]) -> str:
    return str(secret.get("metadata", {}).get("resourceVersion", ""))


def _password(secret: Mapping[str, Any]) -> SecretStr:
    raw = (secret.get("data") or {}).get(config.DB_PASSWORD_KEY, "")
    return SecretStr(base64.b64decode(raw).decode())
