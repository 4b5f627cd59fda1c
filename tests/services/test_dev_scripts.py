"""The binary builders of the development wing: scripts/dev/kube-binaries,
s3-binaries and helm-binary, and the commands that call them.

The real scripts run as subprocesses with their cache in a temporary folder
and a fake `go` first on PATH: `go build -o OUT PKG...` writes an executable
stub per program (OUT/<last path element> when OUT is a folder, else OUT) and
logs the build, so a build takes no time and is counted. A fake `python3`
(and python3.X) stands in for the aws CLI's venv and pip install.

Covers:
- a cache whose `.complete` stamp matches but that misses one of its
  programs is rebuilt, not trusted;
- two invocations started at once build once: the second waits for the
  first one's lock and prints the same finished folder;
- ODOO_OPERATOR_KUBE_BIN_DIR / _S3_ / _HELM_ naming a folder with the
  programs is printed as it is, nothing built; naming one without a program
  exits 1 with a message naming the variable and the program;
- scripts/dev/test, bench and sandbox keep the folders a user set (run in a
  copy of scripts/ and build/ whose venv.sh and .venv programs are stubs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures.kube import wait_for

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_SECONDS = 60.0

FAKE_GO = r"""#!/usr/bin/env bash
# A stand-in for `go build`: an executable stub per program, a line per build.
set -euo pipefail
[ "$1" = build ] || exit 0  # list, mod, get, env: nothing to answer
shift
out="" packages=()
while [ $# -gt 0 ]; do
    case "$1" in
        -o) out="$2"; shift 2 ;;
        -ldflags) shift 2 ;;
        -*) shift ;;
        *) packages+=("$1"); shift ;;
    esac
done
files=()
if [[ "$out" == */ ]] || [ -d "$out" ]; then
    for package in "${packages[@]}"; do files+=("${out%/}/${package##*/}"); done
else
    files=("$out")
fi
names=()
for file in "${files[@]}"; do names+=("${file##*/}"); done
echo "build ${names[*]}" >> "$FAKE_GO_COUNTER"
# The test holds the build here until it creates $FAKE_GO_GATE.
if [ -n "${FAKE_GO_GATE:-}" ]; then
    deadline=$((SECONDS + 60))
    until [ -e "$FAKE_GO_GATE" ]; do
        [ "$SECONDS" -lt "$deadline" ] || { echo "fake go: no $FAKE_GO_GATE" >&2; exit 1; }
        sleep 0.05
    done
fi
for file in "${files[@]}"; do
    printf '#!/bin/sh\necho stub\n' > "$file"
    chmod +x "$file"
done
"""

FAKE_PYTHON = r"""#!/usr/bin/env bash
# A stand-in for python3: `-c` (the version check) succeeds, `-m venv DIR`
# makes DIR/bin/python (this script), `-m pip install` makes an aws stub
# beside it.
set -euo pipefail
case "$1 ${2:-}" in
    "-m venv")
        mkdir -p "$3/bin"
        cp "$0" "$3/bin/python"
        ;;
    "-m pip")
        printf '#!/bin/sh\necho aws stub\n' > "$(dirname "$0")/aws"
        chmod +x "$(dirname "$0")/aws"
        ;;
esac
"""


@dataclass(frozen=True)
class Builder:
    script: str
    variable: str
    programs: tuple[str, ...]
    builds: tuple[str, ...]
    """The fake go's log of one full build."""


KUBE = Builder(
    "kube-binaries",
    "ODOO_OPERATOR_KUBE_BIN_DIR",
    ("kube-apiserver", "kube-controller-manager", "etcd"),
    ("build kube-apiserver kube-controller-manager", "build etcd"),
)
S3 = Builder("s3-binaries", "ODOO_OPERATOR_S3_BIN_DIR", ("versitygw", "aws"), ("build versitygw",))
HELM = Builder("helm-binary", "ODOO_OPERATOR_HELM_BIN_DIR", ("helm",), ("build helm",))
BUILDERS = (KUBE, S3, HELM)
EACH_PROGRAM = [
    pytest.param(builder, program, id=f"{builder.script}-{program}")
    for builder in BUILDERS
    for program in builder.programs
]


@dataclass
class Sandbox:
    """A PATH with the fake go and python first, a cache folder, a build log."""

    tmp: Path
    env: dict[str, str]

    @property
    def counter(self) -> Path:
        return self.tmp / "builds.log"

    def builds(self) -> list[str]:
        return self.counter.read_text().splitlines() if self.counter.exists() else []

    def start(
        self, script: Path, stderr: Path, extra: Mapping[str, str] = {}
    ) -> subprocess.Popen[str]:
        with stderr.open("w") as err:
            return subprocess.Popen(
                ["bash", str(script)],
                env={**self.env, **extra},
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )

    def run(self, script: Path, extra: Mapping[str, str] = {}) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(script)],
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            check=False,
            timeout=TIMEOUT_SECONDS,
        )


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    fake_bin = tmp_path / "fake-bin"
    fake_bin.mkdir()
    for name, text in [("go", FAKE_GO)] + [
        (python, FAKE_PYTHON) for python in ("python3", "python3.11", "python3.12", "python3.13")
    ]:
        (fake_bin / name).write_text(text)
        (fake_bin / name).chmod(0o755)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("ODOO_OPERATOR_") and key not in ("GOFLAGS", "XDG_CACHE_HOME")
    }
    env.update(
        PATH=f"{fake_bin}{os.pathsep}{os.environ['PATH']}",
        ODOO_OPERATOR_CACHE_DIR=str(tmp_path / "cache"),
        FAKE_GO_COUNTER=str(tmp_path / "builds.log"),
    )
    return Sandbox(tmp_path, env)


def _script(name: str) -> Path:
    return ROOT / "scripts" / "dev" / name


def _printed(result: subprocess.CompletedProcess[str]) -> Path:
    assert result.returncode == 0, result.stderr
    return Path(result.stdout.strip().splitlines()[-1])


def _programs_dir(tmp: Path, programs: tuple[str, ...]) -> Path:
    directory = tmp / "prebuilt"
    directory.mkdir()
    for program in programs:
        (directory / program).write_text("#!/bin/sh\n")
        (directory / program).chmod(0o755)
    return directory


@pytest.mark.parametrize(("builder", "program"), EACH_PROGRAM)
def test_a_cache_marked_complete_but_missing_a_program_is_rebuilt(
    sandbox: Sandbox, builder: Builder, program: str
) -> None:
    bin_dir = _printed(sandbox.run(_script(builder.script)))
    assert sandbox.builds() == list(builder.builds)
    (bin_dir / program).unlink()
    assert (bin_dir / ".complete").exists()

    again = _printed(sandbox.run(_script(builder.script)))

    assert again == bin_dir
    assert sandbox.builds() == list(builder.builds) * 2
    assert all(os.access(bin_dir / name, os.X_OK) for name in builder.programs)
    # A finished cache is used as it is.
    assert _printed(sandbox.run(_script(builder.script))) == bin_dir
    assert sandbox.builds() == list(builder.builds) * 2


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.script)
def test_two_invocations_at_once_build_once(sandbox: Sandbox, builder: Builder) -> None:
    gate = sandbox.tmp / "gate"
    gated = {"FAKE_GO_GATE": str(gate)}
    first_err, second_err = sandbox.tmp / "first.err", sandbox.tmp / "second.err"
    first = sandbox.start(_script(builder.script), first_err, gated)
    second: subprocess.Popen[str] | None = None
    try:
        # The first is building (and holds the lock) when the second starts.
        wait_for(lambda: sandbox.builds(), TIMEOUT_SECONDS)
        second = sandbox.start(_script(builder.script), second_err, gated)
        # Until the second either waits for the lock or builds as well.
        wait_for(
            lambda: "waiting" in second_err.read_text() or len(sandbox.builds()) > 1,
            TIMEOUT_SECONDS,
        )
        gate.touch()
        first_out, _ = first.communicate(timeout=TIMEOUT_SECONDS)
        second_out, _ = second.communicate(timeout=TIMEOUT_SECONDS)
    finally:
        gate.touch()
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()

    assert (first.returncode, second.returncode) == (0, 0), (
        first_err.read_text() + second_err.read_text()
    )
    assert sandbox.builds() == list(builder.builds)
    bin_dir = Path(first_out.strip().splitlines()[-1])
    assert Path(second_out.strip().splitlines()[-1]) == bin_dir
    assert all(os.access(bin_dir / name, os.X_OK) for name in builder.programs)


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.script)
def test_a_bin_dir_the_user_set_is_printed_as_it_is(sandbox: Sandbox, builder: Builder) -> None:
    prebuilt = _programs_dir(sandbox.tmp, builder.programs)

    result = sandbox.run(_script(builder.script), {builder.variable: str(prebuilt)})

    assert _printed(result) == prebuilt
    assert sandbox.builds() == []


@pytest.mark.parametrize(("builder", "program"), EACH_PROGRAM)
def test_a_bin_dir_the_user_set_without_a_program_is_refused(
    sandbox: Sandbox, builder: Builder, program: str
) -> None:
    prebuilt = _programs_dir(sandbox.tmp, builder.programs)
    (prebuilt / program).unlink()

    result = sandbox.run(_script(builder.script), {builder.variable: str(prebuilt)})

    assert result.returncode == 1
    assert builder.variable in result.stderr
    assert program in result.stderr
    assert sandbox.builds() == []


# What each command runs last, a stub here that prints what it was given.
COMMANDS = {
    "test": ".venv/bin/pytest",
    "bench": ".venv/bin/python",
    "sandbox": ".venv/bin/python",
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_the_dev_commands_keep_the_bin_dirs_the_user_set(sandbox: Sandbox, command: str) -> None:
    # A copy of the scripts and the build modules, so that venv.sh and the
    # .venv programs can be stubs: nothing is installed, linted or run.
    root = sandbox.tmp / "repo"
    shutil.copytree(ROOT / "scripts" / "dev", root / "scripts" / "dev")
    shutil.copytree(ROOT / "build", root / "build")
    (root / "scripts" / "dev" / "venv.sh").write_text("exit 0\n")
    venv_bin = root / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    for name in ("ruff", "mypy", "lint-imports", "pytest", "python", "odoo-operator"):
        (venv_bin / name).write_text("#!/bin/sh\n")
        (venv_bin / name).chmod(0o755)
    (root / COMMANDS[command]).write_text(
        '#!/bin/sh\necho "$ODOO_OPERATOR_KUBE_BIN_DIR $ODOO_OPERATOR_S3_BIN_DIR'
        ' $ODOO_OPERATOR_HELM_BIN_DIR"\n'
    )
    prebuilt = _programs_dir(sandbox.tmp, KUBE.programs + S3.programs + HELM.programs)
    given = {builder.variable: str(prebuilt) for builder in BUILDERS}

    result = sandbox.run(root / "scripts" / "dev" / command, given)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == " ".join([str(prebuilt)] * 3)
    assert sandbox.builds() == []
