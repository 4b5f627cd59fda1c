"""`kubectl odoo psql NAME`: a psql session on the instance's database, as its own role.

Owns reading where and as whom to connect (the instance's ConfigMap: db_host,
db_port, db_name, db_user, as Odoo reads them; `--host`/`--port` override
them, e.g. for a `kubectl port-forward`) and the password (its Secret's
`password` key), and running the local `psql` with the password in its
environment only (PGPASSWORD): never on the command line, where `ps` and the
shell history would show it. Must not print or log the password.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from activities import api
from model import naming
from odoo_operator import environment
from specs import config

__all__ = ["Connection", "connection", "exec_psql"]


class PsqlError(Exception):
    """The session cannot be opened; the message says why."""


@dataclass(frozen=True)
class Connection:
    host: str
    port: str
    database: str
    user: str
    password: str

    def argv(self, extra: Sequence[str]) -> list[str]:
        """psql's command line: everything but the password."""
        return [
            "psql",
            f"--host={self.host}",
            f"--port={self.port}",
            f"--username={self.user}",
            f"--dbname={self.database}",
            *extra,
        ]


def connection(
    kube: api.KubeApi, namespace: str, name: str, *, host: str | None, port: str | None
) -> Connection:
    """Where and as whom `name`'s Odoo connects (see the module docstring)."""
    config_map = kube.find(api.CONFIG_MAP, namespace, naming.config_map_name(name))
    if config_map is None:
        raise PsqlError(
            f"no ConfigMap {naming.config_map_name(name)} in namespace {namespace}: is "
            f"{name} an OdooInstance the operator has set up?"
        )
    data = config_map.get("data") or {}
    secret_name = naming.db_password_secret_name(name)
    secret = kube.find(api.SECRET, namespace, secret_name)
    encoded = ((secret or {}).get("data") or {}).get(config.DB_PASSWORD_KEY)
    if not encoded:
        raise PsqlError(f"no key {config.DB_PASSWORD_KEY} in Secret {namespace}/{secret_name}")
    return Connection(
        host=host or data["db_host"],
        port=port or data["db_port"],
        database=data["db_name"],
        user=data["db_user"],
        password=base64.b64decode(encoded).decode(),
    )


def exec_psql(conn: Connection, extra: Sequence[str]) -> None:
    """Replace this process with psql (PGPASSWORD in its environment only)."""
    program = shutil.which("psql")
    if program is None:
        raise PsqlError("psql is not on PATH: install PostgreSQL's client tools")
    env = environment.child_environment(PGPASSWORD=conn.password)
    os.execve(program, conn.argv(extra), env)
