"""Label and field selectors, parsed as the apiserver parses them."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from odoo_operator.sandbox._apiserver import errors

__all__ = ["Matcher", "parse_field_selector", "parse_label_selector"]

Matcher = Callable[[Mapping[str, Any]], bool]

_SET_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(notin|in)\s*\(([^)]*)\))?\s*$")
_CMP_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|!=|=)\s*([A-Za-z0-9_.-]*)\s*$")


def _split_requirements(selector: str) -> list[str]:
    # Commas separate requirements, except inside the parentheses of in/notin.
    parts, depth, current = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in parts if p.strip()]


def _bad(selector: str, why: str) -> errors.ApiError:
    return errors.ApiError(400, "BadRequest", f"unable to parse requirement: {why}: {selector!r}")


def _label_matches(op: str, key: str, values: frozenset[str], labels: Mapping[str, Any]) -> bool:
    if op in ("=", "in"):
        return key in labels and labels[key] in values
    if op in ("!=", "notin"):
        return labels.get(key) not in values
    if op == "exists":
        return key in labels
    return key not in labels  # "!exists"


def _field_matches(op: str, field: str, value: str, obj: Mapping[str, Any]) -> bool:
    return (field_value(obj, field) == value) == (op == "=")


def _all(checks: list[Matcher], target: Mapping[str, Any]) -> bool:
    return all(check(target) for check in checks)


def _always(target: Mapping[str, Any]) -> bool:
    return True


def parse_label_selector(selector: str | None) -> Matcher:
    """Compile ``a=b,c!=d,e,!f,g in (h,i),j notin (k)`` into a predicate over labels."""
    if not selector or not selector.strip():
        return _always
    checks: list[Matcher] = []
    for req in _split_requirements(selector):
        m = _CMP_RE.match(req)
        if m:
            key, op, value = m.groups()
            equality = "!=" if op == "!=" else "="
            checks.append(functools.partial(_label_matches, equality, key, frozenset([value])))
            continue
        m = _SET_RE.match(req)
        if not m:
            raise _bad(selector, f"invalid requirement {req.strip()!r}")
        negated, key, op, values = m.groups()
        if op and negated:
            raise _bad(selector, "'!' cannot be combined with in/notin")
        if op:
            vals = frozenset(v.strip() for v in values.split(",") if v.strip())
            checks.append(functools.partial(_label_matches, op, key, vals))
        else:
            existence = "!exists" if negated else "exists"
            checks.append(functools.partial(_label_matches, existence, key, frozenset()))
    return functools.partial(_all, checks)


def field_value(obj: Mapping[str, Any], dotted: str) -> str:
    """The string a field selector compares with; absent fields compare as ``""``."""
    node: Any = obj
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return ""
        node = node[part]
    if node is None:
        return ""
    if isinstance(node, bool):
        return "true" if node else "false"
    return str(node)


def parse_field_selector(
    selector: str | None, supported: tuple[str, ...], kind: str, api_version: str
) -> Matcher:
    """Compile ``f=v,g!=w``; fields the kind does not declare selectable answer 400."""
    if not selector or not selector.strip():
        return _always
    checks: list[Matcher] = []
    for req in _split_requirements(selector):
        m = re.match(r"^\s*([^=!]+?)\s*(==|!=|=)\s*(.*?)\s*$", req)
        if not m:
            raise errors.ApiError(
                400, "BadRequest", f"invalid selector: '{selector}'; can't understand '{req}'"
            )
        field, op, value = m.groups()
        if field not in supported:
            raise errors.ApiError(
                400,
                "BadRequest",
                f'field label not supported: "{field}"'
                if api_version == "v1" or "." not in api_version.split("/")[0]
                else f'"{field}" is not a known field selector: only "{", ".join(supported)}"',
            )
        equality = "!=" if op == "!=" else "="
        checks.append(functools.partial(_field_matches, equality, field, value))
    return functools.partial(_all, checks)
