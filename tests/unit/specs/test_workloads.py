"""The web and cron Deployments and the pod pieces they share (specs.workloads).

Covers: web and cron command lines, ports, probes and their timings;
volumes and mounts; pod security; labels, selectors and owner references;
the cron Deployment's labels, owner and annotations (same as web); the conf
hash annotation of both pod templates moving with configOptions; secrets
only through secretKeyRef; imagePullSecrets, affinity, tolerations,
resources and strategy; the cron liveness probe. odoo.conf as the Odoo pods
see it: with spec.configSecretRef, the Secret is mounted into the render
init container only (web, cron and init Job pods), and the render script
(run here with /bin/sh on temporary directories) merges each key into
odoo.conf, replacing a ConfigMap line of the same key, skipping the keys the
operator owns (db_password, admin_passwd from the Secret) and names that are
not option names, and appends the master password last; the ConfigMap
itself holds none of the values; without configSecretRef cron and Jobs read
the ConfigMap's odoo.conf as before.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import subprocess
from typing import Any

import pytest

from specs import config, facts, jobs, workloads
from tests.unit.specs.shop import ADMIN, container, make


def test_web_runs_odoo_without_cron_threads_when_built() -> None:
    web = workloads.web_deployment(make(), replicas=0)
    c = container(web)

    assert c["command"] == ["/entrypoint.sh", "odoo", "--max-cron-threads", "0"]
    assert c["ports"] == [
        {"name": "http", "containerPort": 8069, "protocol": "TCP"},
        {"name": "websocket", "containerPort": 8072, "protocol": "TCP"},
    ]
    assert c["image"] == "odoo:18.0"
    assert web["spec"]["replicas"] == 0


def test_web_probes_use_reference_timings_when_paths_are_default() -> None:
    c = container(workloads.web_deployment(make(probes={"readinessPath": "/ready"}), replicas=1))

    assert c["startupProbe"] == {
        "httpGet": {"path": "/web/health", "port": 8069},
        "initialDelaySeconds": 5,
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 30,
    }
    assert c["livenessProbe"] == {
        "httpGet": {"path": "/web/health", "port": 8069},
        "periodSeconds": 15,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert (c["readinessProbe"]["periodSeconds"], c["readinessProbe"]["failureThreshold"]) == (
        10,
        3,
    )


def test_cron_runs_without_http_and_ports_when_built() -> None:
    cron = workloads.cron_deployment(make(), replicas=0)
    c = container(cron)

    assert cron["metadata"]["name"] == "shop-cron"
    assert c["command"] == ["/entrypoint.sh", "odoo", "--workers", "0", "--no-http"]
    assert "ports" not in c
    assert "readinessProbe" not in c
    assert cron["spec"]["selector"] == {"matchLabels": {"app": "shop-cron"}}


@pytest.mark.parametrize("build", [workloads.web_deployment, workloads.cron_deployment])
def test_pods_mount_filestore_and_conf_as_odoo_user_when_built(build: Any) -> None:
    deployment = build(make(), replicas=0)
    pod = deployment["spec"]["template"]["spec"]
    c = container(deployment)

    assert pod["securityContext"] == {"runAsUser": 100, "runAsGroup": 101, "fsGroup": 101}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["filestore"]["persistentVolumeClaim"] == {"claimName": "shop-filestore-pvc"}
    assert volumes["odoo-conf"]["configMap"] == {"name": "shop-odoo-conf"}
    mounts = {m["name"]: m["mountPath"] for m in c["volumeMounts"]}
    assert mounts["filestore"] == "/var/lib/odoo"
    assert mounts["odoo-conf"] == "/etc/odoo"
    assert pod["serviceAccountName"] == "shop"
    assert pod["automountServiceAccountToken"] is False


def test_labels_selector_and_owner_are_set_when_built() -> None:
    web = workloads.web_deployment(make(environment="Production"), replicas=0)

    expected = {
        "app": "shop",
        "bemade.org/instance": "shop",
        "bemade.org/environment": "production",
    }
    assert web["metadata"]["labels"] == expected
    assert web["spec"]["template"]["metadata"]["labels"] == expected
    assert web["spec"]["selector"] == {"matchLabels": {"app": "shop"}}
    assert web["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "bemade.org/v1alpha1",
            "kind": "OdooInstance",
            "name": "shop",
            "uid": "uid-1",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]


def test_cron_is_labelled_owned_and_annotated_like_web_when_built() -> None:
    inst = make(environment="Production")
    web = workloads.web_deployment(inst, replicas=0, credentials_version="7")
    cron = workloads.cron_deployment(inst, replicas=0, credentials_version="7")

    expected = {
        "app": "shop-cron",
        "bemade.org/instance": "shop",
        "bemade.org/environment": "production",
    }
    assert cron["metadata"]["labels"] == expected
    assert cron["spec"]["template"]["metadata"]["labels"] == expected
    assert cron["metadata"]["ownerReferences"] == web["metadata"]["ownerReferences"]
    assert cron["metadata"]["namespace"] == "prod"
    annotations = cron["spec"]["template"]["metadata"]["annotations"]
    assert annotations == web["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        workloads.CONF_HASH_ANNOTATION: config.conf_hash(inst),
        workloads.CREDENTIALS_ANNOTATION: "7",
    }
    # Only the replica count the operator wrote (the watcher tells its own scaling).
    assert cron["metadata"]["annotations"] == {"bemade.org/replicas": "0"}
    assert "initContainers" not in cron["spec"]["template"]["spec"]  # no master password


def test_pod_templates_roll_when_only_config_options_change() -> None:
    before = make(configOptions={"workers": "2"})
    after = make(configOptions={"workers": "4"})

    for build in (workloads.web_deployment, workloads.cron_deployment):
        a = build(before, replicas=0)["spec"]["template"]["metadata"]["annotations"]
        b = build(after, replicas=0)["spec"]["template"]["metadata"]["annotations"]
        assert a[workloads.CONF_HASH_ANNOTATION] != b[workloads.CONF_HASH_ANNOTATION]
    assert config.config_map(before)["data"] != config.config_map(after)["data"]


def test_conf_hash_annotation_changes_when_config_options_change() -> None:
    a = workloads.web_deployment(make(), replicas=0)
    b = workloads.web_deployment(make(configOptions={"workers": "2"}), replicas=0)

    def conf_hash(d: dict[str, Any]) -> str:
        return str(d["spec"]["template"]["metadata"]["annotations"][workloads.CONF_HASH_ANNOTATION])

    assert conf_hash(a) == hashlib.sha256(config.odoo_conf(make()).encode()).hexdigest()
    assert conf_hash(a) != conf_hash(b)


def test_secrets_reach_pods_only_through_secret_key_refs_when_built() -> None:
    inst = make()
    web = workloads.web_deployment(inst, replicas=0, credentials_version="42")
    text = json.dumps(web)

    assert ADMIN not in text
    c = container(web)
    password = next(e for e in c["env"] if e["name"] == "PASSWORD")
    assert password["valueFrom"] == {
        "secretKeyRef": {"name": "shop-db-password", "key": "password"}
    }
    init = web["spec"]["template"]["spec"]["initContainers"][0]
    assert init["env"][0]["valueFrom"]["secretKeyRef"] == {
        "name": "shop-db-password",
        "key": "admin-password",
    }
    assert {"name": "ODOO_RC", "value": "/run/odoo/odoo.conf"} in c["env"]
    annotations = web["spec"]["template"]["metadata"]["annotations"]
    assert annotations[workloads.CREDENTIALS_ANNOTATION] == "42"


def test_pod_options_are_copied_when_set() -> None:
    inst = make(
        imagePullSecret="regcred",
        affinity={"nodeAffinity": {}},
        tolerations=[{"key": "k", "operator": "Exists"}],
        resources={"limits": {"memory": "1Gi"}},
        cron={"replicas": 1, "resources": {"limits": {"memory": "512Mi"}}},
        strategy={"type": "RollingUpdate"},
    )
    web = workloads.web_deployment(inst, replicas=0)
    cron = workloads.cron_deployment(inst, replicas=0)
    pod = web["spec"]["template"]["spec"]

    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert pod["affinity"] == {"nodeAffinity": {}}
    assert pod["tolerations"] == [{"key": "k", "operator": "Exists"}]
    assert container(web)["resources"] == {"limits": {"memory": "1Gi"}}
    assert container(cron)["resources"] == {"limits": {"memory": "512Mi"}}
    assert web["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
    }
    assert workloads.web_deployment(make(), replicas=0)["spec"]["strategy"] == {"type": "Recreate"}


def test_cron_has_a_liveness_probe_that_fails_on_overdue_scheduled_actions() -> None:
    probe = container(workloads.cron_deployment(make(), replicas=0))["livenessProbe"]
    command = probe["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    assert "ir_cron" in command[2]
    assert "SKIP LOCKED" in command[2]
    assert probe["initialDelaySeconds"] >= 60


def _pod(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"])


def _builds(inst: facts.Instance) -> list[dict[str, Any]]:
    return [
        workloads.web_deployment(inst, replicas=0),
        workloads.cron_deployment(inst, replicas=0),
        jobs.init_job(inst, resource_name="i", resource_uid="u", modules=[], demo=False),
    ]


def test_secret_mounted_only_into_the_render_container_of_every_odoo_pod() -> None:
    inst = make(configSecretRef="mail-secrets")
    for built in _builds(inst):
        pod = _pod(built)
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert volumes["odoo-secret-conf"]["secret"]["secretName"] == "mail-secrets"
        (render,) = pod["initContainers"]
        assert "/etc/odoo-secret" in {m["mountPath"] for m in render["volumeMounts"]}
        odoo = pod["containers"][0]
        assert "/etc/odoo-secret" not in {m["mountPath"] for m in odoo["volumeMounts"]}
        assert {"name": "ODOO_RC", "value": "/run/odoo/odoo.conf"} in odoo["env"]


def test_cron_and_jobs_read_the_config_map_when_no_config_secret_ref() -> None:
    inst = make()
    for built in _builds(inst)[1:]:
        assert "initContainers" not in _pod(built)


def _render(tmp: pathlib.Path, conf: str, secret: dict[str, str], admin: str) -> str:
    etc, rc, sec = tmp / "etc", tmp / "run", tmp / "secret"
    for folder in (etc, rc, sec):
        folder.mkdir()
    (etc / "odoo.conf").write_text(conf)
    for key, value in secret.items():
        (sec / key).write_text(value)
    script = (
        workloads._RENDER_CONF.replace("/etc/odoo-secret", str(sec))
        .replace("/etc/odoo", str(etc))
        .replace("/run/odoo", str(rc))
    )
    subprocess.run(
        ["/bin/sh", "-c", script],
        check=True,
        env={"ODOO_ADMIN_PASSWD": admin, "PATH": "/usr/bin:/bin"},
    )
    return (rc / "odoo.conf").read_text()


def test_render_merges_secret_keys_into_odoo_conf_when_config_secret_ref_is_set(
    tmp_path: pathlib.Path,
) -> None:
    inst = make(configOptions={"smtp_user": "mailer", "smtp_server": "mx"}, configSecretRef="m")
    conf = config.odoo_conf(inst)
    out = _render(
        tmp_path,
        conf,
        {
            "smtp_password": "s3cret\n",
            "smtp_server": "mx2",
            "db_password": "stolen",
            "admin_passwd": "stolen",
            "Bad-Key": "x",
        },
        "master",
    )
    lines = out.splitlines()
    assert "smtp_password = s3cret" in lines
    assert "smtp_server = mx2" in lines
    assert "smtp_server = mx" not in lines
    assert "smtp_user = mailer" in lines
    assert "stolen" not in out
    assert "Bad-Key" not in out
    assert lines[-1] == "admin_passwd = master"
    assert "s3cret" not in json.dumps(config.config_map(inst))
