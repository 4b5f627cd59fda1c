"""Every batch Job kind and the auto OdooInitJob (specs.jobs).

Covers: one skeleton for init, upgrade, backup and restore (owner reference
to the job resource, labels, pod security, service account, pull secret,
affinity, tolerations, restartPolicy Never, backoffLimit 0, a deadline, no
TTL); the steps in order, each in its image (tools image for tooling, the
instance's image for Odoo steps); names fit 63 characters; credentials only
through secretKeyRef env or a mounted Secret file, never a literal value or
an argument, and the tools read the same connection as Odoo under libpq's
names; every upgrade, backup and restore container keeps its log tail as
termination message; odoo's init arguments (demo flag per version) and
upgrade arguments (-u/-i, -u all when both are empty); the backup's
ODOO_VERSION fallback only when the image tag names a series; restore loads
into `<db>_restoring` (63 bytes at most); the auto OdooInitJob copies
spec.init; backup requests accept the CLI's camelCase; a backup without
destination goes to spec.backup's bucket under a key of its creation time and name.
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
from specs import facts, jobs
from tests.unit.specs.shop import ADMIN, container, env_names, make

TOOLS = "registry.example/tools:1.2.3"
S3 = {"bucket": "bkt", "objectKey": "a/b.zip", "endpoint": "https://s3.example"}


def instance(**spec: Any) -> facts.Instance:
    parsed = OdooInstanceSpec.model_validate(
        {
            "adminPassword": "x",
            "ingress": {"hosts": ["a.example.com"]},
            "image": "odoo:18.0",
            **spec,
        }
    )
    return facts.Instance(
        name="shop",
        namespace="prod",
        uid="1234-abcd",
        spec=parsed,
        database=facts.Database("db.example", 5432, "odoo_1234_abcd", "odoo.prod.shop"),
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
    expected = ["download", "extract", "load", "neutralize", "verify", "filestore"]
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
    for step in containers(job):
        assert step["terminationMessagePolicy"] == "FallbackToLogsOnError"
        for var in step["env"]:
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


def test_backup_request_accepts_the_clis_camel_case() -> None:
    request = BackupRequest.model_validate(
        {"destination": S3, "withFilestore": False, "format": "dump"}
    )
    assert request.with_filestore is False
    assert request.destination is not None
    assert request.destination.object_key == "a/b.zip"


def test_auto_init_job_copies_spec_init_when_built() -> None:
    job = jobs.auto_init_job(make(init={"modules": ["base", "sale"], "demo": True}))

    assert job["kind"] == "OdooInitJob"
    assert job["metadata"]["name"] == "shop-auto-init"
    assert job["spec"] == {
        "odooInstanceRef": {"name": "shop"},
        "modules": ["base", "sale"],
        "demo": True,
    }


@pytest.mark.parametrize(
    ("image", "demo", "flags"),
    [
        ("odoo:16.0", True, []),
        ("odoo:16.0", False, ["--without-demo=all"]),
        ("odoo:17.0", True, []),
        ("odoo:17", False, ["--without-demo=all"]),
        ("odoo:18.0", True, []),
        ("registry:5000/odoo:18.0-20250101", False, ["--without-demo=all"]),
        ("odoo:19.0", True, ["--with-demo"]),
        ("odoo:19.0", False, []),
        ("odoo:latest", False, ["--without-demo=all"]),
    ],
)
def test_init_job_demo_flag_follows_the_odoo_version_of_the_image(
    image: str, demo: bool, flags: list[str]
) -> None:
    job = jobs.init_job(
        make(image=image), resource_name="i", resource_uid="r", modules=["base"], demo=demo
    )
    args = container(job)["args"]
    assert args[:6] == ["-i", "base", "-d", "odoo_uid_1", "--no-http", "--stop-after-init"]
    assert args[6:] == flags


@pytest.mark.parametrize("demo", [False, True])
def test_init_job_runs_odoo_init_when_built(demo: bool) -> None:
    job = jobs.init_job(
        make(),
        resource_name="shop-auto-init",
        resource_uid="r-1",
        modules=["base", "sale"],
        demo=demo,
    )

    assert job["metadata"]["name"] == naming.batch_job_name("shop-auto-init", "init")
    c = container(job)
    assert c["command"] == ["/entrypoint.sh", "odoo"]
    assert c["args"][:6] == [
        "-i",
        "base,sale",
        "-d",
        "odoo_uid_1",
        "--no-http",
        "--stop-after-init",
    ]
    assert ("--without-demo=all" in c["args"]) is not demo
    spec = job["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["template"]["spec"]["activeDeadlineSeconds"] == 3600
    assert spec["activeDeadlineSeconds"] == 3600 + jobs.JOB_DEADLINE_GRACE_SECONDS
    assert "ttlSecondsAfterFinished" not in spec  # set only once the outcome is recorded
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    owner = job["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "OdooInitJob",
        "shop-auto-init",
        "r-1",
        True,
    )
    assert job["spec"]["template"]["metadata"]["labels"]["app"] != "shop"  # not a web pod
    assert "PASSWORD" in env_names(c)
    assert ADMIN not in json.dumps(job)


_RESOURCES = {
    "OdooInitJob": ("first", "u-init"),
    "OdooUpgradeJob": ("up", "u-upgrade"),
    "OdooBackupJob": ("nightly", "u-backup"),
    "OdooRestoreJob": ("copy", "u-restore"),
}
"""The job resource (name, uid) each kind's batch Job is built for."""
_POD_CONTENT = frozenset({"initContainers", "containers", "volumes", "activeDeadlineSeconds"})
"""What differs between the kinds' pods: the steps, what they mount, the deadline."""


def _every_kind(inst: facts.Instance) -> dict[str, dict[str, Any]]:
    """The batch Job of each kind for `inst`, by the job resource kind (see _RESOURCES)."""
    upgrade = OdooUpgradeJobSpec.model_validate({"odooInstanceRef": {"name": "shop"}})
    backup_spec = OdooBackupJobSpec.model_validate(
        {"odooInstanceRef": {"name": "shop"}, "destination": S3}
    )
    restore_spec = OdooRestoreJobSpec.model_validate(
        {"odooInstanceRef": {"name": "shop"}, "source": {"type": "s3", "s3": S3}}
    )
    init, up, nightly, copy = (
        {"resource_name": name, "resource_uid": uid} for name, uid in _RESOURCES.values()
    )
    return {
        "OdooInitJob": jobs.init_job(inst, **init, modules=["base"], demo=False),
        "OdooUpgradeJob": jobs.upgrade_job(inst, **up, spec=upgrade),
        "OdooBackupJob": jobs.backup_job(
            inst,
            **nightly,
            spec=backup_spec,
            tools_image=TOOLS,
            credentials_secret="s3-keys",
        ),
        "OdooRestoreJob": jobs.restore_job(
            inst,
            **copy,
            spec=restore_spec,
            tools_image=TOOLS,
            credentials_secret="s3-keys",
            master_password=None,
        ),
    }


def test_every_job_kind_gets_the_same_skeleton_when_pod_options_are_set() -> None:
    inst = instance(
        imagePullSecret="regcred",
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
        tolerations=[{"key": "dedicated", "operator": "Equal", "value": "odoo"}],
    )
    built = _every_kind(inst)

    def skeleton(job: dict[str, Any]) -> dict[str, Any]:
        pod = job["spec"]["template"]["spec"]
        return {
            "pod": {key: value for key, value in pod.items() if key not in _POD_CONTENT},
            "backoffLimit": job["spec"]["backoffLimit"],
            "ttl": job["spec"].get("ttlSecondsAfterFinished"),
            "namespace": job["metadata"]["namespace"],
        }

    skeletons = [skeleton(job) for job in built.values()]
    assert skeletons == [skeletons[0]] * 4
    assert skeletons[0] == {
        "pod": {
            "serviceAccountName": "shop",
            "automountServiceAccountToken": False,
            "securityContext": {"runAsUser": 100, "runAsGroup": 101, "fsGroup": 101},
            "imagePullSecrets": [{"name": "regcred"}],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {}}},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "odoo"}],
            "restartPolicy": "Never",
        },
        "backoffLimit": 0,
        "ttl": None,  # set only once the outcome is recorded
        "namespace": "prod",
    }
    for kind, job in built.items():
        resource, uid = _RESOURCES[kind]
        assert job["metadata"]["ownerReferences"] == [
            {
                "apiVersion": naming.GROUP_VERSION,
                "kind": kind,
                "name": resource,
                "uid": uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
        labels = job["metadata"]["labels"]
        assert labels == job["spec"]["template"]["metadata"]["labels"]
        assert labels["app"] == job["metadata"]["name"]  # never the web Service's pods
        assert labels["bemade.org/instance"] == "shop"
        assert job["spec"]["activeDeadlineSeconds"] > 0


def test_tools_read_the_connection_odoo_reads_under_libpq_names_when_built() -> None:
    built = _every_kind(instance())
    (odoo_step,) = containers(built["OdooInitJob"])
    dump = containers(built["OdooBackupJob"])[0]

    odoo_env = {e["name"]: e for e in odoo_step["env"]}
    tools_env = {e["name"]: e for e in dump["env"]}
    for odoo_name, tools_name in (
        ("HOST", "PGHOST"),
        ("PORT", "PGPORT"),
        ("USER", "PGUSER"),
        ("PASSWORD", "PGPASSWORD"),
        ("PGDATABASE", "DB_NAME"),
    ):
        odoo_var, tools_var = odoo_env[odoo_name], tools_env[tools_name]
        assert {**odoo_var, "name": tools_name} == tools_var
    assert tools_env["DB_NAME"]["value"] == "odoo_1234_abcd"


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("odoo:18.0", "18.0"),
        ("registry:5000/odoo:17.0-20250101", "17.0"),
        ("odoo:18.0@sha256:abc", "18.0"),
        ("odoo:17", None),
        ("odoo:latest", None),
        ("odoo@sha256:abc", None),
    ],
)
def test_backup_passes_the_series_only_when_the_image_tag_names_one(
    image: str, version: str | None
) -> None:
    spec = OdooBackupJobSpec.model_validate(
        {"odooInstanceRef": {"name": "shop"}, "destination": S3}
    )
    job = jobs.backup_job(
        instance(image=image),
        resource_name="nightly",
        resource_uid="u1",
        spec=spec,
        tools_image=TOOLS,
        credentials_secret=None,
    )
    dump = containers(job)[0]
    env = {e["name"]: e.get("value") for e in dump["env"]}
    assert env.get("ODOO_VERSION") == version


def test_a_backup_without_destination_goes_to_the_instances_spec_backup_bucket() -> None:
    scheduled = instance(
        backup={
            "schedule": "0 2 * * *",
            "destination": {
                "bucket": "nightly",
                "endpoint": "https://s3.example",
                "prefix": "auto/",
                "s3CredentialsSecretRef": {"name": "s3"},
            },
        }
    ).spec.backup
    bare = OdooBackupJobSpec.model_validate({"odooInstanceRef": {"name": "shop"}, "format": "sql"})

    def where(spec: OdooBackupJobSpec, given: Any) -> Any:
        return jobs.backup_destination(
            spec,
            namespace="prod",
            instance="shop",
            resource_name="before-migration",
            created="2026-12-06T09:30:05Z",
            scheduled=given,
        )

    found = where(bare, scheduled)
    assert found is not None
    assert (found.bucket, found.object_key, found.endpoint) == (
        "nightly",
        "auto/prod/shop/shop-20261206093005-before-migration.sql",
        "https://s3.example",
    )
    assert found.s3_credentials_secret_ref is not None
    assert found.s3_credentials_secret_ref.name == "s3"
    assert where(bare, None) is None  # nowhere: the snapshot refuses it
    named = OdooBackupJobSpec.model_validate(
        {"odooInstanceRef": {"name": "shop"}, "destination": S3}
    )
    assert where(named, scheduled) == named.destination  # its own wins
