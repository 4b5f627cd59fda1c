"""What belongs to an instance: the rule every write of an existing object checks first.

Owns the one rule every change the operator makes to an existing object
follows: the object is this instance's. Three kinds of belonging:

- a child object (Deployment, Service, ConfigMap, Secret, PVC, ...): an owner
  reference to this OdooInstance by uid, or to an earlier incarnation of the
  same name being garbage-collected (`owned_by`);
- a job resource: its spec.odooInstanceRef names this instance, in the
  resource's namespace (`refers_to`);
- what a job resource made (its batch Job, the Secrets its Job reads): an
  owner reference to that resource's uid (`made_by`).

Every write of an existing object reads it, checks it here, then writes
it (as the applies of activities.children always did); a deletion also
sends the uid it checked as a precondition, so an object replaced in
between is not deleted. A foreign object is never modified: `ensure_owned`
raises `NotOwned` (a ConfigProblem: CONFIG_INVALID) naming the object, its
owner if any, and what was not done; `report` says so on the instance (a
Warning `NotOwned` Event, once per message), and the workflow shows the
failed activity's message in status.message.

Must not: write anything but that report. The writes stay at their call
sites, each naming its resource (tests/chart/test_rbac_coverage.py derives
the operator's RBAC from them).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from activities import api, failures, recorder
from model import naming
from model.payloads import InstanceRef
from specs import events

__all__ = [
    "NOT_OWNED",
    "NotOwned",
    "ensure_owned",
    "made_by",
    "owned_by",
    "refers_to",
    "report",
]

NOT_OWNED = "NotOwned"
"""Reason of the Warning Event posted about a write refused because the object is foreign."""

_log = logging.getLogger(__name__)


class NotOwned(failures.ConfigProblem):
    """The object is not this instance's: it was not changed. The message says whose it is."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def owned_by(live: Mapping[str, Any], ref: InstanceRef) -> bool:
    """Whether `live` carries an owner reference to this instance (or to its own
    earlier incarnation: same name, another uid, being garbage-collected)."""
    return any(
        o.get("kind") == "OdooInstance"
        and o.get("apiVersion") == naming.GROUP_VERSION
        and (o.get("uid") == ref.uid or o.get("name") == ref.name)
        for o in (live.get("metadata") or {}).get("ownerReferences") or []
    )


def made_by(live: Mapping[str, Any], uid: str) -> bool:
    """Whether `live` carries an owner reference to the object of `uid` (a job resource)."""
    owners = (live.get("metadata") or {}).get("ownerReferences") or []
    return bool(uid) and any(o.get("uid") == uid for o in owners)


def refers_to(item: Mapping[str, Any], namespace: str, name: str) -> bool:
    """Whether the job resource `item` names the instance `namespace`/`name`
    (spec.odooInstanceRef; its namespace defaults to the resource's own)."""
    ref = (item.get("spec") or {}).get("odooInstanceRef") or {}
    own_namespace = (item.get("metadata") or {}).get("namespace", namespace)
    return bool(ref.get("name") == name and (ref.get("namespace") or own_namespace) == namespace)


def ensure_owned(
    live: Mapping[str, Any] | None, ref: InstanceRef, *, untouched: str = "nothing was changed"
) -> None:
    """NotOwned unless `live` is absent or owned by this instance (owned_by);
    `untouched` says what was not done."""
    if live is None or owned_by(live, ref):
        return
    owners = [
        o
        for o in (live.get("metadata") or {}).get("ownerReferences") or []
        if o.get("kind") == "OdooInstance" and o.get("apiVersion") == naming.GROUP_VERSION
    ]
    kind = live.get("kind") or "object"
    name = (live.get("metadata") or {}).get("name")
    if owners:
        owner = owners[0].get("name")
        raise NotOwned(
            f"{kind} {name} belongs to OdooInstance {owner}, not to {ref.name}: the two "
            f"instances' names collide; rename one of them ({untouched})"
        )
    raise NotOwned(
        f"{kind} {name} exists and was not created by odoo-operator for OdooInstance "
        f"{ref.name}: delete or rename it, or rename the instance ({untouched})"
    )


def report(
    kube: api.KubeApi, ref: InstanceRef, refused: NotOwned, *, reporting_instance: str
) -> None:
    """Say on the instance that a write was refused: a Warning NotOwned Event naming
    the object (once per message)."""
    _log.warning("%s/%s: %s", ref.namespace, ref.name, refused.message)
    recorder.post(
        kube,
        ref,
        name=events.event_name(ref, "notowned", unique=refused.message),
        reason=NOT_OWNED,
        message=refused.message,
        warning=True,
        reporting_instance=reporting_instance,
    )
