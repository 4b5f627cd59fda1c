"""Custom resources: CRD registration, pruning, defaulting, validation and CEL.

Covers: registering a CRD by POSTing it (discovery then lists it), structural
defaults (nested), pruning of unknown fields, 422 for type/enum/minimum/
pattern/maxLength/minItems/int32/required with kube-openapi messages,
nullable, int-or-string, preserve-unknown-fields, CEL rules with has(),
message and messageExpression, transition rules with oldSelf on update only,
and the chart's OdooInstance: defaults applied, replicas -1 refused.
"""

from __future__ import annotations

import json

import kubernetes
import pytest
from kubernetes.client import ApiException

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.test.example.com"},
    "spec": {
        "group": "test.example.com",
        "scope": "Namespaced",
        "names": {
            "plural": "widgets",
            "singular": "widget",
            "kind": "Widget",
            "shortNames": ["wd"],
        },
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "!has(self.max) || self.size <= self.max",
                                        "message": "size must not exceed max",
                                    },
                                    {
                                        "rule": "self.size == oldSelf.size || self.mutable",
                                        "messageExpression": (
                                            "'size is frozen at ' + string(oldSelf.size)"
                                        ),
                                    },
                                ],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 0, "format": "int32"},
                                    "max": {"type": "integer"},
                                    "mutable": {"type": "boolean", "default": False},
                                    "color": {
                                        "type": "string",
                                        "enum": ["red", "blue"],
                                        "default": "red",
                                    },
                                    "name": {
                                        "type": "string",
                                        "pattern": "^[a-z]+$",
                                        "maxLength": 5,
                                    },
                                    "tags": {
                                        "type": "array",
                                        "minItems": 1,
                                        "items": {"type": "string"},
                                    },
                                    "port": {"x-kubernetes-int-or-string": True},
                                    "note": {"type": "string", "nullable": True},
                                    "extra": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                    "nested": {
                                        "type": "object",
                                        "default": {},
                                        "properties": {"depth": {"type": "integer", "default": 3}},
                                    },
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"phase": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def widgets(kube_emulator_server):
    configuration = kubernetes.client.Configuration()
    configuration.host = kube_emulator_server.url
    with kubernetes.client.ApiClient(configuration) as client:
        ext = kubernetes.client.ApiextensionsV1Api(client)
        try:
            ext.create_custom_resource_definition(WIDGET_CRD)
        except ApiException as exc:
            if exc.status != 409:
                raise
    return ("test.example.com", "v1")


def _create(api_client, namespace, spec, name="w"):
    api = kubernetes.client.CustomObjectsApi(api_client)
    body = {
        "apiVersion": "test.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": spec,
    }
    return api.create_namespaced_custom_object("test.example.com", "v1", namespace, "widgets", body)


def _refusal(api_client, namespace, spec) -> dict:
    with pytest.raises(ApiException) as caught:
        _create(api_client, namespace, spec)
    assert caught.value.status == 422
    body = json.loads(caught.value.body)
    assert body["reason"] == "Invalid"
    return body


def test_crd_is_served_when_posted_to_the_api(api_client, widgets):
    resources = kubernetes.client.CustomObjectsApi(api_client).get_api_resources(
        "test.example.com", "v1"
    )
    assert [r.name for r in resources.resources] == ["widgets", "widgets/status"]


def test_defaults_apply_and_unknown_fields_are_pruned_when_created(api_client, namespace, widgets):
    created = _create(
        api_client,
        namespace,
        {"size": 1, "bogus": True, "extra": {"anything": [1]}, "port": "http", "note": None},
    )
    assert created["spec"] == {
        "size": 1,
        "mutable": False,
        "color": "red",
        "nested": {"depth": 3},
        "extra": {"anything": [1]},
        "port": "http",
        "note": None,
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"size": -1},
            "spec.size: Invalid value: -1: spec.size in body should be greater than or equal to 0",
        ),
        (
            {"size": "big"},
            'spec.size: Invalid value: "big": spec.size in body must be of type integer: "string"',
        ),
        ({"size": 2**31}, "spec.size in body must be of type int32"),
        (
            {"size": 1, "color": "green"},
            'spec.color: Unsupported value: "green": supported values: "red", "blue"',
        ),
        ({"size": 1, "name": "ABC"}, "spec.name in body should match '^[a-z]+$'"),
        ({"size": 1, "name": "abcdef"}, "spec.name: Too long: may not be more than 5 bytes"),
        ({"size": 1, "tags": []}, "spec.tags in body should have at least 1 items"),
        ({}, "spec.size: Required value"),
        ({"size": 1, "port": True}, "spec.port"),
        ({"size": 5, "max": 2}, 'spec: Invalid value: "object": size must not exceed max'),
    ],
)
def test_object_is_refused_with_422_when_it_breaks_the_schema(
    api_client, namespace, widgets, spec, message
):
    body = _refusal(api_client, namespace, spec)
    assert message in body["message"]


def test_transition_rule_uses_old_self_when_the_object_is_updated(api_client, namespace, widgets):
    _create(api_client, namespace, {"size": 1})
    api = kubernetes.client.CustomObjectsApi(api_client)
    with pytest.raises(ApiException) as caught:
        api.patch_namespaced_custom_object(
            "test.example.com", "v1", namespace, "widgets", "w", {"spec": {"size": 2}}
        )
    assert caught.value.status == 422
    assert "size is frozen at 1" in json.loads(caught.value.body)["message"]
    patched = api.patch_namespaced_custom_object(
        "test.example.com", "v1", namespace, "widgets", "w", {"spec": {"size": 2, "mutable": True}}
    )
    assert patched["spec"]["size"] == 2


def test_odoo_instance_gets_defaults_when_minimal(api_client, namespace):
    api = kubernetes.client.CustomObjectsApi(api_client)
    body = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": "mini"},
        "spec": {"adminPassword": "x", "ingress": {"hosts": ["a.example.com"]}},
    }
    created = api.create_namespaced_custom_object(
        "bemade.org", "v1alpha1", namespace, "odooinstances", body
    )
    assert created["spec"]["replicas"] == 1
    assert len(created["spec"]) > 2  # the chart's other defaults were applied too


def test_odoo_instance_is_refused_naming_spec_replicas_when_negative(api_client, namespace):
    api = kubernetes.client.CustomObjectsApi(api_client)
    body = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": "neg"},
        "spec": {"adminPassword": "x", "replicas": -1, "ingress": {"hosts": ["a.example.com"]}},
    }
    with pytest.raises(ApiException) as caught:
        api.create_namespaced_custom_object(
            "bemade.org", "v1alpha1", namespace, "odooinstances", body
        )
    status = json.loads(caught.value.body)
    assert caught.value.status == 422
    assert (
        "spec.replicas: Invalid value: -1: "
        "spec.replicas in body should be greater than or equal to 0" in status["message"]
    )
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.replicas"]
