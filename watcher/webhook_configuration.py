"""The ValidatingWebhookConfiguration that makes the API server call our webhook.

Owns the one description of what the admission webhook intercepts and where
the API server sends it: the URL paths (also the Kopf handler ids of
watcher/webhook.py), the rules (CREATE and UPDATE of odooinstances and of
the four job resources in bemade.org/v1alpha1), failurePolicy Fail,
sideEffects None, admissionReviewVersions v1, the timeout and the
namespaces it applies to. The tests and the sandbox create it from
`validating_webhook_configuration()`; the Helm chart renders the same
object. It builds a plain body and does no I/O; it must not import kopf.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model import naming
from model.payloads import JobKind

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "INSTANCE_PATH",
    "JOBS_PATH",
    "NAMESPACE_NAME_LABEL",
    "ServiceEndpoint",
    "validating_webhook_configuration",
]

INSTANCE_PATH = "validate-bemade-org-v1alpha1-odooinstance"
"""URL path (without its leading slash) of the OdooInstance webhook."""
JOBS_PATH = "validate-bemade-org-v1alpha1-jobs"
"""URL path (without its leading slash) of the job resources' webhook."""
DEFAULT_TIMEOUT_SECONDS = 10
"""How long the API server waits for an answer before failing the request
(failurePolicy Fail); the webhook answers from memory in milliseconds."""
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Label the API server sets on every Namespace to its own name."""

INSTANCE_PLURAL = "odooinstances"
JOB_PLURALS = tuple(kind.plural for kind in JobKind)
OPERATIONS = ("CREATE", "UPDATE")


@dataclass(frozen=True)
class ServiceEndpoint:
    """The in-cluster Service in front of the webhook server (the chart's)."""

    namespace: str
    name: str
    port: int = 443


def validating_webhook_configuration(
    name: str,
    ca_bundle: bytes,
    *,
    base_url: str | None = None,
    service: ServiceEndpoint | None = None,
    namespaces: Sequence[str] = (),
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """The ValidatingWebhookConfiguration body named `name`.

    `ca_bundle` is the PEM of the CA that signed the webhook's serving
    certificate. Exactly one of `base_url` (e.g. `https://127.0.0.1:9443`,
    the webhook server reached directly) and `service` says where the API
    server sends reviews. `namespaces` limits the webhook to objects in those
    namespaces (exact names); empty means every namespace.
    """
    if (base_url is None) == (service is None):
        raise ValueError("give exactly one of base_url and service")
    selector: dict[str, Any] = {}
    if namespaces:
        selector = {
            "matchExpressions": [
                {"key": NAMESPACE_NAME_LABEL, "operator": "In", "values": list(namespaces)}
            ]
        }
    ca_data = base64.b64encode(ca_bundle).decode()

    def client_config(path: str) -> dict[str, Any]:
        if base_url is not None:
            return {"url": f"{base_url.rstrip('/')}/{path}", "caBundle": ca_data}
        assert service is not None
        return {
            "service": {
                "namespace": service.namespace,
                "name": service.name,
                "port": service.port,
                "path": f"/{path}",
            },
            "caBundle": ca_data,
        }

    def webhook(webhook_name: str, path: str, plurals: Sequence[str]) -> dict[str, Any]:
        return {
            "name": webhook_name,
            "clientConfig": client_config(path),
            "rules": [
                {
                    "operations": list(OPERATIONS),
                    "apiGroups": [naming.API_GROUP],
                    "apiVersions": [naming.API_VERSION],
                    "resources": list(plurals),
                    "scope": "Namespaced",
                }
            ],
            "failurePolicy": "Fail",
            "matchPolicy": "Equivalent",
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "timeoutSeconds": timeout_seconds,
            "namespaceSelector": selector,
        }

    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "odoo-operator"}},
        "webhooks": [
            webhook(f"odooinstances.{naming.API_GROUP}", INSTANCE_PATH, (INSTANCE_PLURAL,)),
            webhook(f"jobs.{naming.API_GROUP}", JOBS_PATH, JOB_PLURALS),
        ],
    }
