"""Helpers of the script tests: instances without an operator, Jobs run to their end.

A `Tenant` is what a Job Pod of an instance needs to exist, made by hand:
the OdooInstance object (its uid owns the rest), its ConfigMap and Secret as
the operator writes them, its PostgreSQL role, and its filestore directory
(the local pod runner's directory of the filestore claim). `run_job` creates
a batch Job and waits for the Job controller's verdict. A restore Job only
moves data into copies: `swap_restored_in` does what the workflow does once
it succeeded (the database swap, through activities.databases as the
cluster's admin), `undo_restore` what it does when anything failed (the
filestore undo Job, the copy dropped).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes
import psycopg
from psycopg import sql
from pydantic import SecretStr

from activities import api, databases
from activities.clusters import Cluster
from model import naming
from model.crds import OdooInstanceSpec, OdooRestoreJobSpec
from sandbox import podrunner, postgres
from sandbox import s3 as s3_server
from specs import config, facts, job_outcome, jobs, rbac

JOB_TIMEOUT_SECONDS = 120.0
TOOLS_IMAGE = "ghcr.io/bemade/odoo-operator-tools:test"


@dataclass
class Tenant:
    name: str
    namespace: str
    uid: str
    inst: facts.Instance
    password: str
    server: postgres.EmbeddedPostgres
    filestore_root: Path

    @property
    def database(self) -> str:
        return self.inst.database.name

    @property
    def filestore(self) -> Path:
        """This database's filestore directory (`<data_dir>/filestore/<db>`)."""
        return self.filestore_root / "filestore" / self.database

    def connect(self, database: str | None = None) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=self.server.host,
            port=self.server.port,
            user=self.inst.database.user,
            password=self.password,
            dbname=database or self.database,
            autocommit=True,
        )


def make_tenant(
    client: kubernetes.client.ApiClient,
    namespace: str,
    server: postgres.EmbeddedPostgres,
    runner: podrunner.LocalPodRunner,
    name: str,
    *,
    extra_env: dict[str, str] | None = None,
) -> Tenant:
    """An instance's objects and role, as the operator would have made them (no database)."""
    kube = api.KubeApi(client)
    spec: dict[str, Any] = {
        "adminPassword": "admin",
        "ingress": {"hosts": [f"{name}.example.com"]},
        "init": {"enabled": False},
        "image": "odoo:18.0",
    }
    if extra_env:
        spec["extraEnv"] = [{"name": k, "value": v} for k, v in extra_env.items()]
    body = kube.create(
        api.INSTANCE,
        namespace,
        {
            "apiVersion": naming.GROUP_VERSION,
            "kind": "OdooInstance",
            "metadata": {"name": name},
            "spec": spec,
        },
    )
    uid = body["metadata"]["uid"]
    inst = facts.Instance(
        name=name,
        namespace=namespace,
        uid=uid,
        spec=OdooInstanceSpec.model_validate(spec),
        database=facts.Database(
            host=server.host,
            port=server.port,
            name=naming.database_name(uid),
            user=naming.role_name(namespace, name),
        ),
    )
    password = secrets.token_hex(16)
    kube.create(api.SERVICE_ACCOUNT, namespace, rbac.service_account(inst))
    kube.create(api.CONFIG_MAP, namespace, config.config_map(inst))
    kube.create(
        api.SECRET, namespace, config.db_secret(inst, password=password, admin_password="admin")
    )
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                sql.Identifier(inst.database.user), sql.Literal(password)
            )
        )
    filestore_root = runner.work_dir / "claims" / namespace / naming.pvc_name(name)
    filestore_root.mkdir(parents=True, exist_ok=True)
    return Tenant(name, namespace, uid, inst, password, server, filestore_root)


def create_resource(
    client: kubernetes.client.ApiClient, namespace: str, kind: str, name: str, spec: dict[str, Any]
) -> str:
    """Create a job resource (no operator runs: it only owns the Job); return its uid."""
    kube = api.KubeApi(client)
    body = kube.create(
        api.job_resource(kind.lower() + "s"),
        namespace,
        {
            "apiVersion": naming.GROUP_VERSION,
            "kind": kind,
            "metadata": {"name": name},
            "spec": spec,
        },
    )
    return str(body["metadata"]["uid"])


@dataclass(frozen=True)
class Outcome:
    succeeded: bool
    message: str
    seconds: float
    resource: str = ""
    """The job resource whose Job it was (set by the helpers that make one)."""
    uid: str = ""


def run_job(client: kubernetes.client.ApiClient, job: dict[str, Any]) -> Outcome:
    """Create the Job and wait for its Complete or Failed condition."""
    kube = api.KubeApi(client)
    namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
    started = time.monotonic()
    kube.create(api.JOB, namespace, job)
    deadline = started + JOB_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        body = kube.get(api.JOB, namespace, name)
        conditions = {
            c["type"]: c
            for c in (body.get("status") or {}).get("conditions") or []
            if c.get("status") == "True"
        }
        if "Complete" in conditions or "Failed" in conditions:
            pods = kube.list_of(
                api.Resource("v1", "pods"), namespace, label_selector=f"job-name={name}"
            )
            ok = "Complete" in conditions
            message = "" if ok else job_outcome.failure_message(body, pods)
            return Outcome(ok, message, time.monotonic() - started)
        time.sleep(0.2)
    status = kube.get(api.JOB, namespace, name).get("status")
    raise TimeoutError(f"Job {namespace}/{name} did not finish in {JOB_TIMEOUT_SECONDS}s: {status}")


def init_database(
    client: kubernetes.client.ApiClient, tenant: Tenant, modules: str = "base,mail"
) -> None:
    """Run the instance's init Job (the stand-in odoo creates the database)."""
    resource = f"{tenant.name}-init-{uuid.uuid4().hex[:6]}"
    uid = create_resource(
        client,
        tenant.namespace,
        "OdooInitJob",
        resource,
        {"odooInstanceRef": {"name": tenant.name}, "modules": modules.split(",")},
    )
    job = jobs.init_job(
        tenant.inst,
        resource_name=resource,
        resource_uid=uid,
        modules=modules.split(","),
        demo=False,
    )
    outcome = run_job(client, job)
    assert outcome.succeeded, outcome.message


def fill(tenant: Tenant, rows: int = 500, files: int = 20) -> None:
    """Rows, an active mail server, fetchmail server and cron, and filestore files."""
    with tenant.connect() as conn:
        conn.execute(
            "CREATE TABLE x_records "
            "(id serial PRIMARY KEY, name text, amount numeric, payload bytea)"
        )
        conn.execute(
            "INSERT INTO x_records (name, amount, payload) "
            "SELECT 'record ' || g, g * 1.5, sha256(g::text::bytea) FROM generate_series(1, %s) g",
            (rows,),
        )
        conn.execute(
            "INSERT INTO ir_mail_server (name, smtp_host, smtp_port) "
            "VALUES ('prod', 'smtp.example.com', 587)"
        )
        conn.execute(
            "INSERT INTO fetchmail_server (name, server) VALUES ('inbox', 'imap.example.com')"
        )
        conn.execute("INSERT INTO ir_cron (cron_name) VALUES ('send invoices')")
        conn.execute("INSERT INTO res_users (login) VALUES ('alice'), ('bob')")
    for i in range(files):
        content = os.urandom(1024 + i * 97)
        digest = hashlib.sha1(content).hexdigest()
        path = tenant.filestore / digest[:2] / digest
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def rows(tenant: Tenant, database: str | None = None) -> list[tuple[Any, ...]]:
    with tenant.connect(database) as conn:
        return list(conn.execute("SELECT id, name, amount, payload FROM x_records ORDER BY id"))


def parameter(tenant: Tenant, key: str) -> str | None:
    with tenant.connect() as conn:
        row = conn.execute(
            "SELECT value FROM ir_config_parameter WHERE key = %s", (key,)
        ).fetchone()
    return None if row is None else str(row[0])


def files(directory: Path) -> dict[str, bytes]:
    """Relative path -> content of every file under `directory`, except the marks a
    restore leaves in a filestore it swapped in until it removes what it kept aside
    (`.odoo-operator-mark`, `.odoo-operator-empty`: scripts/jobs/filestore-step.sh)."""
    if not directory.is_dir():
        return {}
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file() and not path.name.startswith(".odoo-operator-")
    }


def database_exists(server: postgres.EmbeddedPostgres, name: str) -> bool:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        return (
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            is not None
        )


def s3_credentials(
    client: kubernetes.client.ApiClient,
    namespace: str,
    server: s3_server.S3Server,
    name: str = "s3-credentials",
    *,
    secret_key: str | None = None,
) -> str:
    kube = api.KubeApi(client)
    kube.create(
        api.SECRET,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "stringData": {
                "accessKey": server.access_key,
                "secretKey": secret_key or server.secret_key,
            },
        },
    )
    return name


def wait_until(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout}s: {what}")
        time.sleep(0.1)


def s3_restore_job(
    client: kubernetes.client.ApiClient,
    tenant: Tenant,
    source: dict[str, Any],
    fmt: str,
    credentials: str,
    **spec: Any,
) -> tuple[str, str, dict[str, Any]]:
    """An OdooRestoreJob from the S3 object `source` (an S3Config body) and its batch
    Job, not started: (resource name, uid, Job). `spec` adds fields (neutralize...)."""
    body = {
        "odooInstanceRef": {"name": tenant.name},
        "format": fmt,
        "source": {"type": "s3", "s3": {**source, "s3CredentialsSecretRef": {"name": credentials}}},
        **spec,
    }
    name = f"restore-{uuid.uuid4().hex[:6]}"
    uid = create_resource(client, tenant.namespace, "OdooRestoreJob", name, body)
    job = jobs.restore_job(
        tenant.inst,
        resource_name=name,
        resource_uid=uid,
        spec=OdooRestoreJobSpec.model_validate(body),
        tools_image=TOOLS_IMAGE,
        credentials_secret=credentials,
        master_password=None,
    )
    return name, uid, job


def admin_cluster(server: postgres.EmbeddedPostgres) -> Cluster:
    return Cluster(
        name="main",
        host=server.host,
        port=server.port,
        admin_user=server.admin_user,
        admin_password=SecretStr(server.admin_password),
    )


def swap_restored_in(tenant: Tenant, resource_uid: str) -> databases.SwapOutcome:
    """What the workflow does once a restore Job succeeded: swap `<db>_restoring` in,
    the live database kept aside as `<db>_pre_<8 hex>`."""
    return databases.Databases().swap_in(
        admin_cluster(tenant.server),
        live=tenant.database,
        incoming=naming.restore_database_name(tenant.database),
        aside=naming.aside_database_name(tenant.database, resource_uid),
        mark=naming.operation_mark("restore", resource_uid),
    )


def undo_restore(
    client: kubernetes.client.ApiClient,
    tenant: Tenant,
    resource: str,
    resource_uid: str,
    attempt: int = 1,
) -> Outcome:
    """What the workflow does when a restore failed anywhere: put the previous
    database back (when it was swapped), drop the copy, run the filestore undo Job."""
    cluster = admin_cluster(tenant.server)
    restoring = naming.restore_database_name(tenant.database)
    postgres_side = databases.Databases()
    postgres_side.swap_back(
        cluster,
        live=tenant.database,
        incoming=restoring,
        aside=naming.aside_database_name(tenant.database, resource_uid),
        mark=naming.operation_mark("restore", resource_uid),
    )
    postgres_side.drop_database(cluster, restoring, owner=tenant.inst.database.user)
    job = jobs.filestore_job(
        tenant.inst,
        resource_name=resource,
        resource_uid=resource_uid,
        tools_image=TOOLS_IMAGE,
        action=jobs.FilestoreAction.UNDO,
        attempt=attempt,
    )
    return run_job(client, job)


def leftovers(tenant: Tenant, resource_uid: str) -> dict[str, bool]:
    """What a failed restore must not leave: its copy, a kept-aside database or
    filestore, a staged filestore."""
    root = tenant.filestore_root / "filestore"
    return {
        name: exists
        for name, exists in {
            "restoring database": database_exists(
                tenant.server, naming.restore_database_name(tenant.database)
            ),
            "kept-aside database": database_exists(
                tenant.server, naming.aside_database_name(tenant.database, resource_uid)
            ),
            "staged filestore": (root / naming.filestore_staging_dir(tenant.database)).exists(),
            "kept-aside filestore": (
                root / naming.filestore_aside_dir(tenant.database, resource_uid)
            ).exists(),
        }.items()
        if exists
    }
