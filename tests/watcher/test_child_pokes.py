"""Pokes for an instance's children, seen in the workflow's history.

Covers: every kind of child object (ServiceAccount, Role, RoleBinding,
ConfigMap, the credentials Secret, Service, PVC, Ingress, the Deployments)
pokes its instance saying `children_changed` when it is deleted, and the
ConfigMap and the Secret when they are edited; without the Gateway API the
watcher starts and serves the rest, and where it is installed an HTTPRoute
child pokes too. The API server's managedFields, with the Deployment
controller writing its revision annotation and status after each apply, tell
the operator's own writes (no poke) from a hand edit. (Which events count, a
creation or a job resource's input not among them: tests/unit/test_pokes.py,
tests/unit/test_drift_fingerprint.py.)

Pokes coalesce (one in flight per instance, the last reason standing for
the rest), so each change is made alone and its poke awaited before the next.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kubernetes
import pytest
import pytest_asyncio
from temporalio import client as temporal_client

from activities import api
from model import naming
from model.payloads import Poke
from tests.activities import kube_instance as ki
from tests.watcher.conftest import RunWatcher, eventually, signals_of
from watcher.pokes import written_by_the_operator


async def _instance(kube: api.KubeApi, namespace: str, name: str) -> dict[str, Any]:
    body = {
        "apiVersion": naming.GROUP_VERSION,
        "kind": "OdooInstance",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"adminPassword": ki.ADMIN_PASSWORD, "ingress": {"hosts": [f"{name}.example.com"]}},
    }
    return dict(await asyncio.to_thread(kube.create, api.INSTANCE, namespace, body))


def _meta(instance: dict[str, Any], name: str) -> dict[str, Any]:
    return {
        "name": name,
        "labels": naming.instance_labels(instance["metadata"]["name"]),
        "ownerReferences": [
            {
                "apiVersion": naming.GROUP_VERSION,
                "kind": "OdooInstance",
                "name": instance["metadata"]["name"],
                "uid": instance["metadata"]["uid"],
                "controller": True,
            }
        ],
    }


def _children(instance: dict[str, Any]) -> list[tuple[api.Resource, dict[str, Any]]]:
    """One object of every kind an apply writes (the smallest body each takes)."""
    name = instance["metadata"]["name"]
    pod = {"containers": [{"name": "odoo", "image": "odoo:18.0"}]}
    return [
        (api.SERVICE_ACCOUNT, {"metadata": _meta(instance, name)}),
        (
            api.ROLE,
            {
                "metadata": _meta(instance, name),
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
            },
        ),
        (
            api.ROLE_BINDING,
            {
                "metadata": _meta(instance, name),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                "subjects": [{"kind": "ServiceAccount", "name": name}],
            },
        ),
        (api.CONFIG_MAP, {"metadata": _meta(instance, f"{name}-config"), "data": {"a": "1"}}),
        (
            api.SECRET,
            {"metadata": _meta(instance, f"{name}-db-password"), "stringData": {"password": "p"}},
        ),
        (
            api.SERVICE,
            {"metadata": _meta(instance, name), "spec": {"ports": [{"port": 8069}]}},
        ),
        (
            api.PVC,
            {
                "metadata": _meta(instance, f"{name}-filestore"),
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        ),
        (
            api.INGRESS,
            {
                "metadata": _meta(instance, name),
                "spec": {"defaultBackend": {"service": {"name": name, "port": {"number": 8069}}}},
            },
        ),
        (
            api.DEPLOYMENT,
            {
                # Scaled as the operator scales (no news until someone scales it).
                "metadata": {
                    **_meta(instance, f"{name}-cron"),
                    "annotations": {naming.REPLICAS_ANNOTATION: "0"},
                },
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": f"{name}-cron"}},
                    "template": {"metadata": {"labels": {"app": f"{name}-cron"}}, "spec": pod},
                },
            },
        ),
    ]


def _kind(res: api.Resource) -> str:
    return {
        "serviceaccounts": "ServiceAccount",
        "roles": "Role",
        "rolebindings": "RoleBinding",
        "configmaps": "ConfigMap",
        "secrets": "Secret",
        "services": "Service",
        "persistentvolumeclaims": "PersistentVolumeClaim",
        "ingresses": "Ingress",
        "deployments": "Deployment",
        "httproutes": "HTTPRoute",
    }[res.plural]


async def _pokes(handle: temporal_client.WorkflowHandle[Any, Any]) -> list[Poke]:
    return [Poke.model_validate(v) for name, v in await signals_of(handle) if name == "poke"]


async def _poked_for(
    handle: temporal_client.WorkflowHandle[Any, Any], reason: str, count: int = 1
) -> Poke:
    """The `count`th poke with `reason`, once it came."""

    async def check() -> Poke | None:
        pokes = [p for p in await _pokes(handle) if p.reason == reason]
        return pokes[count - 1] if len(pokes) >= count else None

    return await eventually(check, f"poke #{count} for {reason}")


@dataclass(frozen=True)
class Shop:
    """The instance `shop` under a running watcher, and its workflow's handle."""

    body: dict[str, Any]
    handle: temporal_client.WorkflowHandle[Any, Any]


@pytest_asyncio.fixture
async def shop(
    run_watcher: RunWatcher,
    temporal_client: temporal_client.Client,
    kube: api.KubeApi,
    namespace: str,
) -> AsyncIterator[Shop]:
    async with run_watcher():
        body = await _instance(kube, namespace, "shop")
        handle = temporal_client.get_workflow_handle(naming.workflow_id(namespace, "shop"))

        async def started() -> bool:
            return any(name == "set_spec" for name, _ in await signals_of(handle))

        await eventually(started, "the workflow started")
        yield Shop(body, handle)


async def test_instance_poked_saying_children_changed_when_any_child_is_edited_or_deleted(
    shop: Shop, kube: api.KubeApi, namespace: str
) -> None:
    children = _children(shop.body)
    for res, body in children:
        await asyncio.to_thread(kube.create, res, namespace, body)
    edits = {
        "shop-config": {"data": {"a": "2"}},
        "shop-db-password": {"stringData": {"password": "changed"}},
    }
    for res, body in children:
        name = body["metadata"]["name"]
        reason, count = f"{_kind(res)} {name} changed", 1
        if name in edits:
            await asyncio.to_thread(kube.merge_patch, res, namespace, name, edits[name])
            assert (await _poked_for(shop.handle, reason)).children_changed
            count = 2
        await asyncio.to_thread(kube.delete, res, namespace, name)
        assert (await _poked_for(shop.handle, reason, count)).children_changed


async def test_an_http_route_child_pokes_where_the_gateway_api_is_installed(
    gateway_api: None, shop: Shop, kube: api.KubeApi, namespace: str
) -> None:
    route = {
        "apiVersion": api.HTTP_ROUTE.api_version,
        "kind": "HTTPRoute",
        "metadata": _meta(shop.body, "shop"),
        "spec": {"parentRefs": [{"name": "gateway", "namespace": "infra"}]},
    }
    await asyncio.to_thread(kube.create, api.HTTP_ROUTE, namespace, route)
    await asyncio.to_thread(kube.delete, api.HTTP_ROUTE, namespace, "shop")
    assert (await _poked_for(shop.handle, "HTTPRoute shop changed")).children_changed


@pytest.fixture
def gateway_api(api_client: kubernetes.client.ApiClient) -> Iterator[None]:
    """The Gateway API's HTTPRoute served for this test, installed before the watcher
    starts (Kopf finds the resources it serves when it starts); others run without it."""
    name = ki.install_gateway_api(api_client)
    try:
        yield
    finally:
        ki.uninstall_gateway_api(api_client, name)


async def test_the_api_servers_managed_fields_tell_the_operators_own_writes_from_a_hand_edit(
    api_client: kubernetes.client.ApiClient, kube: api.KubeApi, namespace: str
) -> None:
    operator = api.KubeApi(api_client)  # writes under naming.FIELD_MANAGER
    name = "managed-fields"

    def deployment(image: str) -> dict[str, Any]:
        labels = {"app": name}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "odoo", "image": image}]},
                },
            },
        }

    async def rolled_out(revision: str) -> dict[str, Any] | None:
        """The Deployment once its controller wrote `revision` and its status."""
        live = await asyncio.to_thread(kube.get, api.DEPLOYMENT, namespace, name)
        annotations = live["metadata"].get("annotations") or {}
        observed = (live.get("status") or {}).get("observedGeneration")
        if annotations.get("deployment.kubernetes.io/revision") != revision:
            return None
        return live if observed == live["metadata"]["generation"] else None

    await asyncio.to_thread(operator.apply, api.DEPLOYMENT, namespace, deployment("odoo:17.0"))
    assert written_by_the_operator(await eventually(lambda: rolled_out("1"), "revision 1"))
    await asyncio.to_thread(operator.apply, api.DEPLOYMENT, namespace, deployment("odoo:18.0"))
    assert written_by_the_operator(await eventually(lambda: rolled_out("2"), "revision 2"))
    hand_edit = {"spec": {"template": {"spec": {"containers": [{"name": "odoo", "image": "x"}]}}}}
    await asyncio.to_thread(kube.merge_patch, api.DEPLOYMENT, namespace, name, hand_edit)
    edited = await eventually(lambda: rolled_out("3"), "revision 3")
    assert not written_by_the_operator(edited)
    # The operator puts its image back (its next apply, after the hand edit's
    # poke), in a later second: managedFields times count whole seconds, and a
    # tie with the hand edit's would poke once more (tests/unit/test_pokes.py).
    stamp = max(e["time"] for e in edited["metadata"]["managedFields"])

    async def past_the_edits_second() -> bool:
        return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") > stamp

    await eventually(past_the_edits_second, "the clock past the hand edit's second")
    await asyncio.to_thread(operator.apply, api.DEPLOYMENT, namespace, deployment("odoo:18.0"))
    assert written_by_the_operator(await eventually(lambda: rolled_out("4"), "revision 4"))
