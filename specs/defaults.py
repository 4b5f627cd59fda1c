"""The operator's defaults, written once into a new instance's spec.

Owns which defaults a live spec lacks (`defaults_patch`: a merge patch of
`spec`, so the instance describes itself after its first apply) and the
spec the builders see once that patch is in (`with_defaults`), and the
defaults themselves (`SpecDefaults`, which activities.config.OperatorConfig
extends; odoo_operator.settings fills it from the environment). Pure:
activities.children writes the patch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from model.crds import OdooInstanceSpec

__all__ = ["SpecDefaults", "defaults_patch", "with_defaults"]


@dataclass(frozen=True, kw_only=True)
class SpecDefaults:
    """The operator-level defaults of a new spec (activities.config.OperatorConfig has them)."""

    default_image: str = "odoo:18.0"
    default_storage_class: str = "standard"
    default_storage_size: str = "2Gi"
    default_ingress_class: str = ""
    """Empty: no default (the cluster's default IngressClass applies)."""
    default_ingress_issuer: str = ""
    """Empty: no cert-manager annotation."""
    default_gateway_name: str = ""
    default_gateway_namespace: str = ""
    """Both set: new instances get an HTTPRoute to this Gateway instead of an Ingress."""
    default_resources: dict[str, Any] | None = None
    default_affinity: dict[str, Any] | None = None
    default_tolerations: tuple[dict[str, Any], ...] = field(default=())


def defaults_patch(spec: Mapping[str, Any], config: SpecDefaults) -> dict[str, Any]:
    """The operator defaults missing from a live spec, as a merge patch of `spec`.

    Written once, the first time the instance is seen ("self-describing
    spec"); the watcher then sends the new generation.
    """
    patch: dict[str, Any] = {}
    if not spec.get("image"):
        patch["image"] = config.default_image
    filestore = spec.get("filestore") or {}
    fs_patch: dict[str, Any] = {}
    if not filestore.get("storageClass") and config.default_storage_class:
        fs_patch["storageClass"] = config.default_storage_class
    if not filestore.get("storageSize") and config.default_storage_size:
        fs_patch["storageSize"] = config.default_storage_size
    if fs_patch:
        patch["filestore"] = fs_patch
    ingress = spec.get("ingress") or {}
    in_patch: dict[str, Any] = {}
    gateway_default = config.default_gateway_name and config.default_gateway_namespace
    if not ingress.get("gatewayRef") and gateway_default:
        in_patch["gatewayRef"] = {
            "name": config.default_gateway_name,
            "namespace": config.default_gateway_namespace,
        }
    if not ingress.get("issuer") and config.default_ingress_issuer:
        in_patch["issuer"] = config.default_ingress_issuer
    if not ingress.get("class") and config.default_ingress_class:
        in_patch["class"] = config.default_ingress_class
    if in_patch:
        patch["ingress"] = in_patch
    if not spec.get("resources") and config.default_resources:
        patch["resources"] = config.default_resources
    cron = spec.get("cron") or {}
    if not cron.get("resources") and config.default_resources:
        patch["cron"] = {"resources": config.default_resources}
    if not spec.get("affinity") and config.default_affinity:
        patch["affinity"] = config.default_affinity
    if not spec.get("tolerations") and config.default_tolerations:
        patch["tolerations"] = list(config.default_tolerations)
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
