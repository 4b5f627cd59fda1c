"""Backups and restores for real: the step scripts in Job Pods, PostgreSQL, S3, a filestore.

Each test runs batch Jobs built by specs.jobs on the control
plane; the simulated kubelet runs their containers as local processes
(scripts/jobs/ and the stand-in odoo) against the embedded PostgreSQL and
the versitygw S3 server. No operator runs: the job resources only own the
Jobs.

Covers, for each format (zip, sql, dump):
- a backup of a database with rows and a filestore uploads one object with
  its sha256 as metadata; the zip is in Odoo's layout (dump.sql, filestore/,
  manifest.json naming the Odoo version and installed modules);
- a restore of it into a fresh instance's database finds the rows identical
  (and, for zip, the files), the database re-identified (new database.uuid
  and database.secret) and neutralized (is_neutralized, crons, outgoing and
  incoming mail servers inactive), and no temporary database left.
And: with neutralize false the copy keeps its identity and its mail servers;
a restore over an existing database replaces it once swapped in (the
workflow's step after the Job), the previous one kept aside.
"""

from __future__ import annotations

import dataclasses
import io
import json
import uuid
import zipfile

import kubernetes
import pytest

from model import naming
from model.crds import OdooBackupJobSpec
from sandbox import podrunner, postgres, s3
from specs import jobs
from tests.scripts import tenants as t

TOOLS_IMAGE = t.TOOLS_IMAGE


def backup(
    client: kubernetes.client.ApiClient,
    tenant: t.Tenant,
    s3_server: s3.S3Server,
    bucket: str,
    key: str,
    fmt: str,
    credentials: str,
) -> t.Outcome:
    spec = {
        "odooInstanceRef": {"name": tenant.name},
        "format": fmt,
        "destination": {
            "bucket": bucket,
            "objectKey": key,
            "endpoint": s3_server.endpoint,
            "s3CredentialsSecretRef": {"name": credentials},
        },
    }
    name = f"backup-{uuid.uuid4().hex[:6]}"
    uid = t.create_resource(client, tenant.namespace, "OdooBackupJob", name, spec)
    job = jobs.backup_job(
        tenant.inst,
        resource_name=name,
        resource_uid=uid,
        spec=OdooBackupJobSpec.model_validate(spec),
        tools_image=TOOLS_IMAGE,
        credentials_secret=credentials,
    )
    return t.run_job(client, job)


def restore(
    client: kubernetes.client.ApiClient,
    tenant: t.Tenant,
    s3_server: s3.S3Server,
    bucket: str,
    key: str,
    fmt: str,
    credentials: str,
    *,
    neutralize: bool = True,
    swap: bool = True,
) -> t.Outcome:
    """Run a restore Job; once it succeeded, swap the copy in as the workflow does
    (unless `swap` is false)."""
    location = {"bucket": bucket, "objectKey": key, "endpoint": s3_server.endpoint}
    name, uid, job = t.s3_restore_job(
        client, tenant, location, fmt, credentials, neutralize=neutralize
    )
    outcome = dataclasses.replace(t.run_job(client, job), resource=name, uid=uid)
    if outcome.succeeded and swap:
        t.swap_restored_in(tenant, uid)
    return outcome


@pytest.fixture
def bucket(s3_server: s3.S3Server) -> str:
    name = f"backups-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(name)
    return name


@pytest.mark.parametrize("fmt", ["zip", "sql", "dump"])
def test_restored_copy_is_identical_reidentified_and_neutralized(
    fmt: str,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
) -> None:
    source = t.make_tenant(api_client, namespace, postgres_server, job_pods, "prod")
    t.init_database(api_client, source)
    t.fill(source)
    credentials = t.s3_credentials(api_client, namespace, s3_server)
    key = f"prod/nightly.{fmt}"

    done = backup(api_client, source, s3_server, bucket, key, fmt, credentials)
    assert done.succeeded, done.message

    client = s3_server.client()
    assert [o.key for o in client.list_objects(bucket)] == [key]
    head = client.head_object(bucket, key) or {}
    assert len(head["x-amz-meta-sha256"]) == 64
    artifact = client.get_object(bucket, key)
    if fmt == "zip":
        archive = zipfile.ZipFile(io.BytesIO(artifact))
        names = set(archive.namelist())
        assert {"dump.sql", "manifest.json"} <= names
        assert {n.removeprefix("filestore/") for n in names if n.startswith("filestore/")} >= set(
            t.files(source.filestore)
        )
        manifest = json.loads(archive.read("manifest.json"))
        assert manifest["odoo_dump"] == "1"
        assert manifest["db_name"] == source.database
        assert manifest["version"] == "18.0"
        assert manifest["modules"]["base"].startswith("18.0.")
        assert "mail" in manifest["modules"]
    elif fmt == "dump":
        assert artifact.startswith(b"PGDMP")
    else:
        assert b"PostgreSQL database dump complete" in artifact[-200:]

    target = t.make_tenant(api_client, namespace, postgres_server, job_pods, "staging")
    done = restore(api_client, target, s3_server, bucket, key, fmt, credentials)
    assert done.succeeded, done.message

    assert t.rows(target) == t.rows(source)
    if fmt == "zip":
        assert t.files(target.filestore) == t.files(source.filestore)
    for key_ in ("database.uuid", "database.secret"):
        assert t.parameter(target, key_) not in (None, t.parameter(source, key_))
    assert t.parameter(target, "database.is_neutralized") == "true"
    with target.connect() as conn:
        assert conn.execute("SELECT count(*) FROM ir_cron WHERE active").fetchone() == (0,)
        active_mail = conn.execute(
            "SELECT smtp_host FROM ir_mail_server WHERE active ORDER BY id"
        ).fetchall()
        assert active_mail == [("invalid",)]
        assert conn.execute("SELECT count(*) FROM fetchmail_server WHERE active").fetchone() == (0,)
    assert not t.database_exists(postgres_server, naming.restore_database_name(target.database))
    # The source is untouched.
    assert t.parameter(source, "database.is_neutralized") is None


def test_restore_without_neutralize_keeps_identity_and_replaces_the_database(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    bucket: str,
) -> None:
    source = t.make_tenant(api_client, namespace, postgres_server, job_pods, "prod")
    t.init_database(api_client, source)
    t.fill(source, rows=50, files=3)
    credentials = t.s3_credentials(api_client, namespace, s3_server)
    assert backup(api_client, source, s3_server, bucket, "prod.zip", "zip", credentials).succeeded

    # The target has a database of its own already: the restore replaces it.
    target = t.make_tenant(api_client, namespace, postgres_server, job_pods, "replica")
    t.init_database(api_client, target, modules="base")
    with target.connect() as conn:
        conn.execute("CREATE TABLE leftover (id int)")

    done = restore(
        api_client, target, s3_server, bucket, "prod.zip", "zip", credentials, neutralize=False
    )
    assert done.succeeded, done.message
    assert t.rows(target) == t.rows(source)
    assert t.parameter(target, "database.uuid") == t.parameter(source, "database.uuid")
    assert t.parameter(target, "database.is_neutralized") is None
    with target.connect() as conn:
        assert conn.execute("SELECT to_regclass('leftover')").fetchone() == (None,)
        assert conn.execute("SELECT count(*) FROM ir_mail_server WHERE active").fetchone() == (1,)
