"""Kubernetes Events about an instance (or one of its job resources), posted at most once each.

Owns posting core/v1 Events with deterministic names (specs.events builds
the body and the name), so that a retried activity finds its Event already
there (409) instead of posting a second one. Callers choose names from facts
that do not change between attempts (generation, phases, the activity id)
and never put a secret in a message.

An Event is a report, never a step: when the API refuses it for good (403,
e.g. its namespace is being terminated; 404, the namespace is gone) it is
logged and skipped, so that a deletion in a terminating namespace finishes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from activities import api, failures
from model import naming
from model.payloads import InstanceRef
from specs import events

__all__ = ["post"]

_log = logging.getLogger(__name__)


def post(
    kube: api.KubeApi,
    ref: InstanceRef,
    *,
    name: str,
    reason: str,
    message: str,
    warning: bool = False,
    reporting_instance: str = naming.FIELD_MANAGER,
    kind: str = "OdooInstance",
) -> bool:
    """Post the Event about the object `ref` of `kind` (an OdooInstance unless
    said otherwise: a job resource of group bemade.org); False when one of that
    name exists already (a retry), when its namespace is being deleted (nobody
    will read it: it would go too), or when the namespace refuses it for good
    (see the module docstring)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body = events.event(
        name=name,
        namespace=ref.namespace,
        involved={
            "apiVersion": naming.GROUP_VERSION,
            "kind": kind,
            "name": ref.name,
            "namespace": ref.namespace,
            "uid": ref.uid,
        },
        reason=reason,
        message=message,
        type_="Warning" if warning else "Normal",
        timestamp=now,
        reporting_instance=reporting_instance,
    )
    try:
        kube.create(api.EVENT, ref.namespace, body)
    except (failures.Conflict, failures.NamespaceTerminating):
        return False
    except failures.ApiError as err:
        if err.status not in (403, 404):
            raise
        _log.warning("Event %s not posted (%s): %s", name, err.summary, message)
        return False
    return True
