"""The instance the builder tests build: `shop` in `prod`, its database on host `pg`.

`make(**spec)` gives its facts with spec fields overridden (camelCase, as a
user writes them); `container()` and `env_names()` read a built object.
"""

from __future__ import annotations

from typing import Any

from model.crds import OdooInstanceSpec
from specs import facts

ADMIN = "s3cr3t-admin"


def make(**spec: Any) -> facts.Instance:
    body: dict[str, Any] = {
        "adminPassword": ADMIN,
        "image": "odoo:18.0",
        "ingress": {"hosts": ["erp.example.com", "www.example.com"]},
        **spec,
    }
    return facts.Instance(
        name="shop",
        namespace="prod",
        uid="uid-1",
        spec=OdooInstanceSpec.model_validate(body),
        database=facts.Database(host="pg", port=5432, name="odoo_uid_1", user="odoo.prod.shop"),
    )


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env_names(c: dict[str, Any]) -> list[str]:
    return [e["name"] for e in c["env"]]
