"""apply_children against the real kube-apiserver (its validation and admission).

Covers: every child object is created, accepted by the API server's
validation, and exactly once when the activity runs twice (beside what the
cluster puts in every namespace); the finalizer and operator defaults are
written into the instance; no password lands in the ConfigMap; the DB
password is never rotated while admin-password follows the spec (the key of
the Secret spec.adminPasswordSecretRef names, read again on every apply, a
change rolling the pods; the inline spec.adminPassword; with neither, one
generated once and kept; a missing Secret or key is a non-retryable
CONFIG_INVALID naming the field); the apply
keeps the replica count the phase machine set; an image change rolls both
Deployments; a bound PVC of an expandable StorageClass grows and refuses to
shrink (one Warning Event); with the Gateway API installed, Ingress ->
HTTPRoute (valid for its CRD's schema) -> Ingress deletes the stale one;
without it, a gatewayRef is a non-retryable CONFIG_INVALID naming the field
and the Ingress stays; a missing cluster is a non-retryable CONFIG_INVALID
naming the field.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError

from activities import api
from model import failures, naming
from model.payloads import ApplyChildrenInput, ConvergePhaseInput
from tests.activities import kube_instance as ki


def _apply(acts: ki.Activities, ref: Any, spec: Any, generation: int = 1) -> None:
    acts.env.run(
        acts.children.apply_children,
        ApplyChildrenInput(ref=ref, spec=spec, generation=generation),
    )


# What the cluster itself puts in every namespace.
CLUSTER_OWNED = frozenset({"kube-root-ca.crt", "default"})


def _names(acts: ki.Activities, res: api.Resource, namespace: str) -> list[str]:
    items = acts.kube.list_of(res, namespace)
    return sorted(
        i["metadata"]["name"] for i in items if i["metadata"]["name"] not in CLUSTER_OWNED
    )


def _update_spec(acts: ki.Activities, ref: Any, patch: dict[str, Any]) -> Any:
    body = acts.kube.merge_patch(api.INSTANCE, ref.namespace, ref.name, {"spec": patch})
    return ki.redacted_spec(body)


def test_every_child_exists_once_when_apply_runs_twice(acts: ki.Activities, namespace: str) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")

    _apply(acts, ref, spec)
    _apply(acts, ref, spec)

    assert _names(acts, api.DEPLOYMENT, namespace) == ["shop", "shop-cron"]
    assert _names(acts, api.SERVICE, namespace) == ["shop"]
    assert _names(acts, api.INGRESS, namespace) == ["shop"]
    assert _names(acts, api.CONFIG_MAP, namespace) == ["shop-odoo-conf"]
    assert _names(acts, api.PVC, namespace) == ["shop-filestore-pvc"]
    assert _names(acts, api.SECRET, namespace) == ["postgres-clusters", "shop-db-password"]
    assert _names(acts, api.SERVICE_ACCOUNT, namespace) == ["shop"]
    assert _names(acts, api.ROLE, namespace) == ["shop"]
    assert _names(acts, api.ROLE_BINDING, namespace) == ["shop"]
    web = acts.kube.get(api.DEPLOYMENT, namespace, "shop")
    assert web["spec"]["replicas"] == 0  # nothing runs before the phase machine says so
    assert web["metadata"]["ownerReferences"][0]["uid"] == ref.uid


def test_finalizer_and_defaults_are_written_when_instance_is_new(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")

    _apply(acts, ref, spec)

    live = acts.kube.get(api.INSTANCE, namespace, "shop")
    assert naming.FINALIZER in live["metadata"]["finalizers"]
    assert live["spec"]["image"] == "odoo:18.0"
    assert live["spec"]["filestore"] == {"storageClass": "standard", "storageSize": "2Gi"}
    pvc = acts.kube.get(api.PVC, namespace, "shop-filestore-pvc")
    assert pvc["spec"]["storageClassName"] == "standard"


def test_no_password_is_in_the_config_map_when_applied(acts: ki.Activities, namespace: str) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")

    _apply(acts, ref, spec)

    cm = json.dumps(acts.kube.get(api.CONFIG_MAP, namespace, "shop-odoo-conf"))
    secret = acts.kube.get(api.SECRET, namespace, "shop-db-password")
    db_password = base64.b64decode(secret["data"]["password"]).decode()
    assert len(db_password) == 48
    assert db_password not in cm
    assert ki.ADMIN_PASSWORD not in cm
    assert base64.b64decode(secret["data"]["admin-password"]).decode() == ki.ADMIN_PASSWORD


def test_db_password_stays_and_admin_password_follows_when_spec_changes(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)
    before = acts.kube.get(api.SECRET, namespace, "shop-db-password")
    web_before = acts.kube.get(api.DEPLOYMENT, namespace, "shop")

    spec = _update_spec(acts, ref, {"adminPassword": "new-admin"})
    _apply(acts, ref, spec, generation=2)

    after = acts.kube.get(api.SECRET, namespace, "shop-db-password")
    assert after["data"]["password"] == before["data"]["password"]
    assert base64.b64decode(after["data"]["admin-password"]).decode() == "new-admin"
    web_after = acts.kube.get(api.DEPLOYMENT, namespace, "shop")
    annotation = "bemade.org/credentials-version"
    assert (
        web_after["spec"]["template"]["metadata"]["annotations"][annotation]
        != web_before["spec"]["template"]["metadata"]["annotations"][annotation]
    )


def _admin_password(acts: ki.Activities, namespace: str, name: str) -> str:
    secret = acts.kube.get(api.SECRET, namespace, naming.db_password_secret_name(name))
    return base64.b64decode(secret["data"]["admin-password"]).decode()


def _credentials_version(acts: ki.Activities, namespace: str) -> str:
    web = acts.kube.get(api.DEPLOYMENT, namespace, "shop")
    return str(web["spec"]["template"]["metadata"]["annotations"]["bemade.org/credentials-version"])


def _named_master_password(acts: ki.Activities, namespace: str) -> tuple[Any, Any]:
    """`shop`, its master password in key `master` of the Secret `shop-admin`."""
    return ki.create_instance(
        acts.kube,
        namespace,
        "shop",
        adminPassword=None,
        adminPasswordSecretRef={"name": "shop-admin", "key": "master"},
    )


def test_admin_password_follows_the_secret_the_spec_names_when_it_changes(
    acts: ki.Activities, namespace: str
) -> None:
    acts.kube.create(
        api.SECRET,
        namespace,
        {"metadata": {"name": "shop-admin"}, "stringData": {"master": "from-a-secret"}},
    )
    ref, spec = _named_master_password(acts, namespace)
    _apply(acts, ref, spec)
    assert _admin_password(acts, namespace, "shop") == "from-a-secret"
    before = _credentials_version(acts, namespace)

    acts.kube.merge_patch(api.SECRET, namespace, "shop-admin", {"stringData": {"master": "new"}})
    _apply(acts, ref, spec)
    assert _admin_password(acts, namespace, "shop") == "new"
    assert _credentials_version(acts, namespace) != before  # the pods roll


def test_admin_password_is_generated_once_when_the_spec_gives_none(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop", adminPassword=None)
    _apply(acts, ref, spec)
    generated = _admin_password(acts, namespace, "shop")
    _apply(acts, ref, spec, generation=2)
    assert len(generated) >= 20
    assert _admin_password(acts, namespace, "shop") == generated


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (None, "spec.adminPasswordSecretRef: Secret shop-admin not found in namespace"),
        ({"other": "x"}, "spec.adminPasswordSecretRef: Secret shop-admin has no key master"),
    ],
    ids=["missing-secret", "missing-key"],
)
def test_apply_refused_naming_the_field_when_the_admin_password_secret_is_missing(
    acts: ki.Activities, namespace: str, secret: dict[str, str] | None, expected: str
) -> None:
    if secret is not None:
        body = {"metadata": {"name": "shop-admin"}, "stringData": secret}
        acts.kube.create(api.SECRET, namespace, body)
    ref, spec = _named_master_password(acts, namespace)
    with pytest.raises(ApplicationError) as refused:
        _apply(acts, ref, spec)
    assert refused.value.type == failures.CONFIG_INVALID
    assert refused.value.non_retryable
    assert expected in refused.value.message


def test_replicas_set_by_the_phase_machine_survive_when_apply_runs_again(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)
    acts.env.run(
        acts.converge.converge_phase,
        ConvergePhaseInput(ref=ref, spec=spec, web_replicas=3, cron_replicas=1),
    )

    _apply(acts, ref, spec, generation=2)

    assert acts.kube.get(api.DEPLOYMENT, namespace, "shop")["spec"]["replicas"] == 3
    assert acts.kube.get(api.DEPLOYMENT, namespace, "shop-cron")["spec"]["replicas"] == 1


def test_both_deployments_roll_when_the_image_changes(acts: ki.Activities, namespace: str) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)

    spec = _update_spec(acts, ref, {"image": "odoo:18.0-20260101"})
    _apply(acts, ref, spec, generation=2)

    for name in ("shop", "shop-cron"):
        pod = acts.kube.get(api.DEPLOYMENT, namespace, name)["spec"]["template"]["spec"]
        assert pod["containers"][0]["image"] == "odoo:18.0-20260101"


def test_pvc_grows_and_never_shrinks_when_storage_size_changes(
    acts: ki.Activities, namespace: str, bound_claim: Callable[[str], None]
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)
    # Only a bound claim of a StorageClass that allows expansion may grow.
    bound_claim("shop-filestore-pvc")

    spec = _update_spec(acts, ref, {"filestore": {"storageSize": "5Gi"}})
    _apply(acts, ref, spec, generation=2)
    size = acts.kube.get(api.PVC, namespace, "shop-filestore-pvc")["spec"]["resources"]
    assert size["requests"]["storage"] == "5Gi"

    spec = _update_spec(acts, ref, {"filestore": {"storageSize": "1Gi"}})
    _apply(acts, ref, spec, generation=3)
    _apply(acts, ref, spec, generation=3)  # a retry posts no second Event

    size = acts.kube.get(api.PVC, namespace, "shop-filestore-pvc")["spec"]["resources"]
    assert size["requests"]["storage"] == "5Gi"
    warnings = [
        e for e in acts.kube.list_of(api.EVENT, namespace) if e["reason"] == "StorageShrinkRefused"
    ]
    assert len(warnings) == 1
    assert warnings[0]["type"] == "Warning"
    assert "spec.filestore.storageSize" in warnings[0]["message"]


@pytest.mark.usefixtures("gateway_api")
def test_stale_route_is_deleted_when_switching_between_ingress_and_http_route(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)
    assert _names(acts, api.INGRESS, namespace) == ["shop"]

    gateway = {"name": "gw", "namespace": "infra"}
    spec = _update_spec(acts, ref, {"ingress": {"gatewayRef": gateway}})
    _apply(acts, ref, spec, generation=2)
    assert _names(acts, api.INGRESS, namespace) == []
    route = acts.kube.get(api.HTTP_ROUTE, namespace, "shop")
    assert route["spec"]["parentRefs"][0]["name"] == "gw"

    spec = _update_spec(acts, ref, {"ingress": {"gatewayRef": None}})
    _apply(acts, ref, spec, generation=3)
    assert _names(acts, api.INGRESS, namespace) == ["shop"]
    assert _names(acts, api.HTTP_ROUTE, namespace) == []


def test_config_invalid_names_the_gateway_api_when_a_gateway_ref_is_set_without_it(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)

    gateway = {"name": "gw", "namespace": "infra"}
    spec = _update_spec(acts, ref, {"ingress": {"gatewayRef": gateway}})
    with pytest.raises(ApplicationError) as caught:
        _apply(acts, ref, spec, generation=2)

    assert caught.value.type == failures.CONFIG_INVALID
    assert caught.value.non_retryable
    assert "spec.ingress.gatewayRef" in caught.value.message
    assert "Gateway API" in caught.value.message
    assert _names(acts, api.INGRESS, namespace) == ["shop"]  # still served meanwhile


def test_config_invalid_names_the_field_when_the_cluster_is_unknown(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop", database={"cluster": "nope"})

    with pytest.raises(ApplicationError) as caught:
        _apply(acts, ref, spec)

    assert caught.value.type == failures.CONFIG_INVALID
    assert caught.value.non_retryable
    assert "spec.database.cluster 'nope'" in caught.value.message
