"""Patch types and server-side apply.

Covers: JSON merge patch (null deletes), JSON patch with a failing test op,
strategic merge of containers/env/ports/volumes by merge key, atomic
tolerations, $patch: delete and replace, 415 for strategic merge on a custom
resource, server-side apply: fieldManager required, create with 201, merge of
keyed lists, managedFields per manager, removal of fields a manager stops
applying, conflicts between managers and force.
"""

from __future__ import annotations

import json

import kubernetes
import pytest
from kubernetes.client import ApiException


def _deployment(name: str = "web", **container) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "odoo:18",
                            "env": [{"name": "A", "value": "1"}],
                            "ports": [{"containerPort": 8069}],
                            **container,
                        }
                    ],
                    "tolerations": [{"key": "a", "operator": "Exists"}],
                    "volumes": [{"name": "data", "emptyDir": {}}],
                },
            },
        },
    }


def test_keys_are_removed_when_a_merge_patch_sets_null(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "m"}, "data": {"a": "1", "b": "2"}}
    )
    patched = core.patch_namespaced_config_map(
        "m",
        namespace,
        {"data": {"a": None, "c": "3"}},
        _content_type="application/merge-patch+json",
    )
    assert patched.data == {"b": "2", "c": "3"}


def test_json_patch_answers_422_when_a_test_op_fails(api_client, namespace):
    api = kubernetes.client.CustomObjectsApi(api_client)
    api.create_namespaced_custom_object(
        "bemade.org",
        "v1alpha1",
        namespace,
        "odooinstances",
        {
            "apiVersion": "bemade.org/v1alpha1",
            "kind": "OdooInstance",
            "metadata": {"name": "i"},
            "spec": {"adminPassword": "x", "ingress": {"hosts": ["a.example.com"]}},
        },
    )
    ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "0"},
        {"op": "add", "path": "/metadata/finalizers", "value": ["f"]},
    ]
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object(
            "bemade.org",
            "v1alpha1",
            namespace,
            "odooinstances",
            "i",
            ops,
            _content_type="application/json-patch+json",
        )
    assert caught.value.status == 422
    current = api.get_namespaced_custom_object(
        "bemade.org", "v1alpha1", namespace, "odooinstances", "i"
    )
    ops[0]["value"] = current["metadata"]["resourceVersion"]
    patched = api.patch_namespaced_custom_object(
        "bemade.org",
        "v1alpha1",
        namespace,
        "odooinstances",
        "i",
        ops,
        _content_type="application/json-patch+json",
    )
    assert patched["metadata"]["finalizers"] == ["f"]


def test_lists_merge_by_key_when_a_strategic_merge_patch_is_sent(api_client, namespace):
    apps = kubernetes.client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment())
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "env": [{"name": "B", "value": "2"}],
                            "ports": [{"containerPort": 8072}],
                        },
                        {"name": "side", "image": "busybox:1"},
                    ],
                    "tolerations": [{"key": "b", "operator": "Exists"}],
                    "volumes": [{"name": "extra", "emptyDir": {}}],
                }
            }
        }
    }
    spec = apps.patch_namespaced_deployment("web", namespace, patch).spec.template.spec
    web = spec.containers[0]
    assert [c.name for c in spec.containers] == ["web", "side"]
    assert web.image == "odoo:18"
    assert [e.name for e in web.env] == ["A", "B"]
    assert [p.container_port for p in web.ports] == [8069, 8072]
    assert [t.key for t in spec.tolerations] == ["b"]  # atomic list: replaced
    assert [v.name for v in spec.volumes] == ["data", "extra"]


def test_items_are_deleted_or_replaced_when_patch_directives_are_sent(api_client, namespace):
    apps = kubernetes.client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment())
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [{"name": "web", "env": [{"name": "A", "$patch": "delete"}]}],
                    "volumes": [{"name": "only", "emptyDir": {}}, {"$patch": "replace"}],
                }
            }
        }
    }
    spec = apps.patch_namespaced_deployment("web", namespace, patch).spec.template.spec
    assert spec.containers[0].env is None or spec.containers[0].env == []
    assert [v.name for v in spec.volumes] == ["only"]


def test_strategic_merge_answers_415_when_the_kind_is_custom(api_client, namespace):
    api = kubernetes.client.CustomObjectsApi(api_client)
    api.create_namespaced_custom_object(
        "bemade.org",
        "v1alpha1",
        namespace,
        "odooinstances",
        {
            "apiVersion": "bemade.org/v1alpha1",
            "kind": "OdooInstance",
            "metadata": {"name": "x"},
            "spec": {"adminPassword": "x", "ingress": {"hosts": ["a.example.com"]}},
        },
    )
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object(
            "bemade.org",
            "v1alpha1",
            namespace,
            "odooinstances",
            "x",
            {"spec": {}},
            _content_type="application/strategic-merge-patch+json",
        )
    assert caught.value.status == 415


def _apply(apps, namespace: str, body: dict, manager: str | None, force: bool = False):
    kwargs = {"field_manager": manager} if manager else {}
    return apps.patch_namespaced_deployment_with_http_info(
        body["metadata"]["name"],
        namespace,
        body,
        force=force,
        _content_type="application/apply-patch+yaml",
        **kwargs,
    )


def test_apply_answers_400_when_field_manager_is_missing(api_client, namespace):
    apps = kubernetes.client.AppsV1Api(api_client)
    with pytest.raises(ApiException) as caught:
        _apply(apps, namespace, _deployment(), None)
    assert caught.value.status == 400


def test_apply_creates_with_201_then_merges_with_200(api_client, namespace):
    apps = kubernetes.client.AppsV1Api(api_client)
    created, status, _ = _apply(apps, namespace, _deployment(), "op")
    assert status == 201
    assert [(m.manager, m.operation) for m in created.metadata.managed_fields] == [("op", "Apply")]
    other = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"team": "x"}},
        "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "busybox:1"}]}}},
    }
    merged, status, _ = _apply(apps, namespace, other, "other")
    assert status == 200
    assert [c.name for c in merged.spec.template.spec.containers] == ["web", "side"]
    assert sorted(m.manager for m in merged.metadata.managed_fields) == ["op", "other"]


def test_fields_are_removed_when_a_manager_stops_applying_them(api_client, namespace):
    apps = kubernetes.client.AppsV1Api(api_client)
    first = _deployment()
    first["metadata"]["labels"] = {"keep": "1", "drop": "1"}
    _apply(apps, namespace, first, "op")
    second = _deployment(env=[])
    del second["spec"]["template"]["spec"]["containers"][0]["env"]
    second["metadata"]["labels"] = {"keep": "1"}
    result, _, _ = _apply(apps, namespace, second, "op")
    assert result.metadata.labels == {"keep": "1"}
    assert result.spec.template.spec.containers[0].env is None


def test_apply_answers_409_when_another_manager_owns_a_field_unless_forced(api_client, namespace):
    apps = kubernetes.client.AppsV1Api(api_client)
    _apply(apps, namespace, _deployment(), "op")
    rival = _deployment(image="odoo:17")
    with pytest.raises(ApiException) as caught:
        _apply(apps, namespace, rival, "rival")
    assert caught.value.status == 409
    assert json.loads(caught.value.body)["reason"] == "Conflict"
    forced, _, _ = _apply(apps, namespace, rival, "rival", force=True)
    assert forced.spec.template.spec.containers[0].image == "odoo:17"
