"""Restore from a live Odoo: the download step against Odoo's database manager.

A small HTTP server plays Odoo's `/web/database/list` (JSON-RPC) and
`/web/database/backup` (multipart form: master_pwd, name, backup_format;
the backup as the body, or the database manager page naming the error,
with HTTP 200, as Odoo answers). Covers:
- the master password comes from a Secret mounted as a file and reaches the
  server (never the Job's env or arguments); the only database is found
  when sourceDatabase is unset; the zip is restored and neutralized;
- a wrong master password fails the restore with Odoo's own error text.
"""

from __future__ import annotations

import email
import http.server
import json
import threading
import uuid
from collections.abc import Iterator
from email.message import Message

import kubernetes
import pytest

from activities import api
from model.crds import OdooRestoreJobSpec
from sandbox import podrunner, postgres
from specs import jobs
from tests.scripts import tenants as t
from tests.scripts.artifacts import make_artifacts

MASTER_PASSWORD = "s3cret-master"


class FakeOdoo(http.server.BaseHTTPRequestHandler):
    backups: dict[str, bytes] = {}
    requests: list[dict[str, str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/web/database/list":
            self._answer(
                200, "application/json", json.dumps({"result": sorted(self.backups)}).encode()
            )
            return
        if self.path != "/web/database/backup":
            self._answer(404, "text/plain", b"not found")
            return
        parsed: Message = email.message_from_bytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body
        )
        form = {
            str(part.get_param("name", header="content-disposition")): part.get_payload(
                decode=True
            ).decode()  # type: ignore[union-attr]
            for part in parsed.get_payload()  # type: ignore[union-attr]
        }
        self.requests.append(form)
        if form.get("master_pwd") != MASTER_PASSWORD or form.get("name") not in self.backups:
            page = b"<html><div class='alert'>Database backup error: Access Denied</div></html>"
            self._answer(200, "text/html", page)
            return
        self._answer(200, "application/octet-stream", self.backups[form["name"]])

    def _answer(self, code: int, content_type: str, data: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fake_odoo(
    postgres_server: postgres.EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    FakeOdoo.backups = {
        "production": make_artifacts(postgres_server, tmp_path_factory.mktemp("a"))["zip"]
    }
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeOdoo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _restore_from(
    client: kubernetes.client.ApiClient, tenant: t.Tenant, url: str, secret: str
) -> t.Outcome:
    spec = {
        "odooInstanceRef": {"name": tenant.name},
        "source": {
            "type": "odoo",
            "odoo": {"url": url, "masterPasswordSecretRef": {"name": secret, "key": "password"}},
        },
    }
    name = f"restore-{uuid.uuid4().hex[:6]}"
    uid = t.create_resource(client, tenant.namespace, "OdooRestoreJob", name, spec)
    job = jobs.restore_job(
        tenant.inst,
        resource_name=name,
        resource_uid=uid,
        spec=OdooRestoreJobSpec.model_validate(spec),
        tools_image="tools:test",
        credentials_secret=None,
        master_password=(secret, "password"),
    )
    rendered = json.dumps(job)
    assert MASTER_PASSWORD not in rendered
    outcome = t.run_job(client, job)
    if outcome.succeeded:
        t.swap_restored_in(tenant, uid)  # the workflow's step after the Job
    return outcome


def _password_secret(
    client: kubernetes.client.ApiClient, namespace: str, name: str, value: str
) -> str:
    api.KubeApi(client).create(
        api.SECRET,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name},
            "stringData": {"password": value},
        },
    )
    return name


def test_restore_from_live_odoo_with_master_password_from_a_secret(
    fake_odoo: str,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    secret = _password_secret(api_client, namespace, "odoo-master", MASTER_PASSWORD)
    target = t.make_tenant(api_client, namespace, postgres_server, job_pods, "staging")

    done = _restore_from(api_client, target, fake_odoo, secret)

    assert done.succeeded, done.message
    assert FakeOdoo.requests[-1] == {
        "master_pwd": MASTER_PASSWORD,
        "name": "production",
        "backup_format": "zip",
    }
    with target.connect() as conn:
        assert conn.execute("SELECT count(*) FROM x_records").fetchone() == (2000,)
    assert t.parameter(target, "database.is_neutralized") == "true"


def test_wrong_master_password_fails_with_odoos_error(
    fake_odoo: str,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
) -> None:
    secret = _password_secret(api_client, namespace, "odoo-master", "guess")
    target = t.make_tenant(api_client, namespace, postgres_server, job_pods, "staging")

    done = _restore_from(api_client, target, fake_odoo, secret)

    assert not done.succeeded
    assert "step download failed" in done.message
    assert (
        "did not return a zip backup of production (HTTP 200): Database backup error: Access Denied"
        in done.message
    )
    assert not t.database_exists(postgres_server, target.database)
