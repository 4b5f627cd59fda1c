"""The swap of a saga, against the real embedded PostgreSQL 18: copy, swap in, swap back.

The cells of the fault matrix that belong to the swap (issue 18, point 6),
at the cheapest level that really exercises them: activities.databases'
statements on a real server, faults injected between them. Each cell writes
a marker table (tests/markers.py) into the live database before the
operation and checks it after: exactly as before (undone), or the incoming
database's (swapped), never anything else.

Covers:
- swap_in makes the incoming database live and keeps the previous one aside,
  closed to connections; a second call finds it done; swap_back puts the
  previous one back and the incoming one under its own name; again: nothing
  to undo; without a live database the incoming one just moves in;
- a crash (the worker killed, or PostgreSQL gone) before the first rename,
  between the two renames and after them: a new call completes the swap, or
  swap_back returns to the previous database, from every one of those points;
- PostgreSQL down (stopped for real) before the first rename, between the
  renames and after them: a retryable error, then the swap completes once it
  is back;
- a session of another role on the live or the incoming database: a
  superuser admin ends it and swaps; a CREATEROLE admin that may not end it
  gets a retryable error naming the role and application, and swap_back then
  leaves the live database as it was, open again;
- a session of another role on the swapped-in database when the swap is
  undone (a rollback after the health check): ended by a superuser; named to
  a CREATEROLE admin, the database closed so it cannot come back, and undone
  once it ended;
- a session of another role on a leftover copy the undo drops: ended by a
  superuser; named to a CREATEROLE admin (retryable, the copy closed), and
  the copy dropped once it ended;
- copy_database (an upgrade's kept-aside copy): a consistent copy while a
  session of another role sits on the source (ended), the source open again,
  the copy closed and marked; a crash after CREATE DATABASE is resumed; a
  session a CREATEROLE admin may not end: a retryable error naming it, no
  copy left, the source open and as it was;
- incoming database missing, or the aside name taken: SwapConflict, not retried.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr

from activities import databases
from activities.clusters import Cluster
from model import failures, naming
from sandbox import postgres
from tests import sessions
from tests.markers import Marker, marker, write_marker

Conn = psycopg.Connection[tuple[Any, ...]]
_T = TypeVar("_T")
MARK = naming.operation_mark("restore", "0f1e2d3c-0000-4000-8000-000000000000")


def _cluster(server: postgres.EmbeddedPostgres, user: str, password: str) -> Cluster:
    return Cluster(
        name="main",
        host=server.host,
        port=server.port,
        admin_user=user,
        admin_password=SecretStr(password),
    )


@pytest.fixture
def su(postgres_server: postgres.EmbeddedPostgres) -> Iterator[Conn]:
    """A superuser connection that sets scenes up and inspects them (per test: one
    test restarts the server)."""
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def superuser(postgres_server: postgres.EmbeddedPostgres) -> Cluster:
    return _cluster(postgres_server, postgres_server.admin_user, postgres_server.admin_password)


@pytest.fixture(scope="module")
def cnpg_admin(postgres_server: postgres.EmbeddedPostgres) -> Iterator[Cluster]:
    """A CREATEROLE CREATEDB admin without pg_signal_backend (as CNPG hands out)."""
    name, password = f"swap_admin_{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} WITH LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
    yield _cluster(postgres_server, name, password)
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.fixture(params=["createrole-admin", "superuser"])
def admin(request: pytest.FixtureRequest, cnpg_admin: Cluster, superuser: Cluster) -> Cluster:
    return cnpg_admin if request.param == "createrole-admin" else superuser


@dataclass
class Scene:
    """An instance's role with a live and an incoming database, each with its marker."""

    server: postgres.EmbeddedPostgres
    su: Conn
    role: str
    password: str
    live: str
    incoming: str
    aside: str
    live_marker: Marker = (0, "")
    incoming_marker: Marker = (0, "")
    made: list[str] = field(default_factory=list)

    def connect(self, database: str) -> Conn:
        return psycopg.connect(
            host=self.server.host,
            port=self.server.port,
            user=self.role,
            password=self.password,
            dbname=database,
            autocommit=True,
        )

    def create(self, database: str, seed: str) -> Marker:
        with self.connect("postgres") as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
        with self.connect(database) as conn:
            return write_marker(conn, seed=seed)

    def marker(self, database: str) -> Marker:
        with self.connect(database) as conn:
            return marker(conn)

    def names(self) -> set[str]:
        rows = self.su.execute(
            "SELECT datname FROM pg_database WHERE datname = ANY(%s)",
            ([self.live, self.incoming, self.aside],),
        ).fetchall()
        return {name for (name,) in rows}

    def allows(self, database: str) -> bool:
        row = self.su.execute(
            "SELECT datallowconn FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        assert row is not None
        return bool(row[0])

    def assert_swapped(self) -> None:
        assert self.names() == {self.live, self.aside}
        assert self.marker(self.live) == self.incoming_marker
        assert self.allows(self.live)
        assert not self.allows(self.aside)  # kept aside, closed
        self.su.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(
                sql.Identifier(self.aside)
            )
        )
        assert self.marker(self.aside) == self.live_marker
        self.su.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
                sql.Identifier(self.aside)
            )
        )

    def assert_undone(self) -> None:
        assert self.names() == {self.live, self.incoming}
        assert self.allows(self.live)
        assert self.marker(self.live) == self.live_marker  # exactly as before


@pytest.fixture
def scene(
    postgres_server: postgres.EmbeddedPostgres, su: Conn, cnpg_admin: Cluster
) -> Iterator[Scene]:
    """Made through the CREATEROLE admin, so it holds ADMIN on the role (as the
    operator's ensure_role leaves it)."""
    suffix = uuid.uuid4().hex[:8]
    role, password = f"odoo.swap.{suffix}", uuid.uuid4().hex
    databases.Databases().ensure_role(cnpg_admin, role, SecretStr(password))
    live = f"odoo_{suffix}"
    found = Scene(
        server=postgres_server,
        su=su,
        role=role,
        password=password,
        live=live,
        incoming=naming.restore_database_name(live),
        aside=naming.aside_database_name(live, "0f1e2d3c-0000-4000-8000-000000000000"),
    )
    found.live_marker = found.create(live, "live")
    found.incoming_marker = found.create(found.incoming, "incoming")
    assert found.live_marker != found.incoming_marker
    yield found
    for name in (found.live, found.incoming, found.aside, *found.made):
        found.su.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
    found.su.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    if found.su is not su:  # reopened after a restart of the server
        found.su.close()


def _swap(db: databases.Databases, cluster: Cluster, s: Scene) -> databases.SwapOutcome:
    return db.swap_in(cluster, live=s.live, incoming=s.incoming, aside=s.aside, mark=MARK)


def _back(db: databases.Databases, cluster: Cluster, s: Scene) -> databases.SwapOutcome:
    return db.swap_back(cluster, live=s.live, incoming=s.incoming, aside=s.aside, mark=MARK)


# --- the plain sequence ---------------------------------------------------------------


def test_swap_keeps_the_previous_database_aside_and_swap_back_restores_it(
    scene: Scene, admin: Cluster
) -> None:
    db = databases.Databases()
    assert _swap(db, admin, scene) is databases.SwapOutcome.SWAPPED
    scene.assert_swapped()
    assert _swap(db, admin, scene) is databases.SwapOutcome.ALREADY_SWAPPED
    scene.assert_swapped()

    assert _back(db, admin, scene) is databases.SwapOutcome.UNDONE
    scene.assert_undone()
    assert _back(db, admin, scene) is databases.SwapOutcome.NOT_SWAPPED
    scene.assert_undone()


def test_incoming_moves_in_when_there_is_no_live_database(scene: Scene, admin: Cluster) -> None:
    scene.su.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(scene.live)))
    db = databases.Databases()
    assert _swap(db, admin, scene) is databases.SwapOutcome.SWAPPED
    assert scene.names() == {scene.live}
    assert scene.marker(scene.live) == scene.incoming_marker
    assert _back(db, admin, scene) is databases.SwapOutcome.UNDONE
    assert scene.names() == {scene.incoming}


def test_missing_incoming_or_taken_aside_name_is_a_conflict(scene: Scene, admin: Cluster) -> None:
    db = databases.Databases()
    scene.create(scene.aside, "squatter")
    with pytest.raises(databases.SwapConflict) as taken:
        _swap(db, admin, scene)
    assert taken.value.type == failures.SWAP_CONFLICT
    assert taken.value.non_retryable
    assert f"a database {scene.aside!r} exists already" in taken.value.message
    scene.su.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(scene.aside)))
    scene.su.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(scene.incoming)))
    with pytest.raises(databases.SwapConflict) as missing:
        _swap(db, admin, scene)
    assert f"{scene.incoming!r} does not exist" in missing.value.message
    assert scene.marker(scene.live) == scene.live_marker


# --- crashes between statements -----------------------------------------------------


class Crash(Exception):
    """Where the injected fault struck (the test's own bookkeeping)."""


@dataclass
class FaultyConnect:
    """databases.Connect whose connection dies at the `occurrence`th statement
    matching `pattern`: before running it, or (after=True) once it ran, as a
    worker killed or PostgreSQL going away there would leave things."""

    pattern: str
    occurrence: int = 1
    after: bool = False
    seen: int = 0
    struck: bool = False

    def __call__(self, cluster: Cluster, *, user: str, password: SecretStr, dbname: str) -> Any:
        return _Faulty(
            databases.connect(cluster, user=user, password=password, dbname=dbname), self
        )


class _Faulty:
    def __init__(self, conn: Conn, fault: FaultyConnect) -> None:
        self._conn = conn
        self._fault = fault
        self.pgconn = conn.pgconn

    def execute(self, query: Any, params: Any = None) -> Any:
        text = query.as_string(self._conn) if isinstance(query, sql.Composable) else str(query)
        fault = self._fault
        hit = not fault.struck and fault.pattern in text
        if hit:
            fault.seen += 1
            hit = fault.seen == fault.occurrence
        if hit and not fault.after:
            fault.struck = True
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        result = self._conn.execute(query, params)
        if hit:
            fault.struck = True
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return result

    def __enter__(self) -> _Faulty:
        return self

    def __exit__(self, *exc: object) -> None:
        self._conn.close()


# (cell, pattern, occurrence, after): where in swap_in the connection dies.
SWAP_CRASHES = [
    ("before-the-mark", "COMMENT ON DATABASE", 1, False),
    ("before-the-first-rename", "RENAME TO", 1, False),
    ("between-the-renames", "RENAME TO", 2, False),
    ("after-the-renames", "ALLOW_CONNECTIONS true", 1, False),
    ("after-the-last-statement", "ALLOW_CONNECTIONS true", 1, True),
]


@pytest.mark.parametrize(
    ("cell", "pattern", "occurrence", "after"),
    [pytest.param(c, p, o, a, id=c) for c, p, o, a in SWAP_CRASHES],
)
@pytest.mark.parametrize("then", ["resume", "undo"])
def test_swap_interrupted_at_any_point_is_completed_or_undone(
    scene: Scene,
    cnpg_admin: Cluster,
    cell: str,
    pattern: str,
    occurrence: int,
    after: bool,
    then: str,
) -> None:
    faulty = FaultyConnect(pattern, occurrence, after)
    with pytest.raises(databases.PostgresUnavailable):
        _swap(databases.Databases(connect=faulty), cnpg_admin, scene)
    assert faulty.struck
    started = time.monotonic()
    db = databases.Databases()
    if then == "resume":
        assert _swap(db, cnpg_admin, scene) in (
            databases.SwapOutcome.SWAPPED,
            databases.SwapOutcome.ALREADY_SWAPPED,
        )
        scene.assert_swapped()
    else:
        _back(db, cnpg_admin, scene)
        scene.assert_undone()
    print(f"MATRIX swap:{cell}:worker-killed:{then} {time.monotonic() - started:.2f}s")


@pytest.mark.parametrize(
    ("pattern", "occurrence"),
    [pytest.param("RENAME TO", 1, id="first-rename"), pytest.param("RENAME TO", 2, id="second")],
)
def test_swap_back_interrupted_is_completed(
    scene: Scene, cnpg_admin: Cluster, pattern: str, occurrence: int
) -> None:
    db = databases.Databases()
    _swap(db, cnpg_admin, scene)
    with pytest.raises(databases.PostgresUnavailable):
        _back(databases.Databases(connect=FaultyConnect(pattern, occurrence)), cnpg_admin, scene)
    assert _back(db, cnpg_admin, scene) is databases.SwapOutcome.UNDONE
    scene.assert_undone()


# --- PostgreSQL down for real --------------------------------------------------------


# (cell, pattern, occurrence): where the server goes away under swap_in.
POSTGRES_GONE = [
    ("before-the-first-rename", "RENAME TO", 1),
    ("between-the-renames", "RENAME TO", 2),
    ("after-the-renames", "ALLOW_CONNECTIONS true", 1),
]


@pytest.mark.parametrize(
    ("cell", "pattern", "occurrence"), [pytest.param(*p, id=p[0]) for p in POSTGRES_GONE]
)
def test_swap_while_postgres_is_down_is_retryable_and_completes_once_it_is_back(
    scene: Scene,
    cnpg_admin: Cluster,
    postgres_server: postgres.EmbeddedPostgres,
    cell: str,
    pattern: str,
    occurrence: int,
) -> None:
    # The connection dies there, then the server is stopped for real.
    with pytest.raises(databases.PostgresUnavailable):
        _swap(databases.Databases(connect=FaultyConnect(pattern, occurrence)), cnpg_admin, scene)
    postgres_server.stop()
    try:
        with pytest.raises(databases.PostgresUnavailable) as down:
            _swap(databases.Databases(), cnpg_admin, scene)
        assert not down.value.non_retryable
        assert down.value.type == failures.POSTGRES_UNAVAILABLE
    finally:
        postgres_server.start()
    started = time.monotonic()
    scene.su = psycopg.connect(postgres_server.dsn(), autocommit=True)
    assert _swap(databases.Databases(), cnpg_admin, scene) in (
        databases.SwapOutcome.SWAPPED,
        databases.SwapOutcome.ALREADY_SWAPPED,
    )
    scene.assert_swapped()
    print(f"MATRIX swap:{cell}:postgres-down:resume {time.monotonic() - started:.2f}s")


# --- sessions of another role ---------------------------------------------------------


@pytest.fixture
def foreign(postgres_server: postgres.EmbeddedPostgres) -> Iterator[Callable[[str], Conn]]:
    """Sessions of another role (a monitoring agent) on a database of the scene."""
    with sessions.foreign_role(postgres_server) as open_on:
        yield open_on


@pytest.mark.parametrize("held", ["live", "incoming"])
def test_a_foreign_session_is_ended_by_a_superuser_admin(
    scene: Scene, superuser: Cluster, foreign: Callable[[str], Conn], held: str
) -> None:
    session = foreign(scene.live if held == "live" else scene.incoming)
    started = time.monotonic()
    assert _swap(databases.Databases(), superuser, scene) is databases.SwapOutcome.SWAPPED
    scene.assert_swapped()
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    print(f"MATRIX swap:{held}:foreign-session:superuser {time.monotonic() - started:.2f}s")


@pytest.mark.parametrize("held", ["live", "incoming"])
def test_a_foreign_session_the_admin_may_not_end_is_named_and_undone(
    scene: Scene, cnpg_admin: Cluster, foreign: Callable[[str], Conn], held: str
) -> None:
    session = foreign(scene.live if held == "live" else scene.incoming)
    with pytest.raises(databases.PostgresUnavailable) as refused:
        _swap(databases.Databases(), cnpg_admin, scene)
    assert not refused.value.non_retryable
    assert "role 'monitor_" in refused.value.message
    assert "(monitoring-agent)" in refused.value.message
    assert "pg_signal_backend" in refused.value.message
    started = time.monotonic()
    _back(databases.Databases(), cnpg_admin, scene)
    scene.assert_undone()
    assert session.execute("SELECT 1").fetchone() == (1,)  # never touched
    print(f"MATRIX swap:{held}:foreign-session:createrole-undo {time.monotonic() - started:.2f}s")


def test_swap_back_meets_a_foreign_session_on_the_swapped_in_database(
    scene: Scene, admin: Cluster, cnpg_admin: Cluster, foreign: Callable[[str], Conn]
) -> None:
    """A restore rolled back after its health check failed: a monitoring agent has
    connected to the restored database meanwhile. Its session ended (a superuser),
    or named until it ends (the database closed: it cannot come back), then undone."""
    db = databases.Databases()
    assert _swap(db, admin, scene) is databases.SwapOutcome.SWAPPED
    session = foreign(scene.live)
    if admin is cnpg_admin:
        with pytest.raises(databases.PostgresUnavailable) as refused:
            _back(db, admin, scene)
        assert not refused.value.non_retryable
        assert "(monitoring-agent)" in refused.value.message
        assert not scene.allows(scene.live)  # closed: the agent cannot come back
        session.close()
    started = time.monotonic()  # (from the session's end, when it had to end by itself)
    _until_done(lambda: _back(db, admin, scene))
    scene.assert_undone()
    who = "createrole" if admin is cnpg_admin else "superuser"
    print(f"MATRIX swap-back:foreign-session:{who} {_since(started)}")


def test_a_leftover_copy_held_by_a_foreign_session_is_dropped(
    scene: Scene, superuser: Cluster, foreign: Callable[[str], Conn]
) -> None:
    session = foreign(scene.incoming)
    started = time.monotonic()
    outcome = databases.Databases().drop_database(superuser, scene.incoming, owner=scene.role)
    assert outcome is databases.DropOutcome.DROPPED
    assert scene.names() == {scene.live}
    assert scene.marker(scene.live) == scene.live_marker
    with pytest.raises(psycopg.OperationalError):
        session.execute("SELECT 1")
    print(f"MATRIX drop:foreign-session:superuser {_since(started)}")


def test_a_leftover_copy_held_by_a_session_the_admin_may_not_end_is_dropped_once_it_ends(
    scene: Scene, cnpg_admin: Cluster, foreign: Callable[[str], Conn]
) -> None:
    """A monitoring agent connected to `<db>_restoring` while the restore Job loaded
    it, and the restore failed: the undo's drop names the session (retryable, the
    saga retries it), closes the copy so the agent cannot come back, and drops it
    once the session ended."""
    session = foreign(scene.incoming)
    db = databases.Databases()
    with pytest.raises(databases.PostgresUnavailable) as refused:
        db.drop_database(cnpg_admin, scene.incoming, owner=scene.role)
    assert not refused.value.non_retryable
    assert "role 'monitor_" in refused.value.message
    assert "(monitoring-agent)" in refused.value.message
    assert not scene.allows(scene.incoming)
    session.close()
    started = time.monotonic()
    dropped = _until_done(lambda: db.drop_database(cnpg_admin, scene.incoming, owner=scene.role))
    assert dropped is databases.DropOutcome.DROPPED
    assert scene.names() == {scene.live}
    assert scene.marker(scene.live) == scene.live_marker  # never touched
    print(f"MATRIX drop:foreign-session:createrole {_since(started)}")


def _until_done(attempt: Callable[[], _T], deadline: float = 30.0) -> _T:
    """`attempt` retried while it fails retryably, as the saga's activity is (an
    ended session leaves pg_stat_activity a moment after its client closed)."""
    until = time.monotonic() + deadline
    while True:
        try:
            return attempt()
        except databases.PostgresUnavailable:
            if time.monotonic() > until:
                raise
            time.sleep(0.1)


def _since(started: float) -> str:
    return f"{time.monotonic() - started:.2f}s"


# --- the upgrade's copy --------------------------------------------------------------


def test_copy_is_consistent_closed_and_marked_while_a_session_sat_on_the_source(
    scene: Scene, superuser: Cluster, foreign: Callable[[str], Conn]
) -> None:
    copy = naming.aside_database_name(scene.live, str(uuid.uuid4()))
    scene.made.append(copy)
    foreign(scene.live)
    db = databases.Databases()
    started = time.monotonic()
    assert db.copy_database(superuser, scene.live, copy, MARK) is True
    print(f"MATRIX copy:live:foreign-session:superuser {_since(started)}")
    assert scene.allows(scene.live)
    assert not scene.allows(copy)
    found = db.existing(superuser, [copy, scene.live])
    assert found[copy].mark == MARK
    assert found[copy].owner == scene.role
    assert scene.marker(scene.live) == scene.live_marker
    scene.su.execute(
        sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true").format(sql.Identifier(copy))
    )
    assert scene.marker(copy) == scene.live_marker
    assert db.copy_database(superuser, scene.live, copy, MARK) is False  # idempotent


def test_copy_interrupted_after_create_database_is_resumed(
    scene: Scene, cnpg_admin: Cluster
) -> None:
    copy = naming.aside_database_name(scene.live, str(uuid.uuid4()))
    scene.made.append(copy)
    faulty = FaultyConnect("CREATE DATABASE", after=True)
    with pytest.raises(databases.PostgresUnavailable):
        databases.Databases(connect=faulty).copy_database(cnpg_admin, scene.live, copy, MARK)
    db = databases.Databases()
    started = time.monotonic()
    assert db.copy_database(cnpg_admin, scene.live, copy, MARK) is False
    print(f"MATRIX copy:worker-killed:resume {_since(started)}")
    assert scene.allows(scene.live)
    assert not scene.allows(copy)
    assert db.existing(cnpg_admin, [copy])[copy].mark == MARK


def test_copy_blocked_by_a_session_the_admin_may_not_end_leaves_the_source_as_it_was(
    scene: Scene, cnpg_admin: Cluster, foreign: Callable[[str], Conn]
) -> None:
    copy = naming.aside_database_name(scene.live, str(uuid.uuid4()))
    scene.made.append(copy)
    session = foreign(scene.live)
    started = time.monotonic()
    with pytest.raises(databases.PostgresUnavailable) as refused:
        databases.Databases().copy_database(cnpg_admin, scene.live, copy, MARK)
    assert not refused.value.non_retryable  # the saga retries it, then gives the upgrade up
    assert "role 'monitor_" in refused.value.message
    assert "(monitoring-agent)" in refused.value.message
    assert scene.names() == {scene.live, scene.incoming}  # no copy left
    assert scene.allows(scene.live)  # open again
    assert scene.marker(scene.live) == scene.live_marker
    assert session.execute("SELECT 1").fetchone() == (1,)
    print(f"MATRIX copy:live:foreign-session:createrole {time.monotonic() - started:.2f}s")
