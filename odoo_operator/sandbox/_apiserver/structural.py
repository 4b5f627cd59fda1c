"""CRD structural schemas: pruning, defaulting, OpenAPI v3 validation and CEL rules.

Messages follow kube-openapi / apiextensions-apiserver wording so tests written
against the emulator read like failures from a real server.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import re
from typing import Any

import celpy
import celpy.adapter

from odoo_operator.sandbox._apiserver import errors
from odoo_operator.sandbox._apiserver.openapi import format_path

__all__ = ["default", "prune", "validate"]

Schema = dict[str, Any]
_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_TYPE_NAMES = {"object": dict, "array": list, "string": str, "boolean": bool}


def prune(
    schema: Schema,
    value: Any,
    *,
    root: bool = False,
    pruned: list[str] | None = None,
    path: tuple[str | int, ...] = (),
) -> Any:
    """Drop fields the schema does not declare, unless it preserves unknown fields.

    The dropped fields' paths (``spec.bogus``, ``spec.items[0].x``) are appended to
    ``pruned`` when given, for fieldValidation's warnings and strict errors.
    """
    if isinstance(value, dict):
        props: dict[str, Schema] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields", False)
        for key in list(value):
            if root and key in ("apiVersion", "kind", "metadata"):
                continue
            if key in props:
                value[key] = prune(props[key], value[key], pruned=pruned, path=(*path, key))
            elif isinstance(additional, dict):
                value[key] = prune(additional, value[key], pruned=pruned, path=(*path, key))
            elif not preserve and additional is not True:
                del value[key]
                if pruned is not None:
                    pruned.append(format_path((*path, key)))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [
            prune(schema["items"], item, pruned=pruned, path=(*path, index))
            for index, item in enumerate(value)
        ]
    return value


def default(schema: Schema, value: Any) -> Any:
    """Structural defaulting, top-down, so nested defaults apply inside defaulted objects."""
    if isinstance(value, dict):
        props: dict[str, Schema] = schema.get("properties") or {}
        for key, sub in props.items():
            if key not in value and "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
            if key in value:
                value[key] = default(sub, value[key])
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key in list(value):
                if key not in props:
                    value[key] = default(additional, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [default(schema["items"], item) for item in value]
    return value


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _shown(value: Any) -> str:
    # The "Invalid value" rendering of field.Invalid: scalars as JSON, composites by type.
    if isinstance(value, dict):
        return '"object"'
    if isinstance(value, list):
        return '"array"'
    return json.dumps(value)


def _type_ok(expected: str, value: Any) -> bool:
    if expected == "integer":
        return (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer()
        )
    if expected == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPE_NAMES[expected])


class _Walker:
    def __init__(self, causes: list[errors.Cause]) -> None:
        self.causes = causes

    def invalid(
        self, path: list[Any], value: Any, detail: str, reason: str = "FieldValueInvalid"
    ) -> None:
        field = format_path(path)
        self.causes.append(
            {
                "reason": reason,
                "message": f"Invalid value: {_shown(value)}: {detail}",
                "field": field,
            }
        )

    def walk(self, schema: Schema, value: Any, old: Any, path: list[Any], has_old: bool) -> None:
        field = format_path(path)
        if value is None:
            if not schema.get("nullable", False) and not schema.get(
                "x-kubernetes-preserve-unknown-fields"
            ):
                stype = schema.get("type", "object")
                self.invalid(
                    path,
                    value,
                    f'{field} in body must be of type {stype}: "null"',
                    "FieldValueTypeInvalid",
                )
            return
        if schema.get("x-kubernetes-int-or-string"):
            if not (isinstance(value, (int, str)) and not isinstance(value, bool)):
                self.invalid(
                    path,
                    value,
                    f'{field} in body must be of type int-or-string: "{_type_name(value)}"',
                    "FieldValueTypeInvalid",
                )
                return
        elif "type" in schema and not _type_ok(schema["type"], value):
            self.invalid(
                path,
                value,
                f'{field} in body must be of type {schema["type"]}: "{_type_name(value)}"',
                "FieldValueTypeInvalid",
            )
            return
        self.scalar_checks(schema, value, path)
        if isinstance(value, dict):
            props: dict[str, Schema] = schema.get("properties") or {}
            for key in schema.get("required") or ():
                if key not in value:
                    self.causes.append(
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value",
                            "field": format_path([*path, key]),
                        }
                    )
            additional = schema.get("additionalProperties")
            old_map = old if isinstance(old, dict) else {}
            for key, sub_value in value.items():
                sub = props.get(key)
                if sub is None and isinstance(additional, dict):
                    sub = additional
                if sub is not None:
                    self.walk(
                        sub, sub_value, old_map.get(key), [*path, key], has_old and key in old_map
                    )
            if "maxProperties" in schema and len(value) > schema["maxProperties"]:
                self.causes.append(
                    {
                        "reason": "FieldValueTooMany",
                        "message": (
                            f"Too many: {len(value)}: must have at "
                            f"most {schema['maxProperties']} items"
                        ),
                        "field": field,
                    }
                )
            if "minProperties" in schema and len(value) < schema["minProperties"]:
                self.invalid(
                    path,
                    value,
                    f"{field} in body should have at least {schema['minProperties']} properties",
                )
        elif isinstance(value, list):
            items = schema.get("items")
            keys = (
                schema.get("x-kubernetes-list-map-keys")
                if schema.get("x-kubernetes-list-type") == "map"
                else None
            )
            old_by_key: dict[str, Any] = {}
            if keys and isinstance(old, list):
                old_by_key = {
                    json.dumps([o.get(k) for k in keys]): o for o in old if isinstance(o, dict)
                }
            if isinstance(items, dict):
                for i, item in enumerate(value):
                    old_item = None
                    if keys and isinstance(item, dict):
                        old_item = old_by_key.get(json.dumps([item.get(k) for k in keys]))
                    self.walk(items, item, old_item, [*path, i], old_item is not None)
            if schema.get("x-kubernetes-list-type") in ("set", "map"):
                seen: set[str] = set()
                for i, item in enumerate(value):
                    ident = json.dumps(
                        [item.get(k) for k in keys] if keys and isinstance(item, dict) else item,
                        sort_keys=True,
                    )
                    if ident in seen:
                        self.causes.append(
                            {
                                "reason": "FieldValueDuplicate",
                                "message": f"Duplicate value: {json.dumps(item)}",
                                "field": format_path([*path, i]),
                            }
                        )
                    seen.add(ident)
        for rule in schema.get("x-kubernetes-validations") or ():
            self.cel(rule, value, old, path, has_old)

    def scalar_checks(self, schema: Schema, value: Any, path: list[Any]) -> None:
        field = format_path(path)
        if "enum" in schema and value not in schema["enum"]:
            allowed = ", ".join(json.dumps(v) for v in schema["enum"])
            self.causes.append(
                {
                    "reason": "FieldValueNotSupported",
                    "message": (
                        f"Unsupported value: {json.dumps(value)}: supported values: {allowed}"
                    ),
                    "field": field,
                }
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema:
                if schema.get("exclusiveMinimum") and value <= schema["minimum"]:
                    self.invalid(
                        path, value, f"{field} in body should be greater than {schema['minimum']}"
                    )
                elif value < schema["minimum"]:
                    self.invalid(
                        path,
                        value,
                        f"{field} in body should be greater than or equal to {schema['minimum']}",
                    )
            if "maximum" in schema:
                if schema.get("exclusiveMaximum") and value >= schema["maximum"]:
                    self.invalid(
                        path, value, f"{field} in body should be less than {schema['maximum']}"
                    )
                elif value > schema["maximum"]:
                    self.invalid(
                        path,
                        value,
                        f"{field} in body should be less than or equal to {schema['maximum']}",
                    )
            bounds = _INT_RANGES.get(schema.get("format", ""))
            if bounds and not bounds[0] <= value <= bounds[1]:
                self.invalid(path, value, f"{field} in body must be of type {schema['format']}")
        if isinstance(value, str):
            if "maxLength" in schema and len(value) > schema["maxLength"]:
                self.causes.append(
                    {
                        "reason": "FieldValueTooLong",
                        "message": f"Too long: may not be more than {schema['maxLength']} bytes",
                        "field": field,
                    }
                )
            if "minLength" in schema and len(value) < schema["minLength"]:
                self.invalid(
                    path,
                    value,
                    f"{field} in body should be at least {schema['minLength']} chars long",
                )
            if "pattern" in schema and not re.search(schema["pattern"], value):
                self.invalid(path, value, f"{field} in body should match '{schema['pattern']}'")
        if isinstance(value, list):
            if "minItems" in schema and len(value) < schema["minItems"]:
                self.invalid(
                    path, value, f"{field} in body should have at least {schema['minItems']} items"
                )
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                self.causes.append(
                    {
                        "reason": "FieldValueTooMany",
                        "message": (
                            f"Too many: {len(value)}: must have at most {schema['maxItems']} items"
                        ),
                        "field": field,
                    }
                )

    def cel(
        self, rule: dict[str, Any], value: Any, old: Any, path: list[Any], has_old: bool
    ) -> None:
        expr: str = rule["rule"]
        transition = "oldSelf" in expr
        if transition and not has_old:
            return  # transition rules only run on updates with a correlatable old value
        activation: dict[str, Any] = {"self": celpy.adapter.json_to_cel(value)}
        if transition:
            activation["oldSelf"] = celpy.adapter.json_to_cel(old)
        try:
            result = _program(expr).evaluate(activation)
            ok = bool(result) if isinstance(result, celpy.celtypes.BoolType) else False
        except Exception:
            ok = False
        if ok:
            return
        message = rule.get("message") or f"failed rule: {expr}"
        if rule.get("messageExpression"):
            with contextlib.suppress(Exception):
                message = str(_program(rule["messageExpression"]).evaluate(activation))
        field_path = list(path)
        if rule.get("fieldPath"):
            field_path.extend(p for p in str(rule["fieldPath"]).lstrip(".").split(".") if p)
        self.causes.append(
            {
                "reason": {
                    "FieldValueForbidden": "FieldValueForbidden",
                    "FieldValueRequired": "FieldValueRequired",
                    "FieldValueDuplicate": "FieldValueDuplicate",
                }.get(rule.get("reason", ""), "FieldValueInvalid"),
                "message": f"Invalid value: {_shown(value)}: {message}",
                "field": format_path(field_path),
            }
        )


@functools.lru_cache(maxsize=1024)
def _program(expr: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(expr))


def validate(schema: Schema, obj: dict[str, Any], old: dict[str, Any] | None) -> list[errors.Cause]:
    """Causes for ``obj`` against the CRD version's openAPIV3Schema (metadata excluded)."""
    causes: list[errors.Cause] = []
    walker = _Walker(causes)
    props = schema.get("properties") or {}
    for key in schema.get("required") or ():
        if key not in obj:
            causes.append(
                {"reason": "FieldValueRequired", "message": "Required value", "field": key}
            )
    for key, value in obj.items():
        if key in ("apiVersion", "kind", "metadata") or key not in props:
            continue
        walker.walk(props[key], value, (old or {}).get(key), [key], old is not None and key in old)
    for rule in schema.get("x-kubernetes-validations") or ():
        body = {k: v for k, v in obj.items()}
        walker.cel(rule, body, old, [], old is not None)
    return causes
