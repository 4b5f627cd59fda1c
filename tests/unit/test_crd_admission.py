"""Sample objects against the generated openAPIV3Schema and CEL rules.

A sanity check of what the apiserver (or the emulator) will do with our CRDs,
using jsonschema for the OpenAPI part and cel-python for x-kubernetes-validations.

Covers:
- a minimal valid object of every kind passes, a wrong type or a missing required
  field fails, negative replicas fail, a non-quantity storage size fails;
- native sub-objects (resources with int and string quantities, tolerations, env)
  validate, and a malformed one fails;
- every CEL rule compiles, and the production-ref, restore-source and immutable
  reference rules accept and refuse the right objects;
- the JSON the models dump for a valid object passes the schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import celpy
import jsonschema
import pytest

from odoo_operator.model import crds

SCHEMAS = {
    manifest["spec"]["names"]["kind"]: manifest["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for manifest in crds.crd_manifests()
}
REF = {"name": "shop"}
S3 = {"bucket": "backups", "objectKey": "shop.zip", "endpoint": "http://minio:9000"}

MINIMAL: dict[str, dict[str, Any]] = {
    "OdooInstance": {"adminPassword": "x", "ingress": {"hosts": ["shop.example.com"]}},
    "OdooInitJob": {"odooInstanceRef": REF},
    "OdooUpgradeJob": {"odooInstanceRef": REF, "modules": ["sale"]},
    "OdooBackupJob": {"odooInstanceRef": REF, "destination": S3},
    "OdooRestoreJob": {"odooInstanceRef": REF, "source": {"type": "s3", "s3": S3}},
}


def body(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "bemade.org/v1alpha1",
        "kind": kind,
        "metadata": {"name": "x", "namespace": "acme"},
        "spec": spec,
    }


def errors(kind: str, obj: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(SCHEMAS[kind])
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(obj)]


def rules(node: dict[str, Any]) -> Iterator[str]:
    for rule in node.get("x-kubernetes-validations", []):
        yield rule["rule"]
    for child in node.get("properties", {}).values():
        yield from rules(child)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from rules(node[key])


def cel(rule: str, **activation: Any) -> bool:
    env = celpy.Environment()
    program = env.program(env.compile(rule))
    result = program.evaluate({k: celpy.json_to_cel(v) for k, v in activation.items()})
    return bool(result)


@pytest.mark.parametrize("kind", list(MINIMAL))
def test_minimal_object_passes_when_valid(kind: str) -> None:
    assert errors(kind, body(kind, MINIMAL[kind])) == []


@pytest.mark.parametrize("kind", list(MINIMAL))
def test_object_fails_when_spec_is_missing(kind: str) -> None:
    obj = body(kind, {})
    del obj["spec"]
    assert errors(kind, obj)


@pytest.mark.parametrize(
    ("spec", "where"),
    [
        ({"replicas": "two"}, "replicas"),
        ({"replicas": -1}, "replicas"),
        ({"cron": {"replicas": -3}}, "cron.replicas"),
        ({"ingress": {"hosts": []}}, "ingress.hosts"),
        ({"ingress": {"hosts": ["UPPER.example.com"]}}, "ingress.hosts.0"),
        ({"filestore": {"storageSize": "lots"}}, "filestore.storageSize"),
        ({"environment": "Dev"}, "environment"),
        ({"database": {"missingPolicy": "Drop"}}, "database.missingPolicy"),
        ({"webhook": {"url": "mailto:x@example.com"}}, "webhook.url"),
        ({"resources": {"limits": {"cpu": "a lot"}}}, "resources.limits.cpu"),
        ({"tolerations": [{"tolerationSeconds": "soon"}]}, "tolerations.0.tolerationSeconds"),
        ({"extraEnv": [{"value": "no name"}]}, "extraEnv.0"),
    ],
)
def test_instance_fails_when_a_field_is_wrong(spec: dict[str, Any], where: str) -> None:
    found = errors("OdooInstance", body("OdooInstance", {**MINIMAL["OdooInstance"], **spec}))
    assert any(error.startswith(f"spec.{where}:") for error in found), found


def test_instance_fails_when_admin_password_is_missing() -> None:
    found = errors("OdooInstance", body("OdooInstance", {"ingress": {"hosts": ["a.b"]}}))
    assert found == ["spec: 'adminPassword' is a required property"]


def test_native_sub_objects_pass_when_well_formed() -> None:
    spec = {
        **MINIMAL["OdooInstance"],
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": 2}},
        "cron": {"replicas": 0, "resources": {"limits": {"memory": "1Gi"}}},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "odoo"}],
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "pool", "operator": "In", "values": ["a"]}]}
                    ]
                }
            }
        },
        "extraEnv": [
            {"name": "A", "value": "1"},
            {"name": "B", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
        ],
        "extraEnvFrom": [{"configMapRef": {"name": "cm"}, "prefix": "X_"}],
        "filestore": {"storageSize": "10Gi", "storageClass": "fast"},
        "configOptions": {"workers": "4"},
    }
    assert errors("OdooInstance", body("OdooInstance", spec)) == []


def test_model_dump_passes_schema_when_object_is_valid() -> None:
    instance = crds.OdooInstance.model_validate(body("OdooInstance", MINIMAL["OdooInstance"]))
    assert errors("OdooInstance", instance.to_body()) == []
    for kind in list(MINIMAL)[1:]:
        job = crds.parse_resource(body(kind, MINIMAL[kind]))
        assert errors(kind, job.model_dump(mode="json", exclude_none=True)) == []


def test_every_cel_rule_compiles_when_generated() -> None:
    env = celpy.Environment()
    compiled = [env.compile(rule) for schema in SCHEMAS.values() for rule in rules(schema)]
    # production ref, restore source x2, 4 immutable refs, database name, secret
    # configOptions, maxSurge and maxUnavailable, instance name
    assert len(compiled) == 1 + 2 + 4 + 1 + 1 + 2 + 1


@pytest.mark.parametrize(
    ("spec", "allowed"),
    [
        ({"environment": "Staging", "productionInstanceRef": {"name": "p"}}, True),
        ({"environment": "Production"}, True),
        ({"environment": "Production", "productionInstanceRef": {"name": "p"}}, False),
    ],
)
def test_production_ref_rule_decides_when_evaluated(spec: dict[str, Any], allowed: bool) -> None:
    (rule,) = (
        r["rule"]
        for r in SCHEMAS["OdooInstance"]["properties"]["spec"]["x-kubernetes-validations"]
        if "productionInstanceRef" in r["rule"]
    )
    assert cel(rule, self=spec) is allowed


@pytest.mark.parametrize(
    ("source", "allowed"),
    [
        ({"type": "s3", "s3": S3}, [True, True]),
        ({"type": "s3"}, [False, True]),
        ({"type": "odoo", "odoo": {"url": "https://x"}}, [True, True]),
        ({"type": "odoo", "s3": S3}, [True, False]),
    ],
)
def test_restore_source_rules_decide_when_evaluated(
    source: dict[str, Any], allowed: list[bool]
) -> None:
    node = SCHEMAS["OdooRestoreJob"]["properties"]["spec"]["properties"]["source"]
    assert [cel(r["rule"], self=source) for r in node["x-kubernetes-validations"]] == allowed


def test_immutable_ref_rule_refuses_when_ref_changes() -> None:
    node = SCHEMAS["OdooBackupJob"]["properties"]["spec"]["properties"]["odooInstanceRef"]
    (rule,) = (r["rule"] for r in node["x-kubernetes-validations"])
    assert cel(rule, self={"name": "a"}, oldSelf={"name": "a"}) is True
    assert cel(rule, self={"name": "b"}, oldSelf={"name": "a"}) is False
