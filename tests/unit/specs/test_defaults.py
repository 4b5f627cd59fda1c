"""The operator's defaults written into a new spec (specs.defaults).

Covers: only what the live spec lacks is patched (image, filestore class and
size, ingress class and issuer, a gatewayRef when both its name and
namespace are configured, resources of web and cron, affinity,
tolerations); a complete spec needs no patch; the spec the builders see
merges the patch into nested fields without losing the user's.
"""

from __future__ import annotations

from typing import Any

from model.crds import OdooInstanceSpec
from model.settings import InstanceDefaults
from specs import defaults

RESOURCES = {"requests": {"cpu": "100m"}}
CONFIG = InstanceDefaults(
    image="odoo:18.0",
    storage_class="fast",
    storage_size="5Gi",
    ingress_class="nginx",
    ingress_issuer="le",
    gateway_name="gw",
    gateway_namespace="infra",
    resources=RESOURCES,
    affinity={"nodeAffinity": {}},
    tolerations=({"key": "k", "operator": "Exists"},),
)
SPEC: dict[str, Any] = {"adminPassword": "x", "ingress": {"hosts": ["a.example"]}}


def test_every_missing_default_is_patched_when_the_spec_is_new() -> None:
    assert defaults.defaults_patch(SPEC, CONFIG) == {
        "image": "odoo:18.0",
        "filestore": {"storageClass": "fast", "storageSize": "5Gi"},
        "ingress": {
            "gatewayRef": {"name": "gw", "namespace": "infra"},
            "issuer": "le",
            "class": "nginx",
        },
        "resources": RESOURCES,
        "cron": {"resources": RESOURCES},
        "affinity": {"nodeAffinity": {}},
        "tolerations": [{"key": "k", "operator": "Exists"}],
    }


def test_nothing_is_patched_when_the_spec_sets_everything_or_no_default_is_configured() -> None:
    complete = {**SPEC, **defaults.defaults_patch(SPEC, CONFIG)}
    complete["ingress"] = {**SPEC["ingress"], **complete["ingress"]}

    assert defaults.defaults_patch(complete, CONFIG) == {}
    bare = InstanceDefaults(storage_class="", storage_size="")
    assert defaults.defaults_patch({**SPEC, "image": "odoo:17.0"}, bare) == {}


def test_gateway_is_no_default_when_only_its_name_is_configured() -> None:
    half = InstanceDefaults(gateway_name="gw")

    assert "ingress" not in defaults.defaults_patch(SPEC, half)


def test_defaults_merge_into_nested_fields_keeping_the_users_when_applied() -> None:
    spec = OdooInstanceSpec.model_validate({**SPEC, "filestore": {"storageSize": "9Gi"}})
    patch = defaults.defaults_patch(
        spec.model_dump(mode="json", by_alias=True, exclude_none=True), CONFIG
    )

    merged = defaults.with_defaults(spec, patch)
    assert merged.filestore.storage_size == "9Gi"
    assert merged.filestore.storage_class == "fast"
    assert merged.ingress.hosts == ["a.example"]
    assert merged.image == "odoo:18.0"
    assert defaults.with_defaults(spec, {}) is spec
