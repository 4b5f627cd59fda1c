"""The web and cron Deployments, and the pod pieces every Odoo pod shares.

Owns the two Deployments of an instance (`<name>` serving HTTP, `<name>-cron`
running scheduled actions) and what their pods share with the batch Jobs'
pods (specs.jobs): the pod-level fields (service account without a token,
security context 100/101, pull secret, affinity, tolerations), the filestore
and odoo.conf volumes and mounts, and the init container that renders the
pod's odoo.conf. Pure: activities.children applies what these return.

How the master password and spec.configSecretRef reach Odoo (the database
password and the ConfigMap are specs.config's):

- Master password: odoo has no command-line flag or environment variable for
  `admin_passwd`, only the config file. The web pod therefore has an init
  container (same image, same uid) that writes `/run/odoo/odoo.conf` into a
  memory-backed emptyDir: the ConfigMap's odoo.conf plus `admin_passwd` from
  a `secretKeyRef` env var; the web container runs with
  `ODOO_RC=/run/odoo/odoo.conf` (read by both odoo and the entrypoint). The
  password exists only in the Secret, in that tmpfs file and in the process
  environment of the init container. Cron and Jobs serve no HTTP, need no
  master password, and read the ConfigMap's odoo.conf directly.
- spec.configSecretRef (options such as smtp_password): the named Secret is
  mounted into that same init container only, which merges each key
  (`[a-z0-9_]+`, except db_password and admin_passwd, which the operator
  owns) into the rendered odoo.conf, replacing a line of the same key. With
  configSecretRef set, cron and the init Job render their odoo.conf the same
  way (without the master password). The values never reach a ConfigMap, an
  operator process or a workflow payload.
- The pod template carries `bemade.org/credentials-version` (the Secret's
  resourceVersion) so that a changed Secret rolls the pods; it reveals
  nothing about the values.

Deviations from the reference, on purpose: container names are fixed
(`odoo`, `odoo-cron`) so long instance names cannot overflow the
63-character limit; the rollingUpdate parameters are applied when the
strategy is RollingUpdate; Odoo pods do not mount a service-account token
(Odoo never calls the API).
"""

from __future__ import annotations

from typing import Any

from model import naming
from model.crds import StrategyType
from specs import config, facts, odoo_cli

__all__ = [
    "CONF_HASH_ANNOTATION",
    "CONF_MOUNT",
    "CREDENTIALS_ANNOTATION",
    "CRON_OVERDUE_MINUTES",
    "RESTARTED_AT_ANNOTATION",
    "cron_deployment",
    "mounts",
    "pod_spec",
    "volumes",
    "web_deployment",
    "with_secret_conf",
]

CONF_HASH_ANNOTATION = "bemade.org/odoo-conf-hash"
CREDENTIALS_ANNOTATION = "bemade.org/credentials-version"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"

CONF_MOUNT = "/etc/odoo"
"""Where the ConfigMap's odoo.conf is mounted (the official image's default ODOO_RC)."""
_RC_MOUNT = "/run/odoo"
_RC_FILE = f"{_RC_MOUNT}/odoo.conf"
_ODOO_UID, _ODOO_GID = 100, 101

_SECRET_CONF_MOUNT = "/etc/odoo-secret"
# Writes odoo.conf with the master password and the configSecretRef keys into
# the tmpfs the Odoo container reads (see the module docstring). Newlines are
# stripped so a value cannot add config lines; nothing is echoed.
_RENDER_CONF = (
    "set -eu; umask 077; "
    f"cp {CONF_MOUNT}/odoo.conf {_RC_FILE}; "
    f"if [ -d {_SECRET_CONF_MOUNT} ]; then for f in {_SECRET_CONF_MOUNT}/*; do "
    '[ -f "$f" ] || continue; k=${f##*/}; '
    "case \"$k\" in ''|*[!a-z0-9_]*|db_password|admin_passwd) continue;; esac; "
    f'grep -v "^$k *=" {_RC_FILE} > {_RC_FILE}.new || true; mv {_RC_FILE}.new {_RC_FILE}; '
    f'printf \'%s = %s\\n\' "$k" "$(tr -d \'\\r\\n\' < "$f")" >> {_RC_FILE}; done; fi; '
    'if [ -n "${ODOO_ADMIN_PASSWD:-}" ]; then '
    f"printf 'admin_passwd = %s\\n' \"$(printf '%s' \"$ODOO_ADMIN_PASSWD\" | tr -d '\\r\\n')\" "
    f">> {_RC_FILE}; fi"
)

CRON_OVERDUE_MINUTES = 30
"""A scheduled action overdue by more than this (and not running) means cron is dead."""

# Liveness of the cron pod: the cron runner has no HTTP and a dead cron
# thread (seen after a PostgreSQL failover) leaves the process up. What a
# live runner guarantees is that no active scheduled action stays overdue:
# the probe fails when one is overdue by more than CRON_OVERDUE_MINUTES and
# not being run right now (a running job holds its row lock, so FOR SHARE
# SKIP LOCKED leaves it out), or when the database cannot be reached. It
# reads the connection from the Odoo container's env (config.ODOO_DB_ENV).
_CRON_ALIVE = (
    'PGPASSWORD="$PASSWORD" psql -h "$HOST" -p "$PORT" -U "$USER" -d "$PGDATABASE" '
    "-tAX -v ON_ERROR_STOP=1 -c "
    '"SELECT count(*) FROM (SELECT 1 FROM ir_cron WHERE active AND nextcall < '
    f"(now() AT TIME ZONE 'UTC') - interval '{CRON_OVERDUE_MINUTES} minutes' "
    'FOR SHARE SKIP LOCKED) AS overdue" | grep -qx 0'
)


# --- what every Odoo pod shares ----------------------------------------------------------


def pod_spec(inst: facts.Instance) -> dict[str, Any]:
    """The pod-level fields of every pod of the instance, Deployments' and Jobs' alike."""
    spec: dict[str, Any] = {
        "serviceAccountName": inst.name,
        "automountServiceAccountToken": False,
        "securityContext": {"runAsUser": _ODOO_UID, "runAsGroup": _ODOO_GID, "fsGroup": _ODOO_GID},
    }
    if inst.spec.image_pull_secret:
        spec["imagePullSecrets"] = [{"name": inst.spec.image_pull_secret}]
    if inst.spec.affinity:
        spec["affinity"] = inst.spec.affinity
    if inst.spec.tolerations:
        spec["tolerations"] = list(inst.spec.tolerations)
    return spec


def volumes(inst: facts.Instance, *, filestore_read_only: bool = False) -> list[dict[str, Any]]:
    """The filestore claim and the ConfigMap's odoo.conf."""
    claim: dict[str, Any] = {"claimName": naming.pvc_name(inst.name)}
    if filestore_read_only:
        claim["readOnly"] = True
    return [
        {"name": "filestore", "persistentVolumeClaim": claim},
        {"name": "odoo-conf", "configMap": {"name": naming.config_map_name(inst.name)}},
    ]


def mounts() -> list[dict[str, Any]]:
    """An Odoo container's mounts of volumes(): the filestore at data_dir, odoo.conf read-only."""
    return [
        {"name": "filestore", "mountPath": config.FILESTORE_MOUNT},
        {"name": "odoo-conf", "mountPath": CONF_MOUNT, "readOnly": True},
    ]


def _render_conf(inst: facts.Instance, *, admin_password: bool) -> dict[str, Any]:
    """The init container writing the pod's odoo.conf into the tmpfs /run/odoo.

    It adds the configSecretRef keys and, for the web pod, the master password
    (see the module docstring).
    """
    env: list[dict[str, Any]] = []
    if admin_password:
        env.append(
            {
                "name": "ODOO_ADMIN_PASSWD",
                "valueFrom": {
                    "secretKeyRef": {
                        "name": naming.db_password_secret_name(inst.name),
                        "key": config.ADMIN_PASSWORD_KEY,
                    }
                },
            }
        )
    render_mounts = [
        {"name": "odoo-conf", "mountPath": CONF_MOUNT, "readOnly": True},
        {"name": "odoo-rc", "mountPath": _RC_MOUNT},
    ]
    if inst.spec.config_secret_ref:
        render_mounts.append(
            {"name": "odoo-secret-conf", "mountPath": _SECRET_CONF_MOUNT, "readOnly": True}
        )
    container: dict[str, Any] = {
        "name": "odoo-conf",
        "image": inst.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", _RENDER_CONF],
    }
    if env:
        container["env"] = env
    container["volumeMounts"] = render_mounts
    return container


def _rendered_volumes(inst: facts.Instance) -> list[dict[str, Any]]:
    """The tmpfs for the rendered odoo.conf, and the configSecretRef Secret if set."""
    rendered: list[dict[str, Any]] = [{"name": "odoo-rc", "emptyDir": {"medium": "Memory"}}]
    if inst.spec.config_secret_ref:
        rendered.append(
            {
                "name": "odoo-secret-conf",
                "secret": {"secretName": inst.spec.config_secret_ref, "defaultMode": 0o400},
            }
        )
    return rendered


def with_secret_conf(inst: facts.Instance, pod: dict[str, Any]) -> dict[str, Any]:
    """Cron and Job pods: render odoo.conf with the configSecretRef keys when one is set."""
    if not inst.spec.config_secret_ref:
        return pod
    container = pod["containers"][0]
    container["env"] = config.merge_env(container["env"], [{"name": "ODOO_RC", "value": _RC_FILE}])
    container["volumeMounts"] = [
        *container["volumeMounts"],
        {"name": "odoo-rc", "mountPath": _RC_MOUNT, "readOnly": True},
    ]
    return {
        **pod,
        "initContainers": [_render_conf(inst, admin_password=False)],
        "volumes": [*pod["volumes"], *_rendered_volumes(inst)],
    }


# --- the Deployments ---------------------------------------------------------------------


def _http_probe(path: str, **timing: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": odoo_cli.HTTP_PORT}, "timeoutSeconds": 5, **timing}


def _strategy(inst: facts.Instance) -> dict[str, Any]:
    strategy = inst.spec.strategy
    if strategy.type is StrategyType.ROLLING_UPDATE:
        rolling = strategy.rolling_update
        return {
            "type": strategy.type.value,
            "rollingUpdate": {
                "maxUnavailable": rolling.max_unavailable,
                "maxSurge": rolling.max_surge,
            },
        }
    return {"type": strategy.type.value}


def _deployment(
    inst: facts.Instance,
    name: str,
    pod: dict[str, Any],
    *,
    replicas: int,
    credentials_version: str,
) -> dict[str, Any]:
    annotations = {CONF_HASH_ANNOTATION: config.conf_hash(inst)}
    if credentials_version:
        annotations[CREDENTIALS_ANNOTATION] = credentials_version
    metadata = facts.metadata(inst, name, app=name)
    metadata["annotations"] = {naming.REPLICAS_ANNOTATION: str(replicas)}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": _strategy(inst),
            "template": {
                "metadata": {"labels": inst.labels(app=name), "annotations": annotations},
                "spec": pod,
            },
        },
    }


def web_deployment(
    inst: facts.Instance, *, replicas: int, credentials_version: str = ""
) -> dict[str, Any]:
    """Deployment `<name>`: HTTP on 8069, websocket on 8072, no cron threads.

    `replicas` is the live value (0 on creation): the phase machine owns the
    replica count, the apply only re-states it (see activities.children).
    """
    name = naming.web_deployment_name(inst.name)
    probes = inst.spec.probes
    container: dict[str, Any] = {
        "name": "odoo",
        "image": inst.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/entrypoint.sh", "odoo", "--max-cron-threads", "0"],
        "ports": [
            {"name": "http", "containerPort": odoo_cli.HTTP_PORT, "protocol": "TCP"},
            {"name": "websocket", "containerPort": odoo_cli.GEVENT_PORT, "protocol": "TCP"},
        ],
        "env": config.odoo_env(inst, {"name": "ODOO_RC", "value": _RC_FILE}),
        "volumeMounts": [*mounts(), {"name": "odoo-rc", "mountPath": _RC_MOUNT, "readOnly": True}],
        "startupProbe": _http_probe(
            probes.startup_path, initialDelaySeconds=5, periodSeconds=10, failureThreshold=30
        ),
        "livenessProbe": _http_probe(probes.liveness_path, periodSeconds=15, failureThreshold=3),
        "readinessProbe": _http_probe(probes.readiness_path, periodSeconds=10, failureThreshold=3),
    }
    if inst.spec.extra_env_from:
        container["envFrom"] = list(inst.spec.extra_env_from)
    if inst.spec.resources:
        container["resources"] = inst.spec.resources
    pod = {
        **pod_spec(inst),
        "initContainers": [_render_conf(inst, admin_password=True)],
        "containers": [container],
        "volumes": [*volumes(inst), *_rendered_volumes(inst)],
    }
    return _deployment(inst, name, pod, replicas=replicas, credentials_version=credentials_version)


def cron_deployment(
    inst: facts.Instance, *, replicas: int, credentials_version: str = ""
) -> dict[str, Any]:
    """Deployment `<name>-cron`: scheduled actions only, no HTTP, no ports.

    Its liveness probe (an exec of psql, in the official image) fails when an
    active scheduled action is overdue by more than CRON_OVERDUE_MINUTES
    without being run: a dead cron thread restarts the pod.
    """
    name = naming.cron_deployment_name(inst.name)
    container: dict[str, Any] = {
        "name": "odoo-cron",
        "image": inst.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/entrypoint.sh", "odoo", "--workers", "0", "--no-http"],
        "env": config.odoo_env(inst),
        "volumeMounts": mounts(),
        "livenessProbe": {
            "exec": {"command": ["/bin/sh", "-c", _CRON_ALIVE]},
            "initialDelaySeconds": 300,
            "periodSeconds": 120,
            "timeoutSeconds": 30,
            "failureThreshold": 3,
        },
    }
    if inst.spec.extra_env_from:
        container["envFrom"] = list(inst.spec.extra_env_from)
    if inst.spec.cron.resources:
        container["resources"] = inst.spec.cron.resources
    pod = {**pod_spec(inst), "containers": [container], "volumes": volumes(inst)}
    pod = with_secret_conf(inst, pod)
    return _deployment(inst, name, pod, replicas=replicas, credentials_version=credentials_version)
