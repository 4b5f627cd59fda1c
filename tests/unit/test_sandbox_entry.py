"""`odoo-operator sandbox`: the development wing's sandbox, only where it exists.

The sandbox is not shipped (no `sandbox` package in the wheel or the image):
the installed command says where to find it instead of failing on an import.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from odoo_operator import cli


def test_the_installed_command_points_to_the_checkout_when_the_sandbox_is_absent(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_REPO_ROOT", tmp_path)  # an installed wheel: no sandbox/

    assert cli.main(["sandbox", "--help"]) == 2
    assert "run scripts/dev/sandbox from a checkout" in capsys.readouterr().err


def test_the_sandbox_is_the_checkouts_development_wing_not_an_operator_module() -> None:
    root = Path(cli.__file__).resolve().parents[1]
    assert (root / "sandbox" / "__main__.py").is_file()
    assert not (root / "odoo_operator" / "sandbox").exists()
