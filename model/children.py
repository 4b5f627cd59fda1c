"""The child objects of an instance as the drift check sees them: their kinds,
and the part of each that the operator sets (its fingerprint).

`KINDS` lists every kind of object `apply_children` writes for an instance
(each labelled `bemade.org/instance` and controlled by the OdooInstance):
the watcher watches them all (watcher.handlers), the snapshot reads the
ones the last apply wrote (activities.snapshot).

`fingerprint(body)` digests what the operator sets on a live object and
nobody else should change: a ConfigMap's data, a Service's selector, ports
and type, an Ingress's or HTTPRoute's spec, a Role's rules, a RoleBinding's
subjects, a Deployment's pod template (its labels, its bemade.org/
annotations and its spec), selector and strategy; for every kind the
`bemade.org/instance` label (without it the watcher no longer sees the
object). What others change on purpose is left out: replica counts (the
phase machine's, or a hand scaling the snapshot reports), a rollout
restart's annotation, a claim's binding to its volume (a PVC counts only by
being there), server-assigned fields. The credentials Secret is a source
the operator follows, not a shape it restores: its fingerprint is its
resourceVersion (any change re-syncs the database role and rolls the pods,
as the pod template's credentials-version annotation does), never a digest
of its values.

The apply records the fingerprint of each object as the API server answered
it, and the snapshot compares the live object's with it, so both sides are
in the server's own form (defaults filled in, quantities normalized): an
object differs only when someone changed it. The watcher pokes when an
event changes a fingerprint, so it pokes for exactly what the snapshot would
find changed. Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from model import naming

__all__ = ["KINDS", "SOURCE_KINDS", "ChildKind", "controlled_by_instance", "fingerprint"]


@dataclass(frozen=True)
class ChildKind:
    """A kind of child object: its kind name, `apiVersion` and plural."""

    kind: str
    api_version: str
    plural: str

    @property
    def group(self) -> str:
        """The API group ("" for the core group)."""
        return self.api_version.rpartition("/")[0]

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]


KINDS: Mapping[str, ChildKind] = {
    kind.kind: kind
    for kind in (
        ChildKind("ServiceAccount", "v1", "serviceaccounts"),
        ChildKind("Role", "rbac.authorization.k8s.io/v1", "roles"),
        ChildKind("RoleBinding", "rbac.authorization.k8s.io/v1", "rolebindings"),
        ChildKind("ConfigMap", "v1", "configmaps"),
        ChildKind("Secret", "v1", "secrets"),
        ChildKind("Service", "v1", "services"),
        ChildKind("PersistentVolumeClaim", "v1", "persistentvolumeclaims"),
        ChildKind("Ingress", "networking.k8s.io/v1", "ingresses"),
        ChildKind("HTTPRoute", "gateway.networking.k8s.io/v1", "httproutes"),
        ChildKind("Deployment", "apps/v1", "deployments"),
    )
}
"""Every kind apply_children writes (the HTTPRoute only with spec.ingress.gatewayRef)."""

SOURCE_KINDS = frozenset({"Secret"})
"""Kinds whose content the operator follows rather than restores: the credentials
Secret (a changed password is re-synced to the database role, not reverted)."""

_OUR_ANNOTATIONS = f"{naming.API_GROUP}/"

Body = Mapping[str, Any]


def _spec(body: Body) -> Body:
    spec: Body = body.get("spec") or {}
    return spec


def _deployment(body: Body) -> tuple[Any, ...]:
    spec = _spec(body)
    template = spec.get("template") or {}
    meta = template.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    ours = {k: v for k, v in annotations.items() if k.startswith(_OUR_ANNOTATIONS)}
    return (
        spec.get("selector"),
        spec.get("strategy"),
        meta.get("labels"),
        ours,
        template.get("spec"),
    )


# What the operator sets, picked from a live object of each kind.
_SET_BY_OPERATOR: Mapping[str, Callable[[Body], tuple[Any, ...]]] = {
    "ServiceAccount": lambda b: (b.get("automountServiceAccountToken"),),
    "Role": lambda b: (b.get("rules"),),
    "RoleBinding": lambda b: (b.get("roleRef"), b.get("subjects")),
    "ConfigMap": lambda b: (b.get("data"), b.get("binaryData")),
    "Secret": lambda b: ((b.get("metadata") or {}).get("resourceVersion"),),
    "Service": lambda b: tuple(_spec(b).get(key) for key in ("selector", "ports", "type")),
    "PersistentVolumeClaim": lambda b: (),
    "Ingress": lambda b: (b.get("spec"),),
    "HTTPRoute": lambda b: (b.get("spec"),),
    "Deployment": _deployment,
}


def fingerprint(body: Body) -> str:
    """A short digest of what the operator sets on the live object `body` (see the
    module docstring); "" for a kind that is not a child's."""
    pick = _SET_BY_OPERATOR.get(str(body.get("kind") or ""))
    if pick is None:
        return ""
    labels = (body.get("metadata") or {}).get("labels") or {}
    picked = (labels.get(naming.INSTANCE_LABEL), *pick(body))
    text = json.dumps(picked, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def controlled_by_instance(body: Body) -> bool:
    """Whether `body` is one of an instance's own children: a kind of KINDS whose
    controller is an OdooInstance (a job resource's inputs and batch Jobs are not)."""
    if body.get("kind") not in KINDS:
        return False
    owners = (body.get("metadata") or {}).get("ownerReferences") or []
    return any(
        o.get("kind") == "OdooInstance"
        and o.get("controller")
        and str(o.get("apiVersion") or "").startswith(f"{naming.API_GROUP}/")
        for o in owners
    )
