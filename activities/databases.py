"""PostgreSQL roles and databases of instances, through the cluster's admin login.

Owns every statement the operator process itself runs on a PostgreSQL
cluster: ensure an instance's role, check that its database exists, drop the
database, drop the role (with the databases it owns), read the server major
version, and, as the instance's role in its own database, keep Odoo's system
parameters; plus the database-name rule and the mapping of psycopg errors to
ApplicationErrors. It never creates databases (Odoo, createdb in Job scripts
and restores do) and never formats SQL by hand: identifiers and literals go
through psycopg.sql, values are bind parameters where PostgreSQL allows.
Passwords never appear in a message, log line or repr, and the server never
sees one in clear text: role passwords are sent as SCRAM verifiers computed by
libpq (like psql's \\password).

Public API (the activities in children/snapshot/... call these)::

    databases = Databases()                      # or Databases(connect=...) in tests
    databases.ensure_role(cluster, role, password: SecretStr) -> RoleOutcome
    databases.database_exists(cluster, database) -> bool
    databases.drop_database(cluster, database, owner=None) -> DropOutcome
    databases.drop_role(cluster, role) -> tuple[str, ...]    # databases dropped with it
    databases.server_major_version(cluster) -> int
    databases.set_parameters(cluster, database, role, password, {key: value}) -> keys written
    databases.existing(cluster, names) -> dict[str, DatabaseInfo]   # which exist, owner, mark
    databases.copy_database(cluster, source, copy, mark) -> bool     # CREATE ... TEMPLATE
    databases.swap_in(cluster, live=, incoming=, aside=, mark=) -> SwapOutcome
    databases.swap_back(cluster, live=, incoming=, aside=, mark=) -> SwapOutcome
    classify(psycopg_error, cluster, doing) -> PostgresError   # the error mapping
    database_name_for(uid, explicit) -> str      # spec.database.name or odoo_<uid>, checked
    check_identifier(what, value, fix) -> str    # <= 63 bytes, no NUL

`cluster` is an activities.clusters.Cluster (see clusters.read_cluster).

Errors, all ApplicationErrors so an activity may let them propagate::

    ApplicationError
     └─ PostgresError                 base; the message names the cluster (host:port)
         ├─ PostgresUnavailable        type=POSTGRES_UNAVAILABLE, retryable: refused,
         │                             timed out, too many connections, shutting
         │                             down, connection lost, object in use
         ├─ PostgresConfigError        type=CONFIG_INVALID, non-retryable: the admin
         │                             cannot log in, lacks a privilege, or a name is
         │                             not a legal identifier
         └─ PostgresStatementError     type=POSTGRES_ERROR, retryable: any other error;
                                       carries "<SEVERITY>: <server message>"

The swap of a saga (restore, upgrade rollback; SPEC "Operations that replace
data") is two renames on one admin connection: the live database aside, the
incoming one in. The incoming database carries a mark (COMMENT ON DATABASE,
naming.operation_mark) set before the first rename, so every call reads
where it stands from the names that exist and which one carries the mark,
and completes or undoes what a crashed attempt left half done (even between
the two renames). Before renaming, a database is closed to new connections
(ALLOW_CONNECTIONS false) and its sessions are ended; the kept-aside one
stays closed, the one that ends up live is opened again. A session the admin
may not end (another role's, without pg_signal_backend) makes the rename
fail with a retryable PostgresUnavailable naming the role and application
holding it. Such a session fails the drop of a database the same way
(drop_database closes the database first, as the swap does).

A non-superuser admin (CREATEROLE CREATEDB, as CNPG or a cloud provider hands
out) works: PostgreSQL 16+ gives it ADMIN on the roles it creates, and to drop
a database owned by such a role the admin first grants itself the role (WITH
INHERIT). ensure_role never ALTERs a role whose password still authenticates,
so it also succeeds where ADMIN was taken away (reference #128).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import psycopg
from psycopg import errors, sql
from pydantic import SecretStr
from temporalio.exceptions import ApplicationError

from activities.clusters import Cluster
from model import failures, naming

__all__ = [
    "ADMIN_DATABASE",
    "CONNECT_TIMEOUT_SECONDS",
    "MAX_IDENTIFIER_BYTES",
    "POSTGRES_ERROR",
    "POSTGRES_UNAVAILABLE",
    "STATEMENT_TIMEOUT",
    "Connect",
    "DatabaseInfo",
    "Databases",
    "DropOutcome",
    "PostgresConfigError",
    "PostgresError",
    "PostgresStatementError",
    "PostgresUnavailable",
    "RoleOutcome",
    "SwapConflict",
    "SwapOutcome",
    "check_identifier",
    "classify",
    "connect",
    "database_name_for",
]

ADMIN_DATABASE = "postgres"
"""Where admin statements and login probes connect; every cluster has it."""

CONNECT_TIMEOUT_SECONDS = 5
"""libpq connect_timeout: long enough for a loaded server, short enough to retry soon."""

STATEMENT_TIMEOUT = "60s"
"""Upper bound of one admin statement, so a lock held elsewhere cannot hang a worker thread."""

MAX_IDENTIFIER_BYTES = 63
"""NAMEDATALEN - 1: PostgreSQL silently truncates longer identifiers, so we refuse them."""

APPLICATION_NAME = "odoo-operator"

POSTGRES_UNAVAILABLE = failures.POSTGRES_UNAVAILABLE
POSTGRES_ERROR = failures.POSTGRES_ERROR

_log = logging.getLogger(__name__)

Connection = psycopg.Connection[tuple[Any, ...]]


class DropOutcome(StrEnum):
    """What drop_database did."""

    DROPPED = "Dropped"
    ABSENT = "Absent"
    NOT_OWNED = "NotOwned"
    """The database belongs to another role than the one given: left in place."""


class SwapOutcome(StrEnum):
    """What swap_in or swap_back found or did."""

    SWAPPED = "Swapped"
    """The incoming database is live now (this call did it, or finished a half-done swap)."""
    ALREADY_SWAPPED = "AlreadySwapped"
    """An earlier call did it all."""
    UNDONE = "Undone"
    """The previous database is live again (this call put it back)."""
    NOT_SWAPPED = "NotSwapped"
    """Nothing to undo: the swap never renamed anything (or an earlier call undid it)."""


@dataclass(frozen=True)
class DatabaseInfo:
    """One database as a swap reads it."""

    owner: str
    mark: str | None
    allow_connections: bool


class RoleOutcome(StrEnum):
    """What ensure_role did."""

    CREATED = "Created"
    PASSWORD_RESET = "PasswordReset"
    UNCHANGED = "Unchanged"


# --- errors -----------------------------------------------------------------------


class PostgresError(ApplicationError):
    """Base of every error of this module."""

    failure_type = POSTGRES_ERROR
    retryable = True

    def __init__(self, message: str) -> None:
        super().__init__(message, type=self.failure_type, non_retryable=not self.retryable)


class PostgresUnavailable(PostgresError):
    """The cluster cannot serve us right now; retry with backoff."""

    failure_type = POSTGRES_UNAVAILABLE


class PostgresConfigError(PostgresError):
    """Configuration must change (admin login, privileges, names); do not retry."""

    failure_type = failures.CONFIG_INVALID
    retryable = False


class PostgresStatementError(PostgresError):
    """The server refused a statement for another reason; its message says why."""


class SwapConflict(PostgresError):
    """The databases are not in any state a swap or its undo leaves (the incoming
    database is missing, or a name it needs is taken): retrying cannot help."""

    failure_type = failures.SWAP_CONFLICT
    retryable = False


# --- connections ----------------------------------------------------------------


class Connect(Protocol):
    """Open an autocommit connection to `dbname` on `cluster` as `user`."""

    def __call__(
        self, cluster: Cluster, *, user: str, password: SecretStr, dbname: str
    ) -> Connection: ...


def connect(cluster: Cluster, *, user: str, password: SecretStr, dbname: str) -> Connection:
    """The default Connect: psycopg over TCP, autocommit, CONNECT_TIMEOUT_SECONDS."""
    return psycopg.connect(
        host=cluster.host,
        port=cluster.port,
        user=user,
        password=password.get_secret_value(),
        dbname=dbname,
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        application_name=APPLICATION_NAME,
        autocommit=True,
    )


# --- names ----------------------------------------------------------------------


def check_identifier(what: str, value: str, fix: str) -> str:
    """`value` if PostgreSQL can name an object with it unchanged, else PostgresConfigError.

    `what` names the thing ("database name"), `fix` says how to change it.
    """
    size = len(value.encode("utf-8"))
    if not value:
        raise PostgresConfigError(f"{what} is empty: {fix}")
    if "\x00" in value:
        raise PostgresConfigError(f"{what} {value!r} contains a NUL character: {fix}")
    if size > MAX_IDENTIFIER_BYTES:
        raise PostgresConfigError(
            f"{what} {value!r} is {size} bytes; PostgreSQL names are at most "
            f"{MAX_IDENTIFIER_BYTES} bytes: {fix}"
        )
    return value


def database_name_for(uid: str, explicit: str | None) -> str:
    """The instance's database: spec.database.name, else odoo_<sanitized uid>; checked."""
    return check_identifier(
        "database name",
        naming.database_name(uid, explicit),
        "set a shorter spec.database.name",
    )


def _check_role(role: str) -> str:
    return check_identifier(
        "role name", role, "use a shorter instance name or namespace (the role is odoo.<ns>.<name>)"
    )


def _check_database(database: str) -> str:
    return check_identifier("database name", database, "set a shorter spec.database.name")


# --- operations -----------------------------------------------------------------


class Databases:
    """Role and database management on any cluster; holds only how to connect.

    Every method opens its own short connection as the cluster admin (the
    operator touches PostgreSQL a few times per instance lifetime, so a pool
    would only hold idle connections) and is idempotent.
    """

    def __init__(self, connect: Connect = connect) -> None:
        self._connect = connect

    def ensure_role(self, cluster: Cluster, role: str, password: SecretStr) -> RoleOutcome:
        """The role exists WITH LOGIN CREATEDB and `password` authenticates as it.

        A missing role is created. An existing one is only ALTERed when a login
        with `password` fails: a CNPG-managed admin may lack ADMIN on the role,
        and must still succeed when nothing needs changing.
        """
        _check_role(role)
        with self._admin(cluster, f"ensuring role {role!r}") as conn:
            if not _role_exists(conn, role):
                try:
                    conn.execute(
                        sql.SQL("CREATE ROLE {} WITH LOGIN CREATEDB PASSWORD {}").format(
                            sql.Identifier(role), _verifier(conn, role, password)
                        )
                    )
                except errors.DuplicateObject:
                    pass  # created concurrently: probe it like any existing role
                else:
                    _log.info("created role %r on %s", role, cluster.describe())
                    return RoleOutcome.CREATED
            if self._password_authenticates(cluster, role, password):
                return RoleOutcome.UNCHANGED
            conn.execute(
                sql.SQL("ALTER ROLE {} WITH LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(role), _verifier(conn, role, password)
                )
            )
            _log.info("reset the password of role %r on %s", role, cluster.describe())
            return RoleOutcome.PASSWORD_RESET

    def database_exists(self, cluster: Cluster, database: str) -> bool:
        """Whether `database` exists; any failure raises instead of answering False."""
        _check_database(database)
        with self._admin(cluster, f"looking up database {database!r}") as conn:
            row = conn.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %s)", (database,)
            ).fetchone()
        return bool(row and row[0])

    def drop_database(
        self, cluster: Cluster, database: str, owner: str | None = None
    ) -> DropOutcome:
        """Drop `database`, closed to new connections and its sessions ended first.

        With `owner`, only when that role owns it: a database of another role
        (another instance's, or one created by hand) is never dropped
        (NOT_OWNED). ABSENT when it was already gone. A session the admin may
        not end (another role's, without pg_signal_backend: a monitoring agent
        connected to every database) fails it with a retryable
        PostgresUnavailable naming it, as a swap's rename; the database stays
        closed, so the session cannot come back once it ends, and a retry drops it.
        """
        _check_database(database)
        with self._admin(cluster, f"dropping database {database!r}") as conn:
            row = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", (database,)
            ).fetchone()
            if row is None:
                return DropOutcome.ABSENT
            if owner is not None and row[0] != owner:
                return DropOutcome.NOT_OWNED
            _act_as(conn, row[0])
            _close(conn, cluster, database)
            try:
                _drop(conn, database)
            except (errors.InsufficientPrivilege, errors.ObjectInUse):
                # FORCE may not end what _close could not either.
                raise _held(conn, cluster, database, f"drop database {database!r}") from None
        _log.info("dropped database %r on %s", database, cluster.describe())
        return DropOutcome.DROPPED

    def drop_role(self, cluster: Cluster, role: str) -> tuple[str, ...]:
        """Drop every non-template database owned by `role`, then the role.

        Returns the databases dropped. Absent role: nothing to do, returns ().
        """
        _check_role(role)
        with self._admin(cluster, f"dropping role {role!r}") as conn:
            if not _role_exists(conn, role):
                return ()
            owned = tuple(
                name
                for (name,) in conn.execute(
                    "SELECT datname FROM pg_database"
                    " WHERE datdba = (SELECT oid FROM pg_roles WHERE rolname = %s)"
                    " AND NOT datistemplate ORDER BY datname",
                    (role,),
                ).fetchall()
            )
            if owned:
                _act_as(conn, role)
            for database in owned:
                _drop(conn, database)
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        _log.info("dropped role %r and databases %s on %s", role, owned, cluster.describe())
        return owned

    def set_parameters(
        self,
        cluster: Cluster,
        database: str,
        role: str,
        password: SecretStr,
        parameters: Mapping[str, str],
    ) -> tuple[str, ...]:
        """Odoo system parameters (ir_config_parameter) of `database`, written as its
        role, each only when its value differs; returns the keys written (sorted).

        After a write Odoo's workers are told to drop their caches (the
        base_cache_signaling sequence Odoo itself bumps: `_default` from 17 on),
        or a running worker would keep the old value until it restarts.
        """
        _check_database(database)
        _check_role(role)
        doing = f"writing the system parameters of {database!r}"
        secrets = (password.get_secret_value(),)
        try:
            conn = self._connect(cluster, user=role, password=password, dbname=database)
        except psycopg.Error as exc:
            raise _unavailable(cluster, _connect_failure(exc), secrets) from None
        written: list[str] = []
        with _mapped(cluster, doing, secrets), conn:
            conn.execute(
                sql.SQL("SET statement_timeout = {}").format(sql.Literal(STATEMENT_TIMEOUT))
            )
            for key, value in sorted(parameters.items()):
                row = conn.execute(_UPSERT_PARAMETER, (key, value)).fetchone()
                if row is not None:
                    written.append(key)
            if written:
                sequence = conn.execute(_CACHE_SIGNALING).fetchone()
                if sequence is not None:
                    conn.execute("SELECT nextval(%s::regclass)", (sequence[0],))
        if written:
            _log.info("wrote %s in %r on %s", ", ".join(written), database, cluster.describe())
        return tuple(written)

    def server_major_version(self, cluster: Cluster) -> int:
        """The server's major version (18 for 18.1), for choosing client tools."""
        with self._admin(cluster, "reading the server version") as conn:
            row = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
        if row is None:  # pragma: no cover - SELECT of a scalar always returns a row
            raise PostgresStatementError(f"{cluster.describe()} returned no server version")
        return int(row[0]) // 10000

    # -- sagas: copy, swap, undo (see the module docstring) ------------------------

    def existing(self, cluster: Cluster, names: Iterable[str]) -> dict[str, DatabaseInfo]:
        """Which of `names` exist, with their owner, mark and ALLOW_CONNECTIONS."""
        wanted = [_check_database(name) for name in names]
        with self._admin(cluster, "looking up databases") as conn:
            return _existing(conn, wanted)

    def copy_database(self, cluster: Cluster, source: str, copy: str, mark: str) -> bool:
        """`copy` := CREATE DATABASE ... TEMPLATE `source`, owned by `source`'s owner and
        marked; True when this call made it, False when it was there already.

        A template copy needs no other session on `source`: it is closed to new
        connections and its sessions ended first, and opened again afterwards,
        whatever happened (the copy is consistent: nothing writes meanwhile). A
        session the admin may not end fails it as the rename of a swap does.
        """
        _check_database(source)
        _check_database(copy)
        with self._admin(cluster, f"copying database {source!r} to {copy!r}") as conn:
            found = _existing(conn, [source, copy])
            if copy in found:  # made by an attempt that did not report back
                _act_as(conn, found[copy].owner)
                _set_mark(conn, copy, mark)
                _allow_connections(conn, copy, False)
                if source in found:
                    _allow_connections(conn, source, True)
                return False
            if source not in found:
                raise SwapConflict(
                    f"cannot copy database {source!r} on {cluster.describe()}: it does not exist"
                )
            owner = found[source].owner
            _act_as(conn, owner)
            # A copy takes as long as the database is large: the activity's own
            # timeout bounds it, not STATEMENT_TIMEOUT.
            conn.execute("SET statement_timeout = 0")
            try:
                _close(conn, cluster, source)
                try:
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
                            sql.Identifier(copy), sql.Identifier(source), sql.Identifier(owner)
                        )
                    )
                except errors.ObjectInUse:
                    raise _held(conn, cluster, source, f"copy database {source!r}") from None
                _set_mark(conn, copy, mark)
                # A kept-aside copy serves nobody: closed until it is swapped back in.
                _allow_connections(conn, copy, False)
            finally:
                with contextlib.suppress(psycopg.Error):
                    _allow_connections(conn, source, True)
        _log.info("copied database %r to %r on %s", source, copy, cluster.describe())
        return True

    def swap_in(
        self, cluster: Cluster, *, live: str, incoming: str, aside: str, mark: str
    ) -> SwapOutcome:
        """Make `incoming` (marked `mark`) the live database under the name `live`,
        the previous `live` kept as `aside` (none when there was no live database).

        Resumable from any point (the module docstring): marked live means done;
        `live` gone and `incoming` there means the second rename is still to do.
        """
        for name in (live, incoming, aside):
            _check_database(name)
        with self._admin(cluster, f"swapping database {incoming!r} in as {live!r}") as conn:
            found = _existing(conn, [live, incoming, aside])
            current = found.get(live)
            if current is not None and current.mark == mark:
                _act_as(conn, current.owner)
                _allow_connections(conn, live, True)
                return SwapOutcome.ALREADY_SWAPPED
            if incoming not in found:
                raise SwapConflict(
                    f"cannot swap {incoming!r} in as {live!r} on {cluster.describe()}: "
                    f"{incoming!r} does not exist"
                )
            if current is not None and aside in found:
                raise SwapConflict(
                    f"cannot keep {live!r} aside as {aside!r} on {cluster.describe()}: "
                    f"a database {aside!r} exists already"
                )
            _act_as(conn, found[incoming].owner)
            _set_mark(conn, incoming, mark)
            _close(conn, cluster, incoming)
            if current is not None:
                _act_as(conn, current.owner)
                _close(conn, cluster, live)
                _rename(conn, cluster, live, aside)
            _rename(conn, cluster, incoming, live)
            _allow_connections(conn, live, True)
        _log.info("swapped %r in as %r (kept %r) on %s", incoming, live, aside, cluster.describe())
        return SwapOutcome.SWAPPED

    def swap_back(
        self, cluster: Cluster, *, live: str, incoming: str, aside: str, mark: str
    ) -> SwapOutcome:
        """Undo swap_in: the marked database goes back to `incoming`, `aside` back to `live`.

        Resumable like swap_in; a swap that never renamed anything is left as it
        is (the live database opened again in case it was closed meanwhile).
        """
        for name in (live, incoming, aside):
            _check_database(name)
        with self._admin(cluster, f"putting database {aside!r} back as {live!r}") as conn:
            found = _existing(conn, [live, incoming, aside])
            current = found.get(live)
            outcome = SwapOutcome.NOT_SWAPPED
            if current is not None and current.mark == mark:
                if incoming in found:
                    raise SwapConflict(
                        f"cannot move {live!r} back to {incoming!r} on {cluster.describe()}: "
                        f"a database {incoming!r} exists already"
                    )
                _act_as(conn, current.owner)
                _close(conn, cluster, live)
                _rename(conn, cluster, live, incoming)
                current, outcome = None, SwapOutcome.UNDONE
            if current is None and aside in found:
                _act_as(conn, found[aside].owner)
                _rename(conn, cluster, aside, live)
                current, outcome = found[aside], SwapOutcome.UNDONE
            elif current is not None and aside in found:
                raise SwapConflict(
                    f"cannot put {aside!r} back as {live!r} on {cluster.describe()}: "
                    f"{live!r} exists and is not the swapped-in database"
                )
            if current is not None:
                _act_as(conn, current.owner)
                _allow_connections(conn, live, True)
        if outcome is SwapOutcome.UNDONE:
            _log.info("put %r back as %r on %s", aside, live, cluster.describe())
        return outcome

    # -- internals ---------------------------------------------------------------

    @contextlib.contextmanager
    def _admin(self, cluster: Cluster, doing: str) -> Iterator[Connection]:
        """An admin connection to `postgres`, every psycopg error mapped on the way out."""
        secrets = (cluster.admin_password.get_secret_value(),)
        try:
            conn = self._connect(
                cluster,
                user=cluster.admin_user,
                password=cluster.admin_password,
                dbname=ADMIN_DATABASE,
            )
        except psycopg.Error as exc:
            raise _login_error(exc, cluster, secrets) from None
        # _mapped outside `conn`: closing a broken connection may raise too.
        with _mapped(cluster, doing, secrets), conn:
            conn.execute(
                sql.SQL("SET statement_timeout = {}").format(sql.Literal(STATEMENT_TIMEOUT))
            )
            yield conn

    def _password_authenticates(self, cluster: Cluster, role: str, password: SecretStr) -> bool:
        """Log in as `role`; False when the server refuses that login, transient errors raise."""
        try:
            probe = self._connect(cluster, user=role, password=password, dbname=ADMIN_DATABASE)
        except psycopg.Error as exc:
            message = _connect_failure(exc)
            if _matches(message, _AUTHENTICATED_BUT_REFUSED):
                return True  # refused after authenticating: the password is current
            if _matches(message, _TRANSIENT_AT_CONNECT):
                raise _unavailable(cluster, message, (password.get_secret_value(),)) from None
            return False
        probe.close()
        return True


_UPSERT_PARAMETER = """
INSERT INTO ir_config_parameter (key, value, create_uid, create_date, write_uid, write_date)
VALUES (%s, %s, 1, now() AT TIME ZONE 'UTC', 1, now() AT TIME ZONE 'UTC')
ON CONFLICT (key) DO UPDATE
   SET value = EXCLUDED.value, write_uid = 1, write_date = EXCLUDED.write_date
 WHERE ir_config_parameter.value IS DISTINCT FROM EXCLUDED.value
RETURNING key
"""
"""One Odoo system parameter, written only when it differs (uid 1: Odoo's superuser)."""

_CACHE_SIGNALING = """
SELECT relname FROM pg_class
 WHERE relkind = 'S' AND relname IN ('base_cache_signaling_default', 'base_cache_signaling')
 ORDER BY relname DESC LIMIT 1
"""
"""Odoo's cache-invalidation sequence: `_default` (17+) first, else the one of 16."""


def _role_exists(conn: Connection, role: str) -> bool:
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)", (role,)
    ).fetchone()
    return bool(row and row[0])


def _verifier(conn: Connection, role: str, password: SecretStr) -> sql.Literal:
    """The password as a SCRAM verifier (server's password_encryption), as a literal.

    CREATE/ALTER ROLE take no bind parameters; a verifier keeps the clear text
    out of the statement, the server log and pg_stat_activity.
    """
    verifier = conn.pgconn.encrypt_password(
        password.get_secret_value().encode("utf-8"), role.encode("utf-8")
    )
    return sql.Literal(verifier.decode("ascii"))


def _act_as(conn: Connection, owner: str) -> None:
    """Let the admin drop objects owned by `owner` (and terminate its sessions).

    A superuser or a member of `owner` already can. A CREATEROLE admin holds
    ADMIN on the roles it created but, on PostgreSQL 16+, not their
    privileges: it grants itself `owner` WITH INHERIT. Without ADMIN the GRANT
    fails with the server's insufficient-privilege message (a config error).
    """
    row = conn.execute("SELECT pg_has_role(current_user, %s, 'USAGE')", (owner,)).fetchone()
    if row and row[0]:
        return
    conn.execute(
        sql.SQL("GRANT {} TO CURRENT_USER WITH INHERIT TRUE").format(sql.Identifier(owner))
    )


def _existing(conn: Connection, names: list[str]) -> dict[str, DatabaseInfo]:
    rows = conn.execute(
        "SELECT datname, pg_get_userbyid(datdba), shobj_description(oid, 'pg_database'),"
        " datallowconn FROM pg_database WHERE datname = ANY(%s)",
        (names,),
    ).fetchall()
    return {
        name: DatabaseInfo(owner=owner, mark=mark, allow_connections=allow)
        for name, owner, mark, allow in rows
    }


def _set_mark(conn: Connection, database: str, mark: str) -> None:
    conn.execute(
        sql.SQL("COMMENT ON DATABASE {} IS {}").format(sql.Identifier(database), sql.Literal(mark))
    )


def _allow_connections(conn: Connection, database: str, allow: bool) -> None:
    conn.execute(
        sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
            sql.Identifier(database), sql.SQL("true" if allow else "false")
        )
    )


SESSION_EXIT_WAIT_MS = 5000
"""How long pg_terminate_backend waits for each ended session to exit."""


def _close(conn: Connection, cluster: Cluster, database: str) -> None:
    """Close `database` to new connections, then end the sessions the admin may end.

    Sessions it may not end (another role's, without pg_signal_backend) are
    left: the rename that follows then fails naming them.
    """
    _allow_connections(conn, database, False)
    pids = conn.execute(
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    ).fetchall()
    for (pid,) in pids:
        try:
            conn.execute("SELECT pg_terminate_backend(%s, %s)", (pid, SESSION_EXIT_WAIT_MS))
        except errors.InsufficientPrivilege:
            _log.warning(
                "may not end session %s on database %r of %s", pid, database, cluster.describe()
            )


def _rename(conn: Connection, cluster: Cluster, old: str, new: str) -> None:
    try:
        conn.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(old), sql.Identifier(new)
            )
        )
    except errors.ObjectInUse:
        raise _held(conn, cluster, old, f"rename database {old!r} to {new!r}") from None


def _held(conn: Connection, cluster: Cluster, database: str, doing: str) -> PostgresUnavailable:
    """The retryable error of `doing` refused because sessions the admin may not end
    sit on `database`, naming their roles and applications."""
    holders = conn.execute(
        "SELECT DISTINCT coalesce(usename, '?'), coalesce(application_name, '')"
        " FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
        (database,),
    ).fetchall()
    who = ", ".join(
        f"role {role!r}" + (f" ({application})" if application else "")
        for role, application in holders
    )
    return PostgresUnavailable(
        f"cannot {doing} on {cluster.describe()}: sessions of {who or 'another role'} "
        "hold it and the admin may not end them (grant the admin pg_signal_backend, "
        "or stop them)"
    )


def _drop(conn: Connection, database: str) -> None:
    conn.execute(
        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
    )


# --- error mapping (the one place psycopg errors become ApplicationErrors) -----------

_TRANSIENT_SQLSTATE_CLASSES = ("08", "53", "57", "58")
"""Connection exception, insufficient resources (too many connections), operator
intervention (admin shutdown, cannot connect now), system error (I/O)."""

_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55006", "55P03"})
"""Serialization failure, deadlock, object in use, lock not available."""

_CONFIG_SQLSTATE_CLASSES = ("28", "42501")
"""Invalid authorization, insufficient privilege."""

_ADMIN_LOGIN_REFUSED = (
    "password authentication failed",
    "no pg_hba.conf entry",
    "is not permitted to log in",
    "no password supplied",
    "does not exist",  # role or database "postgres"
    "permission denied for database",
    "authentication failed",
    "server requested",  # a password the client cannot use (e.g. SCRAM channel binding)
)
"""Connect-time messages (libpq gives no SQLSTATE there) that mean: fix the admin login."""

_TRANSIENT_AT_CONNECT = (
    "connection refused",
    "timeout expired",
    "timed out",
    "too many clients",
    "too many connections",
    "remaining connection slots",
    "shutting down",
    "starting up",
    "in recovery mode",
    "not yet accepting connections",
    "could not translate host name",
    "no route to host",
    "network is unreachable",
    "server closed the connection",
    "could not receive data",
    "could not send data",
)

_AUTHENTICATED_BUT_REFUSED = ("permission denied for database", "too many connections for role")
"""Probe-login refusals that come after authentication succeeded."""


def _login_error(exc: psycopg.Error, cluster: Cluster, secrets: tuple[str, ...]) -> PostgresError:
    """Map a failed admin connect: refused logins are config, everything else transient."""
    message = _connect_failure(exc)
    if _matches(message, _TRANSIENT_AT_CONNECT) or not _matches(message, _ADMIN_LOGIN_REFUSED):
        return _unavailable(cluster, message, secrets)
    return PostgresConfigError(
        _redact(
            f"admin login to {cluster.describe()} as {cluster.admin_user!r} failed: {message}; "
            "fix adminUser/adminPassword in the clusters Secret",
            secrets,
        )
    )


@contextlib.contextmanager
def _mapped(cluster: Cluster, doing: str, secrets: tuple[str, ...]) -> Iterator[None]:
    """Map a psycopg error raised while `doing` something on an open connection."""
    try:
        yield
    except PostgresError:
        raise
    except psycopg.Error as exc:
        raise classify(exc, cluster, doing, secrets) from None


def classify(
    exc: psycopg.Error, cluster: Cluster, doing: str, secrets: tuple[str, ...] = ()
) -> PostgresError:
    """The PostgresError for a psycopg error raised while `doing` something on `cluster`.

    By SQLSTATE: invalid authorization and insufficient privilege are config
    errors; connection, resource, operator-intervention, lock and
    serialization failures are transient; anything else is a statement error
    carrying the server's message. The admin password and `secrets` are redacted.
    """
    secrets = (*secrets, cluster.admin_password.get_secret_value())
    state = exc.sqlstate or ""
    text = f"{doing} on {cluster.describe()} failed: {_server_message(exc)}"
    if state.startswith(_CONFIG_SQLSTATE_CLASSES):
        return PostgresConfigError(_redact(text, secrets))
    if (
        state.startswith(_TRANSIENT_SQLSTATE_CLASSES)
        or state in _TRANSIENT_SQLSTATES
        or (not state and isinstance(exc, psycopg.OperationalError))  # connection lost
    ):
        return PostgresUnavailable(_redact(text, secrets))
    return PostgresStatementError(_redact(text, secrets))


def _unavailable(cluster: Cluster, message: str, secrets: tuple[str, ...]) -> PostgresUnavailable:
    return PostgresUnavailable(_redact(f"{cluster.describe()} is unavailable: {message}", secrets))


def _server_message(exc: psycopg.Error) -> str:
    """`ERROR: permission denied to drop role (DETAIL: ...) (HINT: ...)` (reference #119 E)."""
    diag = exc.diag
    primary = diag.message_primary
    if not primary:
        return _connect_failure(exc)
    parts = [f"{diag.severity or 'ERROR'}: {primary}"]
    if diag.message_detail:
        parts.append(f"DETAIL: {diag.message_detail}")
    if diag.message_hint:
        parts.append(f"HINT: {diag.message_hint}")
    return " ".join(parts)


def _connect_failure(exc: psycopg.Error) -> str:
    """libpq's connect message on one line, without psycopg's 'connection failed:' prefix."""
    text = " ".join(str(exc).split())
    return text.removeprefix("connection failed: ") or type(exc).__name__


def _matches(message: str, needles: tuple[str, ...]) -> bool:
    lowered = message.lower()
    return any(needle in lowered for needle in needles)


def _redact(text: str, secrets: tuple[str, ...]) -> str:
    """Belt and braces: no message we build may contain a password, whatever a server said."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text
