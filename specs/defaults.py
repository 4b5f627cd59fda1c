"""The operator's defaults, written once into a new instance's spec.

Owns which defaults a live spec lacks (`defaults_patch`: a merge patch of
`spec`, so the instance describes itself after its first apply) and the
spec the builders see once that patch is in (`with_defaults`). The defaults
themselves are settings (`model.settings.InstanceDefaults`, read from the
environment by the composition root). Pure: activities.children writes the
patch.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from model.crds import OdooInstanceSpec
from model.settings import InstanceDefaults

__all__ = ["defaults_patch", "with_defaults"]


def defaults_patch(spec: Mapping[str, Any], defaults: InstanceDefaults) -> dict[str, Any]:
    """The operator defaults missing from a live spec, as a merge patch of `spec`.

    Written once, the first time the instance is seen ("self-describing
    spec"); the watcher then sends the new generation.
    """
    patch: dict[str, Any] = {}
    if not spec.get("image"):
        patch["image"] = defaults.image
    filestore = spec.get("filestore") or {}
    fs_patch: dict[str, Any] = {}
    if not filestore.get("storageClass") and defaults.storage_class:
        fs_patch["storageClass"] = defaults.storage_class
    if not filestore.get("storageSize") and defaults.storage_size:
        fs_patch["storageSize"] = defaults.storage_size
    if fs_patch:
        patch["filestore"] = fs_patch
    ingress = spec.get("ingress") or {}
    in_patch: dict[str, Any] = {}
    gateway_default = defaults.gateway_name and defaults.gateway_namespace
    if not ingress.get("gatewayRef") and gateway_default:
        in_patch["gatewayRef"] = {
            "name": defaults.gateway_name,
            "namespace": defaults.gateway_namespace,
        }
    if not ingress.get("issuer") and defaults.ingress_issuer:
        in_patch["issuer"] = defaults.ingress_issuer
    if not ingress.get("class") and defaults.ingress_class:
        in_patch["class"] = defaults.ingress_class
    if in_patch:
        patch["ingress"] = in_patch
    if not spec.get("resources") and defaults.resources:
        patch["resources"] = defaults.resources
    cron = spec.get("cron") or {}
    if not cron.get("resources") and defaults.resources:
        patch["cron"] = {"resources": defaults.resources}
    if not spec.get("affinity") and defaults.affinity:
        patch["affinity"] = defaults.affinity
    if not spec.get("tolerations") and defaults.tolerations:
        patch["tolerations"] = list(defaults.tolerations)
    return patch


def with_defaults(spec: OdooInstanceSpec, patch: Mapping[str, Any]) -> OdooInstanceSpec:
    """`spec` with `patch` (from defaults_patch) merged in, as the API server merges it."""
    if not patch:
        return spec
    merged = _deep_merge(spec.model_dump(mode="json", by_alias=True, exclude_none=True), patch)
    return OdooInstanceSpec.model_validate(merged)


def _deep_merge(base: dict[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
