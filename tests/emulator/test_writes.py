"""Replacement, deletion, finalizers and garbage collection.

Covers: PUT with optimistic concurrency (409 on a stale resourceVersion),
finalizers holding an object with deletionTimestamp, removal when the last
finalizer goes, ownerReference cascade (recursive, background), Orphan
propagation, Namespace deletion cascading to its content.
"""

from __future__ import annotations

import kubernetes
import pytest
from kubernetes.client import ApiException

from tests.fixtures.kube import wait_for


def test_put_answers_409_when_the_resource_version_is_stale(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    created = core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "p"}, "data": {"a": "1"}}
    )
    created.data = {"a": "2"}
    replaced = core.replace_namespaced_config_map("p", namespace, created)
    assert replaced.data == {"a": "2"}
    created.data = {"a": "3"}
    with pytest.raises(ApiException) as caught:
        core.replace_namespaced_config_map("p", namespace, created)
    assert caught.value.status == 409


def test_object_waits_for_finalizers_when_deleted(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "f", "finalizers": ["x/y"]}})
    core.delete_namespaced_config_map("f", namespace)
    held = core.read_namespaced_config_map("f", namespace)
    assert held.metadata.deletion_timestamp is not None
    assert held.metadata.deletion_grace_period_seconds == 0
    core.patch_namespaced_config_map("f", namespace, {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_config_map("f", namespace)
    assert caught.value.status == 404


def _owned(name: str, owner) -> dict:
    ref = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": owner.metadata.name,
        "uid": owner.metadata.uid,
    }
    return {"metadata": {"name": name, "ownerReferences": [ref]}}


def test_dependents_are_deleted_recursively_when_their_owner_goes(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    root = core.create_namespaced_config_map(namespace, {"metadata": {"name": "root"}})
    child = core.create_namespaced_config_map(namespace, _owned("child", root))
    core.create_namespaced_config_map(namespace, _owned("grandchild", child))
    other = core.create_namespaced_config_map(namespace, {"metadata": {"name": "other"}})
    shared = _owned("shared", root)
    shared["metadata"]["ownerReferences"].append(
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "other", "uid": other.metadata.uid}
    )
    core.create_namespaced_config_map(namespace, shared)
    core.delete_namespaced_config_map("root", namespace)
    names = [i.metadata.name for i in core.list_namespaced_config_map(namespace).items]
    assert names == ["other", "shared"]


def test_dependents_lose_owner_references_when_deleted_with_orphan(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    root = core.create_namespaced_config_map(namespace, {"metadata": {"name": "root"}})
    core.create_namespaced_config_map(namespace, _owned("child", root))
    core.delete_namespaced_config_map("root", namespace, propagation_policy="Orphan")
    child = core.read_namespaced_config_map("child", namespace)
    assert child.metadata.owner_references is None


def test_namespace_content_is_deleted_when_the_namespace_is_deleted(api_client):
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map(
        "doomed", {"metadata": {"name": "held", "finalizers": ["x/y"]}}
    )
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "free"}})
    core.delete_namespace("doomed")
    assert core.read_namespace("doomed").status.phase == "Terminating"
    assert [i.metadata.name for i in core.list_namespaced_config_map("doomed").items] == ["held"]
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_config_map("doomed", {"metadata": {"name": "late"}})
    assert refused.value.status == 403
    core.patch_namespaced_config_map("held", "doomed", {"metadata": {"finalizers": None}})

    def gone() -> bool:
        try:
            core.read_namespace("doomed")
        except ApiException as exc:
            return exc.status == 404
        return False

    assert wait_for(gone)
