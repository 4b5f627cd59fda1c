"""OpenAPI v3 documents: /openapi/v3 (the index) and /openapi/v3/<api/v1|apis/g/v>.

Minimal but shaped like kube-apiserver's: per served resource the namespaced
(or cluster) collection and item paths, the all-namespaces list, and the status
and scale subresources, with the operations its verbs allow, each carrying
``x-kubernetes-action``, ``x-kubernetes-group-version-kind`` and the query
parameters a real server lists (``fieldValidation`` on post/put/patch, which
kubectl's QueryParamVerifierV3 looks for before it relies on server-side field
validation). Custom resources get their component schema from the CRD's
``openAPIV3Schema``; built-in kinds get a bare object schema without the GVK
extension, so kubectl computes client-side apply patches from its compiled-in
types rather than from an OpenAPI schema that would lack patch metadata.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from odoo_operator.sandbox._apiserver.resources import Registry, ResourceDef

__all__ = ["group_version_document", "index"]

_META = "io.k8s.apimachinery.pkg.apis.meta.v1"
_JSON_YAML = ("application/json", "application/yaml")
_PATCH_TYPES_CUSTOM = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
)
_PATCH_TYPES_BUILTIN = (*_PATCH_TYPES_CUSTOM, "application/strategic-merge-patch+json")

_PARAMS: dict[str, tuple[str, str]] = {
    "allowWatchBookmarks": (
        "boolean",
        "allowWatchBookmarks requests watch events with type BOOKMARK.",
    ),
    "continue": ("string", "The continue option should be set when retrieving more results."),
    "dryRun": ("string", "When present, indicates that modifications should not be persisted."),
    "fieldManager": ("string", "fieldManager is a name associated with the actor making changes."),
    "fieldSelector": ("string", "A selector to restrict the list of returned objects by fields."),
    "fieldValidation": (
        "string",
        "fieldValidation instructs the server on how to handle objects in the request "
        "containing unknown or duplicate fields. Valid values are: Ignore, Warn (the "
        "default) and Strict.",
    ),
    "force": ("boolean", "Force is going to force Apply requests."),
    "gracePeriodSeconds": ("integer", "The duration in seconds before the object is deleted."),
    "labelSelector": ("string", "A selector to restrict the list of returned objects by labels."),
    "limit": ("integer", "limit is a maximum number of responses to return for a list call."),
    "orphanDependents": ("boolean", "Deprecated: please use the PropagationPolicy."),
    "propagationPolicy": ("string", "Whether and how garbage collection will be performed."),
    "resourceVersion": ("string", "resourceVersion sets a constraint on what resource versions."),
    "resourceVersionMatch": (
        "string",
        "resourceVersionMatch determines how resourceVersion applies.",
    ),
    "sendInitialEvents": ("boolean", "sendInitialEvents=true may be set together with watch=true."),
    "timeoutSeconds": ("integer", "Timeout for the list/watch call."),
    "watch": ("boolean", "Watch for changes to the described resources."),
    "pretty": ("string", "If 'true', then the output is pretty printed."),
}
_LIST_PARAMS = (
    "allowWatchBookmarks",
    "continue",
    "fieldSelector",
    "labelSelector",
    "limit",
    "resourceVersion",
    "resourceVersionMatch",
    "sendInitialEvents",
    "timeoutSeconds",
    "watch",
)
_DELETE_PARAMS = ("dryRun", "gracePeriodSeconds", "orphanDependents", "propagationPolicy")
_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")


def _param(name: str, where: str = "query") -> dict[str, Any]:
    type_, description = _PARAMS.get(name, ("string", f"{name} of the resource"))
    param: dict[str, Any] = {
        "name": name,
        "in": where,
        "description": description,
        "schema": {"type": type_, "uniqueItems": True},
    }
    if where == "path":
        param["required"] = True
    return param


def _camel(group: str) -> str:
    """Operation-id group prefix: apps -> Apps, rbac.authorization.k8s.io -> RbacAuthorization."""
    if not group:
        return "Core"
    base = group.removesuffix(".k8s.io")
    return "".join(p[:1].upper() + p[1:] for p in base.replace("-", ".").split("."))


def _schema_name(rd: ResourceDef, kind: str | None = None) -> str:
    kind = kind or rd.kind
    if rd.is_custom:
        return ".".join([*reversed(rd.group.split(".")), rd.version, kind])
    package = rd.group.split(".")[0] if rd.group else "core"
    return f"io.k8s.api.{package}.{rd.version}.{kind}"


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _content(schema: dict[str, Any], types: tuple[str, ...] = _JSON_YAML) -> dict[str, Any]:
    return {t: {"schema": schema} for t in types}


def _operation(
    rd: ResourceDef,
    op_id: str,
    action: str,
    description: str,
    params: tuple[str, ...],
    response: str,
    gvk: dict[str, str],
    *,
    body: tuple[str, ...] | None = None,
    body_schema: str | None = None,
    codes: tuple[str, ...] = ("200",),
) -> dict[str, Any]:
    tag = f"{_camel(rd.group)[:1].lower()}{_camel(rd.group)[1:]}_{rd.version}"
    op: dict[str, Any] = {
        "tags": [tag],
        "description": description,
        "operationId": op_id,
        "parameters": [_param(p) for p in params],
    }
    if body is not None:
        op["requestBody"] = {
            "content": _content(_ref(body_schema or response), body),
            "required": True,
        }
    names = {"200": "OK", "201": "Created", "202": "Accepted"}
    responses: dict[str, Any] = {
        code: {"description": names[code], "content": _content(_ref(response))} for code in codes
    }
    responses["401"] = {"description": "Unauthorized"}
    op["responses"] = responses
    op["x-kubernetes-action"] = action
    op["x-kubernetes-group-version-kind"] = gvk
    return op


def _resource_paths(rd: ResourceDef) -> dict[str, Any]:
    prefix = f"/apis/{rd.group}/{rd.version}" if rd.group else f"/api/{rd.version}"
    scoped = "Namespaced" if rd.namespaced else ""
    base = (
        f"{prefix}/namespaces/{{namespace}}/{rd.plural}"
        if rd.namespaced
        else (f"{prefix}/{rd.plural}")
    )
    ident = f"{_camel(rd.group)}{rd.version[:1].upper()}{rd.version[1:]}"
    gvk = {"group": rd.group, "version": rd.version, "kind": rd.kind}
    kind = _schema_name(rd)
    list_kind = _schema_name(rd, f"{rd.kind}List")
    verbs = set(rd.verbs)
    path_params = [_param("namespace", "path")] if rd.namespaced else []
    patch_types = _PATCH_TYPES_CUSTOM if rd.is_custom else _PATCH_TYPES_BUILTIN
    paths: dict[str, Any] = {}

    collection: dict[str, Any] = {}
    if "list" in verbs:
        collection["get"] = _operation(
            rd, f"list{ident}{scoped}{rd.kind}", "list",
            f"list or watch objects of kind {rd.kind}", _LIST_PARAMS, list_kind, gvk,
        )  # fmt: skip
    if "create" in verbs:
        collection["post"] = _operation(
            rd, f"create{ident}{scoped}{rd.kind}", "post",
            f"create a {rd.kind}", _WRITE_PARAMS, kind, gvk,
            body=("*/*",), codes=("200", "201", "202"),
        )  # fmt: skip
    if "deletecollection" in verbs:
        collection["delete"] = _operation(
            rd, f"delete{ident}Collection{scoped}{rd.kind}", "deletecollection",
            f"delete collection of {rd.kind}",
            ("continue", "fieldSelector", "labelSelector", "limit", "resourceVersion",
             "resourceVersionMatch", "sendInitialEvents", "timeoutSeconds", *_DELETE_PARAMS),
            f"{_META}.Status", gvk, body=("*/*",), body_schema=f"{_META}.DeleteOptions",
        )  # fmt: skip
    if collection:
        collection["parameters"] = [*path_params, _param("pretty")]
        paths[base] = collection

    item: dict[str, Any] = {}
    if "get" in verbs:
        item["get"] = _operation(
            rd, f"read{ident}{scoped}{rd.kind}", "get",
            f"read the specified {rd.kind}", (), kind, gvk,
        )  # fmt: skip
    if "update" in verbs:
        item["put"] = _operation(
            rd, f"replace{ident}{scoped}{rd.kind}", "put",
            f"replace the specified {rd.kind}", _WRITE_PARAMS, kind, gvk,
            body=("*/*",), codes=("200", "201"),
        )  # fmt: skip
    if "patch" in verbs:
        item["patch"] = _operation(
            rd, f"patch{ident}{scoped}{rd.kind}", "patch",
            f"partially update the specified {rd.kind}", (*_WRITE_PARAMS, "force"), kind, gvk,
            body=patch_types, body_schema=f"{_META}.Patch", codes=("200", "201"),
        )  # fmt: skip
    if "delete" in verbs:
        item["delete"] = _operation(
            rd, f"delete{ident}{scoped}{rd.kind}", "delete",
            f"delete a {rd.kind}", _DELETE_PARAMS, f"{_META}.Status", gvk,
            body=("*/*",), body_schema=f"{_META}.DeleteOptions", codes=("200", "202"),
        )  # fmt: skip
    if item:
        item["parameters"] = [_param("name", "path"), *path_params, _param("pretty")]
        paths[f"{base}/{{name}}"] = item

    if rd.namespaced and "list" in verbs:
        paths[f"{prefix}/{rd.plural}"] = {
            "get": _operation(
                rd, f"list{ident}{rd.kind}ForAllNamespaces", "list",
                f"list or watch objects of kind {rd.kind}", _LIST_PARAMS, list_kind, gvk,
            ),
            "parameters": [_param("pretty")],
        }  # fmt: skip

    subresources: list[tuple[str, str, dict[str, str], str]] = []
    if rd.has_status:
        subresources.append(("status", "Status", gvk, kind))
    if rd.scale is not None:
        scale_gvk = {"group": "autoscaling", "version": "v1", "kind": "Scale"}
        subresources.append(("scale", "Scale", scale_gvk, "io.k8s.api.autoscaling.v1.Scale"))
    for sub, suffix, sub_gvk, schema in subresources:
        paths[f"{base}/{{name}}/{sub}"] = {
            "get": _operation(
                rd, f"read{ident}{scoped}{rd.kind}{suffix}", "get",
                f"read {sub} of the specified {rd.kind}", (), schema, sub_gvk,
            ),
            "put": _operation(
                rd, f"replace{ident}{scoped}{rd.kind}{suffix}", "put",
                f"replace {sub} of the specified {rd.kind}", _WRITE_PARAMS, schema, sub_gvk,
                body=("*/*",), codes=("200", "201"),
            ),
            "patch": _operation(
                rd, f"patch{ident}{scoped}{rd.kind}{suffix}", "patch",
                f"partially update {sub} of the specified {rd.kind}",
                (*_WRITE_PARAMS, "force"), schema, sub_gvk,
                body=patch_types, body_schema=f"{_META}.Patch", codes=("200", "201"),
            ),
            "parameters": [_param("name", "path"), *path_params, _param("pretty")],
        }  # fmt: skip
    return paths


def _object(description: str) -> dict[str, Any]:
    return {"type": "object", "description": description}


def _schemas(rd: ResourceDef) -> dict[str, Any]:
    gvk = [{"group": rd.group, "version": rd.version, "kind": rd.kind}]
    kind, list_kind = _schema_name(rd), _schema_name(rd, f"{rd.kind}List")
    schemas: dict[str, Any] = {}
    if rd.is_custom:
        root = (rd.crd_version or {}).get("schema", {}).get("openAPIV3Schema") or {}
        schema = copy.deepcopy(root)
        schema.setdefault("type", "object")
        props = schema.setdefault("properties", {})
        props["apiVersion"] = {"type": "string", "description": "APIVersion of the object."}
        props["kind"] = {"type": "string", "description": "Kind of the object."}
        props["metadata"] = {"allOf": [_ref(f"{_META}.ObjectMeta")], "default": {}}
        schema["x-kubernetes-group-version-kind"] = gvk
        schemas[kind] = schema
        schemas[list_kind] = {
            "type": "object",
            "description": f"{rd.kind}List is a list of {rd.kind}",
            "required": ["items"],
            "properties": {
                "apiVersion": {"type": "string"},
                "kind": {"type": "string"},
                "metadata": {"allOf": [_ref(f"{_META}.ListMeta")], "default": {}},
                "items": {"type": "array", "items": _ref(kind)},
            },
            "x-kubernetes-group-version-kind": [{**gvk[0], "kind": f"{rd.kind}List"}],
        }
    else:
        schemas[kind] = _object(f"{rd.kind} ({rd.api_version}).")
        schemas[list_kind] = _object(f"{rd.kind}List ({rd.api_version}).")
    if rd.scale is not None:
        schemas["io.k8s.api.autoscaling.v1.Scale"] = _object("Scale of a scalable resource.")
    return schemas


_META_SCHEMAS = {
    f"{_META}.ObjectMeta": _object(
        "ObjectMeta is metadata that all persisted resources must have."
    ),
    f"{_META}.ListMeta": _object("ListMeta describes metadata that synthetic resources must have."),
    f"{_META}.Status": _object(
        "Status is a return value for calls that don't return other objects."
    ),
    f"{_META}.DeleteOptions": _object("DeleteOptions may be provided when deleting an API object."),
    f"{_META}.Patch": _object(
        "Patch is provided to give a concrete name and type to the Kubernetes PATCH request body."
    ),
}


def _gv_key(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def group_version_document(registry: Registry, group: str, version: str) -> dict[str, Any] | None:
    """The OpenAPI v3 document of one served group-version, or None if it is not served."""
    defs = [rd for rd in registry.all() if rd.group == group and rd.version == version]
    if not defs:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = dict(_META_SCHEMAS)
    for rd in sorted(defs, key=lambda r: r.plural):
        if "/" in rd.plural:
            continue
        paths.update(_resource_paths(rd))
        schemas.update(_schemas(rd))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.37.0"},
        "paths": paths,
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "BearerToken": {
                    "type": "apiKey",
                    "description": "Bearer Token authentication",
                    "name": "authorization",
                    "in": "header",
                }
            },
        },
        "security": [{"BearerToken": []}],
    }


def index(registry: Registry) -> dict[str, Any]:
    """The /openapi/v3 discovery index: every group-version with a content-hashed URL."""
    paths: dict[str, Any] = {}
    for group, versions in sorted(registry.group_versions().items()):
        for version in versions:
            doc = group_version_document(registry, group, version)
            if doc is None:
                continue
            digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest().upper()
            key = _gv_key(group, version)
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
    return {"paths": paths}
