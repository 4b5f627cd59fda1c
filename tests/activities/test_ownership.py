"""Never destroy or take over what an instance does not own (real activities, API, PostgreSQL).

Covers:
- apply_children refuses (CONFIG_INVALID, a Warning ApplyRefused Event naming
  the object) and changes nothing when a child name is already taken: the
  Deployment `shop-cron` of instance `shop` vs instance `shop-cron`, and a
  ConfigMap nobody of ours created;
- switching between Ingress and HTTPRoute deletes the other object only when
  the instance owns it: an Ingress or HTTPRoute of the same name that someone
  else made stays as it was (the Gateway API installed);
- spec.database.name claimed by an older instance in another namespace on the
  same cluster: the younger one's apply is refused naming the owner, the
  older one is unaffected;
- apply records status.activeCluster once the role exists;
- cleanup drops a database only when the instance's role owns it (another
  role's database stays, Warning DatabaseNotOwned); reclaimPolicy Retain
  keeps database and role (Normal DatabaseRetained); an instance that never
  got a role (unknown cluster) loses its finalizer at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from psycopg import sql
from temporalio.exceptions import ApplicationError

from activities import api
from model import failures, naming
from model.payloads import ApplyChildrenInput, CleanupInput, InstanceRef
from sandbox import postgres
from tests.activities import kube_instance as ki


def _apply(acts: ki.Activities, ref: InstanceRef, spec: Any) -> None:
    acts.env.run(acts.children.apply_children, ApplyChildrenInput(ref=ref, spec=spec, generation=1))


def _events(acts: ki.Activities, namespace: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in acts.kube.list_of(api.EVENT, namespace) if e["reason"] == reason]


def test_apply_refused_naming_the_deployment_when_names_collide(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)
    before = acts.kube.get(api.DEPLOYMENT, namespace, "shop-cron")
    other, other_spec = ki.create_instance(acts.kube, namespace, "shop-cron")
    with pytest.raises(ApplicationError) as refused:
        _apply(acts, other, other_spec)
    assert refused.value.type == failures.CONFIG_INVALID
    assert "Deployment shop-cron belongs to OdooInstance shop" in refused.value.message
    after = acts.kube.get(api.DEPLOYMENT, namespace, "shop-cron")
    assert after["metadata"]["ownerReferences"] == before["metadata"]["ownerReferences"]
    assert after["spec"]["template"] == before["spec"]["template"]
    (event,) = _events(acts, namespace, "ApplyRefused")
    assert event["type"] == "Warning"
    assert "Deployment shop-cron" in event["message"]


def test_apply_refused_when_a_child_name_is_taken_by_an_object_we_did_not_create(
    acts: ki.Activities, namespace: str
) -> None:
    acts.kube.create(
        api.CONFIG_MAP,
        namespace,
        {"metadata": {"name": "shop-odoo-conf"}, "data": {"mine": "yes"}},
    )
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    with pytest.raises(ApplicationError) as refused:
        _apply(acts, ref, spec)
    assert "ConfigMap shop-odoo-conf exists and was not created" in refused.value.message
    assert acts.kube.get(api.CONFIG_MAP, namespace, "shop-odoo-conf")["data"] == {"mine": "yes"}


_FOREIGN_INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "shop", "labels": {"made-by": "someone-else"}},
    "spec": {"defaultBackend": {"service": {"name": "legacy", "port": {"number": 80}}}},
}
_FOREIGN_ROUTE = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "HTTPRoute",
    "metadata": {"name": "shop", "labels": {"made-by": "someone-else"}},
    "spec": {"parentRefs": [{"name": "legacy-gateway"}]},
}
_GATEWAY = {"name": "gw", "namespace": "infra"}


@pytest.mark.usefixtures("gateway_api")
@pytest.mark.parametrize(
    ("foreign", "body", "ingress"),
    [
        pytest.param(api.HTTP_ROUTE, _FOREIGN_ROUTE, {}, id="http-route-kept-when-ingress-used"),
        pytest.param(
            api.INGRESS,
            _FOREIGN_INGRESS,
            {"gatewayRef": _GATEWAY},
            id="ingress-kept-when-route-used",
        ),
    ],
)
def test_other_routing_object_kept_when_the_instance_does_not_own_it(
    acts: ki.Activities,
    namespace: str,
    foreign: api.Resource,
    body: dict[str, Any],
    ingress: dict[str, Any],
) -> None:
    created = acts.kube.create(foreign, namespace, body)
    ref, spec = ki.create_instance(
        acts.kube, namespace, "shop", ingress={"hosts": ["shop.example.com"], **ingress}
    )
    _apply(acts, ref, spec)

    kept = acts.kube.find(foreign, namespace, "shop")
    assert kept is not None, f"{foreign.plural} shop made by someone else was deleted"
    assert kept["metadata"]["labels"] == {"made-by": "someone-else"}
    assert kept["metadata"]["uid"] == created["metadata"]["uid"]
    assert kept["spec"] == created["spec"]
    own = api.INGRESS if foreign is api.HTTP_ROUTE else api.HTTP_ROUTE
    mine = acts.kube.get(own, namespace, "shop")
    assert mine["metadata"]["ownerReferences"][0]["uid"] == ref.uid


@pytest.fixture
def other_namespace(api_client: kubernetes.client.ApiClient) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:10]}"
    core = kubernetes.client.CoreV1Api(api_client)
    core.create_namespace(
        kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name))
    )
    yield name
    core.delete_namespace(name)


def test_apply_refused_when_another_namespace_already_uses_the_database_name(
    acts: ki.Activities, namespace: str, other_namespace: str
) -> None:
    first, first_spec = ki.create_instance(acts.kube, namespace, "prod", database={"name": "erp"})
    _apply(acts, first, first_spec)
    second, second_spec = ki.create_instance(
        acts.kube, other_namespace, "copy", database={"name": "erp"}
    )
    with pytest.raises(ApplicationError) as refused:
        _apply(acts, second, second_spec)
    assert refused.value.type == failures.CONFIG_INVALID
    assert f"database erp on cluster main is already used by OdooInstance {namespace}/prod" in (
        refused.value.message
    )
    assert acts.kube.find(api.DEPLOYMENT, other_namespace, "copy") is None
    _apply(acts, first, first_spec)  # the first one is unaffected


def test_active_cluster_recorded_when_role_is_ensured(acts: ki.Activities, namespace: str) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)
    assert acts.kube.get(api.INSTANCE, namespace, "shop")["status"]["activeCluster"] == "main"


def test_database_of_another_role_kept_when_instance_is_deleted(
    acts: ki.Activities, namespace: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    database = f"prod_{uuid.uuid4().hex[:8]}"
    with ki.superuser(postgres_server) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
    ref, spec = ki.create_instance(acts.kube, namespace, "copy", database={"name": database})
    _apply(acts, ref, spec)
    acts.kube.delete(api.INSTANCE, namespace, "copy")
    acts.env.run(acts.cleanup.cleanup_instance, CleanupInput(ref=ref, spec=spec))
    assert ki.database_exists(postgres_server, database)
    assert not ki.role_exists(postgres_server, naming.role_name(namespace, "copy"))
    (event,) = _events(acts, namespace, "DatabaseNotOwned")
    assert event["type"] == "Warning"
    assert database in event["message"]
    assert acts.kube.find(api.INSTANCE, namespace, "copy") is None
    with ki.superuser(postgres_server) as conn:
        conn.execute(sql.SQL("DROP DATABASE {}").format(sql.Identifier(database)))


def test_database_and_role_kept_when_reclaim_policy_is_retain(
    acts: ki.Activities, namespace: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    ref, spec = ki.create_instance(
        acts.kube, namespace, "shop", database={"reclaimPolicy": "Retain"}
    )
    _apply(acts, ref, spec)
    ki.create_database_as_role(postgres_server, acts.kube, ref).close()
    acts.kube.delete(api.INSTANCE, namespace, "shop")
    acts.env.run(acts.cleanup.cleanup_instance, CleanupInput(ref=ref, spec=spec))
    role = naming.role_name(namespace, "shop")
    database = naming.database_name(ref.uid)
    assert ki.database_exists(postgres_server, database)
    assert ki.role_exists(postgres_server, role)
    assert acts.kube.find(api.INSTANCE, namespace, "shop") is None
    (event,) = _events(acts, namespace, "DatabaseRetained")
    assert event["type"] == "Normal"
    with ki.superuser(postgres_server) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(database)))
        conn.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_instance_that_never_got_a_role_deleted_at_once(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "bad", database={"cluster": "nowhere"})
    with pytest.raises(ApplicationError):
        _apply(acts, ref, spec)
    assert (
        naming.FINALIZER in acts.kube.get(api.INSTANCE, namespace, "bad")["metadata"]["finalizers"]
    )
    acts.kube.delete(api.INSTANCE, namespace, "bad")
    acts.env.run(acts.cleanup.cleanup_instance, CleanupInput(ref=ref, spec=spec))
    assert acts.kube.find(api.INSTANCE, namespace, "bad") is None
