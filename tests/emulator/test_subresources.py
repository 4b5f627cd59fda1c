"""Status and scale subresources.

Covers: main-resource writes ignore status, /status writes ignore everything
but status (CRD, Deployment, Job), /scale GET as autoscaling/v1 Scale and
PATCH/PUT changing only spec.replicas (OdooInstance per its declared paths,
Deployment).
"""

from __future__ import annotations

import kubernetes

GROUP = ("bemade.org", "v1alpha1")


def _deployment(name: str) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "odoo:18"}]},
            },
        },
    }


def _instance(api, namespace: str, name: str = "i") -> dict:
    body = {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": name},
        "spec": {"adminPassword": "x", "ingress": {"hosts": ["a.example.com"]}},
    }
    return api.create_namespaced_custom_object(*GROUP, namespace, "odooinstances", body)


def test_status_is_ignored_when_the_main_resource_is_patched(api_client, namespace):
    api = kubernetes.client.CustomObjectsApi(api_client)
    _instance(api, namespace)
    patched = api.patch_namespaced_custom_object(
        *GROUP,
        namespace,
        "odooinstances",
        "i",
        {"spec": {"replicas": 2}, "status": {"phase": "Running"}},
    )
    assert patched["spec"]["replicas"] == 2
    assert (patched.get("status") or {}).get("phase") is None


def test_spec_is_ignored_when_the_status_subresource_is_patched(api_client, namespace):
    api = kubernetes.client.CustomObjectsApi(api_client)
    _instance(api, namespace)
    patched = api.patch_namespaced_custom_object_status(
        *GROUP,
        namespace,
        "odooinstances",
        "i",
        {"spec": {"replicas": 5}, "status": {"phase": "Running"}},
    )
    assert patched["status"]["phase"] == "Running"
    assert patched["spec"]["replicas"] == 1


def test_deployment_status_changes_only_when_written_through_status(api_client, namespace):
    apps = kubernetes.client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("web"))
    apps.patch_namespaced_deployment("web", namespace, {"status": {"readyReplicas": 1}})
    status = apps.read_namespaced_deployment("web", namespace).status
    assert status is None or status.ready_replicas is None
    current = apps.read_namespaced_deployment("web", namespace)
    current.status = kubernetes.client.V1DeploymentStatus(ready_replicas=1, replicas=1)
    current.spec.replicas = 9
    replaced = apps.replace_namespaced_deployment_status("web", namespace, current)
    assert replaced.status.ready_replicas == 1
    assert replaced.spec.replicas == 1


def test_job_status_is_written_when_the_status_subresource_is_patched(api_client, namespace):
    batch = kubernetes.client.BatchV1Api(api_client)
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "j"},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox:1"}],
                }
            }
        },
    }
    batch.create_namespaced_job(namespace, job)
    patched = batch.patch_namespaced_job_status("j", namespace, {"status": {"succeeded": 1}})
    assert patched.status.succeeded == 1


def test_scale_shows_declared_paths_when_read_for_an_odoo_instance(api_client, namespace):
    api = kubernetes.client.CustomObjectsApi(api_client)
    _instance(api, namespace)
    api.patch_namespaced_custom_object_status(
        *GROUP,
        namespace,
        "odooinstances",
        "i",
        {"status": {"readyReplicas": 1, "selector": "app=i"}},
    )
    scale = api.get_namespaced_custom_object_scale(*GROUP, namespace, "odooinstances", "i")
    assert scale["kind"] == "Scale"
    assert scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 1}
    assert scale["status"] == {"replicas": 1, "selector": "app=i"}


def test_only_spec_replicas_changes_when_the_scale_is_patched(api_client, namespace):
    api = kubernetes.client.CustomObjectsApi(api_client)
    _instance(api, namespace)
    scale = api.patch_namespaced_custom_object_scale(
        *GROUP,
        namespace,
        "odooinstances",
        "i",
        {"spec": {"replicas": 3}, "status": {"replicas": 7}},
    )
    assert scale["spec"]["replicas"] == 3
    obj = api.get_namespaced_custom_object(*GROUP, namespace, "odooinstances", "i")
    assert obj["spec"]["replicas"] == 3
    assert obj["metadata"]["generation"] == 2


def test_deployment_replicas_change_when_the_scale_is_replaced(api_client, namespace):
    apps = kubernetes.client.AppsV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("web"))
    scale = apps.read_namespaced_deployment_scale("web", namespace)
    assert scale.status.selector == "app=web"
    scale.spec.replicas = 4
    apps.replace_namespaced_deployment_scale("web", namespace, scale)
    assert apps.read_namespaced_deployment("web", namespace).spec.replicas == 4
