"""The batch Jobs of upgrade, backup and restore resources (specs.jobs).

Covers: the steps in order, each in its image (tools image for tooling, the
instance's image for Odoo steps); names fit 63 characters; credentials only
through secretKeyRef env or a mounted Secret file, never a literal value or an
argument; every container keeps its log tail as termination message; odoo's
upgrade arguments (-u/-i, -u all when both are empty); restore loads into
`<db>_restoring` (63 bytes at most); failure messages name the failing step
first (specs.job_outcome); backup requests accept the CLI's camelCase.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from model import naming
from model.crds import (
    OdooBackupJobSpec,
    OdooInstanceSpec,
    OdooRestoreJobSpec,
    OdooUpgradeJobSpec,
)
from model.payloads import BackupRequest
from specs import job_outcome, jobs, manifests

TOOLS = "registry.example/tools:1.2.3"
S3 = {"bucket": "bkt", "objectKey": "a/b.zip", "endpoint": "https://s3.example"}


def instance(**spec: Any) -> manifests.Instance:
    parsed = OdooInstanceSpec.model_validate(
        {
            "adminPassword": "x",
            "ingress": {"hosts": ["a.example.com"]},
            "image": "odoo:18.0",
            **spec,
        }
    )
    return manifests.Instance(
        name="shop",
        namespace="prod",
        uid="1234-abcd",
        spec=parsed,
        database=manifests.Database("db.example", 5432, "odoo_1234_abcd", "odoo.prod.shop"),
    )


def containers(job: dict[str, Any]) -> list[dict[str, Any]]:
    pod = job["spec"]["template"]["spec"]
    return [*pod.get("initContainers", []), *pod["containers"]]


def backup() -> dict[str, Any]:
    spec = OdooBackupJobSpec.model_validate(
        {"odooInstanceRef": {"name": "shop"}, "destination": S3}
    )
    return jobs.backup_job(
        instance(),
        resource_name="nightly",
        resource_uid="u1",
        spec=spec,
        tools_image=TOOLS,
        credentials_secret="s3-keys",
    )


def restore(neutralize: bool = True, source: str = "s3") -> dict[str, Any]:
    raw: dict[str, Any] = {"odooInstanceRef": {"name": "shop"}, "neutralize": neutralize}
    if source == "s3":
        raw["source"] = {"type": "s3", "s3": S3}
    else:
        raw["source"] = {"type": "odoo", "odoo": {"url": "https://prod.example"}}
    return jobs.restore_job(
        instance(),
        resource_name="copy",
        resource_uid="u2",
        spec=OdooRestoreJobSpec.model_validate(raw),
        tools_image=TOOLS,
        credentials_secret="s3-keys" if source == "s3" else None,
        master_password=("master", "pw") if source == "odoo" else None,
    )


def test_backup_runs_dump_package_upload_in_the_tools_image() -> None:
    job = backup()
    assert job["metadata"]["name"] == "nightly-backup"
    assert [c["name"] for c in containers(job)] == ["dump", "package", "upload"]
    assert {c["image"] for c in containers(job)} == {TOOLS}
    assert [c["command"] for c in containers(job)] == [
        [f"{jobs.SCRIPTS_DIR}/backup-{step}.sh"] for step in ("dump", "package", "upload")
    ]
    filestore = next(
        v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "filestore"
    )
    assert filestore["persistentVolumeClaim"]["readOnly"] is True
    assert job["metadata"]["ownerReferences"][0]["kind"] == "OdooBackupJob"


@pytest.mark.parametrize("neutralize", [True, False])
def test_restore_steps_and_images(neutralize: bool) -> None:
    job = restore(neutralize)
    names = [c["name"] for c in containers(job)]
    expected = ["download", "extract", "load", "neutralize", "finalize"]
    assert names == (expected if neutralize else [n for n in expected if n != "neutralize"])
    images = {c["name"]: c["image"] for c in containers(job)}
    assert images.pop("neutralize", "odoo:18.0") == "odoo:18.0"
    assert set(images.values()) == {TOOLS}
    env = {e["name"]: e.get("value") for c in containers(job) for e in c["env"]}
    assert env["TEMP_DB"] == "odoo_1234_abcd_restoring"
    assert env["REIDENTIFY"] == ("true" if neutralize else "false")


@pytest.mark.parametrize("job", [backup(), restore(), restore(source="odoo")], ids=["b", "r", "o"])
def test_credentials_never_literal(job: dict[str, Any]) -> None:
    secret_names = {"PGPASSWORD", "PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    for container in containers(job):
        assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
        for var in container["env"]:
            if var["name"] in secret_names:
                assert "value" not in var
                assert "secretKeyRef" in var["valueFrom"], var
    text = json.dumps(job)
    assert 'MASTER_PASSWORD"' not in text  # only the file path travels
    if "master-password" in text:
        volume = next(
            v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "master-password"
        )
        assert volume["secret"] == {
            "secretName": "master",
            "items": [{"key": "pw", "path": "password"}],
            "defaultMode": 0o400,
        }


@pytest.mark.parametrize(
    ("modules", "install", "expected"),
    [
        ([], [], ["-u", "all"]),
        (["sale"], [], ["-u", "sale"]),
        ([], ["stock", "mrp"], ["-i", "stock,mrp"]),
        (["sale"], ["stock"], ["-u", "sale", "-i", "stock"]),
    ],
)
def test_upgrade_arguments(modules: list[str], install: list[str], expected: list[str]) -> None:
    spec = OdooUpgradeJobSpec.model_validate(
        {"odooInstanceRef": {"name": "shop"}, "modules": modules, "modulesInstall": install}
    )
    job = jobs.upgrade_job(instance(), resource_name="up", resource_uid="u", spec=spec)
    command = containers(job)[0]["command"]
    assert command[:2] == ["/entrypoint.sh", "odoo"]
    assert command[2:] == [*expected, "-d", "odoo_1234_abcd", "--no-http", "--stop-after-init"]
    assert containers(job)[0]["image"] == "odoo:18.0"


def test_names_fit_kubernetes_and_postgresql_limits() -> None:
    assert len(naming.batch_job_name("x" * 80, "restore")) <= 63
    long_db = "d" * 63
    temp = naming.restore_database_name(long_db)
    assert len(temp.encode()) <= 63
    assert temp.endswith("_restoring")
    assert temp != naming.restore_database_name("d" * 62 + "e")
    stamp = "20260101020000"
    name = naming.backup_resource_name("i" * 63, stamp, "abcd")
    assert len(naming.batch_job_name(name, "backup")) <= 63
    assert naming.batch_job_name(name, "backup").endswith("-backup")


def test_failure_message_names_the_failed_init_container_and_the_cause() -> None:
    pods = [
        {
            "metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {
                "initContainerStatuses": [
                    {"name": "download", "state": {"terminated": {"exitCode": 0}}},
                    {
                        "name": "extract",
                        "state": {
                            "terminated": {
                                "exitCode": 1,
                                "message": "unzip: bad\nrestore-extract: error: the artifact is "
                                "not a readable zip archive (truncated or corrupt)",
                            }
                        },
                    },
                ],
                "containerStatuses": [
                    {"name": "finalize", "state": {"waiting": {"reason": "PodInitializing"}}}
                ],
            },
        }
    ]
    message = job_outcome.failure_message({"status": {}}, pods)
    assert message.startswith(
        "step extract failed (exit code 1): restore-extract: error: the artifact is not a "
        "readable zip archive (truncated or corrupt)"
    )
    assert "unzip: bad" in message
    deadline = {
        "status": {
            "conditions": [
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "DeadlineExceeded",
                    "message": "too long",
                }
            ]
        }
    }
    assert job_outcome.failure_message(deadline, []) == "DeadlineExceeded: too long"


def test_backup_request_accepts_the_clis_camel_case() -> None:
    request = BackupRequest.model_validate(
        {"destination": S3, "withFilestore": False, "format": "dump"}
    )
    assert request.with_filestore is False
    assert request.destination is not None
    assert request.destination.object_key == "a/b.zip"
