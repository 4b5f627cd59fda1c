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

Covers: the download with S3 unreachable and with its Pod killed mid-way;
the load with PostgreSQL stopped under it (its own cleanup cannot drop the
half-loaded copy; the undo does once PostgreSQL is back); neutralize past
the Job's deadline ("deadline of N s exceeded at step neutralize"); and the
filestore step's swap, undo and discard resumed from every state a kill can
leave (two renames: before, between, after), run as local processes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes
import psycopg
import pytest
from psycopg import sql

from activities import api
from model import naming
from sandbox import podrunner, postgres, processes, s3
from tests.fixtures.jobs import SCRIPTS
from tests.markers import Marker, marker, write_marker
from tests.scripts import tenants as t
from tests.scripts.test_backup_restore_roundtrip import backup

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


def test_download_with_s3_unreachable_leaves_the_live_data_as_it_was(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
) -> None:
    live = Live(api_client, namespace, postgres_server, job_pods)
    credentials = t.s3_credentials(api_client, namespace, s3_server)
    closed = f"http://127.0.0.1:{processes.free_port('127.0.0.1')}"
    name, uid, job = live.restore(s3_server, bucket, "x.zip", "zip", credentials, endpoint=closed)
    done = t.run_job(api_client, job)
    assert not done.succeeded
    assert "step download failed" in done.message
    assert "cannot reach the S3 endpoint" in done.message, done.message
    live.undo_and_check("restore:download:s3-down", name, uid)


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
    s3_server.client().put_object(bucket, "big.zip", os.urandom(96 * 1024 * 1024))
    name, uid, job = live.restore(s3_server, bucket, "big.zip", "zip", credentials)
    kube = api.KubeApi(api_client)
    kube.create(api.JOB, namespace, job)
    pods_dir = job_pods.work_dir / "pods"
    t.wait_until(
        lambda: any(pods_dir.glob("*/volumes/workspace/artifact.part")), "the download started"
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
    print(f"MATRIX restore:load:postgres-down down {time.monotonic() - stopped:.1f}s")
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
    done = _step(volume, then)
    assert done.returncode == 0, done.stderr
    assert _tree(volume) == (SWAPPED if then == "swap" else UNDONE)
    again = _step(volume, then)  # idempotent
    assert again.returncode == 0, again.stderr
    assert _tree(volume) == (SWAPPED if then == "swap" else UNDONE)


def test_filestore_discard_removes_the_kept_aside_one_and_the_marks(volume: Path) -> None:
    assert _step(volume, "swap").returncode == 0
    assert _step(volume, "discard").returncode == 0
    assert _tree(volume) == {"db/cd/new": "restored"}
    assert _step(volume, "undo").returncode == 0  # nothing left to put back: unchanged
    assert _tree(volume) == {"db/cd/new": "restored"}
