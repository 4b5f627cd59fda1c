"""The identity of an instance's pods: ServiceAccount, Role and RoleBinding `<name>`.

Owns least privilege for the pods: the ServiceAccount mounts no token (Odoo
never calls the API) and the Role lets it read its own ConfigMap, nothing
else. Pure: activities.children applies what these return.
"""

from __future__ import annotations

from typing import Any

from model import naming
from specs import facts

__all__ = ["role", "role_binding", "service_account"]


def service_account(inst: facts.Instance) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": facts.metadata(inst, inst.name),
        "automountServiceAccountToken": False,
    }


def role(inst: facts.Instance) -> dict[str, Any]:
    """Least privilege for the instance's pods: read their own ConfigMap, nothing else."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": facts.metadata(inst, inst.name),
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": [naming.config_map_name(inst.name)],
                "verbs": ["get"],
            }
        ],
    }


def role_binding(inst: facts.Instance) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": facts.metadata(inst, inst.name),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": inst.name},
        "subjects": [{"kind": "ServiceAccount", "name": inst.name, "namespace": inst.namespace}],
    }
