"""The committed CRD YAML is what the models generate.

Covers:
- every file in charts/odoo-operator/crds/ equals its rendering from the models;
- no file is missing and no stray file lingers;
- rendering is deterministic (two renderings are byte-identical);
- the single-stream rendering holds every CRD;
- the vendored Kubernetes definitions equal those shipped in kubernetes-validate.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from model.crds import _kube_openapi
from odoo_operator import crdgen

CRD_DIR = Path(__file__).resolve().parents[2] / "charts" / "odoo-operator" / "crds"
HINT = "the CRD YAML is out of date: run `make crds` and commit charts/odoo-operator/crds/"


def test_committed_yaml_matches_models_when_rendered() -> None:
    rendered = crdgen.render_files()
    for filename, text in rendered.items():
        path = CRD_DIR / filename
        assert path.exists(), f"{path.name} is missing; {HINT}"
        assert path.read_text() == text, f"{path.name} differs; {HINT}"


def test_no_stray_crd_files_when_listing_the_chart() -> None:
    committed = {path.name for path in CRD_DIR.glob("*.yaml")}
    assert committed == set(crdgen.render_files()), HINT


def test_rendering_is_identical_when_run_twice() -> None:
    assert crdgen.render_files() == crdgen.render_files()


def test_stream_holds_every_crd_when_rendered_as_one() -> None:
    documents = list(yaml.safe_load_all(crdgen.render_all_yaml()))
    assert [doc["spec"]["names"]["kind"] for doc in documents] == [
        "OdooInstance",
        "OdooInitJob",
        "OdooUpgradeJob",
        "OdooBackupJob",
        "OdooRestoreJob",
    ]


def test_vendored_kube_definitions_match_kubernetes_validate_when_extracted() -> None:
    assert crdgen.extract_kube_definitions() == _kube_openapi.DEFINITIONS, (
        "model/crds/_kube_openapi.py is stale: "
        "run `python -m odoo_operator.crdgen --vendor`, then `make crds`"
    )
