"""Facts about the generated CustomResourceDefinitions.

Covers:
- group, version, scope, names (singular, short names, category), the keep annotation;
- status subresource on all five, scale subresource paths on OdooInstance only;
- printer columns per kind and selectableFields on the four job kinds;
- the CEL rules (production ref, restore source, immutable odooInstanceRef);
- each CRD document valid against the Kubernetes 1.37 CustomResourceDefinition schema;
- every property documented, in the CRD and on every pydantic field;
- structural: a type on every node, no $ref/title/oneOf/allOf, anyOf only for
  int-or-string, additionalProperties only as a map schema;
- required fields, replicas minimum 0 with format int32, enums, defaults that
  validate against their own schema, native Kubernetes types inlined faithfully.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from pydantic import BaseModel

from model import crds, naming, phases
from model.crds import common, instance, schema

KINDS = ["OdooInstance", "OdooInitJob", "OdooUpgradeJob", "OdooBackupJob", "OdooRestoreJob"]
JOB_KINDS = KINDS[1:]
MANIFESTS = {manifest["spec"]["names"]["kind"]: manifest for manifest in crds.crd_manifests()}


def version(kind: str) -> dict[str, Any]:
    versions = MANIFESTS[kind]["spec"]["versions"]
    assert len(versions) == 1
    result: dict[str, Any] = versions[0]
    return result


def root(kind: str) -> dict[str, Any]:
    result: dict[str, Any] = version(kind)["schema"]["openAPIV3Schema"]
    return result


def spec(kind: str) -> dict[str, Any]:
    result: dict[str, Any] = root(kind)["properties"]["spec"]
    return result


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node below `node` (inclusive) with a readable path."""
    yield path or ".", node
    for name, child in node.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from nodes(node["additionalProperties"], f"{path}{{}}")


def properties(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every named property below `node`, at any depth."""
    for name, child in node.get("properties", {}).items():
        yield f"{path}.{name}", child
        yield from properties(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield from properties(node[key], f"{path}[]")


def test_every_kind_has_a_crd_when_generated() -> None:
    assert list(MANIFESTS) == KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_crd_is_a_valid_kubernetes_object_when_checked_strictly(kind: str) -> None:
    kubernetes_validate.validate(MANIFESTS[kind], "1.37.0", strict=True)


@pytest.mark.parametrize("kind", KINDS)
def test_crd_identity_is_bemade_v1alpha1_namespaced_when_generated(kind: str) -> None:
    manifest = MANIFESTS[kind]
    assert manifest["apiVersion"] == "apiextensions.k8s.io/v1"
    assert manifest["metadata"]["annotations"] == {"helm.sh/resource-policy": "keep"}
    assert manifest["spec"]["group"] == naming.API_GROUP
    assert manifest["spec"]["scope"] == "Namespaced"
    names = manifest["spec"]["names"]
    assert names["singular"] == kind.lower()
    assert names["plural"] == kind.lower() + "s"
    assert names["listKind"] == kind + "List"
    assert names["categories"] == ["odoo-operator"]
    assert manifest["metadata"]["name"] == f"{names['plural']}.bemade.org"
    assert version(kind)["name"] == naming.API_VERSION
    assert version(kind)["served"] is True
    assert version(kind)["storage"] is True


def test_short_names_match_reference_when_generated() -> None:
    short = {kind: MANIFESTS[kind]["spec"]["names"]["shortNames"] for kind in KINDS}
    assert short == {
        "OdooInstance": ["odoo"],
        "OdooInitJob": ["initjob"],
        "OdooUpgradeJob": ["upgradejob"],
        "OdooBackupJob": ["backupjob"],
        "OdooRestoreJob": ["restore"],
    }


@pytest.mark.parametrize("kind", KINDS)
def test_status_subresource_is_enabled_when_generated(kind: str) -> None:
    assert version(kind)["subresources"]["status"] == {}


def test_scale_subresource_points_at_replicas_when_kind_is_instance() -> None:
    assert version("OdooInstance")["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.readyReplicas",
        "labelSelectorPath": ".status.selector",
    }
    for kind in JOB_KINDS:
        assert "scale" not in version(kind)["subresources"]


def test_printer_columns_match_reference_when_generated() -> None:
    columns = {
        kind: [
            (c["name"], c["jsonPath"], c["type"]) for c in version(kind)["additionalPrinterColumns"]
        ]
        for kind in KINDS
    }
    age = ("Age", ".metadata.creationTimestamp", "date")
    phase = ("Phase", ".status.phase", "string")
    target = ("Target", ".spec.odooInstanceRef.name", "string")
    assert columns["OdooInstance"] == [
        ("Image", ".spec.image", "string"),
        ("Replicas", ".status.readyReplicas", "integer"),
        phase,
        ("URL", ".status.url", "string"),
        age,
    ]
    # Step and Progress: a running job resource's movement (kubectl get -w).
    step = ("Step", ".status.step", "string")
    progress = ("Progress", ".status.progress", "string")
    assert columns["OdooInitJob"] == [target, phase, step, progress, age]
    assert columns["OdooUpgradeJob"] == [target, phase, step, progress, age]
    assert columns["OdooBackupJob"] == [
        target,
        ("Format", ".spec.format", "string"),
        phase,
        step,
        progress,
        age,
    ]
    assert columns["OdooRestoreJob"] == [
        target,
        ("Source", ".spec.source.type", "string"),
        phase,
        step,
        progress,
        age,
    ]


@pytest.mark.parametrize("kind", KINDS)
def test_printer_column_paths_exist_in_schema_when_generated(kind: str) -> None:
    for column in version(kind)["additionalPrinterColumns"]:
        if column["jsonPath"].startswith(".metadata."):
            continue
        node = root(kind)
        for part in column["jsonPath"].lstrip(".").split("."):
            node = node["properties"][part]
        assert node["type"] in {"string", "integer"}


def test_selectable_fields_are_ref_and_phase_when_kind_is_a_job() -> None:
    for kind in JOB_KINDS:
        assert version(kind)["selectableFields"] == [
            {"jsonPath": ".spec.odooInstanceRef.name"},
            {"jsonPath": ".status.phase"},
        ]
    assert "selectableFields" not in version("OdooInstance")


def test_production_ref_rule_is_on_spec_when_kind_is_instance() -> None:
    rules = spec("OdooInstance")["x-kubernetes-validations"]
    assert rules == [
        {
            "rule": "self.environment != 'Production' || !has(self.productionInstanceRef)",
            "message": "spec.productionInstanceRef is forbidden on production instances",
            "fieldPath": ".productionInstanceRef",
            "reason": "FieldValueForbidden",
        },
        {
            "rule": instance.DATABASE_NAME_RULE,
            "message": "spec.database.name cannot change after creation",
            "fieldPath": ".database.name",
            "reason": "FieldValueInvalid",
        },
        {
            "rule": "!has(self.adminPassword) || !has(self.adminPasswordSecretRef)",
            "message": instance.ADMIN_PASSWORD_MESSAGE,
            "fieldPath": ".adminPasswordSecretRef",
            "reason": "FieldValueForbidden",
        },
    ]


def test_source_rules_name_their_field_when_kind_is_restore() -> None:
    rules = spec("OdooRestoreJob")["properties"]["source"]["x-kubernetes-validations"]
    assert [(r["rule"], r["message"]) for r in rules] == [
        ("self.type != 's3' || has(self.s3)", "source.s3 is required when source.type is s3"),
        (
            "self.type != 'odoo' || has(self.odoo)",
            "source.odoo is required when source.type is odoo",
        ),
    ]


@pytest.mark.parametrize("kind", JOB_KINDS)
def test_instance_ref_is_immutable_when_kind_is_a_job(kind: str) -> None:
    node = spec(kind)["properties"]["odooInstanceRef"]
    assert node["x-kubernetes-validations"] == [
        {"rule": "self == oldSelf", "message": "odooInstanceRef is immutable"}
    ]
    assert "odooInstanceRef" in spec(kind)["required"]


@pytest.mark.parametrize("kind", KINDS)
def test_every_property_has_a_description_when_generated(kind: str) -> None:
    # The apiserver refuses anything but `type: object` on the root metadata.
    undocumented = [
        path
        for path, node in properties(root(kind))
        if not node.get("description", "").strip() and path != ".metadata"
    ]
    assert not undocumented, f"{kind}: add a description to {undocumented}"


def _crd_models() -> Iterator[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    pending: list[type[BaseModel]] = [
        model for info in crds.RESOURCES for model in (info.spec, info.status)
    ]
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        yield model
        for field in model.model_fields.values():
            for arg in _types_in(field.annotation):
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    pending.append(arg)


def _types_in(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in getattr(annotation, "__args__", ()):
        yield from _types_in(arg)


def test_every_model_field_has_a_description_when_declared() -> None:
    missing = [
        f"{model.__name__}.{name}"
        for model in _crd_models()
        for name, field in model.model_fields.items()
        if not (field.description or "").strip()
    ]
    assert not missing, f"add Field(description=...) to {missing}"


def test_spec_models_forbid_extra_fields_when_declared() -> None:
    lenient = [
        model.__name__
        for model in _crd_models()
        if issubclass(model, common.SpecModel) is False
        and not issubclass(model, common.StatusModel)
    ]
    assert not lenient
    for model in _crd_models():
        if issubclass(model, common.SpecModel):
            assert model.model_config.get("extra") == "forbid", model.__name__


@pytest.mark.parametrize("kind", KINDS)
def test_schema_is_structural_when_generated(kind: str) -> None:
    for path, node in nodes(root(kind)):
        for keyword in ("$ref", "$defs", "title", "oneOf", "allOf", "not", "nullable"):
            assert keyword not in node, f"{kind} {path}: {keyword}"
        if node.get("x-kubernetes-int-or-string"):
            assert "type" not in node, f"{kind} {path}: int-or-string has no type"
            assert node.get("anyOf") in (None, [{"type": "integer"}, {"type": "string"}])
            continue
        assert "anyOf" not in node, f"{kind} {path}: anyOf"
        assert node.get("type") in {"object", "array", "string", "integer", "number", "boolean"}, (
            f"{kind} {path}: type {node.get('type')!r}"
        )
        if "additionalProperties" in node:
            assert isinstance(node["additionalProperties"], dict), f"{kind} {path}"
            assert "properties" not in node, f"{kind} {path}: map with properties"
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), f"{kind} {path}: array without items"
        for name in node.get("required", []):
            assert name in node["properties"], f"{kind} {path}: required {name} undeclared"


def test_defaults_validate_against_their_schema_when_generated() -> None:
    checked = 0
    for kind in KINDS:
        for path, node in nodes(root(kind)):
            if "default" in node:
                jsonschema.validate(node["default"], node)
                checked += 1
                assert not path.startswith(".status"), f"{kind} {path}: default in status"
    assert checked > 10


def test_required_fields_match_reference_when_generated() -> None:
    assert root("OdooInstance")["required"] == ["spec"]
    # The master password is optional: a Secret it names, inline, or generated.
    assert spec("OdooInstance")["required"] == ["ingress"]
    assert spec("OdooInstance")["properties"]["ingress"]["required"] == ["hosts"]
    assert spec("OdooInitJob")["required"] == ["odooInstanceRef"]
    assert spec("OdooUpgradeJob")["required"] == ["odooInstanceRef"]
    # The reference requires destination; here an instance's spec.backup gives one
    # (as the backup Update does): every object the reference accepts still passes.
    assert spec("OdooBackupJob")["required"] == ["odooInstanceRef"]
    assert spec("OdooBackupJob")["properties"]["destination"]["required"] == [
        "bucket",
        "endpoint",
        "objectKey",
    ]
    assert spec("OdooRestoreJob")["required"] == ["odooInstanceRef", "source"]
    assert spec("OdooRestoreJob")["properties"]["source"]["required"] == ["type"]


def test_replicas_are_non_negative_int32_when_generated() -> None:
    props = spec("OdooInstance")["properties"]
    for node in (props["replicas"], props["cron"]["properties"]["replicas"]):
        assert node["type"] == "integer"
        assert node["format"] == "int32"
        assert node["minimum"] == 0
        assert node["default"] == 1


def test_defaults_and_enums_match_reference_when_generated() -> None:
    props = spec("OdooInstance")["properties"]
    assert props["cron"]["default"] == {"replicas": 1}
    assert props["init"]["default"] == {"enabled": True, "modules": ["base"], "demo": False}
    assert props["environment"]["enum"] == ["Staging", "Production"]
    assert props["environment"]["default"] == "Staging"
    assert props["strategy"]["properties"]["type"]["enum"] == ["Recreate", "RollingUpdate"]
    assert props["strategy"]["properties"]["type"]["default"] == "Recreate"
    database = props["database"]["properties"]
    assert database["missingPolicy"] == {
        **database["missingPolicy"],
        "enum": ["Ignore", "Recreate"],
        "default": "Ignore",
    }
    for probe in ("startupPath", "livenessPath", "readinessPath"):
        assert props["probes"]["properties"][probe]["default"] == "/web/health"
    backup = spec("OdooBackupJob")["properties"]
    assert backup["format"]["enum"] == ["zip", "sql", "dump"]
    assert backup["format"]["default"] == "zip"
    assert backup["withFilestore"]["default"] is True
    restore = spec("OdooRestoreJob")["properties"]
    assert restore["neutralize"]["default"] is True
    assert restore["source"]["properties"]["type"]["enum"] == ["s3", "odoo"]
    status_phase = root("OdooInstance")["properties"]["status"]["properties"]["phase"]
    assert status_phase["enum"] == [phase.value for phase in phases.Phase]
    assert len(status_phase["enum"]) == 12


def test_validation_keywords_are_present_when_generated() -> None:
    props = spec("OdooInstance")["properties"]
    hosts = props["ingress"]["properties"]["hosts"]
    assert hosts["minItems"] == 1
    assert hosts["items"]["maxLength"] == 253
    assert hosts["items"]["pattern"].startswith("^[a-z0-9]")
    assert props["filestore"]["properties"]["storageSize"]["pattern"] == schema.QUANTITY_PATTERN
    assert props["webhook"]["properties"]["url"]["pattern"] == "^https?://"
    assert props["productionInstanceRef"]["properties"]["name"]["maxLength"] == 253


def test_native_types_are_inlined_from_kubernetes_when_generated() -> None:
    props = spec("OdooInstance")["properties"]
    resources = props["resources"]
    assert set(resources["properties"]) >= {"limits", "requests", "claims"}
    quantity = resources["properties"]["limits"]["additionalProperties"]
    assert quantity["x-kubernetes-int-or-string"] is True
    assert quantity["pattern"] == schema.QUANTITY_PATTERN
    assert resources["properties"]["claims"]["x-kubernetes-list-type"] == "map"
    assert props["resources"]["description"].startswith("CPU and memory of the web")
    toleration = props["tolerations"]["items"]
    assert set(toleration["properties"]) == {
        "effect",
        "key",
        "operator",
        "tolerationSeconds",
        "value",
    }
    assert toleration["properties"]["tolerationSeconds"]["format"] == "int64"
    env = props["extraEnv"]["items"]
    assert env["required"] == ["name"]
    assert "secretKeyRef" in env["properties"]["valueFrom"]["properties"]
    assert set(props["extraEnvFrom"]["items"]["properties"]) >= {"configMapRef", "secretRef"}
    affinity = props["affinity"]["properties"]
    assert set(affinity) == {"nodeAffinity", "podAffinity", "podAntiAffinity"}
    assert props["cron"]["properties"]["resources"]["properties"] == resources["properties"]


def test_conditions_are_a_map_keyed_by_type_when_generated() -> None:
    for kind in KINDS:
        conditions = root(kind)["properties"]["status"]["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        assert conditions["items"]["required"] == [
            "lastTransitionTime",
            "message",
            "reason",
            "status",
            "type",
        ]


def test_status_fields_match_spec_list_when_generated() -> None:
    status = root("OdooInstance")["properties"]["status"]["properties"]
    assert set(status) == {
        "phase",
        "message",
        "ready",
        "readyReplicas",
        "dbInitialized",
        "url",
        "targetReplicas",
        "selector",
        "observedGeneration",
        "conditions",
        "activeCluster",
    }
    job = {"phase", "jobName", "startTime", "completionTime", "message", "conditions"}
    # Restores and upgrades also name their safety backup and what they kept aside.
    operation = {
        "safetyBackup",
        "previousDatabase",
        "previousFilestore",
        "previousImage",
        "previousRemovedAt",
    }
    for kind in JOB_KINDS:
        replaces_data = kind in ("OdooRestoreJob", "OdooUpgradeJob")
        # Beyond the spec's list: a running Job's step and progress (issue 20), and
        # where a backup without spec.destination went.
        chosen = {"destination"} if kind == "OdooBackupJob" else set()
        assert (
            set(root(kind)["properties"]["status"]["properties"])
            == (job | operation if replaces_data else job) | {"step", "progress"} | chosen
        )


def test_unsupported_construct_is_refused_when_model_has_a_union() -> None:
    class Bad(common.SpecModel):
        value: int | str = 0

    with pytest.raises(schema.SchemaError, match="anyOf"):
        schema.model_schema(Bad)
