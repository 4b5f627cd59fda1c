"""Object metadata and error bodies.

Covers: uid/creationTimestamp/resourceVersion/generation stamping, the global
resourceVersion counter, generation on spec changes only, namespace from the
URL, generateName, 201 on create, 409 AlreadyExists, 404 NotFound, 404 for a
missing namespace, Namespace create/get/list.
"""

from __future__ import annotations

import json

import kubernetes
import pytest
from kubernetes.client import ApiException


def _cm(name: str, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_metadata_is_stamped_when_an_object_is_created(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    _, status, _ = core.create_namespaced_config_map_with_http_info(namespace, _cm("a", k="v"))
    assert status == 201
    got = core.read_namespaced_config_map("a", namespace)
    assert got.metadata.uid
    assert got.metadata.creation_timestamp is not None
    assert got.metadata.namespace == namespace
    assert got.metadata.generation == 1
    assert int(got.metadata.resource_version) > 0


def test_resource_version_grows_globally_when_any_object_is_written(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    a = core.create_namespaced_config_map(namespace, _cm("a"))
    b = core.create_namespaced_config_map(namespace, _cm("b"))
    patched = core.patch_namespaced_config_map("a", namespace, {"data": {"x": "y"}})
    assert (
        int(a.metadata.resource_version)
        < int(b.metadata.resource_version)
        < int(patched.metadata.resource_version)
    )


def test_generation_bumps_only_when_the_spec_changes(api_client, namespace):
    api = kubernetes.client.CustomObjectsApi(api_client)
    body = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": "g"},
        "spec": {"adminPassword": "x", "ingress": {"hosts": ["a.example.com"]}},
    }
    api.create_namespaced_custom_object("bemade.org", "v1alpha1", namespace, "odooinstances", body)
    args = ("bemade.org", "v1alpha1", namespace, "odooinstances", "g")
    labelled = api.patch_namespaced_custom_object(*args, {"metadata": {"labels": {"a": "b"}}})
    assert labelled["metadata"]["generation"] == 1
    status = api.patch_namespaced_custom_object_status(*args, {"status": {"phase": "Running"}})
    assert status["metadata"]["generation"] == 1
    assert int(status["metadata"]["resourceVersion"]) > int(labelled["metadata"]["resourceVersion"])
    spec = api.patch_namespaced_custom_object(*args, {"spec": {"replicas": 3}})
    assert spec["metadata"]["generation"] == 2


def test_name_is_generated_when_generate_name_is_given(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "gen-"}}
    first = core.create_namespaced_config_map(namespace, body)
    second = core.create_namespaced_config_map(namespace, body)
    assert first.metadata.name.startswith("gen-")
    assert first.metadata.name != second.metadata.name


def test_conflict_answers_409_already_exists_when_the_name_is_taken(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, _cm("dup"))
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map(namespace, _cm("dup"))
    body = json.loads(caught.value.body)
    assert caught.value.status == 409
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "AlreadyExists", 409)


def test_missing_object_answers_404_not_found_status(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("nope", namespace)
    body = json.loads(caught.value.body)
    assert (caught.value.status, body["kind"], body["reason"]) == (404, "Status", "NotFound")
    assert body["message"] == 'configmaps "nope" not found'


def test_create_answers_404_when_the_namespace_does_not_exist(api_client):
    core = kubernetes.client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_config_map("does-not-exist", _cm("a"))
    body = json.loads(caught.value.body)
    assert caught.value.status == 404
    assert body["message"] == 'namespaces "does-not-exist" not found'


def test_namespaces_are_listed_and_read_when_created(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    names = [ns.metadata.name for ns in core.list_namespace().items]
    assert namespace in names
    got = core.read_namespace(namespace)
    assert got.status.phase == "Active"
    assert got.metadata.labels["kubernetes.io/metadata.name"] == namespace
