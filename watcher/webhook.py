"""The validating admission webhook: Kopf handlers around watcher.admission.

Owns the webhook's wiring: one handler per purpose, served by Kopf's HTTPS
server at `/<handler id>` (the paths of the ValidatingWebhookConfiguration
that watcher.webhook_configuration builds), and the in-memory index of
OdooInstances that job references are checked against (no API call per
request). The rules themselves are the pure
functions of watcher.admission; a refusal is a `kopf.AdmissionError` whose
message names the field and both values.
"""

from __future__ import annotations

from typing import Any

import kopf

from odoo_operator.model import naming
from watcher import admission, webhook_configuration
from watcher.handlers import INSTANCES, JOB_RESOURCES

__all__ = ["INSTANCE_INDEX", "INSTANCE_WEBHOOK", "JOB_WEBHOOK", "register"]

INSTANCE_WEBHOOK = webhook_configuration.INSTANCE_PATH
"""Handler id, and so the URL path, of the OdooInstance webhook."""
JOB_WEBHOOK = webhook_configuration.JOBS_PATH
"""Handler id, and so the URL path, of the job resources' webhook."""
INSTANCE_INDEX = "odoo_instance_index"
"""Kopf index {(namespace, name): InstanceFacts} of every watched OdooInstance."""

_JOB_PLURALS = frozenset(plural for _, _, plural in JOB_RESOURCES)


def _refuse(problems: list[str]) -> None:
    if problems:
        raise kopf.AdmissionError("; ".join(problems), code=422)


def _plain(body: kopf.Body | None) -> dict[str, Any] | None:
    return None if body is None else dict(body)


async def validate_instance(**kwargs: Any) -> None:
    index: kopf.Index[tuple[str, str], admission.InstanceFacts] = kwargs[INSTANCE_INDEX]
    others = [facts for key in index for facts in index[key]]
    _refuse(
        admission.review_instance(
            kwargs.get("operation") or "",
            _plain(kwargs.get("old")),
            _plain(kwargs.get("new")),
            others,
        )
    )


async def validate_job_resource(**kwargs: Any) -> None:
    index: kopf.Index[tuple[str, str], admission.InstanceFacts] = kwargs[INSTANCE_INDEX]

    def exists(namespace: str, name: str) -> bool:
        return (namespace, name) in index

    _refuse(
        admission.review_job_resource(
            kwargs.get("operation") or "",
            _plain(kwargs.get("old")),
            _plain(kwargs.get("new")),
            exists,
        )
    )


async def index_instance(body: kopf.Body, namespace: str | None, name: str | None, **_: Any) -> Any:
    return {(namespace, name): admission.facts_of(dict(body))}


def _is_job_resource(resource: kopf.Resource) -> bool:
    return resource.group == naming.API_GROUP and resource.plural in _JOB_PLURALS


def register(registry: kopf.OperatorRegistry) -> None:
    """Attach the validating handlers (and their index) to `registry`."""
    kopf.index(*INSTANCES, id=INSTANCE_INDEX, registry=registry)(index_instance)
    kopf.on.validate(
        *INSTANCES, id=INSTANCE_WEBHOOK, operations=["CREATE", "UPDATE"], registry=registry
    )(validate_instance)
    kopf.on.validate(
        _is_job_resource, id=JOB_WEBHOOK, operations=["CREATE", "UPDATE"], registry=registry
    )(validate_job_resource)
