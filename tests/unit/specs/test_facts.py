"""The facts every builder shares (specs.facts).

Covers: every child object of an instance is owned by it (controller
reference to its uid), labelled with its name and app, in its namespace.
"""

from __future__ import annotations

from specs import config, jobs, network, rbac, storage
from tests.unit.specs.shop import make


def test_every_child_is_owned_and_labelled_when_built() -> None:
    inst = make()
    children = [
        config.config_map(inst),
        config.db_secret(inst, password="p", admin_password="a"),
        network.service(inst),
        network.ingress(inst),
        network.http_route(
            make(ingress={"hosts": ["a.b"], "gatewayRef": {"name": "g", "namespace": "gw"}})
        ),
        storage.pvc(inst),
        rbac.service_account(inst),
        rbac.role(inst),
        rbac.role_binding(inst),
        jobs.auto_init_job(inst),
    ]
    for child in children:
        meta = child["metadata"]
        assert meta["ownerReferences"][0]["uid"] == "uid-1", child["kind"]
        assert meta["ownerReferences"][0]["controller"] is True
        assert meta["labels"]["bemade.org/instance"] == "shop"
        assert meta["labels"]["app"] == "shop"
        assert meta["namespace"] in ("prod",)
