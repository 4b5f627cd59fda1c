"""Backups and restores that must fail: clearly, and without a half-restored database.

Each restore runs as a real Job (see test_backup_restore_roundtrip.py) from
an artifact made once per module (tests/scripts/artifacts.py) and broken
on purpose. Covers:
- a corrupt zip, a truncated SQL dump, a truncated custom dump, a missing S3
  object, wrong S3 credentials, an artifact whose sha256 does not match the
  one recorded at upload, and a dump from a newer PostgreSQL than the
  cluster's: each fails naming the cause, leaves neither the instance's
  database nor the temporary one behind, and a database the instance had
  before stays as it was;
- odoo neutralize failing, and a neutralization that leaves a mail server
  active: the restored copy is dropped and the message says why;
- PostgreSQL client tools older than the server: the backup refuses to dump.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import kubernetes
import pytest

from model import naming
from sandbox import podrunner, postgres, s3
from tests.fixtures import jobs as job_fixtures
from tests.scripts import tenants as t
from tests.scripts.artifacts import make_artifacts
from tests.scripts.test_backup_restore_roundtrip import backup, restore


@pytest.fixture(scope="module")
def artifacts(
    postgres_server: postgres.EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, bytes]:
    return make_artifacts(postgres_server, tmp_path_factory.mktemp("artifacts"))


@pytest.fixture
def bucket(s3_server: s3.S3Server) -> str:
    name = f"broken-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(name)
    return name


def _assert_nothing_restored(server: postgres.EmbeddedPostgres, tenant: t.Tenant) -> None:
    assert not t.database_exists(server, tenant.database)
    assert not t.database_exists(server, naming.restore_database_name(tenant.database))
    assert not (tenant.filestore_root / "filestore" / f".restore-{tenant.database}").exists()


CASES = {
    # name: (format, artifact -> broken artifact, expected words in the message)
    "corrupt-zip": ("zip", lambda a: os.urandom(len(a)), "not a readable zip archive"),
    "truncated-zip": ("zip", lambda a: a[: len(a) // 2], "not a readable zip archive"),
    "truncated-sql": ("sql", lambda a: a[: len(a) // 2], "the SQL dump is truncated"),
    "truncated-dump": ("dump", lambda a: a[: len(a) * 2 // 3], "pg_restore"),
    "newer-server": (
        "sql",
        lambda a: a.replace(
            b"-- Dumped from database version 18", b"-- Dumped from database version 19", 1
        ),
        "comes from PostgreSQL 19, newer than this cluster's PostgreSQL 18",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_artifact_fails_clearly_and_restores_nothing(
    case: str,
    artifacts: dict[str, bytes],
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
) -> None:
    fmt, breaker, expected = CASES[case]
    broken = breaker(artifacts[fmt])
    assert broken != artifacts[fmt]
    s3_server.client().put_object(bucket, f"broken.{fmt}", broken)  # no sha256 metadata
    credentials = t.s3_credentials(api_client, namespace, s3_server)
    target = t.make_tenant(api_client, namespace, postgres_server, job_pods, "victim")

    done = restore(api_client, target, s3_server, bucket, f"broken.{fmt}", fmt, credentials)

    assert not done.succeeded
    assert expected in done.message, done.message
    _assert_nothing_restored(postgres_server, target)


def test_failed_restore_leaves_the_previous_database_as_it_was(
    artifacts: dict[str, bytes],
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
) -> None:
    # Truncated after its table of contents: pg_restore fails half-way through the load.
    s3_server.client().put_object(
        bucket, "half.dump", artifacts["dump"][: len(artifacts["dump"]) * 2 // 3]
    )
    credentials = t.s3_credentials(api_client, namespace, s3_server)
    target = t.make_tenant(api_client, namespace, postgres_server, job_pods, "live")
    t.init_database(api_client, target, modules="base")
    with target.connect() as conn:
        conn.execute("CREATE TABLE precious (id int)")
        conn.execute("INSERT INTO precious VALUES (42)")

    done = restore(api_client, target, s3_server, bucket, "half.dump", "dump", credentials)

    assert not done.succeeded
    assert "step load failed" in done.message, done.message
    with target.connect() as conn:
        assert conn.execute("SELECT id FROM precious").fetchall() == [(42,)]
    assert not t.database_exists(postgres_server, naming.restore_database_name(target.database))


def test_missing_object_wrong_credentials_and_bad_checksum_fail_clearly(
    artifacts: dict[str, bytes],
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
) -> None:
    good = t.s3_credentials(api_client, namespace, s3_server)
    wrong = t.s3_credentials(api_client, namespace, s3_server, "wrong", secret_key="not-it")
    client = s3_server.client()
    client.put_object(bucket, "ok.zip", artifacts["zip"])
    client.put_object(bucket, "tampered.zip", artifacts["zip"], {"sha256": "0" * 64})
    target = t.make_tenant(api_client, namespace, postgres_server, job_pods, "target")

    missing = restore(api_client, target, s3_server, bucket, "nope.zip", "zip", good)
    assert not missing.succeeded
    assert f"s3://{bucket}/nope.zip at {s3_server.endpoint} does not exist" in missing.message

    denied = restore(api_client, target, s3_server, bucket, "ok.zip", "zip", wrong)
    assert not denied.succeeded
    assert "was denied: check accessKey and secretKey" in denied.message, denied.message

    tampered = restore(api_client, target, s3_server, bucket, "tampered.zip", "zip", good)
    assert not tampered.succeeded
    assert "is corrupt: its sha256 is" in tampered.message, tampered.message
    _assert_nothing_restored(postgres_server, target)

    source = t.make_tenant(api_client, namespace, postgres_server, job_pods, "source")
    t.init_database(api_client, source, modules="base")
    upload = backup(api_client, source, s3_server, bucket, "new.zip", "zip", wrong)
    assert not upload.succeeded
    assert "step upload failed" in upload.message
    assert "was denied" in upload.message
    assert client.head_object(bucket, "new.zip") is None


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"STANDIN_ODOO_FAIL": "neutralize"}, "odoo neutralize failed"),
        (
            {"STANDIN_ODOO_NEUTRALIZE": "partial"},
            'neutralization incomplete: outgoing mail server "prod" (smtp.example.com) '
            "is still active",
        ),
    ],
)
def test_failed_neutralization_drops_the_restored_copy(
    env: dict[str, str],
    expected: str,
    artifacts: dict[str, bytes],
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
) -> None:
    source = t.make_tenant(api_client, namespace, postgres_server, job_pods, "prod")
    t.init_database(api_client, source)
    t.fill(source, rows=10, files=2)
    credentials = t.s3_credentials(api_client, namespace, s3_server)
    assert backup(api_client, source, s3_server, bucket, "prod.zip", "zip", credentials).succeeded
    target = t.make_tenant(api_client, namespace, postgres_server, job_pods, "copy", extra_env=env)

    done = restore(api_client, target, s3_server, bucket, "prod.zip", "zip", credentials)

    assert not done.succeeded
    assert "step verify failed" in done.message
    assert expected in done.message, done.message
    _assert_nothing_restored(postgres_server, target)


def test_backup_refuses_client_tools_older_than_the_server(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    pod_router: job_fixtures.PodRouter,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
    tmp_path: Path,
) -> None:
    system = Path("/usr/bin/pg_dump")
    old_tools = tmp_path / "pg15"
    if not system.exists():
        pytest.skip("no older PostgreSQL client tools installed on this machine")
    old_tools.mkdir()
    for tool in ("pg_dump", "psql", "pg_restore"):
        (old_tools / tool).symlink_to(Path("/usr/bin") / tool)
    runner = job_fixtures.local_runner(
        tmp_path / "pods", postgres_server, s3_server, first_on_path=(old_tools,)
    )
    version = subprocess.run(
        [str(system), "--version"], capture_output=True, text=True, check=True
    ).stdout
    major = int(version.split()[2].split(".")[0])
    if major >= 18:
        pytest.skip("the system's pg_dump is not older than the embedded server")
    pod_router.runners[namespace] = runner
    try:
        source = t.make_tenant(api_client, namespace, postgres_server, runner, "prod")
        t.init_database(api_client, source, modules="base")
        credentials = t.s3_credentials(api_client, namespace, s3_server)
        done = backup(api_client, source, s3_server, bucket, "prod.zip", "zip", credentials)
    finally:
        pod_router.runners.pop(namespace, None)

    assert not done.succeeded
    assert "step dump failed" in done.message
    assert (
        f"pg_dump {major} is older than the PostgreSQL 18 server; run this step with "
        "PostgreSQL client tools 18 or newer"
    ) in done.message
    assert s3_server.client().head_object(bucket, "prod.zip") is None
