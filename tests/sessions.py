"""Sessions of another role on an instance's databases: a monitoring agent's.

Not a test module. `foreign_role` makes a login role with no privilege over
any instance's role (as a monitoring agent connected to every database has),
opens its sessions on the databases a test names (application_name
`monitoring-agent`, which the operator's messages name), and at the end
closes them, ends any the test left, and drops the role.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
from psycopg import sql

from sandbox import postgres

Conn = psycopg.Connection[tuple[Any, ...]]
APPLICATION = "monitoring-agent"


@contextlib.contextmanager
def foreign_role(server: postgres.EmbeddedPostgres) -> Iterator[Callable[[str], Conn]]:
    """A function opening a session of the role on a database (see the module docstring)."""
    role, password = f"monitor_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    with psycopg.connect(server.dsn(), autocommit=True) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
    opened: list[Conn] = []

    def open_on(database: str) -> Conn:
        dsn = server.dsn(database, with_password=False)
        conn = psycopg.connect(
            dsn, user=role, password=password, autocommit=True, application_name=APPLICATION
        )
        opened.append(conn)
        return conn

    try:
        yield open_on
    finally:
        for conn in opened:
            conn.close()
        with psycopg.connect(server.dsn(), autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
