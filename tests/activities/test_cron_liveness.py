"""The cron pod's liveness command against a real PostgreSQL.

Covers: the exec probe of the cron Deployment (run with /bin/sh and the
embedded server's psql, with the env the container gets: HOST, PORT, USER,
PASSWORD, PGDATABASE) succeeds while every active scheduled action is on
time, fails once one is overdue by more than CRON_OVERDUE_MINUTES (the cron
thread died: nothing runs them), ignores an overdue action that is being run
right now (its row is locked by the runner) and inactive ones, and fails
when the database cannot be reached.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from sandbox import postgres
from specs import workloads
from tests.unit.specs.shop import container, make


@pytest.fixture
def cron_database(postgres_server: postgres.EmbeddedPostgres) -> Iterator[str]:
    name = f"cron_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    with psycopg.connect(postgres_server.dsn(name), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE ir_cron (id serial PRIMARY KEY, active boolean, nextcall timestamp)"
        )
    yield name
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _probe(server: postgres.EmbeddedPostgres, database: str, port: int | None = None) -> int:
    command = container(workloads.cron_deployment(make(), replicas=0))["livenessProbe"]["exec"]
    env = {
        "PATH": f"{server.bin_dir}:/usr/bin:/bin",
        "HOST": server.host,
        "PORT": str(port or server.port),
        "USER": server.admin_user,
        "PASSWORD": server.admin_password,
        "PGDATABASE": database,
        "LD_LIBRARY_PATH": os.environ.get("LD_LIBRARY_PATH", ""),
    }
    return subprocess.run(command["command"], env=env, capture_output=True, timeout=30).returncode


def _add(server: postgres.EmbeddedPostgres, database: str, minutes_ago: int, active: bool) -> None:
    with psycopg.connect(server.dsn(database), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO ir_cron (active, nextcall) VALUES "
            "(%s, (now() AT TIME ZONE 'UTC') - make_interval(mins => %s))",
            (active, minutes_ago),
        )


def test_cron_probe_passes_when_actions_are_on_time_and_fails_when_one_is_overdue(
    postgres_server: postgres.EmbeddedPostgres, cron_database: str
) -> None:
    _add(postgres_server, cron_database, 1, True)
    _add(postgres_server, cron_database, 600, False)  # inactive: never runs
    assert _probe(postgres_server, cron_database) == 0
    _add(postgres_server, cron_database, workloads.CRON_OVERDUE_MINUTES + 5, True)
    assert _probe(postgres_server, cron_database) != 0


def test_cron_probe_passes_when_the_overdue_action_is_running(
    postgres_server: postgres.EmbeddedPostgres, cron_database: str
) -> None:
    _add(postgres_server, cron_database, workloads.CRON_OVERDUE_MINUTES + 5, True)
    with psycopg.connect(postgres_server.dsn(cron_database)) as runner:
        # What Odoo's cron runner holds while it runs a job.
        runner.execute("SELECT id FROM ir_cron FOR NO KEY UPDATE SKIP LOCKED").fetchall()
        assert _probe(postgres_server, cron_database) == 0
    assert _probe(postgres_server, cron_database) != 0


def test_cron_probe_fails_when_the_database_is_unreachable(
    postgres_server: postgres.EmbeddedPostgres, cron_database: str
) -> None:
    assert _probe(postgres_server, cron_database, port=1) != 0
