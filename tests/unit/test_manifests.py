"""The pure builders of specs.manifests, field by field.

Covers: web and cron command lines, ports, probes and their timings;
volumes and mounts; pod security; labels, selectors and owner references;
the odoo.conf content and its hash annotation (changes with configOptions);
no password anywhere in the ConfigMap (even from configOptions); secrets
only through secretKeyRef; extraEnv merged last-wins by name; extraEnvFrom,
imagePullSecrets, affinity, tolerations, resources and strategy; Service,
Ingress (issuer, class, paths, TLS) and HTTPRoute; PVC; Secret; RBAC; the cron
Deployment's labels, owner and annotations (same as web); the conf hash of
both pod templates moving with configOptions; the ConfigMap's keys; the
auto OdooInitJob and the init batch Job (arguments, demo flag, owner, no TTL).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pydantic
import pytest

from model import naming, settings
from model.crds import OdooInstanceSpec
from specs import manifests, odoo

ADMIN = "s3cr3t-admin"


def make(**spec: Any) -> manifests.Instance:
    body: dict[str, Any] = {
        "adminPassword": ADMIN,
        "image": "odoo:18.0",
        "ingress": {"hosts": ["erp.example.com", "www.example.com"]},
        **spec,
    }
    return manifests.Instance(
        name="shop",
        namespace="prod",
        uid="uid-1",
        spec=OdooInstanceSpec.model_validate(body),
        database=manifests.Database(host="pg", port=5432, name="odoo_uid_1", user="odoo.prod.shop"),
    )


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env_names(c: dict[str, Any]) -> list[str]:
    return [e["name"] for e in c["env"]]


def test_web_runs_odoo_without_cron_threads_when_built() -> None:
    web = manifests.web_deployment(make(), replicas=0)
    c = container(web)

    assert c["command"] == ["/entrypoint.sh", "odoo", "--max-cron-threads", "0"]
    assert c["ports"] == [
        {"name": "http", "containerPort": 8069, "protocol": "TCP"},
        {"name": "websocket", "containerPort": 8072, "protocol": "TCP"},
    ]
    assert c["image"] == "odoo:18.0"
    assert web["spec"]["replicas"] == 0


def test_web_probes_use_reference_timings_when_paths_are_default() -> None:
    c = container(manifests.web_deployment(make(probes={"readinessPath": "/ready"}), replicas=1))

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
    cron = manifests.cron_deployment(make(), replicas=0)
    c = container(cron)

    assert cron["metadata"]["name"] == "shop-cron"
    assert c["command"] == ["/entrypoint.sh", "odoo", "--workers", "0", "--no-http"]
    assert "ports" not in c
    assert "readinessProbe" not in c
    assert cron["spec"]["selector"] == {"matchLabels": {"app": "shop-cron"}}


@pytest.mark.parametrize("build", [manifests.web_deployment, manifests.cron_deployment])
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
    web = manifests.web_deployment(make(environment="Production"), replicas=0)

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
    web = manifests.web_deployment(inst, replicas=0, credentials_version="7")
    cron = manifests.cron_deployment(inst, replicas=0, credentials_version="7")

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
        manifests.CONF_HASH_ANNOTATION: manifests.conf_hash(inst),
        manifests.CREDENTIALS_ANNOTATION: "7",
    }
    # Only the replica count the operator wrote (the watcher tells its own scaling).
    assert cron["metadata"]["annotations"] == {"bemade.org/replicas": "0"}
    assert "initContainers" not in cron["spec"]["template"]["spec"]  # no master password


def test_pod_templates_roll_when_only_config_options_change() -> None:
    before = make(configOptions={"workers": "2"})
    after = make(configOptions={"workers": "4"})

    for build in (manifests.web_deployment, manifests.cron_deployment):
        a = build(before, replicas=0)["spec"]["template"]["metadata"]["annotations"]
        b = build(after, replicas=0)["spec"]["template"]["metadata"]["annotations"]
        assert a[manifests.CONF_HASH_ANNOTATION] != b[manifests.CONF_HASH_ANNOTATION]
    assert manifests.config_map(before)["data"] != manifests.config_map(after)["data"]


def test_config_map_carries_the_connection_facts_but_no_secret_when_built() -> None:
    cm = manifests.config_map(make())

    assert cm["metadata"]["name"] == "shop-odoo-conf"
    assert cm["data"] == {
        "odoo.conf": manifests.odoo_conf(make()),
        "db_host": "pg",
        "db_port": "5432",
        "db_name": "odoo_uid_1",
        "db_user": "odoo.prod.shop",
    }
    assert "db_name = odoo_uid_1" in cm["data"]["odoo.conf"]
    assert "db_user = odoo.prod.shop" in cm["data"]["odoo.conf"]


def test_service_account_and_secret_kinds_when_built() -> None:
    sa = manifests.service_account(make())
    secret = manifests.db_secret(make(), password="p", admin_password="a")

    assert sa["metadata"]["name"] == "shop"
    assert sa["automountServiceAccountToken"] is False
    assert secret["type"] == "Opaque"
    assert "data" not in secret  # stringData only: the API server encodes it
    assert manifests.role_binding(make())["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "shop",
    }


def test_every_child_is_owned_and_labelled_when_built() -> None:
    inst = make()
    children = [
        manifests.config_map(inst),
        manifests.db_secret(inst, password="p", admin_password="a"),
        manifests.service(inst),
        manifests.ingress(inst),
        manifests.http_route(
            make(ingress={"hosts": ["a.b"], "gatewayRef": {"name": "g", "namespace": "gw"}})
        ),
        manifests.pvc(inst),
        manifests.service_account(inst),
        manifests.role(inst),
        manifests.role_binding(inst),
        manifests.auto_init_job(inst),
    ]
    for child in children:
        meta = child["metadata"]
        assert meta["ownerReferences"][0]["uid"] == "uid-1", child["kind"]
        assert meta["ownerReferences"][0]["controller"] is True
        assert meta["labels"]["bemade.org/instance"] == "shop"
        assert meta["labels"]["app"] == "shop"
        assert meta["namespace"] in ("prod",)


@pytest.mark.parametrize("key", ["db_password", "admin_passwd", "smtp_password", "my_secret"])
def test_spec_refused_pointing_to_config_secret_ref_when_config_options_hold_a_secret(
    key: str,
) -> None:
    with pytest.raises(pydantic.ValidationError, match=r"spec\.configSecretRef") as refused:
        make(configOptions={key: "leak", "workers": "4"})
    assert "leak" not in str(refused.value.errors(include_input=False))


def test_conf_has_no_password_when_config_options_are_plain() -> None:
    inst = make(configOptions={"workers": "4", "smtp_user": "mailer"})
    cm = manifests.config_map(inst)

    text = json.dumps(cm)
    assert ADMIN not in text
    assert "db_password" not in text
    assert "admin_passwd" not in text
    assert "workers = 4" in cm["data"]["odoo.conf"]
    assert cm["data"]["db_user"] == "odoo.prod.shop"


def test_conf_lists_fixed_keys_then_sorted_options_when_rendered() -> None:
    conf = manifests.odoo_conf(
        make(configOptions={"zeta": "1", "alpha": "2", "log_level": "debug"})
    )

    lines = conf.splitlines()
    assert lines[0] == "[options]"
    assert lines[1] == "data_dir = /var/lib/odoo"
    assert "log_level = debug" in lines  # overridden in place
    assert "db_host = pg" in lines
    assert "db_port = 5432" in lines
    assert "list_db = False" in lines
    assert lines[-2:] == ["alpha = 2", "zeta = 1"]


def test_conf_hash_annotation_changes_when_config_options_change() -> None:
    a = manifests.web_deployment(make(), replicas=0)
    b = manifests.web_deployment(make(configOptions={"workers": "2"}), replicas=0)

    def conf_hash(d: dict[str, Any]) -> str:
        return str(d["spec"]["template"]["metadata"]["annotations"][manifests.CONF_HASH_ANNOTATION])

    assert conf_hash(a) == hashlib.sha256(manifests.odoo_conf(make()).encode()).hexdigest()
    assert conf_hash(a) != conf_hash(b)


def test_secrets_reach_pods_only_through_secret_key_refs_when_built() -> None:
    inst = make()
    web = manifests.web_deployment(inst, replicas=0, credentials_version="42")
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
    assert annotations[manifests.CREDENTIALS_ANNOTATION] == "42"


def test_extra_env_overrides_by_name_last_wins_when_merged() -> None:
    inst = make(
        extraEnv=[
            {"name": "PGDATABASE", "value": "other"},
            {"name": "A", "value": "1"},
            {"name": "A", "value": "2"},
        ],
        extraEnvFrom=[{"secretRef": {"name": "mail"}}],
    )
    c = container(manifests.cron_deployment(inst, replicas=0))

    assert env_names(c) == ["HOST", "PORT", "USER", "PASSWORD", "PGDATABASE", "A"]
    values = {e["name"]: e.get("value") for e in c["env"]}
    assert values["PGDATABASE"] == "other"
    assert values["A"] == "2"
    assert c["envFrom"] == [{"secretRef": {"name": "mail"}}]


def test_pod_options_are_copied_when_set() -> None:
    inst = make(
        imagePullSecret="regcred",
        affinity={"nodeAffinity": {}},
        tolerations=[{"key": "k", "operator": "Exists"}],
        resources={"limits": {"memory": "1Gi"}},
        cron={"replicas": 1, "resources": {"limits": {"memory": "512Mi"}}},
        strategy={"type": "RollingUpdate"},
    )
    web = manifests.web_deployment(inst, replicas=0)
    cron = manifests.cron_deployment(inst, replicas=0)
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
    assert manifests.web_deployment(make(), replicas=0)["spec"]["strategy"] == {"type": "Recreate"}


def test_service_exposes_http_and_websocket_when_built() -> None:
    svc = manifests.service(make())

    assert svc["spec"]["selector"] == {"app": "shop"}
    assert [(p["name"], p["port"], p["targetPort"]) for p in svc["spec"]["ports"]] == [
        ("http", 8069, 8069),
        ("websocket", 8072, 8072),
    ]


@pytest.mark.parametrize(
    ("options", "port"),
    [({}, 8069), ({"workers": "0"}, 8069), ({"workers": "4"}, 8072)],
    ids=["threaded-default", "workers-0", "workers-4"],
)
def test_ingress_routes_websocket_where_odoo_serves_it_when_built(
    options: dict[str, str], port: int
) -> None:
    ing = manifests.ingress(make(configOptions=options))
    paths = ing["spec"]["rules"][0]["http"]["paths"]
    assert (paths[0]["path"], paths[0]["backend"]["service"]["port"]["number"]) == (
        "/websocket",
        port,
    )


@pytest.mark.parametrize(
    ("options", "port"),
    [({}, 8069), ({"workers": "4"}, 8072)],
    ids=["threaded-default", "workers-4"],
)
def test_http_route_routes_websocket_where_odoo_serves_it_when_built(
    options: dict[str, str], port: int
) -> None:
    gateway = {"hosts": ["a.example"], "gatewayRef": {"name": "gw", "namespace": "infra"}}
    route = manifests.http_route(make(ingress=gateway, configOptions=options))
    rules = route["spec"]["rules"]
    assert rules[0]["matches"][0]["path"] == {"type": "PathPrefix", "value": "/websocket"}
    assert rules[0]["backendRefs"] == [{"name": "shop", "port": port}]


def test_ingress_routes_websocket_and_root_per_host_when_built() -> None:
    ing = manifests.ingress(
        make(
            ingress={"hosts": ["a.example"], "issuer": "le", "class": "nginx"},
            configOptions={"workers": "2"},
        )
    )

    assert ing["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "le"}
    assert ing["spec"]["ingressClassName"] == "nginx"
    paths = ing["spec"]["rules"][0]["http"]["paths"]
    assert [(p["path"], p["backend"]["service"]["port"]["number"]) for p in paths] == [
        ("/websocket", 8072),
        ("/", 8069),
    ]
    assert ing["spec"]["tls"] == [{"hosts": ["a.example"], "secretName": "shop-tls"}]
    plain = manifests.ingress(make())
    assert "annotations" not in plain["metadata"]
    assert "ingressClassName" not in plain["spec"]
    assert len(plain["spec"]["rules"]) == 2


def test_http_route_targets_the_gateway_when_gateway_ref_is_set() -> None:
    route = manifests.http_route(
        make(
            ingress={"hosts": ["a.example"], "gatewayRef": {"name": "gw", "namespace": "infra"}},
            configOptions={"workers": "2"},
        )
    )

    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert route["spec"]["parentRefs"][0] == {
        "group": "gateway.networking.k8s.io",
        "kind": "Gateway",
        "name": "gw",
        "namespace": "infra",
    }
    assert route["spec"]["hostnames"] == ["a.example"]
    rules = route["spec"]["rules"]
    assert rules[0]["matches"][0]["path"] == {"type": "PathPrefix", "value": "/websocket"}
    assert rules[0]["backendRefs"] == [{"name": "shop", "port": 8072}]
    assert rules[1]["backendRefs"] == [{"name": "shop", "port": 8069}]


def test_pvc_is_read_write_many_with_class_and_size_when_built() -> None:
    pvc = manifests.pvc(make(filestore={"storageClass": "fast", "storageSize": "5Gi"}))

    assert pvc["metadata"]["name"] == "shop-filestore-pvc"
    assert pvc["spec"] == {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": "5Gi"}},
        "storageClassName": "fast",
    }


def test_role_grants_only_reading_own_config_map_when_built() -> None:
    inst = make()

    assert manifests.role(inst)["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["shop-odoo-conf"],
            "verbs": ["get"],
        }
    ]
    binding = manifests.role_binding(inst)
    assert binding["roleRef"]["name"] == "shop"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "shop", "namespace": "prod"}]


def test_secret_holds_both_passwords_when_built() -> None:
    secret = manifests.db_secret(make(), password="dbpw", admin_password="adm")

    assert secret["metadata"]["name"] == "shop-db-password"
    assert secret["stringData"] == {"password": "dbpw", "admin-password": "adm"}


def test_auto_init_job_copies_spec_init_when_built() -> None:
    job = manifests.auto_init_job(make(init={"modules": ["base", "sale"], "demo": True}))

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
    job = manifests.init_job(
        make(image=image), resource_name="i", resource_uid="r", modules=["base"], demo=demo
    )
    args = container(job)["args"]
    assert args[:6] == ["-i", "base", "-d", "odoo_uid_1", "--no-http", "--stop-after-init"]
    assert args[6:] == flags


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("odoo:16.0", 16),
        ("odoo:17.0", 17),
        ("odoo:18.0", 18),
        ("odoo:19.0", 19),
        ("ghcr.io/acme/odoo:19.0-20251001@sha256:abc", 19),
        ("odoo", 18),
        ("odoo@sha256:abc", 18),
        ("localhost:5000/odoo", 18),
    ],
)
def test_odoo_version_read_from_the_image_tag(image: str, version: int) -> None:
    assert odoo.odoo_version(image) == version


def test_an_untagged_image_counts_as_the_default_images_series() -> None:
    assert odoo.odoo_version(settings.DEFAULT_IMAGE) == odoo.DEFAULT_VERSION


@pytest.mark.parametrize("version", [16, 17, 18, 19])
def test_upgrade_command_updates_modules_and_stops_for_every_version(version: int) -> None:
    assert odoo.upgrade_args(version, ["sale", "stock"], "db") == [
        "-u",
        "sale,stock",
        "-d",
        "db",
        "--no-http",
        "--stop-after-init",
    ]


def test_cron_has_a_liveness_probe_that_fails_on_overdue_scheduled_actions() -> None:
    probe = container(manifests.cron_deployment(make(), replicas=0))["livenessProbe"]
    command = probe["exec"]["command"]
    assert command[:2] == ["/bin/sh", "-c"]
    assert "ir_cron" in command[2]
    assert "SKIP LOCKED" in command[2]
    assert probe["initialDelaySeconds"] >= 60


@pytest.mark.parametrize("demo", [False, True])
def test_init_job_runs_odoo_init_when_built(demo: bool) -> None:
    job = manifests.init_job(
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
    assert spec["activeDeadlineSeconds"] == 3600
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


def test_merge_env_keeps_base_order_when_overriding() -> None:
    merged = manifests.merge_env(
        [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        [{"name": "C", "value": "3"}, {"name": "A", "value": "9"}],
    )

    assert merged == [
        {"name": "A", "value": "9"},
        {"name": "B", "value": "2"},
        {"name": "C", "value": "3"},
    ]
