"""The resource registry: which kinds are served, how, and their discovery entries.

Built-in kinds come from the real discovery documents bundled with kmock (24
group-versions captured from a real cluster); custom kinds come from
``CustomResourceDefinition`` objects.
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.resources
import json
from typing import Any

__all__ = ["Registry", "ResourceDef", "ScalePaths"]

# Aggregated APIs a real cluster serves through an extension server: not emulated.
_SKIPPED_GROUP_VERSIONS = {"metrics.k8s.io/v1beta1"}

# Field selectors the apiserver accepts beyond metadata.name/namespace, per kind
# (pkg/registry/*/strategy.go GetAttrs / AddFieldLabelConversionFunc).
_BUILTIN_SELECTABLE: dict[tuple[str, str], tuple[str, ...]] = {
    ("", "pods"): (
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "spec.hostNetwork",
        "status.phase",
        "status.podIP",
        "status.nominatedNodeName",
    ),
    ("", "events"): (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    ("events.k8s.io", "events"): (
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "reason",
        "type",
    ),
    ("", "secrets"): ("type",),
    ("", "namespaces"): ("status.phase",),
    ("", "replicationcontrollers"): ("status.replicas",),
    ("apps", "replicasets"): ("status.replicas",),
    ("batch", "jobs"): ("status.successful",),
}


@dataclasses.dataclass(frozen=True)
class ScalePaths:
    """Where a kind keeps what its ``/scale`` subresource shows (dotted paths, no leading dot)."""

    spec_replicas: str
    status_replicas: str
    label_selector: str | None


_DEPLOYMENT_LIKE_SCALE = ScalePaths("spec.replicas", "status.replicas", None)


@dataclasses.dataclass(frozen=True)
class ResourceDef:
    """One served resource (group, version, plural) and everything the server needs about it."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str
    verbs: tuple[str, ...]
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    has_status: bool = False
    scale: ScalePaths | None = None
    selectable_fields: tuple[str, ...] = ()
    # The CRD version entry (``spec.versions[i]``) for custom resources, else None.
    crd_version: dict[str, Any] | None = None
    # Other subresource names to list in discovery (log, exec, ...), served as 404/405.
    extra_subresources: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.group, self.version, self.plural)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def is_custom(self) -> bool:
        return self.crd_version is not None

    def discovery_entries(self) -> list[dict[str, Any]]:
        main: dict[str, Any] = {
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": list(self.verbs),
        }
        if self.short_names:
            main["shortNames"] = list(self.short_names)
        if self.categories:
            main["categories"] = list(self.categories)
        entries = [main]
        if self.has_status:
            entries.append(
                {
                    "name": f"{self.plural}/status",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": self.kind,
                    "verbs": ["get", "patch", "update"],
                }
            )
        if self.scale is not None:
            entries.append(
                {
                    "name": f"{self.plural}/scale",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "group": "autoscaling",
                    "version": "v1",
                    "kind": "Scale",
                    "verbs": ["get", "patch", "update"],
                }
            )
        for sub, kind, verbs in self.extra_subresources:
            entries.append(
                {
                    "name": f"{self.plural}/{sub}",
                    "singularName": "",
                    "namespaced": self.namespaced,
                    "kind": kind,
                    "verbs": list(verbs),
                }
            )
        return entries


def _load_builtin_documents() -> list[dict[str, Any]]:
    raw = importlib.resources.files("kmock").joinpath("_internal/resources.json.gz").read_bytes()
    docs: list[dict[str, Any]] = json.loads(gzip.decompress(raw))
    return [doc for doc in docs if doc["groupVersion"] not in _SKIPPED_GROUP_VERSIONS]


def _builtin_defs() -> list[ResourceDef]:
    result: list[ResourceDef] = []
    for doc in _load_builtin_documents():
        gv: str = doc["groupVersion"]
        group, _, version = gv.rpartition("/")
        subs: dict[str, list[dict[str, Any]]] = {}
        for entry in doc["resources"]:
            if "/" in entry["name"]:
                parent, _, sub = entry["name"].partition("/")
                subs.setdefault(parent, []).append({**entry, "sub": sub})
        for entry in doc["resources"]:
            name: str = entry["name"]
            if "/" in name:
                continue
            sub_entries = subs.get(name, [])
            sub_names = {s["sub"] for s in sub_entries}
            extra = tuple(
                (s["sub"], s["kind"], tuple(s["verbs"]))
                for s in sub_entries
                if s["sub"] not in ("status", "scale")
            )
            selectable = (
                "metadata.name",
                "metadata.namespace",
                *_BUILTIN_SELECTABLE.get((group, name), ()),
            )
            result.append(
                ResourceDef(
                    group=group,
                    version=version,
                    plural=name,
                    kind=entry["kind"],
                    namespaced=bool(entry["namespaced"]),
                    singular=entry.get("singularName") or name,
                    verbs=tuple(entry["verbs"]),
                    short_names=tuple(entry.get("shortNames", ())),
                    categories=tuple(entry.get("categories", ())),
                    has_status="status" in sub_names,
                    scale=_DEPLOYMENT_LIKE_SCALE if "scale" in sub_names else None,
                    selectable_fields=selectable,
                    extra_subresources=extra,
                )
            )
    return result


def _jsonpath_to_dotted(path: str) -> str:
    return path.lstrip(".")


def defs_from_crd(crd: dict[str, Any]) -> list[ResourceDef]:
    """One ResourceDef per served version of an apiextensions.k8s.io/v1 CRD object."""
    spec = crd["spec"]
    names = spec["names"]
    result = []
    for version in spec["versions"]:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        scale = None
        if "scale" in subresources:
            sc = subresources["scale"]
            scale = ScalePaths(
                _jsonpath_to_dotted(sc["specReplicasPath"]),
                _jsonpath_to_dotted(sc["statusReplicasPath"]),
                _jsonpath_to_dotted(sc["labelSelectorPath"])
                if sc.get("labelSelectorPath")
                else None,
            )
        selectable = ["metadata.name", "metadata.namespace"]
        for field in version.get("selectableFields") or ():
            selectable.append(_jsonpath_to_dotted(field["jsonPath"]))
        result.append(
            ResourceDef(
                group=spec["group"],
                version=version["name"],
                plural=names["plural"],
                kind=names["kind"],
                namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                singular=names.get("singular") or names["kind"].lower(),
                verbs=(
                    "delete",
                    "deletecollection",
                    "get",
                    "list",
                    "patch",
                    "create",
                    "update",
                    "watch",
                ),
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                has_status="status" in subresources,
                scale=scale,
                selectable_fields=tuple(selectable),
                crd_version=version,
            )
        )
    return result


class Registry:
    """All served resources, indexed for URL routing and discovery."""

    def __init__(self) -> None:
        self._defs: dict[tuple[str, str, str], ResourceDef] = {}
        self._builtin_gvs: list[str] = []
        self._crd_resources: dict[str, list[tuple[str, str, str]]] = {}
        for rd in _builtin_defs():
            self._defs[rd.key] = rd
            if rd.group_version not in self._builtin_gvs:
                self._builtin_gvs.append(rd.group_version)

    def get(self, group: str, version: str, plural: str) -> ResourceDef | None:
        return self._defs.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceDef | None:
        for rd in self._defs.values():
            if rd.api_version == api_version and rd.kind == kind:
                return rd
        return None

    def all(self) -> list[ResourceDef]:
        return list(self._defs.values())

    def add_crd(self, crd: dict[str, Any]) -> list[ResourceDef]:
        name: str = crd["metadata"]["name"]
        self.remove_crd(name)
        defs = defs_from_crd(crd)
        for rd in defs:
            self._defs[rd.key] = rd
        self._crd_resources[name] = [rd.key for rd in defs]
        return defs

    def remove_crd(self, name: str) -> list[ResourceDef]:
        removed = [self._defs.pop(key) for key in self._crd_resources.pop(name, [])]
        return removed

    def group_versions(self) -> dict[str, list[str]]:
        """Group name → versions, in the order a server lists them (preferred first)."""
        groups: dict[str, list[str]] = {}
        for rd in self._defs.values():
            versions = groups.setdefault(rd.group, [])
            if rd.version not in versions:
                versions.append(rd.version)
        return groups
