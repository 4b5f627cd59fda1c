"""Pydantic JSON schema → Kubernetes structural `openAPIV3Schema`.

A structural schema (what the apiserver requires of a CRD) has a `type` on every
node, no `$ref`, no `anyOf`/`oneOf` carrying types (the only exception being the
int-or-string form), no `title`, and `additionalProperties` only on maps. This
module rewrites pydantic's output into that shape:

* every `$ref` is inlined; the referring node's keys (description, default,
  validations) win over the referenced definition's;
* `Optional[X]` (`anyOf: [X, {type: null}]`) becomes X: Kubernetes omits fields;
* `default: null` and `title` are dropped, as is `additionalProperties: false`;
* Kubernetes-native definitions (see `kube.py`) are inlined from the vendored
  OpenAPI, `type: [T, "null"]` becomes T and Quantity becomes int-or-string;
* every mapping is key-sorted so the output is deterministic.

Unknown keywords raise, so a new pydantic feature cannot slip an unsupported
construct into a CRD silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from model.crds import _kube_openapi, kube

__all__ = [
    "QUANTITY_PATTERN",
    "SchemaError",
    "kube_definition",
    "model_schema",
    "sort_keys",
]

Schema = dict[str, Any]

QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
"""The apiserver's resource.Quantity syntax (as controller-gen writes it)."""

_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"

# Keywords we pass through unchanged (value converted where it is a schema).
_PASS = frozenset(
    {
        "description",
        "type",
        "format",
        "enum",
        "default",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "required",
        "x-kubernetes-validations",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-int-or-string",
        "x-kubernetes-preserve-unknown-fields",
    }
)
_SCHEMA_VALUED = frozenset({"items", "additionalProperties"})
# Keywords of the Kubernetes OpenAPI documents that have no place in a CRD.
_KUBE_DROP = frozenset(
    {
        "$schema",
        "$id",
        "x-kubernetes-patch-strategy",
        "x-kubernetes-patch-merge-key",
        "x-kubernetes-unions",
        "x-kubernetes-group-version-kind",
        "readOnly",
    }
)


class SchemaError(ValueError):
    """A model uses a construct that has no structural-schema equivalent."""


def sort_keys(value: Any) -> Any:
    """`value` with every mapping key-sorted, recursively (lists keep their order)."""
    if isinstance(value, Mapping):
        return {key: sort_keys(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [sort_keys(item) for item in value]
    return value


def _without_nulls(value: Any) -> Any:
    """A default as the apiserver wants it: unset optional fields omitted, not null."""
    if isinstance(value, Mapping):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


# --- Kubernetes-native definitions ------------------------------------------------


def _quantity(description: str | None) -> Schema:
    node: Schema = {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "pattern": QUANTITY_PATTERN,
        "x-kubernetes-int-or-string": True,
    }
    if description:
        node["description"] = description
    return node


def _kube_type(value: Any) -> Any:
    if isinstance(value, list):
        kinds = [kind for kind in value if kind != "null"]
        if len(kinds) != 1:
            raise SchemaError(f"unsupported Kubernetes type union {value!r}")
        return kinds[0]
    return value


def _convert_kube(node: Mapping[str, Any], path: str) -> Schema:
    if "$ref" in node:
        name = str(node["$ref"]).rsplit("/", 1)[-1]
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        if name == _QUANTITY:
            return _quantity(siblings.get("description"))
        merged = {**_kube_raw(name), **siblings}
        return _convert_kube(merged, path)
    out: Schema = {}
    for key, value in node.items():
        if key in _KUBE_DROP:
            continue
        if key == "type":
            out["type"] = _kube_type(value)
        elif key == "properties":
            out["properties"] = {
                name: _convert_kube(child, f"{path}.{name}") for name, child in value.items()
            }
        elif key == "items":
            out["items"] = _convert_kube(value, f"{path}[]")
        elif key == "additionalProperties":
            if isinstance(value, Mapping):
                out["additionalProperties"] = _convert_kube(value, f"{path}{{}}")
            # `false` is the strict-mode closure of an object: pruning does that in a CRD.
        elif key in _PASS:
            out[key] = value
        else:
            raise SchemaError(f"{path}: unsupported Kubernetes schema keyword {key!r}")
    return out


def _kube_raw(name: str) -> Mapping[str, Any]:
    try:
        definition: Mapping[str, Any] = _kube_openapi.DEFINITIONS[name]
    except KeyError:
        raise SchemaError(f"Kubernetes definition {name} is not vendored") from None
    return definition


def kube_definition(name: str) -> Schema:
    """The structural schema of a vendored Kubernetes definition, e.g. `...core.v1.Affinity`."""
    if name == _QUANTITY:
        return _quantity(None)
    return _convert_kube(_kube_raw(name), name)


# --- pydantic schemas ---------------------------------------------------------------


class _Converter:
    def __init__(self, defs: Mapping[str, Any], *, keep_defaults: bool) -> None:
        self.defs = defs
        self.keep_defaults = keep_defaults

    def resolve(self, node: Mapping[str, Any], path: str) -> Mapping[str, Any]:
        """Flatten `$ref`, `allOf: [ref]`, Optional unions and native markers into one node."""
        node = dict(node)
        if "$ref" in node:
            target = self.defs[str(node.pop("$ref")).rsplit("/", 1)[-1]]
            node = {**self.resolve(target, path), **node}
        if "allOf" in node:
            branches = node.pop("allOf")
            if len(branches) != 1:
                raise SchemaError(f"{path}: allOf with {len(branches)} branches")
            node = {**self.resolve(branches[0], path), **node}
        for union in ("anyOf", "oneOf"):
            if union in node and not node.get("x-kubernetes-int-or-string"):
                branches = [b for b in node.pop(union) if b != {"type": "null"}]
                if len(branches) != 1:
                    raise SchemaError(f"{path}: {union} is not structural; use one type")
                node = {**self.resolve(branches[0], path), **node}
        if kube.KUBE_DEFINITION_KEY in node:
            name = node.pop(kube.KUBE_DEFINITION_KEY)
            node = {**kube_definition(name), **node}
        return node

    def convert(self, node: Mapping[str, Any], path: str) -> Schema:
        node = self.resolve(node, path)
        out: Schema = {}
        for key, value in node.items():
            if key == "title":
                continue
            if key == "default":
                if value is not None and self.keep_defaults:
                    out["default"] = _without_nulls(value)
            elif key == "properties":
                out["properties"] = {
                    name: self.convert(child, f"{path}.{name}") for name, child in value.items()
                }
            elif key == "required":
                out["required"] = sorted(value)
            elif key in _SCHEMA_VALUED:
                if isinstance(value, Mapping):
                    out[key] = self.convert(value, f"{path}[]" if key == "items" else path)
                elif value is not False:  # `false` only closes the object; pruning does that
                    raise SchemaError(f"{path}: {key}: {value!r} is not structural")
            elif key == "anyOf" and node.get("x-kubernetes-int-or-string"):
                out[key] = value  # the one anyOf a structural schema allows
            elif key in _PASS:
                out[key] = value
            else:
                raise SchemaError(f"{path}: unsupported schema keyword {key!r}")
        if "type" not in out and not out.get("x-kubernetes-int-or-string"):
            raise SchemaError(f"{path}: no type")
        return out


def model_schema(model: type[BaseModel], *, keep_defaults: bool = True) -> Schema:
    """The structural schema of a pydantic model (wire names, key-sorted).

    keep_defaults=False drops every `default` (status: the operator writes it all).
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    defs = raw.pop("$defs", {})
    converter = _Converter(defs, keep_defaults=keep_defaults)
    result: Schema = sort_keys(converter.convert(raw, model.__name__))
    return result
