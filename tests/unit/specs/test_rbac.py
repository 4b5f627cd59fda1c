"""ServiceAccount, Role and RoleBinding (specs.rbac).

Covers: the ServiceAccount mounts no token; the Role grants reading the
instance's own ConfigMap only; the RoleBinding binds it to the
ServiceAccount.
"""

from __future__ import annotations

from specs import rbac
from tests.unit.specs.shop import make


def test_role_grants_only_reading_own_config_map_when_built() -> None:
    inst = make()

    assert rbac.role(inst)["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["shop-odoo-conf"],
            "verbs": ["get"],
        }
    ]
    binding = rbac.role_binding(inst)
    assert binding["roleRef"]["name"] == "shop"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "shop", "namespace": "prod"}]


def test_service_account_mounts_no_token_and_the_binding_names_the_role_when_built() -> None:
    sa = rbac.service_account(make())

    assert sa["metadata"]["name"] == "shop"
    assert sa["automountServiceAccountToken"] is False
    assert rbac.role_binding(make())["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "shop",
    }
