"""Embedded S3: a versitygw server on its posix backend, for the tests and the sandbox.

Owns starting, health-checking and stopping one `versitygw` process that
serves every bucket as a directory of `data_dir` (objects are files, so a
sandbox restart finds every backup again), with one access key pair kept in
`base_dir/credentials` (mode 600) and reused across runs. The binaries come
from scripts/dev/s3-binaries (built from build/s3/, cached), or from
$ODOO_OPERATOR_S3_BIN_DIR; the same directory holds `aws`, the S3 client the
Job scripts run, which `client_path` puts on a runner's PATH.

It must not know about backups: buckets and keys are the callers' business.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from activities import s3 as s3_client
from sandbox import processes

__all__ = ["BIN_DIR_VARIABLE", "S3Server", "binaries_dir"]

BIN_DIR_VARIABLE = "ODOO_OPERATOR_S3_BIN_DIR"
"""Where `versitygw` and `aws` are; set by scripts/dev/test and scripts/dev/sandbox."""

BINARIES = ("versitygw", "aws")

STARTUP_TIMEOUT_SECONDS = 30.0
"""versitygw listens within about 0.1 s; the margin covers a loaded machine."""

STOP_TIMEOUT_SECONDS = 10.0


def binaries_dir() -> Path:
    """$ODOO_OPERATOR_S3_BIN_DIR, else what scripts/dev/s3-binaries prints (it builds
    versitygw and installs the aws CLI the first time)."""
    return processes.built_binaries(BIN_DIR_VARIABLE, "s3-binaries", BINARIES)


class S3Server:
    """One versitygw process on 127.0.0.1 serving `base_dir/data`.

    Without `base_dir` a temporary directory is used (removed by remove()).
    The port is fixed in the constructor, so stop() then start() keeps the
    address, and the credentials file keeps the keys.
    """

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        port: int | None = None,
        host: str = processes.LOCALHOST,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
    ) -> None:
        self._owns_base_dir = base_dir is None
        if base_dir is None:
            base_dir = Path(tempfile.mkdtemp(prefix="odoo-operator-s3-"))
        base_dir.mkdir(parents=True, exist_ok=True)
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.log_file = base_dir / "versitygw.log"
        self.host = host
        self.port = port if port is not None else processes.free_port(host)
        self.startup_timeout = startup_timeout
        self.bin_dir = binaries_dir()
        self.access_key, self.secret_key = self._load_or_make_credentials()
        self._process: subprocess.Popen[bytes] | None = None
        self._reaper: processes.Reaper | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def client_path(self) -> Path:
        """The directory holding the `aws` CLI, for a pod runner's PATH."""
        return self.bin_dir

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def client(self) -> s3_client.S3Client:
        return s3_client.S3Client(self.endpoint, self.access_key, self.secret_key)

    def start(self) -> float:
        """Start versitygw and wait until it answers S3 requests; return the seconds taken."""
        if self.running:
            return 0.0
        if not processes.port_is_free(self.port, self.host):
            raise processes.PortInUseError(self.port, "the S3 server")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # The keys go through the environment (versitygw reads ROOT_ACCESS_KEY and
        # ROOT_SECRET_KEY), never through argv where `ps` would show them.
        env = {
            **os.environ,
            "ROOT_ACCESS_KEY": self.access_key,
            "ROOT_SECRET_KEY": self.secret_key,
        }
        command = [
            str(self.bin_dir / "versitygw"),
            "--port",
            f"{self.host}:{self.port}",
            "posix",
            str(self.data_dir),
        ]
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        self._reaper = processes.Reaper(
            ["kill", "-KILL", str(self._process.pid)],
            remove=[self.base_dir] if self._owns_base_dir else [],
        )
        return processes.wait_until(
            self._answers,
            timeout=self.startup_timeout,
            what=f"versitygw on {self.endpoint}",
            failure=self._exited,
        )

    def stop(self) -> None:
        if self._process is not None:
            processes.stop_process(self._process, timeout=STOP_TIMEOUT_SECONDS)
            self._process = None
        if self._reaper is not None:
            self._reaper.disarm()
            self._reaper = None

    def remove(self) -> None:
        """Stop, and delete the directory when it was a temporary one."""
        self.stop()
        if self._owns_base_dir:
            import shutil

            shutil.rmtree(self.base_dir, ignore_errors=True)

    def create_bucket(self, bucket: str) -> bool:
        """Create `bucket` (False: it existed)."""
        return self.client().create_bucket(bucket)

    def __enter__(self) -> S3Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    # --- internals -----------------------------------------------------------

    def _load_or_make_credentials(self) -> tuple[str, str]:
        path = self.base_dir / "credentials"
        try:
            data = json.loads(path.read_text())
            return str(data["accessKey"]), str(data["secretKey"])
        except (OSError, ValueError, KeyError):
            pass
        access = "AK" + secrets.token_hex(9).upper()
        secret = secrets.token_urlsafe(30)
        path.write_text(json.dumps({"accessKey": access, "secretKey": secret}))
        path.chmod(0o600)
        return access, secret

    def _answers(self) -> bool:
        if not processes.port_accepts(self.port, self.host):
            return False
        # An unsigned request gets an S3 error document back once the server is up.
        try:
            with urllib.request.urlopen(self.endpoint + "/", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False

    def _exited(self) -> str | None:
        if self._process is not None and self._process.poll() is not None:
            return f"exited with {self._process.returncode}: {processes.tail(self.log_file)}"
        return None
