"""Built-in kinds' OpenAPI schemas (from kubernetes-validate): strict validation and
the patch metadata (merge keys, list types) strategic merge and apply need."""

from __future__ import annotations

import functools
import json
import pathlib
import re
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate
import referencing

from odoo_operator.sandbox._apiserver import errors

__all__ = ["SchemaNode", "format_path", "root_schema", "validate_builtin"]

SCHEMA_VERSION = "v1.37.0-local-strict"
_SCHEMA_DIR = (
    pathlib.Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / SCHEMA_VERSION
)

SchemaNode = dict[str, Any]

_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Kinds whose names must be DNS-1123 labels rather than subdomains (apiserver ValidateObjectMeta).
_LABEL_NAMED = {"Namespace", "Service"}
# Kinds with no name rules beyond "non-empty, no '/' or '%'" (path segment names).
_PATH_NAMED = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}


@functools.cache
def _definitions() -> dict[str, Any]:
    defs: dict[str, Any] = json.loads((_SCHEMA_DIR / "_definitions.json").read_text())
    return defs


@functools.cache
def _registry() -> referencing.Registry[Any]:
    defs = _definitions()
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(
        defs["$id"], referencing.Resource.from_contents(defs)
    )
    return registry


def _schema_file(api_version: str, kind: str) -> pathlib.Path:
    # kubernetes-validate's naming: rbac.authorization.k8s.io/v1 -> rbac-v1.
    gv = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    return _SCHEMA_DIR / f"{kind.lower()}-{gv}.json"


@functools.cache
def root_schema(api_version: str, kind: str) -> SchemaNode | None:
    path = _schema_file(api_version, kind)
    if not path.exists():
        return None
    schema: SchemaNode = json.loads(path.read_text())
    return schema


@functools.cache
def _validator(api_version: str, kind: str) -> jsonschema.Draft202012Validator | None:
    schema = root_schema(api_version, kind)
    if schema is None:
        return None
    return jsonschema.Draft202012Validator(schema, registry=_registry())


def resolve(node: SchemaNode | None) -> SchemaNode | None:
    """Follow a ``$ref`` into the shared definitions."""
    while node is not None and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = _definitions()["$defs"].get(name)
    return node


def child(node: SchemaNode | None, key: str) -> SchemaNode | None:
    node = resolve(node)
    if node is None:
        return None
    prop = node.get("properties", {}).get(key)
    if prop is None and isinstance(node.get("additionalProperties"), dict):
        prop = node["additionalProperties"]
    return resolve(prop)


def items(node: SchemaNode | None) -> SchemaNode | None:
    node = resolve(node)
    return resolve(node.get("items")) if node is not None else None


def format_path(path: list[Any] | tuple[Any, ...]) -> str:
    """``['spec', 'containers', 0, 'image']`` -> ``spec.containers[0].image`` (field.Path style)."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _cause_of(error: jsonschema.ValidationError) -> errors.Cause:
    path = list(error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        field = format_path([*path, extra[0]]) if extra else format_path(path)
        return {
            "reason": "FieldValueInvalid",
            "message": f'unknown field "{field}"',
            "field": field,
        }
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        field = format_path([*path, *missing[:1]])
        return {"reason": "FieldValueRequired", "message": "Required value", "field": field}
    if error.validator == "enum":
        allowed = ", ".join(json.dumps(v) for v in error.validator_value if v is not None)
        return {
            "reason": "FieldValueNotSupported",
            "message": (
                f"Unsupported value: {json.dumps(error.instance)}: supported values: {allowed}"
            ),
            "field": format_path(path),
        }
    return {
        "reason": "FieldValueInvalid",
        "message": f"Invalid value: {json.dumps(error.instance, default=str)}: {error.message}",
        "field": format_path(path),
    }


def _pod_spec_causes(spec: Any, prefix: list[Any]) -> list[errors.Cause]:
    # Rules of core/v1 validation that the OpenAPI schema does not state.
    causes: list[errors.Cause] = []
    if not isinstance(spec, dict):
        return causes
    for list_name in ("initContainers", "containers"):
        seen: set[str] = set()
        for i, container in enumerate(spec.get(list_name) or ()):
            if not isinstance(container, dict):
                continue
            if not container.get("image"):
                causes.append(
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value",
                        "field": format_path([*prefix, list_name, i, "image"]),
                    }
                )
            name = container.get("name")
            if name in seen:
                causes.append(
                    {
                        "reason": "FieldValueDuplicate",
                        "message": f'Duplicate value: "{name}"',
                        "field": format_path([*prefix, list_name, i, "name"]),
                    }
                )
            seen.add(str(name))
    if spec.get("containers") == [] or "containers" not in spec:
        causes.append(
            {
                "reason": "FieldValueRequired",
                "message": "Required value",
                "field": format_path([*prefix, "containers"]),
            }
        )
    return causes


def _semantic_causes(obj: dict[str, Any]) -> list[errors.Cause]:
    kind = obj.get("kind")
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return []
    if kind == "Pod":
        return _pod_spec_causes(spec, ["spec"])
    if kind in ("Deployment", "Job", "StatefulSet", "DaemonSet", "ReplicaSet"):
        template = spec.get("template")
        if not isinstance(template, dict):
            return [
                {
                    "reason": "FieldValueRequired",
                    "message": "Required value",
                    "field": "spec.template",
                }
            ]
        causes = _pod_spec_causes(template.get("spec"), ["spec", "template", "spec"])
        if kind == "Deployment":
            labels = (template.get("metadata") or {}).get("labels") or {}
            match = (spec.get("selector") or {}).get("matchLabels") or {}
            if not spec.get("selector"):
                causes.append(
                    {
                        "reason": "FieldValueRequired",
                        "message": "Required value",
                        "field": "spec.selector",
                    }
                )
            elif any(labels.get(k) != v for k, v in match.items()):
                causes.append(
                    {
                        "reason": "FieldValueInvalid",
                        "message": (
                            f"Invalid value: {json.dumps(labels)}: "
                            "`selector` does not match template `labels`"
                        ),
                        "field": "spec.template.metadata.labels",
                    }
                )
        return causes
    return []


def validate_name(kind: str, name: str) -> list[errors.Cause]:
    if kind in _PATH_NAMED:
        ok = bool(name) and "/" not in name and "%" not in name and name not in (".", "..")
    elif kind in _LABEL_NAMED:
        ok = len(name) <= 63 and bool(_DNS1123_LABEL.match(name))
    else:
        ok = len(name) <= 253 and bool(_DNS1123_SUBDOMAIN.match(name))
    if ok:
        return []
    return [
        {
            "reason": "FieldValueInvalid",
            "message": (
                f'Invalid value: "{name}": a lowercase RFC 1123 name must consist of lower case '
                "alphanumeric characters, '-' or '.', and must start and end with an "
                "alphanumeric character"
            ),
            "field": "metadata.name",
        }
    ]


def validate_builtin(obj: dict[str, Any]) -> list[errors.Cause] | None:
    """Causes against the strict OpenAPI schema; None when no schema ships for the kind."""
    validator = _validator(str(obj.get("apiVersion")), str(obj.get("kind")))
    if validator is None:
        return None
    causes = [_cause_of(e) for e in validator.iter_errors(obj)]
    causes.extend(_semantic_causes(obj))
    return causes
