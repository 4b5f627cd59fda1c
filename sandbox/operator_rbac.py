"""The operator's own RBAC: its PolicyRules and the objects that grant them.

Owns reading `charts/odoo-operator/files/rbac-rules.yaml` (the one list of
rules the Helm chart and the tests share: every rule the watcher and the
worker need, nothing more) and building from it a ServiceAccount, a
ClusterRole and a ClusterRoleBinding (`objects`), creating them (`install`)
and asking the TokenRequest API for a token of that ServiceAccount
(`request_token`, what `kubectl create token` does). It must not decide what
the rules are: the file does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes
import yaml
from kubernetes.client import ApiClient

__all__ = [
    "RULES_FILE",
    "RbacError",
    "install",
    "load_rules",
    "objects",
    "request_token",
    "uninstall",
]

RULES_FILE = Path(__file__).resolve().parents[1] / "charts/odoo-operator/files/rbac-rules.yaml"

_RULE_KEYS = frozenset({"apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"})
_RBAC = "rbac.authorization.k8s.io"
_FIELD_MANAGER = "odoo-operator"
_APPLY = "application/apply-patch+yaml"


class RbacError(ValueError):
    """The rules file is not a list of PolicyRules, or the API server gave no token."""


def load_rules(path: Path = RULES_FILE) -> list[dict[str, Any]]:
    """The PolicyRules of `path` (a YAML list), checked for shape.

    Raises RbacError naming the rule (by index) that is not a PolicyRule.
    """
    rules = yaml.safe_load(path.read_text())
    if not isinstance(rules, list) or not rules:
        raise RbacError(f"{path}: expected a non-empty list of PolicyRules")
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict):
            raise RbacError(f"{path}: rule {index} is not a mapping")
        unknown = set(rule) - _RULE_KEYS
        if unknown:
            raise RbacError(f"{path}: rule {index} has unknown keys {sorted(unknown)}")
        if not rule.get("verbs") or not (rule.get("resources") or rule.get("nonResourceURLs")):
            raise RbacError(f"{path}: rule {index} needs verbs and resources")
        for key, values in rule.items():
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise RbacError(f"{path}: rule {index}: {key} must be a list of strings")
    return rules


def objects(name: str, namespace: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ServiceAccount `namespace/name`, the ClusterRole `name` holding `rules`
    and the ClusterRoleBinding `name` granting it to the ServiceAccount."""
    labels = {"app.kubernetes.io/name": "odoo-operator"}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
        },
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels},
            "rules": rules,
        },
        {
            "apiVersion": f"{_RBAC}/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels},
            "roleRef": {"apiGroup": _RBAC, "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]


def install(
    client: ApiClient, name: str, namespace: str, rules: list[dict[str, Any]] | None = None
) -> None:
    """Create or update `objects(name, namespace, rules)` with `client` (an official
    `kubernetes.client.ApiClient` allowed to grant them); rules default to the file's."""
    account, role, binding = objects(name, namespace, load_rules() if rules is None else rules)
    core = kubernetes.client.CoreV1Api(client)
    rbac = kubernetes.client.RbacAuthorizationV1Api(client)
    core.patch_namespaced_service_account(
        name, namespace, account, field_manager=_FIELD_MANAGER, force=True, _content_type=_APPLY
    )
    rbac.patch_cluster_role(
        name, role, field_manager=_FIELD_MANAGER, force=True, _content_type=_APPLY
    )
    rbac.patch_cluster_role_binding(
        name, binding, field_manager=_FIELD_MANAGER, force=True, _content_type=_APPLY
    )


def uninstall(client: ApiClient, name: str) -> None:
    """Delete the ClusterRole and ClusterRoleBinding `name` (the ServiceAccount goes
    with its namespace); missing ones are fine."""
    rbac = kubernetes.client.RbacAuthorizationV1Api(client)
    for delete in (rbac.delete_cluster_role_binding, rbac.delete_cluster_role):
        try:
            delete(name)
        except kubernetes.client.ApiException as err:
            if err.status != 404:
                raise


def request_token(client: ApiClient, name: str, namespace: str, seconds: int = 3600) -> str:
    """A bound token of the ServiceAccount `namespace/name` (TokenRequest API)."""
    core = kubernetes.client.CoreV1Api(client)
    request = kubernetes.client.AuthenticationV1TokenRequest(
        spec=kubernetes.client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
    )
    answer = core.create_namespaced_service_account_token(name, namespace, request)
    if answer.status is None or not answer.status.token:
        raise RbacError(f"no token for ServiceAccount {namespace}/{name} in the answer")
    return str(answer.status.token)
