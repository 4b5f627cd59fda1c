"""ARCHITECTURE.md names only paths that exist.

Every backticked token that looks like a path of this repository (it has a
slash, or is a top-level file) must exist, so the map cannot drift from the
tree unnoticed.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "ARCHITECTURE.md"
TOP_LEVEL = {"pyproject.toml", "Dockerfile", ".dockerignore", "STATE_MACHINE.md", "README.md"}


def named_paths() -> list[str]:
    paths = []
    for token in re.findall(r"`([^`\s]+)`", DOC.read_text()):
        if token in TOP_LEVEL or re.fullmatch(r"[\w.-]+(/[\w.-]+)+/?", token):
            paths.append(token)
    return paths


def test_the_map_names_paths() -> None:
    assert len(named_paths()) > 40


def test_every_path_the_map_names_exists() -> None:
    missing = [path for path in named_paths() if not (ROOT / path).exists()]
    assert missing == []


def test_every_package_of_the_tree_is_on_the_map() -> None:
    text = DOC.read_text()
    packages = [
        p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests"
    ]
    assert sorted(p for p in packages if f"`{p}/`" not in text) == []
