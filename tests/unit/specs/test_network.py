"""Service, Ingress and HTTPRoute (specs.network).

Covers: the Service's HTTP and websocket ports and selector; `/websocket`
routed where Odoo serves it (8069 threaded, 8072 with workers) by the
Ingress and the HTTPRoute; the Ingress's issuer, class, paths per host and
TLS; the HTTPRoute's Gateway parent and hostnames.
"""

from __future__ import annotations

import pytest

from specs import network
from tests.unit.specs.shop import make


def test_service_exposes_http_and_websocket_when_built() -> None:
    svc = network.service(make())

    assert svc["spec"]["selector"] == {"app": "shop"}
    assert [(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [
        ("http", 8069, 8069),
        ("websocket", 8072, 8072),
    ]


@pytest.mark.parametrize(
    ("options", "port"),
    [({}, 8069), ({"workers": "0"}, 8069), ({"workers": "4"}, 8072)],
    ids=["threaded-default", "workers-0", "workers-4"],
)
def test_ingress_routes_websocket_where_odoo_serves_it_when_built(
    options: dict[str, str], port: int
) -> None:
    ing = network.ingress(make(configOptions=options))
    paths = ing["spec"]["rules"][0]["http"]["paths"]
    assert (paths[0]["path"], paths[0]["backend"]["service"]["port"]["number"]) == (
        "/websocket",
        port,
    )


@pytest.mark.parametrize(
    ("options", "port"),
    [({}, 8069), ({"workers": "4"}, 8072)],
    ids=["threaded-default", "workers-4"],
)
def test_http_route_routes_websocket_where_odoo_serves_it_when_built(
    options: dict[str, str], port: int
) -> None:
    gateway = {"hosts": ["a.example"], "gatewayRef": {"name": "gw", "namespace": "infra"}}
    route = network.http_route(make(ingress=gateway, configOptions=options))
    rules = route["spec"]["rules"]
    assert rules[0]["matches"][0]["path"] == {"type": "PathPrefix", "value": "/websocket"}
    assert rules[0]["backendRefs"] == [{"name": "shop", "port": port}]


def test_ingress_routes_websocket_and_root_per_host_when_built() -> None:
    ing = network.ingress(
        make(
            ingress={"hosts": ["a.example"], "issuer": "le", "class": "nginx"},
            configOptions={"workers": "2"},
        )
    )

    assert ing["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "le"}
    assert ing["spec"]["ingressClassName"] == "nginx"
    paths = ing["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["backend"]["service"]["port"]["number"]) for p in paths] == [
        ("/websocket", 8072),
        ("/", 8069),
    ]
    assert ing["spec"]["tls"] == [{"hosts": ["a.example"], "secretName": "shop-tls"}]
    plain = network.ingress(make())
    assert "annotations" not in plain["metadata"]
    assert "ingressClassName" not in plain["spec"]
    assert len(plain["spec"]["rules"]) == 2


def test_http_route_targets_the_gateway_when_gateway_ref_is_set() -> None:
    route = network.http_route(
        make(
            ingress={"hosts": ["a.example"], "gatewayRef": {"name": "gw", "namespace": "infra"}},
            configOptions={"workers": "2"},
        )
    )

    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"][0] == {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": "gw",
        "namespace": "infra",
    }
    assert route["spec"]["hostnames"] == ["a.example"]
    rules = route["spec"]["rules"]
    assert rules[0]["matches"][0]["path"] == {"type": "PathPrefix", "value": "/websocket"}
    assert rules[0]["backendRefs"] == [{"name": "shop", "port": 8072}]
    assert rules[1]["backendRefs"] == [{"name": "shop", "port": 8069}]
