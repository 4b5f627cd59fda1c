"""The object store: one global resourceVersion counter, write admission, event
history and watchers, finalizers, garbage collection and namespace lifecycle.

Every method is synchronous and runs on the server's event loop thread, so each
write is atomic with respect to every other request (the role etcd's
transactions play in a real server).
"""

from __future__ import annotations

import asyncio
import base64
import collections
import copy
import dataclasses
import datetime
import ipaddress
import itertools
import uuid
from collections.abc import Iterator
from typing import Any

from odoo_operator.sandbox._apiserver import errors, openapi, selectors, structural
from odoo_operator.sandbox._apiserver.resources import Registry, ResourceDef

__all__ = ["Event", "ObjectStore", "Watcher"]

ObjKey = tuple[tuple[str, str, str], str, str]
_HISTORY = 100_000  # events kept for watches resuming from a resourceVersion
_CRD_KEY = ("apiextensions.k8s.io", "v1", "customresourcedefinitions")
_NS_KEY = ("", "v1", "namespaces")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass
class Event:
    rv: int
    key: tuple[str, str, str]
    type: str  # ADDED / MODIFIED / DELETED
    obj: dict[str, Any]
    old: dict[str, Any] | None


@dataclasses.dataclass
class Watcher:
    key: tuple[str, str, str]
    namespace: str | None
    labels: selectors.Matcher
    fields: selectors.Matcher
    queue: asyncio.Queue[tuple[str, dict[str, Any]]]

    def matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace") != self.namespace:
            return False
        return self.labels(meta.get("labels") or {}) and self.fields(obj)

    def translate(self, event: Event) -> tuple[str, dict[str, Any]] | None:
        """The event as this watcher sees it: objects entering/leaving the selection
        appear as ADDED/DELETED, as the watch cache does."""
        new_ok = self.matches(event.obj)
        if event.type == "MODIFIED":
            old_ok = self.matches(event.old)
            if new_ok and not old_ok:
                return "ADDED", event.obj
            if old_ok and not new_ok:
                return "DELETED", event.obj
        return (event.type, event.obj) if new_ok else None


def _spec_part(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


class ObjectStore:
    def __init__(self) -> None:
        self.registry = Registry()
        self._objects: dict[ObjKey, dict[str, Any]] = {}
        self._uids: dict[str, ObjKey] = {}
        self._rv = 0
        self._history: collections.deque[Event] = collections.deque(maxlen=_HISTORY)
        self._watchers: list[Watcher] = []
        self._ips: Iterator[ipaddress.IPv4Address] = itertools.islice(
            ipaddress.IPv4Network("10.96.0.0/12").hosts(), 10, None
        )

    # ------------------------------------------------------------ reads

    def resource(self, group: str, version: str, plural: str) -> ResourceDef:
        rd = self.registry.get(group, version, plural)
        if rd is None:
            raise errors.ApiError(
                404, "NotFound", "the server could not find the requested resource", {}
            )
        return rd

    def get(self, rd: ResourceDef, namespace: str, name: str) -> dict[str, Any]:
        obj = self._objects.get((rd.key, namespace, name))
        if obj is None:
            raise errors.not_found(rd.group, rd.plural, name)
        return obj

    def find(self, rd: ResourceDef, namespace: str, name: str) -> dict[str, Any] | None:
        return self._objects.get((rd.key, namespace, name))

    @property
    def resource_version(self) -> int:
        return self._rv

    def list_objects(
        self,
        rd: ResourceDef,
        namespace: str | None,
        labels: selectors.Matcher,
        fields: selectors.Matcher,
    ) -> list[dict[str, Any]]:
        items = []
        for (key, ns, _), obj in self._objects.items():
            if key != rd.key or (namespace is not None and ns != namespace):
                continue
            if labels((obj.get("metadata") or {}).get("labels") or {}) and fields(obj):
                items.append(obj)
        items.sort(key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
        return items

    def objects_of(self, rd: ResourceDef) -> list[dict[str, Any]]:
        return [obj for (key, _, _), obj in self._objects.items() if key == rd.key]

    # ------------------------------------------------------------ watches

    def watch(
        self,
        rd: ResourceDef,
        namespace: str | None,
        labels: selectors.Matcher,
        fields: selectors.Matcher,
        since: int | None,
    ) -> tuple[Watcher, list[tuple[str, dict[str, Any]]]]:
        """A registered watcher plus the events it must see before the live ones."""
        watcher = Watcher(rd.key, namespace, labels, fields, asyncio.Queue())
        initial: list[tuple[str, dict[str, Any]]] = []
        if since is None:
            initial = [("ADDED", obj) for obj in self.list_objects(rd, namespace, labels, fields)]
        else:
            oldest = self._history[0].rv if self._history else self._rv + 1
            if since < oldest - 1 and len(self._history) == self._history.maxlen:
                raise errors.ApiError(
                    410, "Expired", f"too old resource version: {since} ({oldest - 1})"
                )
            for event in self._history:
                if event.rv > since and event.key == rd.key:
                    seen = watcher.translate(event)
                    if seen is not None:
                        initial.append(seen)
        self._watchers.append(watcher)
        return watcher, initial

    def unwatch(self, watcher: Watcher) -> None:
        if watcher in self._watchers:
            self._watchers.remove(watcher)

    def _emit(
        self, rd: ResourceDef, type_: str, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        event = Event(self._rv, rd.key, type_, obj, old)
        self._history.append(event)
        for watcher in self._watchers:
            if watcher.key == rd.key:
                seen = watcher.translate(event)
                if seen is not None:
                    watcher.queue.put_nowait(seen)

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    # ------------------------------------------------------------ admission

    def _admit(
        self,
        rd: ResourceDef,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        field_validation: str = "Warn",
        warnings: list[str] | None = None,
    ) -> dict[str, Any]:
        """Mutate (defaults, conversions) and validate a candidate object, as admission does.

        ``field_validation`` is the request's fieldValidation directive: for custom
        resources unknown fields are refused (Strict, 400 like the decoder's strict
        error), pruned with a warning appended to ``warnings`` (Warn, the default), or
        pruned silently (Ignore). Built-ins refuse them with 400 under Strict and with
        422 otherwise (kept strict: no built-in pruning is emulated).
        """
        name = obj["metadata"].get("name", "")
        causes: list[errors.Cause] = []
        if rd.crd_version is not None:
            schema = (rd.crd_version.get("schema") or {}).get("openAPIV3Schema") or {}
            pruned: list[str] = []
            obj = structural.prune(schema, obj, root=True, pruned=pruned)
            unknown = [f'unknown field "{path}"' for path in pruned]
            if unknown and field_validation == "Strict":
                raise _strict_error(rd, unknown)
            if unknown and field_validation != "Ignore" and warnings is not None:
                warnings.extend(unknown)
            obj = structural.default(schema, obj)
            causes.extend(openapi.validate_name(rd.kind, name))
            causes.extend(structural.validate(schema, obj, old))
        else:
            _builtin_defaults(rd, obj, self._ips)
            causes.extend(openapi.validate_name(rd.kind, name))
            found = openapi.validate_builtin(obj)
            if found:
                unknown = [c["message"] for c in found if c["message"].startswith("unknown field")]
                if unknown and field_validation == "Strict":
                    raise _strict_error(rd, unknown)
                causes.extend(found)
            if rd.key == _CRD_KEY:
                causes.extend(_crd_causes(obj))
        if causes:
            raise errors.invalid(rd.group, rd.kind, name, causes)
        return obj

    # ------------------------------------------------------------ writes

    def create(
        self,
        rd: ResourceDef,
        namespace: str,
        body: dict[str, Any],
        *,
        dry_run: bool = False,
        field_validation: str = "Warn",
        warnings: list[str] | None = None,
    ) -> dict[str, Any]:
        obj = copy.deepcopy(body)
        obj["apiVersion"], obj["kind"] = rd.api_version, rd.kind
        meta = obj.setdefault("metadata", {})
        if meta is None:
            meta = obj["metadata"] = {}
        if rd.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise errors.ApiError(
                    400,
                    "BadRequest",
                    "the namespace of the provided object does "
                    "not match the namespace sent on the request",
                )
            meta["namespace"] = namespace
            ns_obj = self._objects.get((_NS_KEY, "", namespace))
            if ns_obj is None:
                raise errors.not_found("", "namespaces", namespace)
            if ns_obj["metadata"].get("deletionTimestamp"):
                raise errors.ApiError(
                    403,
                    "Forbidden",
                    f"{rd.plural}{'.' + rd.group if rd.group else ''} "
                    f'"{meta.get("name") or meta.get("generateName", "")}" is forbidden: '
                    "unable to create new content in namespace "
                    f"{namespace} because it is being terminated",
                    {"name": meta.get("name", ""), "group": rd.group, "kind": rd.plural},
                )
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if meta.get("generateName"):
                meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
            else:
                raise errors.invalid(
                    rd.group,
                    rd.kind,
                    "",
                    [
                        {
                            "reason": "FieldValueRequired",
                            "message": "Required value: name or generateName is required",
                            "field": "metadata.name",
                        }
                    ],
                )
        key = (rd.key, namespace if rd.namespaced else "", meta["name"])
        if key in self._objects:
            raise errors.ApiError(
                409,
                "AlreadyExists",
                f'{rd.plural}{"." + rd.group if rd.group else ""} "{meta["name"]}" already exists',
                {"name": meta["name"], "group": rd.group, "kind": rd.plural},
            )
        for server_owned in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            meta.pop(server_owned, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = now()
        meta["generation"] = 1
        if rd.has_status and rd.key != _NS_KEY:
            obj.pop("status", None)  # status is written through /status only
        obj = self._admit(rd, obj, None, field_validation, warnings)
        if dry_run:
            return obj
        if rd.key == _CRD_KEY:
            self._register_crd(obj)
        obj["metadata"]["resourceVersion"] = self._next_rv()
        self._objects[key] = obj
        self._uids[meta["uid"]] = key
        self._emit(rd, "ADDED", obj, None)
        return obj

    def update(
        self,
        rd: ResourceDef,
        namespace: str,
        name: str,
        candidate: dict[str, Any],
        *,
        subresource: str | None = None,
        require_rv: bool = False,
        dry_run: bool = False,
        field_validation: str = "Warn",
        warnings: list[str] | None = None,
    ) -> dict[str, Any]:
        """Store ``candidate`` as the new state, keeping what the endpoint may not change."""
        old = self.get(rd, namespace if rd.namespaced else "", name)
        new = copy.deepcopy(candidate)
        new["apiVersion"], new["kind"] = rd.api_version, rd.kind
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            meta = new["metadata"] = {}
        sent_rv = meta.get("resourceVersion")
        if sent_rv in (None, "") and require_rv:
            raise errors.invalid(
                rd.group,
                rd.kind,
                name,
                [
                    {
                        "reason": "FieldValueInvalid",
                        "message": "Invalid value: 0: must be specified for an update",
                        "field": "metadata.resourceVersion",
                    }
                ],
            )
        if sent_rv not in (None, "") and str(sent_rv) != old["metadata"]["resourceVersion"]:
            raise errors.conflict(
                rd.group,
                rd.plural,
                name,
                "the object has been modified; please apply "
                "your changes to the latest version and try again",
            )
        if meta.get("name") not in (None, name):
            raise errors.ApiError(
                400,
                "BadRequest",
                f"the name of the object ({meta.get('name')}) "
                f"does not match the name on the URL ({name})",
            )
        if subresource == "status":
            # Only status is taken from the request (the status strategy resets the rest).
            status = new.get("status")
            new = copy.deepcopy(old)
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        else:
            if rd.has_status:
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            for fixed in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "name",
                "namespace",
            ):
                if fixed in old["metadata"]:
                    meta[fixed] = old["metadata"][fixed]
                else:
                    meta.pop(fixed, None)
            if "managedFields" not in meta and "managedFields" in old["metadata"]:
                meta["managedFields"] = old["metadata"]["managedFields"]
            if old["metadata"].get("deletionTimestamp"):
                # Finalizers may only be removed once deletion has started.
                pass
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        new = self._admit(rd, new, old, field_validation, warnings)
        if _spec_part(new) != _spec_part(old):
            new["metadata"]["generation"] = int(old["metadata"].get("generation", 1)) + 1
        if new == old:
            return old  # a no-op write neither bumps resourceVersion nor notifies watchers
        if dry_run:
            return new
        if rd.key == _CRD_KEY:
            self._register_crd(new)
        new["metadata"]["resourceVersion"] = self._next_rv()
        key = (rd.key, namespace if rd.namespaced else "", name)
        self._objects[key] = new
        self._emit(rd, "MODIFIED", new, old)
        if new["metadata"].get("deletionTimestamp") and not new["metadata"].get("finalizers"):
            self._remove(rd, key)
        return new

    def delete(
        self,
        rd: ResourceDef,
        namespace: str,
        name: str,
        *,
        propagation: str = "Background",
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> tuple[dict[str, Any], bool]:
        """Delete or mark for deletion; returns the last state and whether it is gone."""
        ns = namespace if rd.namespaced else ""
        key = (rd.key, ns, name)
        obj = self.get(rd, ns, name)
        pre = preconditions or {}
        if pre.get("uid") and pre["uid"] != obj["metadata"]["uid"]:
            raise errors.conflict(
                rd.group,
                rd.plural,
                name,
                "Precondition failed: UID in precondition: "
                f"{pre['uid']}, UID in object meta: {obj['metadata']['uid']}",
            )
        if (
            pre.get("resourceVersion")
            and pre["resourceVersion"] != obj["metadata"]["resourceVersion"]
        ):
            raise errors.conflict(
                rd.group,
                rd.plural,
                name,
                "the object has been modified; please apply "
                "your changes to the latest version and try again",
            )
        if dry_run:
            return obj, False
        if propagation == "Orphan":
            self._orphan_dependents(obj["metadata"]["uid"])
        if rd.key == _NS_KEY:
            return self._delete_namespace(rd, obj), False
        if obj["metadata"].get("finalizers"):
            if obj["metadata"].get("deletionTimestamp"):
                return obj, False
            new = copy.deepcopy(obj)
            new["metadata"]["deletionTimestamp"] = now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[key] = new
            self._emit(rd, "MODIFIED", new, obj)
            return new, False
        return self._remove(rd, key), True

    def _remove(self, rd: ResourceDef, key: ObjKey) -> dict[str, Any]:
        obj = self._objects.pop(key)
        self._uids.pop(obj["metadata"]["uid"], None)
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = self._next_rv()
        self._emit(rd, "DELETED", gone, obj)
        if rd.key == _CRD_KEY:
            self._unregister_crd(obj)
        self._collect_dependents(obj["metadata"]["uid"])
        ns = obj["metadata"].get("namespace")
        if ns:
            self._maybe_finish_namespace(ns)
        elif rd.key == _NS_KEY:
            pass
        return gone

    # ------------------------------------------------------------ garbage collection

    def _collect_dependents(self, uid: str) -> None:
        for key, obj in list(self._objects.items()):
            refs = obj["metadata"].get("ownerReferences") or ()
            if not any(r.get("uid") == uid for r in refs):
                continue
            if all(r.get("uid") not in self._uids for r in refs) and key in self._objects:
                rd = self.registry.get(*key[0])
                if rd is not None:
                    self.delete(rd, key[1], key[2])

    def _orphan_dependents(self, uid: str) -> None:
        for key, obj in list(self._objects.items()):
            refs = obj["metadata"].get("ownerReferences") or ()
            if any(r.get("uid") == uid for r in refs):
                new = copy.deepcopy(obj)
                kept = [r for r in refs if r.get("uid") != uid]
                if kept:
                    new["metadata"]["ownerReferences"] = kept
                else:
                    del new["metadata"]["ownerReferences"]
                new["metadata"]["resourceVersion"] = self._next_rv()
                self._objects[key] = new
                rd = self.registry.get(*key[0])
                if rd is not None:
                    self._emit(rd, "MODIFIED", new, obj)

    # ------------------------------------------------------------ namespaces

    def _delete_namespace(self, rd: ResourceDef, obj: dict[str, Any]) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        key = (rd.key, "", name)
        if not obj["metadata"].get("deletionTimestamp"):
            new = copy.deepcopy(obj)
            new["metadata"]["deletionTimestamp"] = now()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new.setdefault("status", {})["phase"] = "Terminating"
            new["metadata"]["resourceVersion"] = self._next_rv()
            self._objects[key] = new
            self._emit(rd, "MODIFIED", new, obj)
            obj = new
        for okey in [k for k in self._objects if k[1] == name and k[0] != _NS_KEY]:
            if okey in self._objects:
                ord_ = self.registry.get(*okey[0])
                if ord_ is not None and ord_.namespaced:
                    self.delete(ord_, name, okey[2])
        self._maybe_finish_namespace(name)
        return self._objects.get(key, obj)

    def _maybe_finish_namespace(self, name: str) -> None:
        key = (_NS_KEY, "", name)
        ns = self._objects.get(key)
        if (
            ns is None
            or not ns["metadata"].get("deletionTimestamp")
            or ns["metadata"].get("finalizers")
        ):
            return
        if any(k[1] == name and k[0] != _NS_KEY for k in self._objects):
            return
        rd = self.registry.get(*_NS_KEY)
        assert rd is not None
        self._remove(rd, key)

    # ------------------------------------------------------------ CRDs

    def _register_crd(self, crd: dict[str, Any]) -> None:
        self.registry.add_crd(crd)
        crd.setdefault("status", {})
        crd["status"]["acceptedNames"] = dict(crd["spec"]["names"])
        crd["status"]["storedVersions"] = [
            v["name"] for v in crd["spec"]["versions"] if v.get("storage")
        ]
        crd["status"]["conditions"] = [
            {"type": t, "status": "True", "reason": r, "message": m, "lastTransitionTime": now()}
            for t, r, m in (
                ("NamesAccepted", "NoConflicts", "no conflicts found"),
                ("Established", "InitialNamesAccepted", "the initial names have been accepted"),
            )
        ]

    def _unregister_crd(self, crd: dict[str, Any]) -> None:
        removed = self.registry.remove_crd(crd["metadata"]["name"])
        removed_keys = {rd.key for rd in removed}
        for key in [k for k in self._objects if k[0] in removed_keys]:
            obj = self._objects.pop(key)
            self._uids.pop(obj["metadata"]["uid"], None)


def _strict_error(rd: ResourceDef, unknown: list[str]) -> errors.ApiError:
    """The decoder's strict error (handlers' transformDecodeError wording)."""
    return errors.ApiError(
        400,
        "BadRequest",
        f'{rd.kind} in version "{rd.version}" cannot be handled as a {rd.kind}: '
        f"strict decoding error: {', '.join(unknown)}",
    )


def _builtin_defaults(
    rd: ResourceDef, obj: dict[str, Any], ips: Iterator[ipaddress.IPv4Address]
) -> None:
    """The defaulting and conversions the built-in registries do that the operator can see."""
    kind = rd.kind
    spec = obj.get("spec")
    if kind == "Secret":
        string_data = obj.pop("stringData", None) or {}
        if string_data:
            data = obj.setdefault("data", {}) or {}
            for k, v in string_data.items():
                data[k] = base64.b64encode(str(v).encode()).decode()
            obj["data"] = data
        obj.setdefault("type", "Opaque")
    elif kind == "Namespace":
        obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
        obj.setdefault("status", {}).setdefault("phase", "Active")
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"][
            "name"
        ]
    elif kind == "Service" and isinstance(spec, dict):
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec.get("clusterIP") != "None" and not spec.get("clusterIP"):
            ip = str(next(ips))
            spec["clusterIP"] = ip
            spec["clusterIPs"] = [ip]
        for port in spec.get("ports") or ():
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
    elif kind == "Deployment" and isinstance(spec, dict):
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault(
            "strategy",
            {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
        )
        _pod_template_defaults(spec.get("template"))
    elif kind == "Job" and isinstance(spec, dict):
        spec.setdefault("backoffLimit", 6)
        spec.setdefault("completions", 1)
        spec.setdefault("parallelism", 1)
        spec.setdefault("completionMode", "NonIndexed")
        spec.setdefault("suspend", False)
        _pod_template_defaults(spec.get("template"), restart_policy=None)
    elif kind == "PersistentVolumeClaim" and isinstance(spec, dict):
        spec.setdefault("volumeMode", "Filesystem")
    elif kind == "Pod":
        _pod_template_defaults({"spec": spec})
        obj.setdefault("status", {"phase": "Pending"})


def _pod_template_defaults(template: Any, restart_policy: str | None = "Always") -> None:
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        return
    spec = template["spec"]
    if restart_policy is not None:
        spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    for list_name in ("initContainers", "containers"):
        for container in spec.get(list_name) or ():
            if not isinstance(container, dict):
                continue
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            image = str(container.get("image", ""))
            container.setdefault(
                "imagePullPolicy",
                "Always"
                if image.endswith(":latest") or ":" not in image.rsplit("/", 1)[-1]
                else "IfNotPresent",
            )
            for port in container.get("ports") or ():
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def _crd_causes(crd: dict[str, Any]) -> list[errors.Cause]:
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    expected = f"{names.get('plural')}.{spec.get('group')}"
    if crd["metadata"].get("name") != expected:
        return [
            {
                "reason": "FieldValueInvalid",
                "message": (
                    "Invalid value: "
                    f'"{crd["metadata"].get("name")}": must be spec.names.plural+"."+spec.group'
                ),
                "field": "metadata.name",
            }
        ]
    return []
