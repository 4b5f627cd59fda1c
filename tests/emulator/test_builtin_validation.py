"""Built-in kinds: schema validation and the conversions the apiserver does.

Covers: 422 Invalid naming the field path (missing image, unknown field, wrong
type), Secret stringData to base64 data, Service clusterIP assignment, Events
(core/v1 and events.k8s.io/v1) created with generateName, HTTPRoute accepted
unvalidated, Ingress/PVC/ServiceAccount/Role/RoleBinding/Job/Pod accepted.
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request

import kubernetes
import pytest


def _deployment(**container) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", **container}]},
            },
        },
    }


@pytest.mark.parametrize(
    ("container", "field"),
    [
        ({}, "spec.template.spec.containers[0].image"),
        ({"image": "odoo:18", "imagex": "typo"}, "spec.template.spec.containers[0].imagex"),
        (
            {"image": "odoo:18", "ports": [{"containerPort": "http"}]},
            "spec.template.spec.containers[0].ports[0].containerPort",
        ),
    ],
)
def test_deployment_is_refused_with_422_naming_the_field_when_invalid(
    api_client, namespace, container, field
):
    # kubernetes 37 validates typed bodies client-side, so the malformed ones go over raw HTTP.
    request = urllib.request.Request(
        f"{api_client.configuration.host}/apis/apps/v1/namespaces/{namespace}/deployments",
        data=json.dumps(_deployment(**container)).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request)
    body = json.loads(caught.value.read())
    assert (caught.value.code, body["reason"]) == (422, "Invalid")
    assert field in [c["field"] for c in body["details"]["causes"]]
    assert field in body["message"]


def test_secret_string_data_becomes_base64_data_when_created(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    secret = core.create_namespaced_secret(
        namespace,
        {"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}, "data": {"a": "Yg=="}},
    )
    assert secret.string_data is None
    assert secret.data == {"a": "Yg==", "password": base64.b64encode(b"hunter2").decode()}
    assert secret.type == "Opaque"


def test_service_gets_a_cluster_ip_when_created(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    first = core.create_namespaced_service(
        namespace,
        {"metadata": {"name": "a"}, "spec": {"selector": {"app": "a"}, "ports": [{"port": 8069}]}},
    )
    second = core.create_namespaced_service(
        namespace, {"metadata": {"name": "b"}, "spec": {"ports": [{"port": 80}]}}
    )
    assert first.spec.cluster_ip
    assert first.spec.cluster_ip != second.spec.cluster_ip
    assert first.spec.ports[0].target_port == 8069
    assert first.spec.ports[0].protocol == "TCP"


def test_events_are_created_when_only_generate_name_is_given(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    body = {
        "metadata": {"generateName": "odoo."},
        "involvedObject": {"kind": "OdooInstance", "name": "i", "namespace": namespace},
        "reason": "Created",
        "message": "m",
        "type": "Normal",
    }
    core.create_namespaced_event(namespace, body)
    core.create_namespaced_event(namespace, body)
    assert (
        len(core.list_namespaced_event(namespace, field_selector="involvedObject.name=i").items)
        == 2
    )
    events = kubernetes.client.EventsV1Api(api_client)
    created = events.create_namespaced_event(
        namespace,
        {
            "metadata": {"generateName": "odoo."},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "bemade.org/odoo-operator",
            "reportingInstance": "x",
            "action": "Reconcile",
            "reason": "Created",
            "regarding": {"kind": "OdooInstance", "name": "i", "namespace": namespace},
            "type": "Normal",
        },
    )
    assert created.metadata.name.startswith("odoo.")


def test_http_route_is_stored_when_created(api_client, namespace):
    api = kubernetes.client.CustomObjectsApi(api_client)
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r"},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "hostnames": ["a.example.com"],
            "rules": [{"backendRefs": [{"name": "svc", "port": 8069}]}],
        },
    }
    created = api.create_namespaced_custom_object(
        "gateway.networking.k8s.io", "v1", namespace, "httproutes", route
    )
    assert created["spec"]["hostnames"] == ["a.example.com"]


def test_other_kinds_the_operator_writes_are_accepted_when_valid(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "metadata": {"name": "pvc"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    core.create_namespaced_service_account(namespace, {"metadata": {"name": "sa"}})
    core.create_namespaced_pod(
        namespace,
        {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox:1"}]}},
    )
    rbac = kubernetes.client.RbacAuthorizationV1Api(api_client)
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "r"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "rb"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
            "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": namespace}],
        },
    )
    net = kubernetes.client.NetworkingV1Api(api_client)
    net.create_namespaced_ingress(
        namespace,
        {
            "metadata": {"name": "i"},
            "spec": {
                "rules": [
                    {
                        "host": "a.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {"name": "svc", "port": {"number": 8069}}
                                    },
                                }
                            ]
                        },
                    }
                ]
            },
        },
    )
    batch = kubernetes.client.BatchV1Api(api_client)
    job = batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "j"},
            "spec": {
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "c", "image": "busybox:1"}],
                    }
                }
            },
        },
    )
    assert job.spec.backoff_limit == 6
