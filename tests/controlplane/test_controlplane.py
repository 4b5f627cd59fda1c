"""The control plane itself: the real Kubernetes behaviour the operator relies on.

Covers:
- the apiserver reports the Kubernetes version pinned in build/kube/go.mod
  (or the one ODOO_OPERATOR_KUBE_VERSION selects);
- started again on its state directory, a stopped control plane still has
  every object, and the old admin kubeconfig still works (certificates kept);
  stop() ends every process and frees the port;
- RBAC is enforced: a ServiceAccount token with no binding is refused (403),
  and allowed once a Role grants the verb;
- the garbage collector deletes an object whose owner does not exist, and a
  Foreground deletion of a Deployment removes its ReplicaSets and Pods first;
- server-side apply keeps a field another manager changed (field ownership
  across apply and patch), and a conflicting apply is refused with 409;
- a ResourceQuota works as on a real cluster: its controller counts what the
  namespace already holds into status.used (and counts a deletion back), and
  admission refuses a create beyond it with 403.
"""

from __future__ import annotations

import os
import pathlib
import re
import uuid
from collections.abc import Iterator

import kubernetes
import pytest

from sandbox import controlplane, processes
from tests.fixtures.kube import wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _client(kubeconfig: pathlib.Path) -> kubernetes.client.ApiClient:
    return kubernetes.config.new_client_from_config(config_file=str(kubeconfig))


def test_version_is_the_pinned_one_when_started(control_plane: controlplane.ControlPlane) -> None:
    go_mod = (ROOT / "build" / "kube" / "go.mod").read_text()
    pinned = re.search(r"^require k8s\.io/kubernetes v(\S+)$", go_mod, re.MULTILINE)
    assert pinned is not None
    wanted = os.environ.get("ODOO_OPERATOR_KUBE_VERSION", "").removeprefix("v") or pinned.group(1)
    version = control_plane.get("/version")
    assert isinstance(version, dict)
    # A minor (1.36) selects its newest patch.
    assert f"{version['gitVersion']}.".startswith(f"v{wanted}.")


@pytest.fixture
def own_plane(tmp_path: pathlib.Path) -> Iterator[controlplane.ControlPlane]:
    plane = controlplane.ControlPlane(tmp_path / "plane", durable=False)
    try:
        yield plane
    finally:
        plane.stop()


def test_objects_survive_when_started_again_on_the_same_directory(
    own_plane: controlplane.ControlPlane,
) -> None:
    own_plane.start()
    with _client(own_plane.kubeconfig) as client:
        core = kubernetes.client.CoreV1Api(client)
        core.create_namespaced_config_map(
            "default", {"metadata": {"name": "kept"}, "data": {"answer": "42"}}
        )
    kubeconfig_before = own_plane.kubeconfig.read_text()
    own_plane.stop()
    assert processes.port_is_free(own_plane.port)

    own_plane.start()

    assert own_plane.kubeconfig.read_text() == kubeconfig_before
    with _client(own_plane.kubeconfig) as client:
        kept = kubernetes.client.CoreV1Api(client).read_namespaced_config_map("kept", "default")
    assert kept.data == {"answer": "42"}


def test_a_service_account_is_refused_until_a_role_allows_it(
    control_plane: controlplane.ControlPlane,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    tmp_path: pathlib.Path,
) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "reader"}})
    token = core.create_namespaced_service_account_token(
        "reader", namespace, {"spec": {"expirationSeconds": 600}}
    ).status.token
    kubeconfig = control_plane.write_kubeconfig(tmp_path / "reader", token=token, user="reader")

    with _client(kubeconfig) as client:
        with pytest.raises(kubernetes.client.ApiException) as refused:
            kubernetes.client.CoreV1Api(client).list_namespaced_config_map(namespace)
        assert refused.value.status == 403
        assert f"system:serviceaccount:{namespace}:reader" in str(refused.value.body)

        rbac = kubernetes.client.RbacAuthorizationV1Api(api_client)
        rbac.create_namespaced_role(
            namespace,
            {
                "metadata": {"name": "read-configmaps"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}],
            },
        )
        rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": "reader"},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": "read-configmaps",
                },
                "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}],
            },
        )

        def allowed() -> list[str] | None:
            # The authorizer sees a new binding through its informer: a moment later.
            try:
                listed = kubernetes.client.CoreV1Api(client).list_namespaced_config_map(namespace)
            except kubernetes.client.ApiException as exc:
                if exc.status != 403:
                    raise
                return None
            return [item.metadata.name for item in listed.items]

        names = wait_for(allowed, 30.0, 0.1)
    assert "kube-root-ca.crt" in names


def _gone(read: object) -> bool:
    try:
        read()  # type: ignore[operator]
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


def test_an_object_whose_owner_does_not_exist_is_collected(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespaced_config_map(
        namespace,
        {
            "metadata": {
                "name": "orphan",
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "never-existed",
                        "uid": str(uuid.uuid4()),
                    }
                ],
            }
        },
    )

    wait_for(lambda: _gone(lambda: core.read_namespaced_config_map("orphan", namespace)), 60.0)


def test_foreground_deletion_removes_dependents_first(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    apps = kubernetes.client.AppsV1Api(api_client)
    core = kubernetes.client.CoreV1Api(api_client)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "web", "image": "odoo:18.0"}]},
                },
            },
        },
    )
    wait_for(lambda: apps.read_namespaced_deployment("web", namespace).status.ready_replicas == 2)

    apps.delete_namespaced_deployment("web", namespace, propagation_policy="Foreground")

    # While dependents remain, the Deployment is still there with the
    # foregroundDeletion finalizer; it goes only after them.
    deployment = apps.read_namespaced_deployment("web", namespace)
    assert "foregroundDeletion" in (deployment.metadata.finalizers or [])
    wait_for(lambda: _gone(lambda: apps.read_namespaced_deployment("web", namespace)), 60.0)
    assert apps.list_namespaced_replica_set(namespace).items == []
    assert core.list_namespaced_pod(namespace, label_selector="app=web").items == []


def test_server_side_apply_keeps_a_field_another_manager_changed(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(api_client)

    def apply(data: dict[str, str], *, force: bool = False) -> None:
        core.patch_namespaced_config_map(
            "settings",
            namespace,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "settings"},
                "data": data,
            },
            field_manager="first",
            force=force,
            _content_type="application/apply-patch+yaml",
        )

    apply({"a": "1", "b": "1"})
    core.patch_namespaced_config_map(
        "settings", namespace, {"data": {"a": "2"}}, field_manager="other"
    )
    apply({"b": "1"})

    assert core.read_namespaced_config_map("settings", namespace).data == {"a": "2", "b": "1"}
    with pytest.raises(kubernetes.client.ApiException) as conflict:
        apply({"a": "3", "b": "1"})
    assert conflict.value.status == 409
    apply({"a": "3", "b": "1"}, force=True)
    assert core.read_namespaced_config_map("settings", namespace).data == {"a": "3", "b": "1"}


def test_a_resource_quota_is_counted_and_enforced(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(api_client)

    def secret(name: str) -> dict[str, object]:
        return {"metadata": {"name": name}, "stringData": {"key": "value"}}

    def used() -> str | None:
        quota = core.read_namespaced_resource_quota("secrets", namespace)
        return ((quota.status and quota.status.used) or {}).get("secrets")

    # Made before the quota: only the resourcequota controller counts it
    # (admission counts the creates it admits, not what was already there).
    core.create_namespaced_secret(namespace, secret("first"))
    core.create_namespaced_resource_quota(
        namespace, {"metadata": {"name": "secrets"}, "spec": {"hard": {"secrets": "1"}}}
    )
    wait_for(lambda: used() == "1", 60.0, 0.1)

    with pytest.raises(kubernetes.client.ApiException) as refused:
        core.create_namespaced_secret(namespace, secret("second"))
    assert refused.value.status == 403
    assert "exceeded quota" in str(refused.value.body)

    # A deletion frees the quota only once the controller has counted it.
    core.delete_namespaced_secret("first", namespace)
    wait_for(lambda: used() == "0", 60.0, 0.1)
    core.create_namespaced_secret(namespace, secret("second"))
