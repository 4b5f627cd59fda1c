"""Odoo's version-dependent facts (specs.odoo_cli).

Covers: the major version read from the image tag (digest, registry port
and missing tag included); the upgrade command line in every series.
"""

from __future__ import annotations

import pytest

from model import settings
from specs import odoo_cli


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("odoo:16.0", 16),
        ("odoo:17.0", 17),
        ("odoo:18.0", 18),
        ("odoo:19.0", 19),
        ("ghcr.io/acme/odoo:19.0-20251001@sha256:abc", 19),
        ("odoo", 18),
        ("odoo@sha256:abc", 18),
        ("localhost:5000/odoo", 18),
    ],
)
def test_odoo_version_read_from_the_image_tag(image: str, version: int) -> None:
    assert odoo_cli.odoo_version(image) == version


@pytest.mark.parametrize("version", [16, 17, 18, 19])
def test_upgrade_command_updates_modules_and_stops_for_every_version(version: int) -> None:
    assert odoo_cli.upgrade_args(version, ["sale", "stock"], "db") == [
        "-u",
        "sale,stock",
        "-d",
        "db",
        "--no-http",
        "--stop-after-init",
    ]


@pytest.mark.parametrize(
    ("image", "series"),
    [
        ("odoo:18.0", "18.0"),
        ("ghcr.io/acme/odoo:19.0-20251001@sha256:abc", "19.0"),
        ("localhost:5000/odoo:17.0", "17.0"),
        ("odoo:17", ""),
        ("odoo:18.0.1", ""),
        ("odoo:latest", ""),
        ("odoo", ""),
        ("localhost:5000/odoo", ""),
    ],
)
def test_series_read_from_the_image_tag_only_when_it_names_one(image: str, series: str) -> None:
    assert odoo_cli.series(image) == series


def test_an_untagged_image_counts_as_the_default_images_series() -> None:
    assert odoo_cli.odoo_version(settings.DEFAULT_IMAGE) == odoo_cli.DEFAULT_VERSION
