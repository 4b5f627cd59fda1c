"""OpenAPI v3 and fieldValidation: kubectl's default (strict, server-side) validation.

Covers: the /openapi/v3 index and group-version documents (PATCH operations
carrying x-kubernetes-group-version-kind and the fieldValidation parameter that
kubectl's QueryParamVerifierV3 looks for, CRD component schemas), ``kubectl
apply``/``create``/``apply --server-side`` with default validation for an
OdooInstance and a Deployment, unknown fields refused with the field named,
and fieldValidation Strict/Warn/Ignore (and absent: Warn) on custom resource
create/update/patch/apply through the official client.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
import urllib.error
import urllib.request

import kubernetes
import pytest
import yaml
from kubernetes.client.exceptions import ApiException

KUBECTL = pathlib.Path(sys.executable).parent / "kubectl"

INSTANCE = """\
apiVersion: bemade.org/v1alpha1
kind: OdooInstance
metadata: {{name: {name}}}
spec: {{adminPassword: change-me, {extra}ingress: {{hosts: [demo.example.com]}}}}
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}}}
spec:
  {extra}selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec: {{containers: [{{name: web, image: nginx}}]}}
"""


def _http(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def _kubectl(
    kubeconfig: pathlib.Path, tmp_path: pathlib.Path, manifest: str, *args: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            str(KUBECTL),
            "--kubeconfig",
            str(kubeconfig),
            "--cache-dir",
            str(tmp_path / "cache"),
            *args,
            "-f",
            "-",
        ],
        input=manifest,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_openapi_v3_index_lists_every_group_version_when_read(kube_emulator_server):
    _, index = _http(f"{kube_emulator_server.url}/openapi/v3")
    assert {"api/v1", "apis/apps/v1", "apis/bemade.org/v1alpha1"} <= set(index["paths"])
    url = index["paths"]["apis/bemade.org/v1alpha1"]["serverRelativeURL"]
    assert url.startswith("/openapi/v3/apis/bemade.org/v1alpha1?hash=")
    status, _ = _http(f"{kube_emulator_server.url}/openapi/v3/apis/nope/v1")
    assert status == 404


def test_openapi_v3_documents_patch_with_field_validation_when_read(kube_emulator_server):
    _, doc = _http(f"{kube_emulator_server.url}/openapi/v3/apis/apps/v1")
    assert doc["openapi"] == "3.0.0"
    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert {"get", "put", "patch", "delete"} <= set(item)
    patch = item["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
    }
    assert {"name": "fieldValidation", "in": "query"}.items() <= next(
        p for p in patch["parameters"] if p["name"] == "fieldValidation"
    ).items()
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]
    collection = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments"]
    assert {"get", "post", "delete"} <= set(collection)

    _, core = _http(f"{kube_emulator_server.url}/openapi/v3/api/v1")
    assert "/api/v1/namespaces/{namespace}/configmaps/{name}" in core["paths"]

    _, crd = _http(f"{kube_emulator_server.url}/openapi/v3/apis/bemade.org/v1alpha1")
    patch = crd["paths"]["/apis/bemade.org/v1alpha1/namespaces/{namespace}/odooinstances/{name}"][
        "patch"
    ]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    schema = crd["components"]["schemas"]["org.bemade.v1alpha1.OdooInstance"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "bemade.org", "version": "v1alpha1", "kind": "OdooInstance"}
    ]
    assert "adminPassword" in schema["properties"]["spec"]["properties"]
    # Every $ref points into the document.
    refs = {
        r.split("/")[-1] for r in json.dumps(crd).split('"$ref": "')[1:] for r in [r.split('"')[0]]
    }
    assert refs <= set(crd["components"]["schemas"])


@pytest.mark.parametrize("template", [INSTANCE, DEPLOYMENT], ids=["OdooInstance", "Deployment"])
def test_kubectl_apply_and_create_succeed_when_validating_by_default(
    kubeconfig, namespace, tmp_path, template
):
    kind = "odooinstance" if template is INSTANCE else "deployment"
    applied = _kubectl(
        kubeconfig, tmp_path, template.format(name="a", extra=""), "apply", "-n", namespace
    )
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.endswith("/a created\n")
    again = _kubectl(
        kubeconfig, tmp_path, template.format(name="a", extra=""), "apply", "-n", namespace
    )
    assert again.returncode == 0, again.stderr
    assert again.stdout.endswith("/a unchanged\n")
    created = _kubectl(
        kubeconfig, tmp_path, template.format(name="b", extra=""), "create", "-n", namespace
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith(kind)
    server_side = _kubectl(
        kubeconfig,
        tmp_path,
        template.format(name="c", extra=""),
        "apply",
        "--server-side",
        "-n",
        namespace,
    )
    assert server_side.returncode == 0, server_side.stderr
    assert server_side.stdout.endswith("/c serverside-applied\n")
    assert server_side.stderr == ""


@pytest.mark.parametrize(
    ("template", "extra", "field"),
    [
        (INSTANCE, "bogus: 1, ", "spec.bogus"),
        (DEPLOYMENT, "replicaz: 1\n  ", "spec.replicaz"),
    ],
    ids=["OdooInstance", "Deployment"],
)
@pytest.mark.parametrize(
    "args", [("apply",), ("create",), ("apply", "--server-side")], ids=["apply", "create", "ssa"]
)
def test_kubectl_refuses_unknown_field_when_validating_by_default(
    kubeconfig, namespace, tmp_path, template, extra, field, args
):
    result = _kubectl(
        kubeconfig, tmp_path, template.format(name="a", extra=extra), *args, "-n", namespace
    )
    assert result.returncode != 0
    assert f'strict decoding error: unknown field "{field}"' in result.stderr
    assert "BadRequest" in result.stderr


def test_kubectl_refuses_unknown_field_when_patching_an_existing_object(
    kubeconfig, namespace, tmp_path
):
    first = _kubectl(
        kubeconfig, tmp_path, INSTANCE.format(name="a", extra=""), "apply", "-n", namespace
    )
    assert first.returncode == 0, first.stderr
    result = _kubectl(
        kubeconfig,
        tmp_path,
        INSTANCE.format(name="a", extra="bogus: 1, "),
        "apply",
        "-n",
        namespace,
    )
    assert result.returncode != 0
    assert 'unknown field "spec.bogus"' in result.stderr


def test_kubectl_warns_and_prunes_when_validation_is_warn(kubeconfig, namespace, tmp_path):
    result = _kubectl(
        kubeconfig,
        tmp_path,
        INSTANCE.format(name="a", extra="bogus: 1, "),
        "create",
        "--validate=warn",
        "-n",
        namespace,
    )
    assert result.returncode == 0, result.stderr
    assert 'Warning: unknown field "spec.bogus"' in result.stderr


# ---------------------------------------------------------------- official client


def _instance(name: str, **spec_extra: object) -> dict:
    return {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": "OdooInstance",
        "metadata": {"name": name},
        "spec": {"adminPassword": "x", "ingress": {"hosts": ["a.example.com"]}, **spec_extra},
    }


def _create(api_client, namespace, body, **kwargs):
    api = kubernetes.client.CustomObjectsApi(api_client)
    return api.create_namespaced_custom_object_with_http_info(
        "bemade.org", "v1alpha1", namespace, "odooinstances", body, **kwargs
    )


def _strict_refusal(call) -> None:
    with pytest.raises(ApiException) as caught:
        call()
    assert caught.value.status == 400
    body = json.loads(caught.value.body)
    assert body["reason"] == "BadRequest"
    assert body["message"] == (
        'OdooInstance in version "v1alpha1" cannot be handled as a OdooInstance: '
        'strict decoding error: unknown field "spec.bogus"'
    )


def test_strict_refuses_unknown_fields_when_custom_resource_is_created(api_client, namespace):
    _strict_refusal(
        lambda: _create(api_client, namespace, _instance("a", bogus=1), field_validation="Strict")
    )
    api = kubernetes.client.CustomObjectsApi(api_client)
    with pytest.raises(ApiException) as caught:
        api.get_namespaced_custom_object("bemade.org", "v1alpha1", namespace, "odooinstances", "a")
    assert caught.value.status == 404


def test_strict_refuses_unknown_fields_when_custom_resource_is_written(api_client, namespace):
    api = kubernetes.client.CustomObjectsApi(api_client)
    current, _, _ = _create(api_client, namespace, _instance("a"))
    group = ("bemade.org", "v1alpha1", namespace, "odooinstances", "a")
    replaced = {**current, "spec": {**current["spec"], "bogus": 1}}
    _strict_refusal(
        lambda: api.replace_namespaced_custom_object(*group, replaced, field_validation="Strict")
    )
    _strict_refusal(
        lambda: api.patch_namespaced_custom_object(
            *group, {"spec": {"bogus": 1}}, field_validation="Strict"
        )
    )
    applied = _instance("a", bogus=1)
    _strict_refusal(
        lambda: api.patch_namespaced_custom_object(
            *group,
            applied,
            field_manager="test",
            field_validation="Strict",
            _content_type="application/apply-patch+yaml",
        )
    )
    stored = api.get_namespaced_custom_object(*group)
    assert "bogus" not in stored["spec"]


@pytest.mark.parametrize(("directive", "warned"), [("Warn", True), (None, True), ("Ignore", False)])
def test_unknown_fields_are_pruned_when_not_strict(api_client, namespace, directive, warned):
    kwargs = {"field_validation": directive} if directive else {}
    created, status, headers = _create(api_client, namespace, _instance("a", bogus=1), **kwargs)
    assert status == 201
    assert "bogus" not in created["spec"]
    expected = '299 - "unknown field \\"spec.bogus\\""'
    assert (headers.get("Warning") == expected) is warned
    if not warned:
        assert "Warning" not in headers
    api = kubernetes.client.CustomObjectsApi(api_client)
    patched, _, headers = api.patch_namespaced_custom_object_with_http_info(
        "bemade.org", "v1alpha1", namespace, "odooinstances", "a", {"spec": {"bogus": 2}}, **kwargs
    )
    assert "bogus" not in patched["spec"]
    assert ("Warning" in headers) is warned


def test_invalid_field_validation_is_refused_when_sent(api_client, namespace):
    with pytest.raises(ApiException) as caught:
        _create(api_client, namespace, _instance("a"), field_validation="Loose")
    assert caught.value.status == 400
    assert "fieldValidation" in json.loads(caught.value.body)["message"]


def test_strict_refuses_unknown_fields_when_built_in_is_created(kube_emulator_server, namespace):
    # The typed client validates bodies itself: send the raw request.
    body = yaml.safe_load(DEPLOYMENT.format(name="d", extra="replicaz: 1\n  "))
    status, answer = _http(
        f"{kube_emulator_server.url}/apis/apps/v1/namespaces/{namespace}/deployments"
        "?fieldValidation=Strict",
        body,
    )
    assert status == 400
    assert answer["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: '
        'strict decoding error: unknown field "spec.replicaz"'
    )
