"""Role and database management against the real embedded PostgreSQL 18.

Most tests use a CNPG-style admin that is NOT a superuser (LOGIN CREATEROLE
CREATEDB only); a superuser connection only sets scenes up and inspects them.

Covers:
- ensure_role creates a missing role WITH LOGIN CREATEDB that can log in, and a
  second call changes nothing;
- a stale password is reset, after which it authenticates;
- a current password is never ALTERed: it succeeds when the admin lost ADMIN on
  the role (reference #128), and pg_authid keeps the same verifier;
- a stale password without ADMIN is a CONFIG_INVALID carrying the server message;
- names with dots, capitals and dashes, and SQL injection attempts, are quoted;
- database_exists answers True and False (and is case-sensitive);
- drop_database succeeds with a live connection open, and is idempotent;
- drop_role drops the databases the role owns (not others), then the role, is
  idempotent, and works for both a superuser and a CREATEROLE admin;
- insufficient privilege is a CONFIG_INVALID with the real PostgreSQL message;
- an unreachable cluster is a retryable error naming host:port;
- a wrong admin password is a CONFIG_INVALID that never shows the password;
- the SQLSTATE mapping (admin shutdown, too many connections, ...);
- the server major version; identifier length checks.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql
from pydantic import SecretStr

from activities import databases
from activities.clusters import Cluster
from model import failures
from sandbox import postgres, processes

NameMaker = Callable[[str], str]
Conn = psycopg.Connection[tuple[Any, ...]]


def _suffix() -> str:
    return uuid.uuid4().hex[:8]


def _cluster(server: postgres.EmbeddedPostgres, user: str, password: str, name: str) -> Cluster:
    return Cluster(
        name=name,
        host=server.host,
        port=server.port,
        admin_user=user,
        admin_password=SecretStr(password),
    )


@pytest.fixture(scope="module")
def superuser(postgres_server: postgres.EmbeddedPostgres) -> Cluster:
    return _cluster(
        postgres_server, postgres_server.admin_user, postgres_server.admin_password, "su"
    )


@pytest.fixture(scope="module")
def su(
    postgres_server: postgres.EmbeddedPostgres,
) -> Iterator[Conn]:
    """A superuser connection that sets scenes up and inspects them."""
    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="module")
def admin(postgres_server: postgres.EmbeddedPostgres, su: Conn) -> Iterator[Cluster]:
    """A CNPG-style cluster admin: LOGIN CREATEROLE CREATEDB, not a superuser."""
    name, password = f"cnpg_admin_{_suffix()}", f"pw-{uuid.uuid4().hex}"
    su.execute(
        sql.SQL("CREATE ROLE {} WITH LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
            sql.Identifier(name), sql.Literal(password)
        )
    )
    yield _cluster(postgres_server, name, password, "cnpg")
    su.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(name)))
    su.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(name)))


@pytest.fixture(params=["createrole-admin", "superuser"])
def any_admin(request: pytest.FixtureRequest, admin: Cluster, superuser: Cluster) -> Cluster:
    return admin if request.param == "createrole-admin" else superuser


@pytest.fixture
def roles(su: Conn) -> Iterator[NameMaker]:
    """Unique role names; whatever a test leaves behind is dropped afterwards."""
    made: list[str] = []

    def make(prefix: str) -> str:
        made.append(f"{prefix}{_suffix()}")
        return made[-1]

    yield make
    for role in made:
        owned = su.execute(
            "SELECT datname FROM pg_database WHERE datdba = "
            "(SELECT oid FROM pg_roles WHERE rolname = %s)",
            (role,),
        ).fetchall()
        for (database,) in owned:
            su.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
        su.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def _password() -> SecretStr:
    return SecretStr(uuid.uuid4().hex)


def _login(cluster: Cluster, role: str, password: SecretStr, dbname: str = "postgres") -> Conn:
    return databases.connect(cluster, user=role, password=password, dbname=dbname)


def _can_login(cluster: Cluster, role: str, password: SecretStr) -> bool:
    try:
        _login(cluster, role, password).close()
    except psycopg.OperationalError:
        return False
    return True


def _create_database_as(cluster: Cluster, role: str, password: SecretStr, database: str) -> None:
    """What Odoo does with -i: the role creates its own database."""
    with _login(cluster, role, password) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def _verifier(su: Conn, role: str) -> object:
    row = su.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (role,)).fetchone()
    assert row is not None
    return row[0]


def _revoke_admin_option(su: Conn, role: str, admin: Cluster) -> None:
    """What a CNPG managed-role reconcile does to the admin (reference #128)."""
    su.execute(
        sql.SQL("REVOKE ADMIN OPTION FOR {} FROM {} GRANTED BY postgres CASCADE").format(
            sql.Identifier(role), sql.Identifier(admin.admin_user)
        )
    )


# --- ensure_role --------------------------------------------------------------------


def test_role_is_created_with_createdb_login_when_missing(
    any_admin: Cluster, su: Conn, roles: NameMaker
) -> None:
    role, password = roles("odoo.ns.create-"), _password()

    first = databases.Databases().ensure_role(any_admin, role, password)
    second = databases.Databases().ensure_role(any_admin, role, password)

    assert (first, second) == (databases.RoleOutcome.CREATED, databases.RoleOutcome.UNCHANGED)
    row = su.execute(
        "SELECT rolcanlogin, rolcreatedb, rolsuper, rolcreaterole FROM pg_roles WHERE rolname = %s",
        (role,),
    ).fetchone()
    assert row == (True, True, False, False)
    assert _can_login(any_admin, role, password)


def test_password_is_reset_when_it_no_longer_authenticates(
    admin: Cluster, su: Conn, roles: NameMaker
) -> None:
    role, password = roles("odoo.ns.stale-"), _password()
    databases.Databases().ensure_role(admin, role, password)
    su.execute(sql.SQL("ALTER ROLE {} PASSWORD 'something-else'").format(sql.Identifier(role)))
    assert not _can_login(admin, role, password)

    outcome = databases.Databases().ensure_role(admin, role, password)

    assert outcome == databases.RoleOutcome.PASSWORD_RESET
    assert _can_login(admin, role, password)


def test_password_is_reset_when_role_was_made_nologin(
    admin: Cluster, su: Conn, roles: NameMaker
) -> None:
    role, password = roles("odoo.ns.nologin-"), _password()
    databases.Databases().ensure_role(admin, role, password)
    su.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))

    outcome = databases.Databases().ensure_role(admin, role, password)

    assert outcome == databases.RoleOutcome.PASSWORD_RESET
    assert _can_login(admin, role, password)


def test_role_is_not_altered_when_password_is_current_and_admin_lost_admin_option(
    admin: Cluster, su: Conn, roles: NameMaker
) -> None:
    role, password = roles("odoo.ns.cnpg-"), _password()
    databases.Databases().ensure_role(admin, role, password)
    _revoke_admin_option(su, role, admin)
    before = _verifier(su, role)

    outcome = databases.Databases().ensure_role(admin, role, password)

    assert outcome == databases.RoleOutcome.UNCHANGED
    assert _verifier(su, role) == before


def test_config_invalid_with_server_message_when_password_is_stale_and_admin_lacks_admin_option(
    admin: Cluster, su: Conn, roles: NameMaker
) -> None:
    role, password = roles("odoo.ns.noadmin-"), _password()
    databases.Databases().ensure_role(admin, role, password)
    _revoke_admin_option(su, role, admin)
    su.execute(sql.SQL("ALTER ROLE {} PASSWORD 'something-else'").format(sql.Identifier(role)))

    with pytest.raises(databases.PostgresConfigError) as caught:
        databases.Databases().ensure_role(admin, role, password)

    error = caught.value
    assert (error.type, error.non_retryable) == (failures.CONFIG_INVALID, True)
    assert "ERROR: permission denied to alter role" in error.message
    assert "ADMIN option" in error.message  # the server's DETAIL says what is missing
    assert password.get_secret_value() not in error.message


def test_password_is_stored_as_scram_verifier_when_role_is_created(
    admin: Cluster, su: Conn, roles: NameMaker
) -> None:
    role, password = roles("odoo.ns.scram-"), _password()

    databases.Databases().ensure_role(admin, role, password)

    assert str(_verifier(su, role)).startswith("SCRAM-SHA-256$")


# --- names ----------------------------------------------------------------------------


def test_names_are_quoted_when_they_have_dots_capitals_and_dashes(
    admin: Cluster, su: Conn, roles: NameMaker
) -> None:
    role, password = roles("odoo.Shop-1.ERP."), _password()
    database = f"odoo_AbC_{_suffix()}"
    dbs = databases.Databases()

    assert dbs.ensure_role(admin, role, password) == databases.RoleOutcome.CREATED
    _create_database_as(admin, role, password, database)

    assert dbs.database_exists(admin, database)
    assert not dbs.database_exists(admin, database.lower())
    assert dbs.drop_role(admin, role) == (database,)
    assert not dbs.database_exists(admin, database)


@pytest.mark.parametrize(
    "prefix", ['x"; DROP ROLE postgres; --', "x'; DROP ROLE postgres; --", "x\\'\""]
)
def test_injection_is_harmless_when_names_carry_sql(
    admin: Cluster, su: Conn, roles: NameMaker, prefix: str
) -> None:
    role, password = roles(prefix), _password()
    database = f"{prefix}{_suffix()}"
    dbs = databases.Databases()

    assert dbs.ensure_role(admin, role, password) == databases.RoleOutcome.CREATED
    assert _can_login(admin, role, password)
    _create_database_as(admin, role, password, database)
    assert dbs.database_exists(admin, database)
    assert dbs.drop_role(admin, role) == (database,)

    assert su.execute("SELECT count(*) FROM pg_roles WHERE rolname = 'postgres'").fetchone() == (1,)
    assert su.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)).fetchone() == (
        0,
    )


def test_database_name_is_refused_when_longer_than_63_bytes() -> None:
    with pytest.raises(databases.PostgresConfigError) as caught:
        databases.database_name_for("uid", "é" * 32)

    assert caught.value.message == (
        f"database name {'é' * 32!r} is 64 bytes; PostgreSQL names are at most 63 bytes: "
        "set a shorter spec.database.name"
    )
    assert caught.value.non_retryable


def test_database_name_comes_from_uid_when_spec_sets_none() -> None:
    uid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

    assert databases.database_name_for(uid, None) == "odoo_0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0"
    assert databases.database_name_for(uid, "shop") == "shop"


def test_role_name_is_refused_before_connecting_when_too_long(admin: Cluster) -> None:
    role = f"odoo.{'n' * 40}.{'i' * 40}"

    with pytest.raises(databases.PostgresConfigError, match="shorter instance name or namespace"):
        databases.Databases().ensure_role(admin, role, _password())


# --- databases ------------------------------------------------------------------------


def test_database_exists_answers_true_and_false(admin: Cluster, roles: NameMaker) -> None:
    role, password = roles("odoo.ns.exists-"), _password()
    database = f"exists_{_suffix()}"
    dbs = databases.Databases()
    dbs.ensure_role(admin, role, password)

    assert dbs.database_exists(admin, database) is False
    _create_database_as(admin, role, password, database)
    assert dbs.database_exists(admin, database) is True


def test_database_is_dropped_when_a_connection_to_it_is_open(
    any_admin: Cluster, roles: NameMaker
) -> None:
    role, password = roles("odoo.ns.live-"), _password()
    database = f"live_{_suffix()}"
    dbs = databases.Databases()
    dbs.ensure_role(any_admin, role, password)
    _create_database_as(any_admin, role, password, database)
    live = _login(any_admin, role, password, dbname=database)

    try:
        assert dbs.drop_database(any_admin, database) is databases.DropOutcome.DROPPED
        with pytest.raises(psycopg.OperationalError):
            live.execute("SELECT 1")
    finally:
        live.close()
    assert dbs.database_exists(any_admin, database) is False
    assert dbs.drop_database(any_admin, database) is databases.DropOutcome.ABSENT


# --- drop_role ------------------------------------------------------------------------


def test_role_and_its_databases_are_dropped_when_dropping_role(
    any_admin: Cluster, su: Conn, roles: NameMaker
) -> None:
    role, password = roles("odoo.ns.drop-"), _password()
    other, other_password = roles("odoo.ns.other-"), _password()
    owned = sorted(f"owned_{_suffix()}" for _ in range(2))
    kept = f"kept_{_suffix()}"
    dbs = databases.Databases()
    dbs.ensure_role(any_admin, role, password)
    dbs.ensure_role(any_admin, other, other_password)
    for database in owned:
        _create_database_as(any_admin, role, password, database)
    _create_database_as(any_admin, other, other_password, kept)
    live = _login(any_admin, role, password, dbname=owned[0])

    try:
        assert dbs.drop_role(any_admin, role) == tuple(owned)
    finally:
        live.close()

    assert su.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (role,)).fetchone() == (
        0,
    )
    assert [dbs.database_exists(any_admin, database) for database in owned] == [False, False]
    assert dbs.database_exists(any_admin, kept)
    assert dbs.drop_role(any_admin, role) == ()


def test_config_invalid_with_server_message_when_admin_may_not_drop_the_role(
    admin: Cluster, su: Conn, roles: NameMaker
) -> None:
    role, password = roles("odoo.ns.forbidden-"), _password()
    dbs = databases.Databases()
    dbs.ensure_role(admin, role, password)
    _revoke_admin_option(su, role, admin)

    with pytest.raises(databases.PostgresConfigError) as caught:
        dbs.drop_role(admin, role)

    assert caught.value.type == failures.CONFIG_INVALID
    assert f"dropping role {role!r} on cluster 'cnpg'" in caught.value.message
    assert "ERROR: permission denied to drop role" in caught.value.message


# --- connection failures --------------------------------------------------------------


def test_retryable_error_names_host_and_port_when_nothing_listens(
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    port = processes.free_port(postgres_server.host)
    down = _cluster(postgres_server, "postgres", "irrelevant-secret", "down")
    down = down.model_copy(update={"port": port})

    with pytest.raises(databases.PostgresUnavailable) as caught:
        databases.Databases().database_exists(down, "anything")

    error = caught.value
    assert (error.type, error.non_retryable) == (databases.POSTGRES_UNAVAILABLE, False)
    assert f"cluster 'down' ({postgres_server.host}:{port}) is unavailable" in error.message
    assert "Connection refused" in error.message


def test_config_invalid_without_the_password_when_admin_password_is_wrong(
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    wrong = f"wrong-{uuid.uuid4().hex}"
    cluster = _cluster(postgres_server, postgres_server.admin_user, wrong, "main")

    with pytest.raises(databases.PostgresConfigError) as caught:
        databases.Databases().server_major_version(cluster)

    error = caught.value
    assert (error.type, error.non_retryable) == (failures.CONFIG_INVALID, True)
    assert (
        f"admin login to cluster 'main' ({cluster.address}) as 'postgres' failed" in error.message
    )
    assert "password authentication failed" in error.message
    assert wrong not in error.message
    assert wrong not in repr(cluster)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errors.AdminShutdown, databases.PostgresUnavailable),
        (errors.TooManyConnections, databases.PostgresUnavailable),
        (errors.CannotConnectNow, databases.PostgresUnavailable),
        (errors.ConnectionFailure, databases.PostgresUnavailable),
        (errors.ObjectInUse, databases.PostgresUnavailable),
        (errors.DeadlockDetected, databases.PostgresUnavailable),
        (errors.InsufficientPrivilege, databases.PostgresConfigError),
        (errors.InvalidPassword, databases.PostgresConfigError),
        (errors.DependentObjectsStillExist, databases.PostgresStatementError),
        (errors.SyntaxError, databases.PostgresStatementError),
        (psycopg.OperationalError, databases.PostgresUnavailable),  # connection lost
        (psycopg.InterfaceError, databases.PostgresStatementError),
    ],
)
def test_errors_are_classified_by_what_the_caller_should_do(
    superuser: Cluster, error: type[psycopg.Error], expected: type[databases.PostgresError]
) -> None:
    mapped = databases.classify(error("boom"), superuser, "testing")

    assert type(mapped) is expected
    assert mapped.non_retryable is (expected is databases.PostgresConfigError)
    assert mapped.message.startswith(f"testing on cluster 'su' ({superuser.address}) failed: ")
    assert superuser.admin_password.get_secret_value() not in mapped.message


def test_server_major_version_is_read_when_admin_logs_in(admin: Cluster) -> None:
    assert databases.Databases().server_major_version(admin) == 18
