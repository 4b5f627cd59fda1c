"""What counts as drift of a child object (model.children).

Covers: the fingerprint moves when someone changes what the operator set
(a ConfigMap's data, a Service's selector, a Deployment's image or its
credentials annotation, a Role's rules, the instance label) and stays when
only others' legitimate writes happen (replica counts, status, a rollout
restart's annotation, a claim bound to its volume, server-assigned fields);
the credentials Secret counts every change (its resourceVersion), never its
values; an instance's own children are told from a job resource's inputs;
every child kind has an API resource the snapshot reads it through, and the
watcher watches every one of them with the label selector.
"""

from __future__ import annotations

import copy
from typing import Any

import kopf
import pytest

from activities import api
from model import children, naming
from watcher import handlers, startup

OWNER = {
    "apiVersion": "bemade.org/v1alpha1",
    "kind": "OdooInstance",
    "name": "shop",
    "uid": "u1",
    "controller": True,
}


def _meta(name: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "uid": f"uid-{name}",
        "labels": {naming.INSTANCE_LABEL: "shop", "app": name},
        "ownerReferences": [OWNER],
        **extra,
    }


def deployment() -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta("shop", annotations={naming.REPLICAS_ANNOTATION: "1"}),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {
                "metadata": {
                    "labels": {"app": "shop"},
                    "annotations": {"bemade.org/credentials-version": "41"},
                },
                "spec": {"containers": [{"name": "odoo", "image": "odoo:18.0"}]},
            },
        },
        "status": {"readyReplicas": 1},
    }


def config_map() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta("shop-config", resourceVersion="7"),
        "data": {"odoo.conf": "[options]\n"},
    }


def service() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta("shop"),
        "spec": {
            "selector": {"app": "shop"},
            "ports": [{"name": "http", "port": 8069, "protocol": "TCP", "targetPort": 8069}],
            "type": "ClusterIP",
            "clusterIP": "10.0.0.7",
        },
    }


def edited(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`body` with the dotted `path` set to `value` (a copy)."""
    copied = copy.deepcopy(body)
    *parents, last = path.split(".")
    node = copied
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return copied


@pytest.mark.parametrize(
    ("body", "path", "value"),
    [
        (config_map(), "data.odoo.conf", "[options]\nworkers = 0\n"),
        (service(), "spec.selector", {"app": "other"}),
        (service(), "spec.type", "NodePort"),
        (deployment(), "spec.template.spec.containers", [{"name": "odoo", "image": "nginx"}]),
        (deployment(), "spec.template.metadata.annotations.bemade.org/credentials-version", "42"),
        (deployment(), "metadata.labels", {"app": "shop"}),  # the instance label removed
    ],
    ids=["configmap-data", "service-selector", "service-type", "image", "credentials", "label"],
)
def test_fingerprint_moves_when_what_the_operator_set_is_changed(
    body: dict[str, Any], path: str, value: Any
) -> None:
    if path.endswith("credentials-version"):
        changed = copy.deepcopy(body)
        changed["spec"]["template"]["metadata"]["annotations"]["bemade.org/credentials-version"] = (
            value
        )
    else:
        changed = edited(body, path, value)
    assert children.fingerprint(changed) != children.fingerprint(body)


def test_role_rules_edited_by_hand_move_the_fingerprint() -> None:
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _meta("shop"),
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}],
    }
    widened = edited(role, "rules", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])
    assert children.fingerprint(widened) != children.fingerprint(role)


@pytest.mark.parametrize(
    ("body", "path", "value"),
    [
        (deployment(), "spec.replicas", 3),  # converge_phase, or a hand scaling
        (deployment(), "status", {"readyReplicas": 0, "observedGeneration": 9}),
        (deployment(), "metadata.annotations", {naming.REPLICAS_ANNOTATION: "3"}),
        (deployment(), "metadata.resourceVersion", "99"),
        (service(), "spec.clusterIP", "10.0.0.8"),
        (config_map(), "metadata.resourceVersion", "8"),
        (config_map(), "metadata.annotations", {"note": "someone's"}),
    ],
    ids=["replicas", "status", "replicas-note", "version", "cluster-ip", "cm-version", "note"],
)
def test_fingerprint_stays_when_only_others_legitimate_writes_happen(
    body: dict[str, Any], path: str, value: Any
) -> None:
    assert children.fingerprint(edited(body, path, value)) == children.fingerprint(body)


def test_a_rollout_restart_is_not_drift() -> None:
    body = deployment()
    restarted = copy.deepcopy(body)
    annotations = restarted["spec"]["template"]["metadata"]["annotations"]
    annotations["kubectl.kubernetes.io/restartedAt"] = "2026-12-01T00:00:00Z"
    assert children.fingerprint(restarted) == children.fingerprint(body)


def test_a_claim_counts_by_being_there_not_by_its_binding() -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": _meta("shop-filestore"),
        "spec": {"resources": {"requests": {"storage": "1Gi"}}},
    }
    bound = edited(claim, "spec.volumeName", "pv-1")
    bound["metadata"]["annotations"] = {"pv.kubernetes.io/bind-completed": "yes"}
    assert children.fingerprint(bound) == children.fingerprint(claim)


def test_the_credentials_secret_counts_every_change_and_never_digests_its_values() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta("shop-db-password", resourceVersion="5"),
        "data": {"password": "c2VjcmV0"},
    }
    assert children.fingerprint(edited(secret, "metadata.resourceVersion", "6")) != (
        children.fingerprint(secret)
    )
    # The same version with other values: the values are not part of it.
    assert children.fingerprint(edited(secret, "data", {"password": "b3RoZXI="})) == (
        children.fingerprint(secret)
    )


def test_a_kind_that_is_no_child_has_no_fingerprint() -> None:
    assert children.fingerprint({"kind": "Pod", "metadata": {"name": "x"}}) == ""


def test_an_instances_own_children_are_told_from_a_job_resources_inputs() -> None:
    own = {"kind": "Secret", "metadata": _meta("shop-db-password")}
    job_input = {
        "kind": "Secret",
        "metadata": {
            **_meta("backup-1-s3"),
            "ownerReferences": [{**OWNER, "kind": "OdooBackupJob", "name": "backup-1"}],
        },
    }
    assert children.controlled_by_instance(own)
    assert not children.controlled_by_instance(job_input)
    assert not children.controlled_by_instance({"kind": "Pod", "metadata": _meta("shop-x")})


def test_every_child_kind_has_the_api_resource_the_snapshot_reads_it_through() -> None:
    resources = {
        (value.api_version, value.plural)
        for value in vars(api).values()
        if isinstance(value, api.Resource)
    }
    kinds = {(kind.api_version, kind.plural) for kind in children.KINDS.values()}
    assert kinds - resources == set()


def test_every_child_kind_is_watched_by_the_instance_label_only() -> None:
    settings = kopf.OperatorSettings()
    startup.restrict_owned(settings)
    watched = {(group, plural) for group, _, plural in handlers.OWNED}
    assert {(kind.group, kind.plural) for kind in children.KINDS.values()} <= watched
    selectors = {
        (selector.group or "", selector.plural or selector.any_name): value
        for selector, value in settings.watching.label_selectors.items()
    }
    assert selectors == dict.fromkeys(watched, naming.INSTANCE_LABEL)
