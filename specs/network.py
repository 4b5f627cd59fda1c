"""How an instance is reached: its Service, and an Ingress or an HTTPRoute.

Owns the Service `<name>` (HTTP and websocket ports of the web pods), the
Ingress `<name>` (cert-manager issuer, class, TLS) or, with
spec.ingress.gatewayRef, the HTTPRoute `<name>` to that Gateway, and which
port `/websocket` goes to (specs.odoo_cli says where Odoo serves it). Pure:
activities.children applies what these return and deletes the one not
wanted.
"""

from __future__ import annotations

from typing import Any

from model import naming
from specs import facts, odoo_cli

__all__ = ["HTTP_ROUTE_API", "http_route", "ingress", "service", "websocket_port"]

ISSUER_ANNOTATION = "cert-manager.io/cluster-issuer"
HTTP_ROUTE_API = "gateway.networking.k8s.io/v1"


def service(inst: facts.Instance) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": facts.metadata(inst, inst.name),
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": naming.web_deployment_name(inst.name)},
            "ports": [
                {
                    "name": "http",
                    "port": odoo_cli.HTTP_PORT,
                    "targetPort": odoo_cli.HTTP_PORT,
                    "protocol": "TCP",
                },
                {
                    "name": "websocket",
                    "port": odoo_cli.GEVENT_PORT,
                    "targetPort": odoo_cli.GEVENT_PORT,
                    "protocol": "TCP",
                },
            ],
        },
    }


def websocket_port(inst: facts.Instance) -> int:
    """Where `/websocket` is served: 8069 threaded (workers 0), 8072 with workers > 0."""
    return odoo_cli.websocket_port(inst.spec.config_options)


def _backend(inst: facts.Instance, port: int) -> dict[str, Any]:
    return {"service": {"name": inst.name, "port": {"number": port}}}


def ingress(inst: facts.Instance) -> dict[str, Any]:
    """Ingress `<name>`: `/websocket` to websocket_port(), everything else to 8069."""
    cfg = inst.spec.ingress
    meta = facts.metadata(inst, inst.name)
    if cfg.issuer:
        meta["annotations"] = {ISSUER_ANNOTATION: cfg.issuer}
    spec: dict[str, Any] = {}
    if cfg.class_:
        spec["ingressClassName"] = cfg.class_
    spec["rules"] = [
        {
            "host": host,
            "http": {
                "paths": [
                    {
                        "path": "/websocket",
                        "pathType": "Prefix",
                        "backend": _backend(inst, websocket_port(inst)),
                    },
                    {
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": _backend(inst, odoo_cli.HTTP_PORT),
                    },
                ]
            },
        }
        for host in cfg.hosts
    ]
    spec["tls"] = [{"hosts": list(cfg.hosts), "secretName": f"{inst.name}-tls"}]
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": meta, "spec": spec}


def http_route(inst: facts.Instance) -> dict[str, Any]:
    """HTTPRoute `<name>` to spec.ingress.gatewayRef (TLS is the Gateway's job).

    `/websocket` goes to websocket_port(), everything else to 8069.
    """
    gateway = inst.spec.ingress.gateway_ref
    if gateway is None:
        raise ValueError("http_route() needs spec.ingress.gatewayRef")

    def rule(prefix: str, port: int) -> dict[str, Any]:
        return {
            "matches": [{"path": {"type": "PathPrefix", "value": prefix}}],
            "backendRefs": [{"name": inst.name, "port": port}],
        }

    return {
        "apiVersion": HTTP_ROUTE_API,
        "kind": "HTTPRoute",
        "metadata": facts.metadata(inst, inst.name),
        "spec": {
            "parentRefs": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "name": gateway.name,
                    "namespace": gateway.namespace,
                }
            ],
            "hostnames": list(inst.spec.ingress.hosts),
            "rules": [rule("/websocket", websocket_port(inst)), rule("/", odoo_cli.HTTP_PORT)],
        },
    }
