"""A Kubernetes API server emulator for tests and the sandbox: kmock 0.8, made faithful.

``KubeApiEmulator`` subclasses ``kmock.KubernetesEmulator`` but answers every
request itself (kmock's DSL reactions and ``.objects`` are not used), from the
store in ``_apiserver``. ``serve_in_thread`` runs it on its own thread and event
loop; ``python -m odoo_operator.sandbox.emulator`` runs it as a process.

Implemented:

- Metadata: uid, creationTimestamp, resourceVersion from one global counter
  bumped on every write (a no-op write bumps nothing and emits no event),
  generation (1 on create, +1 when anything but metadata/status changes),
  namespace from the URL, generateName. Create answers 201; AlreadyExists 409,
  NotFound 404, Conflict 409, Invalid 422, BadRequest 400 as ``v1 Status``.
- GET, LIST, WATCH with labelSelector (=, ==, !=, exists, !exists, in, notin) and
  fieldSelector (metadata.name, metadata.namespace, per-kind built-in fields,
  CRD selectableFields; =, ==, !=; other fields answer 400). Lists carry the
  current resourceVersion; a watch from a resourceVersion replays only later
  events (410 Expired past the 100 000-event history), without one it sends
  synthetic ADDED events first; objects entering/leaving a selector appear as
  ADDED/DELETED; timeoutSeconds ends the stream; BOOKMARK events are sent only
  when allowWatchBookmarks=true (one on timeout); sendInitialEvents=true
  streams the current objects, then a BOOKMARK annotated
  k8s.io/initial-events-end (what kubectl 1.37 waits for in `delete --wait`).
  DELETE of a collection.
- PUT with optimistic concurrency (stale resourceVersion: 409; custom resources
  require a resourceVersion like the real server, built-ins allow unconditional
  updates). DELETE: finalizers set deletionTimestamp/deletionGracePeriodSeconds,
  the object goes when the last finalizer is removed; preconditions;
  dryRun=All on create/update/patch/delete.
- Garbage collection of ownerReferences, synchronously at deletion:
  dependents whose every owner is gone are deleted, recursively. Orphan strips
  the ownerReferences; Foreground is treated as Background (no
  foregroundDeletion finalizer, the owner goes first).
- Subresources: /status (main writes keep the stored status; status writes keep
  everything else; status is dropped on create), /scale (autoscaling/v1 Scale)
  for Deployments, ReplicaSets, StatefulSets and CRDs declaring it.
- Patches: merge, JSON (with test), strategic merge for built-ins driven by the
  OpenAPI x-kubernetes-patch-strategy/merge-key extensions ($patch delete and
  replace, $deleteFromPrimitiveList, $retainKeys; 415 for custom resources),
  server-side apply (fieldManager required, creates with 201, lists merged by
  their list-map keys, managedFields recorded per manager, fields a manager
  stops applying are removed unless another manager owns them, conflicts
  between Apply managers answer 409 unless force=true).
- fieldValidation (create, update, patch, apply): custom resources prune unknown
  fields with a ``Warning: 299`` header per field (Warn, the default when absent),
  prune silently (Ignore) or refuse them with 400 ``strict decoding error:
  unknown field "spec.x"`` (Strict, as kubectl sends by default); other values
  answer 400.
- Built-in kinds validated on every write against kubernetes-validate's strict
  1.37 schemas (unknown fields refused with 400 ``strict decoding error`` under
  fieldValidation=Strict, else with 422 Invalid: no pruning) plus rules the
  schema omits: object names (DNS-1123), container image required, container
  names unique, Deployment selector matches template.
  Defaulting visible to the operator: Deployment replicas/strategy/
  revisionHistoryLimit/progressDeadlineSeconds, Job backoffLimit/completions/
  parallelism/completionMode/suspend, pod template restartPolicy/dnsPolicy/
  schedulerName/terminationGracePeriodSeconds and container
  terminationMessage*/imagePullPolicy/port protocol, Service type/
  sessionAffinity/clusterIP(s)/port protocol and targetPort, PVC volumeMode,
  Secret stringData -> base64 data and type Opaque, Namespace phase Active,
  spec.finalizers and the kubernetes.io/metadata.name label. Kinds without a
  bundled schema (HTTPRoute) are stored unvalidated.
- CRDs (from YAML via ``register_crds`` or POSTed to
  /apis/apiextensions.k8s.io/v1/customresourcedefinitions): pruning, structural
  defaulting, openAPIV3Schema validation (type, required, enum, minimum,
  maximum, exclusive*, pattern, min/maxLength, min/maxItems, min/maxProperties,
  int32/int64, nullable, preserve-unknown-fields, int-or-string, list-type
  set/map uniqueness) and CEL x-kubernetes-validations (self, oldSelf transition
  rules, has(), message, messageExpression, fieldPath) with cel-python.
  Deleting a CRD deletes its objects (without events).
- Namespaces: objects in a missing namespace answer 404; deleting a namespace
  sets phase Terminating, refuses new content (403), deletes the content and
  removes the namespace once it is empty (content finalizers hold it).
- Discovery: /, /version (1.37), /api, /apis, /apis/<g>, /apis/<g>/<v>,
  /api/v1 from real 1.3x documents plus registered CRDs; aggregated discovery is
  not offered (clients fall back to these). Tables (as=Table) with CRD printer
  columns so ``kubectl get`` prints like a real cluster.
- OpenAPI v3: /openapi/v3 (index with content-hashed URLs) and
  /openapi/v3/api/v1, /openapi/v3/apis/<g>/<v> for every served group-version:
  collection, item, all-namespaces and status/scale paths with the operations
  the verbs allow, x-kubernetes-group-version-kind and the real query parameters
  (fieldValidation included, so kubectl validates server-side by default).
  Custom resources carry their openAPIV3Schema as component schema (``kubectl
  explain`` works); built-in kinds get bare object schemas.

Not implemented: authentication/authorization (anything is allowed), admission
webhooks, field ownership for non-apply writes (no Update entries in
managedFields, so apply never conflicts with a PUT/PATCH writer), list
pagination (limit/continue ignored: everything in one page), resourceVersion
semantics on GET/LIST (always the latest), protobuf/CBOR, multiple stored
versions or conversion, controllers (no Pods, ReplicaSets, Endpoints or status;
see ``sandbox.kubelet``), graceful Pod deletion, built-in validation beyond the
schema and the rules listed above (immutability of fields, quotas, ...),
subresources other than status and scale (log, exec, ... answer 404), OpenAPI
v2 (/openapi/v2 answers 404; kubectl only falls back to it when v3 fails),
built-in component schemas in OpenAPI v3 (kubectl's client-side apply then uses
its compiled-in patch metadata, as it does without OpenAPI), watch/* paths in
the OpenAPI documents, fieldValidation for unknown metadata fields and
duplicate fields, pruning of unknown fields of built-in kinds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import functools
import json
import pathlib
import signal
import sys
import threading
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

import aiohttp.web
import kmock
import yaml

from odoo_operator.sandbox._apiserver import discovery, errors, openapi_v3, patching, selectors
from odoo_operator.sandbox._apiserver import openapi as openapi_schemas
from odoo_operator.sandbox._apiserver.resources import ResourceDef
from odoo_operator.sandbox._apiserver.store import ObjectStore

__all__ = ["EmulatorHandle", "KubeApiEmulator", "load_crds", "serve_in_thread"]

_T = TypeVar("_T")
_JSON = "application/json"
_UNKNOWN_FORMAT = (
    "the body of the request was in an unknown format - accepted media types include: "
)
_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
    "application/strategic-merge-patch+json",
)
_FIELD_VALIDATION = ("Ignore", "Warn", "Strict")
# Warnings of the request being served (one context per aiohttp handler task).
_WARNINGS: contextvars.ContextVar[list[str]] = contextvars.ContextVar("warnings")


def _warning_header(text: str) -> str:
    """A ``Warning`` header value as the apiserver writes it (RFC 7234, code 299)."""
    return '299 - "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _validation(query: Any) -> dict[str, Any]:
    """Store keyword arguments for the request's fieldValidation directive (default Warn)."""
    directive = query.get("fieldValidation") or "Warn"
    if directive not in _FIELD_VALIDATION:
        raise errors.ApiError(
            400,
            "BadRequest",
            f'fieldValidation: Unsupported value: "{directive}": '
            'supported values: "Ignore", "Strict", "Warn"',
        )
    return {"field_validation": directive, "warnings": _WARNINGS.get()}


class _Route:
    def __init__(self, group: str, version: str, rest: list[str]) -> None:
        self.group, self.version = group, version
        self.namespace: str | None = None
        self.plural: str | None = None
        self.name: str | None = None
        self.subresource: str | None = None
        if (
            len(rest) >= 3
            and rest[0] == "namespaces"
            and not (len(rest) == 3 and group == "" and rest[2] in ("status", "finalize"))
        ):
            self.namespace = rest[1]
            rest = rest[2:]
        if rest:
            self.plural = rest[0]
        if len(rest) > 1:
            self.name = rest[1]
        if len(rest) > 2:
            self.subresource = "/".join(rest[2:])


def _render(body: Any, status: int = 200) -> aiohttp.web.Response:
    return aiohttp.web.Response(body=json.dumps(body).encode(), status=status, content_type=_JSON)


def _flag(query: Any, name: str) -> bool:
    return str(query.get(name, "")).lower() in ("true", "1")


def load_crds(crd_dir: pathlib.Path) -> list[dict[str, Any]]:
    """Every CustomResourceDefinition document in the *.yaml/*.yml/*.json files of a directory."""
    docs: list[dict[str, Any]] = []
    for path in sorted([*crd_dir.glob("*.yaml"), *crd_dir.glob("*.yml"), *crd_dir.glob("*.json")]):
        for doc in yaml.safe_load_all(path.read_text()):
            if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
                docs.append(doc)
    return docs


class KubeApiEmulator(kmock.KubernetesEmulator):
    """The stateful emulator: an aiohttp low-level handler over an ``ObjectStore``."""

    def __init__(self) -> None:
        super().__init__()
        self.store = ObjectStore()
        self.server_address = "127.0.0.1:0"
        self._watch_tasks: set[asyncio.Task[Any]] = set()
        self._closing = asyncio.Event()

    # ------------------------------------------------------------ public, loop-thread only

    def register_crd(self, crd: dict[str, Any]) -> dict[str, Any]:
        rd = self.store.resource("apiextensions.k8s.io", "v1", "customresourcedefinitions")
        name = crd["metadata"]["name"]
        existing = self.store.find(rd, "", name)
        if existing is None:
            return self.store.create(rd, "", crd)
        body = {
            **crd,
            "metadata": {
                **crd["metadata"],
                "resourceVersion": existing["metadata"]["resourceVersion"],
            },
        }
        return self.store.update(rd, "", name, body)

    def close_watches(self) -> None:
        self._closing.set()

    # ------------------------------------------------------------ HTTP entry point

    async def __call__(self, request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        warnings: list[str] = []
        _WARNINGS.set(warnings)
        try:
            response = await self._dispatch(request)
            if warnings and not response.prepared:
                for text in warnings:
                    response.headers.add("Warning", _warning_header(text))
            return response
        except errors.ApiError as exc:
            return _render(exc.status(), exc.code)
        except Exception as exc:  # a bug here must reach the client as a 500 Status, not a reset
            return _render(
                errors.ApiError(500, "InternalError", f"{type(exc).__name__}: {exc}").status(), 500
            )

    async def _dispatch(self, request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        parts = [urllib.parse.unquote(p) for p in request.path.split("/") if p]
        registry = self.store.registry
        method = request.method.upper()
        if not parts:
            paths = {"/api", "/api/v1", "/apis", "/version", "/healthz", "/livez", "/readyz"}
            for group, versions in registry.group_versions().items():
                if group:
                    paths.add(f"/apis/{group}")
                    paths.update(f"/apis/{group}/{v}" for v in versions)
            return _render({"paths": sorted(paths)})
        if parts[0] in ("healthz", "livez", "readyz") and len(parts) == 1:
            return aiohttp.web.Response(text="ok")
        if parts == ["version"]:
            return _render(discovery.version())
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi_v3(parts[2:])
        if parts[0] == "api":
            if len(parts) == 1:
                return _render(discovery.api_versions(self.server_address))
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis":
            if len(parts) == 1:
                return _render(discovery.api_group_list(registry))
            if len(parts) == 2:
                doc = discovery.api_group(registry, parts[1])
                if doc is None:
                    raise errors.ApiError(
                        404, "NotFound", "the server could not find the requested resource"
                    )
                return _render(doc)
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        if not rest:
            doc = discovery.resource_list(registry, group, version)
            if doc is None:
                raise errors.ApiError(
                    404, "NotFound", "the server could not find the requested resource"
                )
            return _render(doc)
        route = _Route(group, version, rest)
        assert route.plural is not None
        rd = self.store.resource(group, version, route.plural)
        if (
            rd.namespaced
            and route.namespace is None
            and method not in ("GET",)
            and route.name is not None
        ):
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        body = await request.read()
        return await self._serve(request, method, rd, route, body)

    def _openapi_v3(self, rest: list[str]) -> aiohttp.web.StreamResponse:
        registry = self.store.registry
        doc: dict[str, Any] | None = None
        if not rest:
            doc = openapi_v3.index(registry)
        elif rest[0] == "api" and len(rest) == 2:
            doc = openapi_v3.group_version_document(registry, "", rest[1])
        elif rest[0] == "apis" and len(rest) == 3:
            doc = openapi_v3.group_version_document(registry, rest[1], rest[2])
        if doc is None:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        return _render(doc)

    async def _serve(
        self,
        request: aiohttp.web.BaseRequest,
        method: str,
        rd: ResourceDef,
        route: _Route,
        raw: bytes,
    ) -> aiohttp.web.StreamResponse:
        query = request.query
        ns = route.namespace or ""
        dry_run = query.get("dryRun") == "All"
        sub = route.subresource
        if (
            sub not in (None, "status", "scale")
            or (sub == "status" and not rd.has_status)
            or (sub == "scale" and rd.scale is None)
        ):
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource"
            )
        if route.name is None:
            if method == "GET":
                labels = selectors.parse_label_selector(query.get("labelSelector"))
                fields = selectors.parse_field_selector(
                    query.get("fieldSelector"), rd.selectable_fields, rd.kind, rd.api_version
                )
                namespace = route.namespace if rd.namespaced else None
                if _flag(query, "watch"):
                    return await self._watch(request, rd, namespace, labels, fields)
                items = self.store.list_objects(rd, namespace, labels, fields)
                rv = str(self.store.resource_version)
                if "as=Table" in request.headers.get("Accept", ""):
                    return _render(discovery.table(rd, items, rv))
                return _render(
                    {
                        "apiVersion": rd.api_version,
                        "kind": f"{rd.kind}List",
                        "metadata": {"resourceVersion": rv},
                        "items": items,
                    }
                )
            if method == "POST":
                body = self._json(raw)
                return _render(
                    self.store.create(rd, ns, body, dry_run=dry_run, **_validation(query)), 201
                )
            if method == "DELETE":
                labels = selectors.parse_label_selector(query.get("labelSelector"))
                fields = selectors.parse_field_selector(
                    query.get("fieldSelector"), rd.selectable_fields, rd.kind, rd.api_version
                )
                deleted = []
                for obj in self.store.list_objects(
                    rd, route.namespace if rd.namespaced else None, labels, fields
                ):
                    last, _ = self.store.delete(
                        rd,
                        obj["metadata"].get("namespace", ""),
                        obj["metadata"]["name"],
                        dry_run=dry_run,
                    )
                    deleted.append(last)
                return _render(
                    {
                        "apiVersion": rd.api_version,
                        "kind": f"{rd.kind}List",
                        "metadata": {"resourceVersion": str(self.store.resource_version)},
                        "items": deleted,
                    }
                )
            raise errors.ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        name = route.name
        if method == "GET":
            obj = self.store.get(rd, ns if rd.namespaced else "", name)
            if sub == "scale":
                return _render(self._scale_of(rd, obj))
            if "as=Table" in request.headers.get("Accept", ""):
                return _render(discovery.table(rd, [obj], obj["metadata"]["resourceVersion"]))
            return _render(obj)
        if method == "PUT":
            body = self._json(raw)
            if sub == "scale":
                return _render(self._write_scale(rd, ns, name, body, dry_run))
            obj = self.store.update(
                rd,
                ns,
                name,
                body,
                subresource=sub,
                require_rv=rd.is_custom and sub is None,
                dry_run=dry_run,
                **_validation(query),
            )
            return _render(obj)
        if method == "PATCH":
            return self._patch(request, rd, ns, name, sub, raw, dry_run)
        if method == "DELETE":
            options = self._json(raw) if raw.strip() else {}
            propagation = (
                query.get("propagationPolicy") or options.get("propagationPolicy") or "Background"
            )
            if options.get("orphanDependents") is True:
                propagation = "Orphan"
            last, gone = self.store.delete(
                rd,
                ns,
                name,
                propagation=propagation,
                preconditions=options.get("preconditions"),
                dry_run=dry_run,
            )
            if gone and not rd.is_custom:
                return _render(
                    {
                        "kind": "Status",
                        "apiVersion": "v1",
                        "metadata": {},
                        "status": "Success",
                        "details": {
                            "name": name,
                            "group": rd.group,
                            "kind": rd.plural,
                            "uid": last["metadata"]["uid"],
                        },
                    }
                )
            return _render(last)
        raise errors.ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )

    @staticmethod
    def _json(raw: bytes) -> Any:
        try:
            return json.loads(raw or b"{}")
        except ValueError as exc:
            raise errors.ApiError(
                400, "BadRequest", f"the body of the request was in an unknown format: {exc}"
            ) from exc

    # ------------------------------------------------------------ PATCH

    def _patch(
        self,
        request: aiohttp.web.BaseRequest,
        rd: ResourceDef,
        ns: str,
        name: str,
        sub: str | None,
        raw: bytes,
        dry_run: bool,
    ) -> aiohttp.web.StreamResponse:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        query = request.query
        if content_type == "application/apply-patch+yaml":
            return self._apply(rd, ns, name, sub, raw, query, dry_run)
        patch = self._json(raw)
        if sub == "scale":
            scale = self._scale_of(rd, self.store.get(rd, ns, name))
            return _render(
                self._write_scale(
                    rd, ns, name, self._patched(rd, scale, patch, content_type, scale=True), dry_run
                )
            )
        current = self.store.get(rd, ns if rd.namespaced else "", name)
        candidate = self._patched(rd, current, patch, content_type)
        return _render(
            self.store.update(
                rd, ns, name, candidate, subresource=sub, dry_run=dry_run, **_validation(query)
            )
        )

    @staticmethod
    def _patched(
        rd: ResourceDef, current: dict[str, Any], patch: Any, content_type: str, scale: bool = False
    ) -> dict[str, Any]:
        if content_type == "application/merge-patch+json":
            if not isinstance(patch, dict):
                raise errors.ApiError(400, "BadRequest", "merge patch must be a JSON object")
            result: dict[str, Any] = patching.merge_patch(current, patch)
            return result
        if content_type == "application/json-patch+json":
            return patching.json_patch(current, patch)
        if content_type == "application/strategic-merge-patch+json":
            if rd.is_custom and not scale:
                raise errors.ApiError(
                    415,
                    "UnsupportedMediaType",
                    _UNKNOWN_FORMAT + ", ".join(_PATCH_TYPES[:3]),
                )
            root = None if scale else openapi_schemas.root_schema(rd.api_version, rd.kind)
            if not isinstance(patch, dict):
                raise errors.ApiError(
                    400, "BadRequest", "strategic merge patch must be a JSON object"
                )
            merged: dict[str, Any] = patching.strategic_merge(current, patch, root)
            return merged
        raise errors.ApiError(
            415,
            "UnsupportedMediaType",
            _UNKNOWN_FORMAT + ", ".join(_PATCH_TYPES),
        )

    def _apply(
        self,
        rd: ResourceDef,
        ns: str,
        name: str,
        sub: str | None,
        raw: bytes,
        query: Any,
        dry_run: bool,
    ) -> aiohttp.web.StreamResponse:
        manager = query.get("fieldManager")
        if not manager:
            raise errors.ApiError(
                400,
                "BadRequest",
                "PATCH requests with apply patch type require fieldManager to be set",
            )
        try:
            config = yaml.safe_load(raw.decode() or "{}")
        except yaml.YAMLError as exc:
            raise errors.ApiError(400, "BadRequest", f"error decoding YAML: {exc}") from exc
        if not isinstance(config, dict):
            raise errors.ApiError(400, "BadRequest", "apply patch must be an object")
        for field in ("apiVersion", "kind"):
            if not config.get(field):
                raise errors.ApiError(
                    400, "BadRequest", f"invalid object type: {field} must be set"
                )
        if config["apiVersion"] != rd.api_version or config["kind"] != rd.kind:
            raise errors.ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({config['apiVersion']}) "
                f"does not match the expected API version ({rd.api_version})",
            )
        meta = config.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise errors.ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) "
                f"does not match the name on the URL ({name})",
            )
        info = (
            patching.crd_list_info(
                ((rd.crd_version or {}).get("schema") or {}).get("openAPIV3Schema")
            )
            if rd.is_custom
            else patching.builtin_list_info(rd.api_version, rd.kind)
        )
        current = self.store.find(rd, ns if rd.namespaced else "", name)
        from odoo_operator.sandbox._apiserver.store import now

        live = (
            current
            if current is not None
            else {"apiVersion": rd.api_version, "kind": rd.kind, "metadata": {"name": name}}
        )
        merged = patching.apply(
            live,
            config,
            manager,
            info,
            force=_flag(query, "force"),
            skip_status=rd.has_status and sub != "status",
            now=now(),
            api_version=rd.api_version,
        )
        if current is None:
            if sub is not None:
                raise errors.not_found(rd.group, rd.plural, name)
            merged["metadata"]["name"] = name
            return _render(
                self.store.create(rd, ns, merged, dry_run=dry_run, **_validation(query)), 201
            )
        merged["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        return _render(
            self.store.update(
                rd, ns, name, merged, subresource=sub, dry_run=dry_run, **_validation(query)
            )
        )

    # ------------------------------------------------------------ scale

    @staticmethod
    def _scale_of(rd: ResourceDef, obj: dict[str, Any]) -> dict[str, Any]:
        assert rd.scale is not None
        paths = rd.scale
        if paths.label_selector is not None:
            selector = selectors.field_value(obj, paths.label_selector)
        else:
            match = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            selector = ",".join(f"{k}={v}" for k, v in sorted(match.items()))
        spec_replicas = _get_path(obj, paths.spec_replicas)
        status_replicas = _get_path(obj, paths.status_replicas)
        meta = obj["metadata"]
        status: dict[str, Any] = {"replicas": status_replicas or 0}
        if selector:
            status["selector"] = selector
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k]
                for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                if k in meta
            },
            "spec": {"replicas": spec_replicas} if spec_replicas is not None else {},
            "status": status,
        }

    def _write_scale(
        self, rd: ResourceDef, ns: str, name: str, scale: dict[str, Any], dry_run: bool
    ) -> dict[str, Any]:
        assert rd.scale is not None
        current = self.store.get(rd, ns, name)
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise errors.invalid(
                "autoscaling",
                "Scale",
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "message": (
                            "Invalid value: "
                            f"{json.dumps(replicas)}: must be greater than or equal to 0"
                        ),
                        "field": "spec.replicas",
                    }
                ],
            )
        sent_rv = (scale.get("metadata") or {}).get("resourceVersion")
        candidate = json.loads(json.dumps(current))
        if sent_rv:
            candidate["metadata"]["resourceVersion"] = sent_rv
        _set_path(candidate, rd.scale.spec_replicas, replicas)
        updated = self.store.update(rd, ns, name, candidate, dry_run=dry_run)
        return self._scale_of(rd, updated)

    # ------------------------------------------------------------ WATCH

    def _bookmark(
        self, rd: ResourceDef, annotations: dict[str, str] | None = None
    ) -> dict[str, Any]:
        metadata: dict[str, Any] = {"resourceVersion": str(self.store.resource_version)}
        if annotations:
            metadata["annotations"] = annotations
        return {
            "type": "BOOKMARK",
            "object": {"kind": rd.kind, "apiVersion": rd.api_version, "metadata": metadata},
        }

    async def _watch(
        self,
        request: aiohttp.web.BaseRequest,
        rd: ResourceDef,
        namespace: str | None,
        labels: selectors.Matcher,
        fields: selectors.Matcher,
    ) -> aiohttp.web.StreamResponse:
        query = request.query
        since_raw = query.get("resourceVersion")
        since = int(since_raw) if since_raw not in (None, "", "0") else None
        timeout = float(query.get("timeoutSeconds") or 1800)
        bookmarks = _flag(query, "allowWatchBookmarks")
        # Streaming lists (kubectl 1.37 `delete --wait`, client-go informers):
        # current objects as ADDED, then a BOOKMARK marking the end of them.
        initial_events = _flag(query, "sendInitialEvents")
        if initial_events:
            since = None
        watcher, initial = self.store.watch(rd, namespace, labels, fields, since)
        response = aiohttp.web.StreamResponse(status=200, headers={"Content-Type": _JSON})
        response.enable_chunked_encoding()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        closing = asyncio.ensure_future(self._closing.wait())
        getter: asyncio.Future[tuple[str, dict[str, Any]]] | None = None
        try:
            await response.prepare(request)
            for type_, obj in initial:
                await response.write(json.dumps({"type": type_, "object": obj}).encode() + b"\n")
            if initial_events:
                end = self._bookmark(rd, {"k8s.io/initial-events-end": "true"})
                await response.write(json.dumps(end).encode() + b"\n")
            while True:
                remaining = deadline - loop.time()
                if remaining <= 0 or self._closing.is_set():
                    break
                if getter is None:
                    getter = asyncio.ensure_future(watcher.queue.get())
                # Wake up now and then to notice clients that went away without a FIN.
                waiting: set[asyncio.Future[Any]] = {getter, closing}
                done, _ = await asyncio.wait(
                    waiting,
                    timeout=min(remaining, 5.0),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if getter not in done:
                    if request.transport is None or request.transport.is_closing():
                        break
                    continue
                type_, obj = getter.result()
                getter = None
                await response.write(json.dumps({"type": type_, "object": obj}).encode() + b"\n")
            if bookmarks and not self._closing.is_set():
                await response.write(json.dumps(self._bookmark(rd)).encode() + b"\n")
            await response.write_eof()
        except ConnectionResetError:
            pass
        finally:
            closing.cancel()
            if getter is not None:
                getter.cancel()
            self.store.unwatch(watcher)
        return response


def _get_path(obj: Any, dotted: str) -> Any:
    node = obj
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _set_path(obj: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = obj
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


# ---------------------------------------------------------------- serving


async def _start(
    emulator: KubeApiEmulator, host: str, port: int
) -> tuple[aiohttp.web.ServerRunner, int]:
    server = aiohttp.web.Server(emulator, handler_cancellation=True)
    runner = aiohttp.web.ServerRunner(server, shutdown_timeout=1.0)
    await runner.setup()
    site = aiohttp.web.TCPSite(runner, host, port)
    await site.start()
    sockets = runner.addresses
    actual = int(sockets[0][1])
    emulator.server_address = f"{host}:{actual}"
    return runner, actual


class EmulatorHandle:
    """A running emulator on its own thread and event loop."""

    def __init__(self, host: str, port: int, crd_dir: pathlib.Path | None) -> None:
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._runner: aiohttp.web.ServerRunner | None = None
        self.emulator: KubeApiEmulator
        self.url = ""
        self._thread = threading.Thread(
            target=self._run, args=(host, port), name="kube-api-emulator", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            raise self._failure
        if crd_dir is not None:
            self.register_crds(crd_dir)

    def _run(self, host: str, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self.emulator = self._loop.run_until_complete(self._make())
            self._runner, actual = self._loop.run_until_complete(_start(self.emulator, host, port))
            self.url = f"http://{host}:{actual}"
        except BaseException as exc:
            self._failure = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()

    @staticmethod
    async def _make() -> KubeApiEmulator:
        return KubeApiEmulator()  # built inside the loop: its asyncio primitives belong to it

    def call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the emulator's loop (e.g. to read the store consistently)."""

        async def run() -> _T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result()

    def register_crds(self, crd_dir: pathlib.Path) -> None:
        for crd in load_crds(crd_dir):
            self.call(functools.partial(self.emulator.register_crd, crd))

    def write_kubeconfig(self, path: pathlib.Path, namespace: str | None = None) -> pathlib.Path:
        context: dict[str, Any] = {"cluster": "emulator", "user": "emulator"}
        if namespace:
            context["namespace"] = namespace
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "emulator", "cluster": {"server": self.url}}],
            "users": [{"name": "emulator", "user": {"token": "emulator"}}],
            "contexts": [{"name": "emulator", "context": context}],
            "current-context": "emulator",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def stop(self) -> None:
        if not self._loop.is_running():
            return

        async def shutdown() -> None:
            self.emulator.close_watches()
            if self._runner is not None:
                await self._runner.cleanup()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


def serve_in_thread(
    *, host: str = "127.0.0.1", port: int = 0, crd_dir: pathlib.Path | None = None
) -> EmulatorHandle:
    """Start an emulator on a background thread; ``handle.stop()`` ends it."""
    return EmulatorHandle(host, port, crd_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description="Run the Kubernetes API emulator until SIGTERM/SIGINT."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--crd-dir", type=pathlib.Path, default=None)
    args = parser.parse_args(argv)

    async def run() -> None:
        emulator = KubeApiEmulator()
        if args.crd_dir is not None:
            for crd in load_crds(args.crd_dir):
                emulator.register_crd(crd)
        runner, port = await _start(emulator, args.host, args.port)
        print(f"http://{args.host}:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        emulator.close_watches()
        await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    sys.stdout.flush()


if __name__ == "__main__":
    main()
