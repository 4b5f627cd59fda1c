"""odoo.conf as the Odoo pods see it: secrets merged inside the pod, never in a ConfigMap.

Covers: with spec.configSecretRef, the Secret is mounted into the render init
container only (web, cron and init Job pods), and the render script (run here
with /bin/sh on temporary directories) merges each key into odoo.conf,
replacing a ConfigMap line of the same key, skipping the keys the operator
owns (db_password, admin_passwd from the Secret) and names that are not
option names, and appends the master password last; the ConfigMap itself
holds none of the values; without configSecretRef cron and Jobs read the
ConfigMap's odoo.conf as before.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
from typing import Any

from specs import manifests
from tests.unit.test_manifests import make


def _pod(obj: dict[str, Any]) -> dict[str, Any]:
    return dict(obj["spec"]["template"]["spec"])


def _builds(inst: manifests.Instance) -> list[dict[str, Any]]:
    return [
        manifests.web_deployment(inst, replicas=0),
        manifests.cron_deployment(inst, replicas=0),
        manifests.init_job(inst, resource_name="i", resource_uid="u", modules=[], demo=False),
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
        manifests._RENDER_CONF.replace("/etc/odoo-secret", str(sec))
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
    conf = manifests.odoo_conf(inst)
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
    assert "s3cret" not in json.dumps(manifests.config_map(inst))
