"""Discovery documents and kubectl against the emulator.

Covers: /api, /api/v1 (groupVersion "v1"), /apis, /apis/<group>,
/apis/<group>/<version>, /version, the chart CRDs in discovery with their
shortNames and subresources, ``kubectl get odoo`` and ``kubectl get
odooinstances,deployments -o yaml`` with a fixture-written kubeconfig,
``kubectl delete --wait`` returning once the object is gone (streaming list).
"""

from __future__ import annotations

import pathlib
import subprocess
import sys
import time

import kubernetes
import yaml

KUBECTL = pathlib.Path(sys.executable).parent / "kubectl"


def test_core_discovery_names_group_version_v1_when_read(api_client):
    core = kubernetes.client.CoreApi(api_client)
    assert core.get_api_versions().versions == ["v1"]
    resources = kubernetes.client.CoreV1Api(api_client).get_api_resources()
    assert resources.group_version == "v1"
    assert {"namespaces", "configmaps", "secrets", "services", "pods", "events"} <= {
        r.name for r in resources.resources
    }


def test_groups_and_crds_are_discoverable_when_registered(api_client):
    groups = {g.name: g for g in kubernetes.client.ApisApi(api_client).get_api_versions().groups}
    assert {
        "apps",
        "batch",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "events.k8s.io",
        "bemade.org",
        "gateway.networking.k8s.io",
    } <= set(groups)
    assert groups["bemade.org"].preferred_version.group_version == "bemade.org/v1alpha1"
    resources = {
        r.name: r
        for r in kubernetes.client.CustomObjectsApi(api_client)
        .get_api_resources("bemade.org", "v1alpha1")
        .resources
    }
    assert resources["odooinstances"].short_names == ["odoo"]
    assert {
        "odooinstances/status",
        "odooinstances/scale",
        "odooinitjobs",
        "odoobackupjobs",
        "odoorestorejobs",
        "odooupgradejobs",
    } <= set(resources)
    version = kubernetes.client.VersionApi(api_client).get_code()
    assert (version.major, version.minor) == ("1", "37")


def _kubectl(kubeconfig: pathlib.Path, *args: str) -> str:
    result = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_kubectl_lists_odoo_instances_when_asked_by_short_name(api_client, namespace, kubeconfig):
    api = kubernetes.client.CustomObjectsApi(api_client)
    api.create_namespaced_custom_object(
        "bemade.org",
        "v1alpha1",
        namespace,
        "odooinstances",
        {
            "apiVersion": "bemade.org/v1alpha1",
            "kind": "OdooInstance",
            "metadata": {"name": "shop"},
            "spec": {"adminPassword": "x", "ingress": {"hosts": ["a.example.com"]}},
        },
    )
    out = _kubectl(kubeconfig, "get", "odoo", "-n", namespace)
    assert out.splitlines()[0].split()[0] == "NAME"
    assert out.splitlines()[1].split()[0] == "shop"


def test_kubectl_prints_yaml_when_several_kinds_are_asked(api_client, namespace, kubeconfig):
    api = kubernetes.client.CustomObjectsApi(api_client)
    api.create_namespaced_custom_object(
        "bemade.org",
        "v1alpha1",
        namespace,
        "odooinstances",
        {
            "apiVersion": "bemade.org/v1alpha1",
            "kind": "OdooInstance",
            "metadata": {"name": "shop"},
            "spec": {"adminPassword": "x", "ingress": {"hosts": ["a.example.com"]}},
        },
    )
    kubernetes.client.AppsV1Api(api_client).create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "shop"},
            "spec": {
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "c", "image": "odoo:18"}]},
                },
            },
        },
    )
    doc = yaml.safe_load(
        _kubectl(kubeconfig, "get", "odooinstances,deployments", "-n", namespace, "-o", "yaml")
    )
    assert [(i["kind"], i["metadata"]["name"]) for i in doc["items"]] == [
        ("OdooInstance", "shop"),
        ("Deployment", "shop"),
    ]


def test_kubectl_delete_returns_when_the_object_is_gone(api_client, namespace, kubeconfig):
    # kubectl 1.37 waits with a streaming list (sendInitialEvents) and needs the
    # initial-events-end bookmark; without it `delete --wait` times out.
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespaced_config_map(
        namespace,
        {"metadata": {"name": "settings", "finalizers": ["example.com/hold"]}, "data": {"a": "b"}},
    )
    args = ["delete", "configmap", "settings", "-n", namespace, "--wait", "--timeout=15s"]
    delete = subprocess.Popen(
        [str(KUBECTL), "--kubeconfig", str(kubeconfig), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 15
    while (
        core.read_namespaced_config_map("settings", namespace).metadata.deletion_timestamp is None
    ):
        assert time.monotonic() < deadline, "kubectl never deleted the ConfigMap"
        time.sleep(0.05)  # poll interval of a condition wait
    core.patch_namespaced_config_map("settings", namespace, {"metadata": {"finalizers": None}})
    out, err = delete.communicate(timeout=30)
    assert delete.returncode == 0, err
    assert 'configmap "settings" deleted' in out
