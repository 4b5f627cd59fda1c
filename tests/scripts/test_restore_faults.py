"""A restore Job's steps under faults, as real Jobs: nothing of the live data lost, nothing left.

The cells of the fault matrix (issue 18, point 6) that belong to the Job's
steps, at the level that really runs them: scripts/jobs/ as local processes
of Job Pods, on the embedded PostgreSQL and S3. Each cell gives a tenant a
live database (with a marker table, tests/markers.py) and filestore, runs a
restore Job with one fault, then what the workflow does after a failed
restore (tests/scripts/tenants.undo_restore: the previous database put back
when swapped, the copy dropped, the filestore undo Job), and checks the
live database's marker and the live filestore are exactly as before, and
that no `<db>_restoring`, kept-aside database or staged or kept-aside
filestore is left. Each prints `MATRIX <cell> <s>`: from the failure to the
leftovers removed.

Covers: the download with S3 unreachable, with its Pod killed mid-way (the
answers stalled after 1 MiB by a proxy), and
with S3 hanging past the Job's deadline ("deadline of N s exceeded at step
download"); the Pod killed at each later step once that step did its work
(extract, load, neutralize, verify, filestore: what it made is left, its own
cleanup never runs); the load with PostgreSQL stopped under it (its own
cleanup cannot drop the half-loaded copy; the undo does once PostgreSQL is
back); PostgreSQL stopped as neutralize or verify starts; a session of
another role (a monitoring agent) on the copy from the load on, the
restore then failing (neither the Job's own cleanup nor anything but the
undo, as the cluster's admin, may drop it); neutralize past the Job's
deadline ("deadline of N s exceeded at step neutralize"); and the filestore
step's swap, undo and discard resumed from every state a kill can leave
(two renames: before, between, after), run as local processes.

A step is held or paused through a gate (`Gate`): a runner of this test's
Pods whose copy of the step's script (or of the image's /entrypoint.sh, for
neutralize) waits for the test before it runs the real one, and may hold
once it is done, until the Pod is killed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import psycopg
import pytest
from psycopg import sql

from activities import api
from model import naming
from sandbox import podrunner, postgres, processes, s3
from specs import job_outcome, jobs
from tests import sessions
from tests.fixtures import jobs as job_fixtures
from tests.fixtures.jobs import SCRIPTS, STANDINS
from tests.hanging import stalling_proxy, unanswering_server
from tests.markers import Marker, marker, write_marker
from tests.scripts import tenants as t
from tests.scripts.artifacts import make_artifacts
from tests.scripts.test_backup_restore_roundtrip import backup

Conn = psycopg.Connection[tuple[Any, ...]]

MARK = naming.operation_mark("restore", "0f1e2d3c-0000-4000-8000-000000000000")


@pytest.fixture
def bucket(s3_server: s3.S3Server) -> str:
    name = f"faults-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(name)
    return name


class Live:
    """A tenant with a live database (marker written) and filestore, before a restore."""

    def __init__(
        self,
        client: kubernetes.client.ApiClient,
        namespace: str,
        server: postgres.EmbeddedPostgres,
        runner: podrunner.LocalPodRunner,
        **env: str,
    ) -> None:
        self.client = client
        self.tenant = t.make_tenant(client, namespace, server, runner, "live", extra_env=env)
        t.init_database(client, self.tenant, modules="base")
        with self.tenant.connect() as conn:
            self.marker: Marker = write_marker(conn)
        for i in range(3):
            path = self.tenant.filestore / f"{i:02x}" / f"file{i}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(os.urandom(2048))
        self.files = t.files(self.tenant.filestore)

    def restore(
        self,
        s3_server: s3.S3Server,
        bucket: str,
        key: str,
        fmt: str,
        credentials: str,
        *,
        endpoint: str | None = None,
        deadline: int | None = None,
        neutralize: bool = True,
    ) -> tuple[str, str, dict[str, Any]]:
        """The restore Job (resource name, uid, Job), not started."""
        location = {"bucket": bucket, "objectKey": key, "endpoint": endpoint or s3_server.endpoint}
        spec: dict[str, object] = {"neutralize": neutralize}
        if deadline is not None:
            spec["activeDeadlineSeconds"] = deadline
        return t.s3_restore_job(self.client, self.tenant, location, fmt, credentials, **spec)

    def undo_and_check(self, cell: str, resource: str, uid: str) -> None:
        started = time.monotonic()
        undone = t.undo_restore(self.client, self.tenant, resource, uid)
        assert undone.succeeded, undone.message
        print(f"MATRIX {cell} {time.monotonic() - started:.1f}s to undo")
        assert t.leftovers(self.tenant, uid) == {}
        with self.tenant.connect() as conn:
            assert marker(conn) == self.marker
        assert t.files(self.tenant.filestore) == self.files


DOWNLOAD_FAULTS = {
    # fault: what the failed Job says
    "s3-down": "restore-download: error: cannot reach the S3 endpoint",  # nothing listens
    "deadline": "deadline of 3 s exceeded at step download",  # it listens, never answers
}


@pytest.mark.parametrize("fault", list(DOWNLOAD_FAULTS))
def test_download_without_s3_leaves_the_live_data_as_it_was(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
    fault: str,
) -> None:
    live = Live(api_client, namespace, postgres_server, job_pods)
    credentials = t.s3_credentials(api_client, namespace, s3_server)
    with unanswering_server() as (hanging, _):
        if fault == "deadline":
            host, port = hanging.getsockname()[:2]
            endpoint, deadline = f"http://{host}:{port}", 3
        else:
            endpoint, deadline = f"http://127.0.0.1:{processes.free_port('127.0.0.1')}", None
        name, uid, job = live.restore(
            s3_server, bucket, "x.zip", "zip", credentials, endpoint=endpoint, deadline=deadline
        )
        done = t.run_job(api_client, job)
    assert not done.succeeded
    assert DOWNLOAD_FAULTS[fault] in done.message, done.message
    live.undo_and_check(f"restore:download:{fault}", name, uid)


def test_download_killed_mid_way_leaves_the_live_data_as_it_was(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
) -> None:
    live = Live(api_client, namespace, postgres_server, job_pods)
    credentials = t.s3_credentials(api_client, namespace, s3_server)
    s3_server.client().put_object(bucket, "big.zip", os.urandom(16 * 1024 * 1024))
    target = urllib.parse.urlsplit(s3_server.endpoint)
    assert target.hostname is not None
    assert target.port is not None
    # The answers stop after 1 MiB: the download is stuck half-way when it is killed.
    with stalling_proxy((target.hostname, target.port), after=1024 * 1024) as (host, port):
        name, uid, job = live.restore(
            s3_server, bucket, "big.zip", "zip", credentials, endpoint=f"http://{host}:{port}"
        )
        kube = api.KubeApi(api_client)
        kube.create(api.JOB, namespace, job)
        pods_dir = job_pods.work_dir / "pods"
        t.wait_until(
            lambda: any(p.stat().st_size for p in pods_dir.glob("*/volumes/workspace/artifact*")),
            "the download half-way",
        )
        job_name = job["metadata"]["name"]
        core = kubernetes.client.CoreV1Api(api_client)
        pods = kube.list_of(
            api.Resource("v1", "pods"), namespace, label_selector=f"job-name={job_name}"
        )
        for pod in pods:
            core.delete_namespaced_pod(pod["metadata"]["name"], namespace, grace_period_seconds=0)
        t.wait_until(lambda: _failed(kube, namespace, job_name), "the Job Failed")
    live.undo_and_check("restore:download:process-killed", name, uid)


def test_load_with_postgres_stopped_under_it_leaves_no_copy_once_postgres_is_back(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
    tmp_path: Path,
) -> None:
    live = Live(api_client, namespace, postgres_server, job_pods)
    credentials = t.s3_credentials(api_client, namespace, s3_server)
    s3_server.client().put_object(bucket, "big.sql", _big_dump(postgres_server, tmp_path))
    name, uid, job = live.restore(
        s3_server, bucket, "big.sql", "sql", credentials, neutralize=False
    )
    kube = api.KubeApi(api_client)
    kube.create(api.JOB, namespace, job)
    copy = naming.restore_database_name(live.tenant.database)
    t.wait_until(lambda: t.database_exists(postgres_server, copy), "the load started", 120)
    postgres_server.stop()  # the copy half loaded; its own cleanup cannot drop it
    stopped = time.monotonic()
    try:
        job_name = job["metadata"]["name"]
        t.wait_until(lambda: _failed(kube, namespace, job_name), "the Job Failed")
    finally:
        postgres_server.start()
    print(f"PostgreSQL was down {time.monotonic() - stopped:.1f}s")
    assert t.database_exists(postgres_server, copy)  # left: only the operation removes it
    live.undo_and_check("restore:load:postgres-down", name, uid)


def test_neutralize_past_the_deadline_is_named_and_leaves_the_live_data_as_it_was(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
) -> None:
    sleepy = {"STANDIN_ODOO_SLEEP": "neutralize:60"}
    live = Live(api_client, namespace, postgres_server, job_pods, **sleepy)
    credentials = t.s3_credentials(api_client, namespace, s3_server)
    source = t.make_tenant(api_client, namespace, postgres_server, job_pods, "source")
    t.init_database(api_client, source, modules="base")
    assert backup(api_client, source, s3_server, bucket, "s.zip", "zip", credentials).succeeded
    name, uid, job = live.restore(s3_server, bucket, "s.zip", "zip", credentials, deadline=8)
    done = t.run_job(api_client, job)
    assert not done.succeeded
    assert done.message.startswith("deadline of 8 s exceeded at step neutralize"), done.message
    # Killed: its own cleanup never ran, the loaded copy is left for the undo.
    assert t.database_exists(postgres_server, naming.restore_database_name(live.tenant.database))
    live.undo_and_check("restore:neutralize:deadline", name, uid)


# --- a step held or paused (Gate) -----------------------------------------------------

STEP_COMMANDS = {
    "download": "restore-download.sh",
    "extract": "restore-extract.sh",
    "load": "restore-load.sh",
    "neutralize": "/entrypoint.sh",  # odoo neutralize, in the instance's image
    "verify": "restore-verify.sh",
    "filestore": "restore-filestore.sh",
}
"""The restore Job's steps (its containers) and what each runs."""


class Gate:
    """One step of this test's restore Pods under the test's control.

    The step's command is a wrapper that touches `reached`, waits for `go`, runs
    the real command, touches `done`, and then, when `hold` exists, sleeps until
    the Pod is killed (its own cleanup has run or was never needed: what it made
    stays, as after a kill -9 at its end). Installed as this namespace's runner
    (sharing the test's work directory, so the tenant's filestore claim is the
    same) until `release`.
    """

    def __init__(
        self,
        router: job_fixtures.PodRouter,
        namespace: str,
        normal: podrunner.LocalPodRunner,
        postgres_server: postgres.EmbeddedPostgres,
        s3_server: s3.S3Server,
        step: str,
        work: Path,
    ) -> None:
        self.router, self.namespace, self.normal = router, namespace, normal
        work.mkdir(parents=True)
        self.reached, self.go = work / "reached", work / "go"
        self.done, self.hold = work / "done", work / "hold"
        scripts = work / "scripts"
        scripts.mkdir()
        for script in SCRIPTS.iterdir():
            (scripts / script.name).symlink_to(script)
        command = STEP_COMMANDS[step]
        if command.startswith("/"):
            real, wrapper = STANDINS / "entrypoint.sh", work / "entrypoint.sh"
        else:
            real, wrapper = SCRIPTS / command, scripts / command
            wrapper.unlink()
        wrapper.write_text(
            "#!/bin/sh\n"
            f": > '{self.reached}'\n"
            f"while [ ! -e '{self.go}' ]; do sleep 0.1; done\n"
            f"'{real}' \"$@\" || exit $?\n"
            f": > '{self.done}'\n"
            f"if [ -e '{self.hold}' ]; then exec sleep 600; fi\n"
        )
        wrapper.chmod(0o755)
        runner = job_fixtures.local_runner(normal.work_dir, postgres_server, s3_server)
        runner.path_map[jobs.SCRIPTS_DIR] = scripts
        if command.startswith("/"):
            runner.path_map[command] = wrapper
        router.runners[namespace] = runner

    def open(self, *, hold: bool = False) -> None:
        if hold:
            self.hold.touch()
        self.go.touch()

    def release(self) -> None:
        """Back to the normal runner (the undo's Job runs unwrapped)."""
        self.router.runners[self.namespace] = self.normal


@pytest.fixture(scope="module")
def artifact(
    postgres_server: postgres.EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> bytes:
    """A good zip backup (an Odoo database with base and mail, no filestore)."""
    return make_artifacts(postgres_server, tmp_path_factory.mktemp("artifacts"))["zip"]


@dataclass
class GatedRestore:
    """A restore Job of a Live tenant from `artifact`, created, one step under `gate`."""

    live: Live
    gate: Gate
    name: str
    uid: str
    job: str
    kube: api.KubeApi

    def wait_failed(self) -> None:
        t.wait_until(lambda: _failed(self.kube, self.live.tenant.namespace, self.job), "Failed")

    def message(self) -> str:
        """The failed Job's message, as the workflow reads it (specs.job_outcome)."""
        namespace = self.live.tenant.namespace
        body = self.kube.get(api.JOB, namespace, self.job)
        pods = self.kube.list_of(
            api.Resource("v1", "pods"), namespace, label_selector=f"job-name={self.job}"
        )
        return job_outcome.failure_message(body, pods)

    def copy_exists(self) -> bool:
        tenant = self.live.tenant
        return t.database_exists(tenant.server, naming.restore_database_name(tenant.database))


@pytest.fixture
def gated_restore(
    api_client: kubernetes.client.ApiClient,
    pod_router: job_fixtures.PodRouter,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
    artifact: bytes,
    tmp_path: Path,
) -> Iterator[Callable[..., GatedRestore]]:
    """Start a restore whose `step` is gated (`hold`: run it, then hold until killed);
    `env` goes to the tenant's extraEnv."""
    gates: list[Gate] = []

    def start(step: str, *, hold: bool = False, **env: str) -> GatedRestore:
        live = Live(api_client, namespace, postgres_server, job_pods, **env)
        credentials = t.s3_credentials(api_client, namespace, s3_server)
        s3_server.client().put_object(bucket, "b.zip", artifact)
        gates.append(
            Gate(pod_router, namespace, job_pods, postgres_server, s3_server, step, tmp_path / step)
        )
        if hold:
            gates[-1].open(hold=True)
        name, uid, job = live.restore(s3_server, bucket, "b.zip", "zip", credentials)
        kube = api.KubeApi(api_client)
        kube.create(api.JOB, namespace, job)
        return GatedRestore(live, gates[-1], name, uid, job["metadata"]["name"], kube)

    yield start
    for each in gates:
        each.release()


def _kill_pods(api_client: kubernetes.client.ApiClient, restore: GatedRestore) -> None:
    namespace = restore.live.tenant.namespace
    core = kubernetes.client.CoreV1Api(api_client)
    pods = restore.kube.list_of(
        api.Resource("v1", "pods"), namespace, label_selector=f"job-name={restore.job}"
    )
    for pod in pods:
        core.delete_namespaced_pod(pod["metadata"]["name"], namespace, grace_period_seconds=0)
    restore.wait_failed()


LEFT_BY = {
    # step: (the copy exists, the filestore was swapped) once it is killed at its end
    "extract": (False, False),
    "load": (True, False),
    "neutralize": (True, False),
    "verify": (True, False),
    "filestore": (True, True),
}


@pytest.mark.parametrize("step", list(LEFT_BY))
def test_restore_killed_at_the_end_of_a_step_leaves_the_live_data_as_it_was(
    api_client: kubernetes.client.ApiClient,
    gated_restore: Callable[..., GatedRestore],
    step: str,
) -> None:
    restore = gated_restore(step, hold=True)
    t.wait_until(restore.gate.done.exists, f"the {step} step done", 120)
    _kill_pods(api_client, restore)
    restore.gate.release()
    tenant = restore.live.tenant
    aside = naming.filestore_aside_dir(tenant.database, restore.uid)
    swapped = (tenant.filestore_root / "filestore" / aside).exists()
    assert (restore.copy_exists(), swapped) == LEFT_BY[step]
    restore.live.undo_and_check(f"restore:{step}:process-killed", restore.name, restore.uid)


@pytest.mark.parametrize("step", ["neutralize", "verify"])
def test_postgres_stopped_as_a_step_starts_leaves_the_live_data_as_it_was(
    postgres_server: postgres.EmbeddedPostgres,
    gated_restore: Callable[..., GatedRestore],
    step: str,
) -> None:
    restore = gated_restore(step)
    t.wait_until(restore.gate.reached.exists, f"the {step} step reached", 120)
    postgres_server.stop()  # the copy loaded; neither the step nor its cleanup can reach it
    try:
        restore.gate.open()
        restore.wait_failed()
    finally:
        postgres_server.start()
    restore.gate.release()
    # Whichever step noticed it, the Job ends at verify, which could not connect.
    message = restore.message()
    assert "step verify failed" in message, message
    assert "cannot connect to PostgreSQL" in message, message
    assert restore.copy_exists()
    restore.live.undo_and_check(f"restore:{step}:postgres-down", restore.name, restore.uid)


def test_a_session_of_another_role_on_the_copy_is_ended_by_the_undo(
    postgres_server: postgres.EmbeddedPostgres, gated_restore: Callable[..., GatedRestore]
) -> None:
    """A monitoring agent connects to `<db>_restoring` once it is loaded; odoo
    neutralize then fails, so verify fails: its own cleanup (the instance's role)
    may not end the agent's session and leaves the copy; the undo (the cluster's
    admin) ends it and drops the copy."""
    restore = gated_restore("neutralize", STANDIN_ODOO_FAIL="neutralize")
    t.wait_until(restore.gate.reached.exists, "the copy loaded", 120)
    copy = naming.restore_database_name(restore.live.tenant.database)
    with sessions.foreign_role(postgres_server) as open_on:
        session = open_on(copy)
        restore.gate.open()
        restore.wait_failed()
        restore.gate.release()
        assert "odoo neutralize failed" in restore.message()
        assert restore.copy_exists()  # its own cleanup could not drop it
        assert session.execute("SELECT 1").fetchone() == (1,)
        restore.live.undo_and_check("restore:copy:foreign-session", restore.name, restore.uid)
        with pytest.raises(psycopg.OperationalError):
            session.execute("SELECT 1")


def _failed(kube: api.KubeApi, namespace: str, name: str) -> bool:
    status = kube.get(api.JOB, namespace, name).get("status") or {}
    return any(
        c.get("type") == "Failed" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def _big_dump(server: postgres.EmbeddedPostgres, work: Path) -> bytes:
    """A plain dump of ~20 MB: long enough to load that PostgreSQL can stop under it."""
    database = f"big_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    try:
        with psycopg.connect(server.dsn(database), autocommit=True) as conn:
            conn.execute(
                "CREATE TABLE x_big AS SELECT g AS id, repeat(md5(g::text), 4) AS body "
                "FROM generate_series(1, 150000) g"
            )
        out = work / "big.sql"
        subprocess.run(
            [str(server.bin_dir / "pg_dump"), "--no-owner", "--no-acl", "-f", str(out)],
            env={**os.environ, **server.client_env(database)},
            check=True,
        )
        return out.read_bytes()
    finally:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))


# --- the filestore step, from every state a kill leaves -------------------------------


@pytest.fixture
def volume(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "volume"
    (root / "filestore" / "db" / "ab").mkdir(parents=True)
    (root / "filestore" / "db" / "ab" / "old").write_text("previous")
    staging = root / "filestore" / ".restore-db"
    (staging / "cd").mkdir(parents=True)
    (staging / "cd" / "new").write_text("restored")
    (staging / ".odoo-operator-mark").write_text(MARK + "\n")
    yield root
    shutil.rmtree(root, ignore_errors=True)


def _step(root: Path, action: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ["PATH"],
        "FILESTORE_ROOT": str(root),
        "DB_NAME": "db",
        "STAGING": ".restore-db",
        "ASIDE": ".db.pre-0f1e2d3c",
        "MARK": MARK,
        "ACTION": action,
    }
    return subprocess.run(
        [str(SCRIPTS / "filestore-step.sh")], env=env, capture_output=True, text=True, check=False
    )


def _tree(root: Path) -> dict[str, str]:
    base = root / "filestore"
    return {
        str(p.relative_to(base)): p.read_text().strip()
        for p in sorted(base.rglob("*"))
        if p.is_file()
    }


def _kill_after(root: Path, renames: int) -> None:
    """The state a swap killed after `renames` of its two renames leaves."""
    base = root / "filestore"
    if renames >= 1:
        (base / "db").rename(base / ".db.pre-0f1e2d3c")
    if renames >= 2:
        (base / ".restore-db").rename(base / "db")


SWAPPED = {
    ".db.pre-0f1e2d3c/ab/old": "previous",
    "db/.odoo-operator-mark": MARK,
    "db/cd/new": "restored",
}
UNDONE = {"db/ab/old": "previous"}


@pytest.mark.parametrize("renames", [0, 1, 2], ids=["before", "between", "after"])
@pytest.mark.parametrize("then", ["swap", "undo"])
def test_filestore_step_resumes_or_undoes_a_swap_killed_anywhere(
    volume: Path, renames: int, then: str
) -> None:
    _kill_after(volume, renames)
    started = time.monotonic()
    done = _step(volume, then)
    assert done.returncode == 0, done.stderr
    print(f"MATRIX filestore:killed-after-{renames}:{then} {time.monotonic() - started:.3f}s")
    assert _tree(volume) == (SWAPPED if then == "swap" else UNDONE)
    again = _step(volume, then)  # idempotent
    assert again.returncode == 0, again.stderr
    assert _tree(volume) == (SWAPPED if then == "swap" else UNDONE)


def test_filestore_discard_removes_the_kept_aside_one_and_the_marks(volume: Path) -> None:
    assert _step(volume, "swap").returncode == 0
    started = time.monotonic()
    assert _step(volume, "discard").returncode == 0
    print(f"MATRIX filestore:discard {time.monotonic() - started:.3f}s")
    assert _tree(volume) == {"db/cd/new": "restored"}
    assert _step(volume, "undo").returncode == 0  # nothing left to put back: unchanged
    assert _tree(volume) == {"db/cd/new": "restored"}
