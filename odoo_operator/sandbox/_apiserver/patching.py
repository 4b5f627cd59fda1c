"""Patch types: JSON merge, JSON (RFC 6902), strategic merge, and server-side apply.

Strategic merge and apply read list semantics from the schema: for built-in
kinds the ``x-kubernetes-patch-strategy``/``-patch-merge-key``/``-list-type``
extensions of the bundled OpenAPI; for custom kinds ``x-kubernetes-list-type``
and ``x-kubernetes-list-map-keys`` of the CRD schema.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import jsonpatch

from odoo_operator.sandbox._apiserver import errors, openapi

__all__ = ["FieldPath", "ListInfo", "apply", "json_patch", "merge_patch", "strategic_merge"]

FieldPath = tuple[str, ...]


def merge_patch(original: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(original: dict[str, Any], operations: Any) -> dict[str, Any]:
    if not isinstance(operations, list):
        raise errors.ApiError(400, "BadRequest", "json patch must be a list of operations")
    try:
        result: dict[str, Any] = jsonpatch.apply_patch(original, operations)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise errors.ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    except (
        jsonpatch.JsonPatchException,
        jsonpatch.JsonPointerException,
        KeyError,
        IndexError,
    ) as exc:
        raise errors.ApiError(
            422, "Invalid", f"the server rejected our request due to an error in our request: {exc}"
        ) from exc
    return result


# ---------------------------------------------------------------- strategic merge patch


def _merge_key(node: openapi.SchemaNode | None) -> tuple[bool, str | None]:
    node = openapi.resolve(node)
    if node is None:
        return False, None
    strategy = str(node.get("x-kubernetes-patch-strategy", ""))
    return "merge" in strategy.split(","), node.get("x-kubernetes-patch-merge-key")


def strategic_merge(original: Any, patch: Any, node: openapi.SchemaNode | None) -> Any:
    """apimachinery's strategicpatch, for the directives clients actually send."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "replace":
        return _strip_directives({k: v for k, v in patch.items() if k != "$patch"})
    if directive == "delete":
        return None
    result = dict(original) if isinstance(original, dict) else {}
    for key, value in patch.items():
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [x for x in result.get(field) or () if x not in value]
            continue
        if key.startswith("$"):
            continue  # $setElementOrder/…, $retainKeys: ordering hints
        if value is None:
            result.pop(key, None)
            continue
        sub = openapi.child(node, key)
        if isinstance(value, dict):
            merged = strategic_merge(result.get(key), value, sub)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
        elif isinstance(value, list):
            result[key] = _merge_list(result.get(key), value, sub)
        else:
            result[key] = value
    retain = patch.get("$retainKeys")
    if isinstance(retain, list):
        result = {k: v for k, v in result.items() if k in retain}
    return result


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value


def _merge_list(original: Any, patch: list[Any], node: openapi.SchemaNode | None) -> list[Any]:
    merge, key = _merge_key(node)
    if not merge:
        return _strip_directives(patch)  # type: ignore[no-any-return]
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [_strip_directives(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    result = list(original) if isinstance(original, list) else []
    if key is None:  # a merged list of scalars is a set union
        for item in patch:
            if item not in result:
                result.append(item)
        return result
    item_node = openapi.items(node)
    for item in patch:
        if not isinstance(item, dict):
            continue
        index = next(
            (
                i
                for i, o in enumerate(result)
                if isinstance(o, dict) and o.get(key) == item.get(key)
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if index is not None:
                result.pop(index)
            continue
        if index is None:
            result.append(strategic_merge({}, item, item_node))
        else:
            result[index] = strategic_merge(result[index], item, item_node)
    return result


# ---------------------------------------------------------------- server-side apply


class ListInfo:
    """How apply treats the lists of one kind: keys of associative lists, by schema path."""

    def __init__(self, lookup: Callable[[tuple[str, ...]], tuple[str, list[str]]]) -> None:
        self._lookup = lookup

    def list_type(self, path: tuple[str, ...]) -> tuple[str, list[str]]:
        """("map", keys) / ("set", []) / ("atomic", []) for the list at a field path."""
        return self._lookup(path)


def builtin_list_info(api_version: str, kind: str) -> ListInfo:
    root = openapi.root_schema(api_version, kind)

    def lookup(path: tuple[str, ...]) -> tuple[str, list[str]]:
        node: openapi.SchemaNode | None = root
        for part in path:
            node = openapi.items(node) if part == "[]" else openapi.child(node, part)
        node = openapi.resolve(node)
        if node is None:
            return "atomic", []
        list_type = node.get("x-kubernetes-list-type")
        keys = node.get("x-kubernetes-list-map-keys")
        merge, merge_key = _merge_key(node)
        if list_type == "map" and keys:
            return "map", list(keys)
        if merge and merge_key:
            return "map", [merge_key]
        if list_type == "set" or merge:
            return "set", []
        return "atomic", []

    return ListInfo(lookup)


def crd_list_info(schema: dict[str, Any] | None) -> ListInfo:
    def lookup(path: tuple[str, ...]) -> tuple[str, list[str]]:
        node: Any = schema
        for part in path:
            if not isinstance(node, dict):
                return "atomic", []
            node = (
                node.get("items")
                if part == "[]"
                else (node.get("properties") or {}).get(part, node.get("additionalProperties"))
            )
        if not isinstance(node, dict):
            return "atomic", []
        list_type = node.get("x-kubernetes-list-type", "atomic")
        if list_type == "map":
            return "map", list(node.get("x-kubernetes-list-map-keys") or [])
        return str(list_type), []

    return ListInfo(lookup)


_SKIPPED_META = {
    "name",
    "namespace",
    "resourceVersion",
    "managedFields",
    "uid",
    "creationTimestamp",
    "generation",
}


def _item_key(item: dict[str, Any], keys: list[str]) -> str:
    # Key fields left to defaulting (a port's protocol) are not part of the identity.
    return "k:" + json.dumps(
        {k: item[k] for k in keys if item.get(k) is not None}, separators=(",", ":"), sort_keys=True
    )


def field_set(config: Any, info: ListInfo, skip_status: bool) -> set[FieldPath]:
    """The fields an applied configuration sets, as fieldsV1 path elements."""
    out: set[FieldPath] = set()

    def walk(value: Any, prefix: FieldPath, schema_path: tuple[str, ...]) -> None:
        if isinstance(value, dict) and value:
            for key, sub in value.items():
                walk(sub, (*prefix, f"f:{key}"), (*schema_path, key))
            return
        if isinstance(value, list):
            list_type, keys = info.list_type(schema_path)
            if list_type == "map" and keys:
                for item in value:
                    if isinstance(item, dict):
                        element = (*prefix, _item_key(item, keys))
                        out.add((*element, "."))
                        for key, sub in item.items():
                            walk(sub, (*element, f"f:{key}"), (*schema_path, "[]", key))
                return
            if list_type == "set":
                for item in value:
                    out.add((*prefix, "v:" + json.dumps(item, separators=(",", ":"))))
                return
        out.add(prefix)

    for key, value in config.items():
        if key in ("apiVersion", "kind") or (key == "status" and skip_status):
            continue
        if key == "metadata" and isinstance(value, dict):
            for mkey, mvalue in value.items():
                if mkey not in _SKIPPED_META:
                    walk(mvalue, ("f:metadata", f"f:{mkey}"), ("metadata", mkey))
            continue
        walk(value, (f"f:{key}",), (key,))
    return out


def to_fields_v1(paths: set[FieldPath]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(part, {})
    return tree


def from_fields_v1(tree: dict[str, Any], prefix: FieldPath = ()) -> set[FieldPath]:
    out: set[FieldPath] = set()
    for key, sub in tree.items():
        path = (*prefix, key)
        if sub:
            out |= from_fields_v1(sub, path)
        else:
            out.add(path)
    return out


def _locate(obj: Any, path: FieldPath) -> tuple[Any, str] | None:
    """The container holding the last element of ``path``, plus that element."""
    node = obj
    for part in path[:-1]:
        node = _step(node, part)
        if node is None:
            return None
    return node, path[-1]


def _step(node: Any, part: str) -> Any:
    if part.startswith("f:") and isinstance(node, dict):
        return node.get(part[2:])
    if part.startswith("k:") and isinstance(node, list):
        wanted = json.loads(part[2:])
        return next(
            (
                i
                for i in node
                if isinstance(i, dict) and all(i.get(k) == v for k, v in wanted.items())
            ),
            None,
        )
    return None


def value_at(obj: Any, path: FieldPath) -> Any:
    node = obj
    for part in path:
        if part == ".":
            break
        node = _step(node, part)
        if node is None:
            return None
    return node


def _remove(obj: Any, path: FieldPath) -> None:
    if path and path[-1] == ".":
        path = path[:-1]
    found = _locate(obj, path)
    if found is None:
        return
    container, last = found
    if last.startswith("f:") and isinstance(container, dict):
        container.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(container, list):
        item = _step(container, last)
        if item is not None:
            container.remove(item)
    elif last.startswith("v:") and isinstance(container, list):
        value = json.loads(last[2:])
        if value in container:
            container.remove(value)


def _apply_merge(live: Any, config: Any, info: ListInfo, schema_path: tuple[str, ...]) -> Any:
    if isinstance(config, dict) and isinstance(live, dict):
        result = dict(live)
        for key, value in config.items():
            result[key] = _apply_merge(live.get(key), value, info, (*schema_path, key))
        return result
    if isinstance(config, list) and isinstance(live, list):
        list_type, keys = info.list_type(schema_path)
        if list_type == "map" and keys:
            result_list = list(live)
            for item in config:
                if not isinstance(item, dict):
                    continue
                index = next(
                    (
                        i
                        for i, o in enumerate(result_list)
                        if isinstance(o, dict)
                        and all(o.get(k) == item.get(k) for k in keys if item.get(k) is not None)
                    ),
                    None,
                )
                if index is None:
                    result_list.append(copy.deepcopy(item))
                else:
                    result_list[index] = _apply_merge(
                        result_list[index], item, info, (*schema_path, "[]")
                    )
            return result_list
        if list_type == "set":
            return list(live) + [copy.deepcopy(i) for i in config if i not in live]
    return copy.deepcopy(config)


def apply(
    live: dict[str, Any],
    config: dict[str, Any],
    manager: str,
    info: ListInfo,
    *,
    force: bool,
    skip_status: bool,
    now: str,
    api_version: str,
) -> dict[str, Any]:
    """Merge an applied configuration into the live object, tracking ownership per manager.

    Fields the manager owned before and no longer applies are removed unless
    another manager owns them; a field owned by another *Apply* manager with a
    different value is a 409 conflict unless ``force``.
    """
    managed: list[dict[str, Any]] = list((live.get("metadata") or {}).get("managedFields") or [])
    owned: dict[str, set[FieldPath]] = {}
    for entry in managed:
        owned.setdefault(entry["manager"], set()).update(
            from_fields_v1(entry.get("fieldsV1") or {})
        )
    previous = owned.get(manager, set())
    new = field_set(config, info, skip_status)

    conflicts = []
    for other, paths in owned.items():
        if other == manager:
            continue
        is_apply = any(e["manager"] == other and e.get("operation") == "Apply" for e in managed)
        if not is_apply:
            continue
        for path in paths & new:
            if path[-1] != "." and value_at(live, path) != value_at(config, path):
                conflicts.append((other, path))
    if conflicts and not force:
        described = "; ".join(
            f'conflict with "{m}": .{".".join(p[2:] for p in path)}' for m, path in conflicts
        )
        raise errors.ApiError(
            409, "Conflict", f"Apply failed with {len(conflicts)} conflict(s): {described}"
        )
    if conflicts:
        for other, path in conflicts:
            owned[other].discard(path)

    others: set[FieldPath] = set()
    for other, paths in owned.items():
        if other != manager:
            others |= paths
    result: dict[str, Any] = copy.deepcopy(live)
    dropped = sorted(previous - new - others, key=lambda p: (len(p), p[-1] != "."))  # items first
    for path in dropped:
        _remove(result, path)
    for path in dropped:
        # Lists and maps emptied by the removal go too, unless someone still owns them.
        for cut in range(len(path) - 1, 0, -1):
            prefix = path[:cut]
            if (
                prefix[-1].startswith("f:")
                and value_at(result, prefix) in ([], {})
                and prefix not in new | others
            ):
                _remove(result, prefix)
    body = {k: v for k, v in config.items() if not (k == "status" and skip_status)}
    meta_cfg = {k: v for k, v in (body.get("metadata") or {}).items() if k not in _SKIPPED_META}
    body["metadata"] = meta_cfg
    result = _apply_merge(result, body, info, ())

    entries = []
    for entry in managed:
        if entry["manager"] == manager and entry.get("operation") == "Apply":
            continue
        paths = owned.get(entry["manager"], set())
        if paths:
            entries.append({**entry, "fieldsV1": to_fields_v1(paths)})
    entries.append(
        {
            "manager": manager,
            "operation": "Apply",
            "apiVersion": api_version,
            "time": now,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(new),
        }
    )
    result.setdefault("metadata", {})["managedFields"] = entries
    return result
