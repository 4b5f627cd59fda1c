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
  got a role (unknown cluster) loses its finalizer at once;
- every other write checks the object is this instance's first (the user's
  own `kubectl create deployment shop` beside an OdooInstance `shop`):
  converge_phase scales the instance's cron Deployment but never the user's
  `shop` (CONFIG_INVALID naming it, a Warning NotOwned Event), the deletion's
  scale-down leaves it at its replicas and still finishes, the web restart
  of an upgrade leaves its pod template alone; job resources are written and
  pruned only when they name this instance in its namespace (a finished one
  naming a same-named instance of another namespace is not pruned, one made
  again for another instance keeps its status), an OdooInitJob named like the
  auto-init that a user made is never replaced, and a Secret a job's copy
  would overwrite that the job resource did not make refuses the job.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import kubernetes
import pytest
from psycopg import sql
from temporalio.exceptions import ApplicationError

from activities import api, job_lifecycle, ownership
from model import failures, naming
from model.crds import OdooInstanceSpec
from model.payloads import (
    ActiveJob,
    ApplyChildrenInput,
    CleanupInput,
    ConvergePhaseInput,
    InstanceRef,
    JobAction,
    JobKind,
    JobRef,
    RestartWeb,
    RunEdgeActionsInput,
)
from model.phases import JobState
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


# --- every other write: the object is this instance's first -------------------


def _assert_untouched(acts: ki.Activities, created: dict[str, Any]) -> None:
    meta = created["metadata"]
    live = acts.kube.get(api.DEPLOYMENT, meta["namespace"], meta["name"])
    assert live["metadata"]["uid"] == meta["uid"]
    assert live["spec"]["replicas"] == created["spec"]["replicas"]
    assert live["spec"]["template"] == created["spec"]["template"]
    assert naming.REPLICAS_ANNOTATION not in (live["metadata"].get("annotations") or {})


def _not_owned_events(acts: ki.Activities, namespace: str, ref: InstanceRef) -> list[str]:
    return [
        e["message"]
        for e in _events(acts, namespace, ownership.NOT_OWNED)
        if e["type"] == "Warning" and e["involvedObject"]["uid"] == ref.uid
    ]


def test_the_users_deployment_is_never_scaled_when_it_has_the_instances_name(
    acts: ki.Activities, namespace: str
) -> None:
    users = ki.create_deployment(acts.kube, namespace, "shop")
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    ki.create_deployment(acts.kube, namespace, "shop-cron", owner=ref)
    with pytest.raises(ApplicationError) as refused:
        acts.env.run(
            acts.converge.converge_phase,
            ConvergePhaseInput(ref=ref, spec=spec, web_replicas=0, cron_replicas=0),
        )
    assert refused.value.type == failures.CONFIG_INVALID
    assert "Deployment shop exists and was not created by odoo-operator" in refused.value.message
    assert "not scaled to 0" in refused.value.message
    _assert_untouched(acts, users)
    assert acts.kube.get(api.DEPLOYMENT, namespace, "shop-cron")["spec"]["replicas"] == 0
    (message,) = _not_owned_events(acts, namespace, ref)
    assert "Deployment shop exists" in message


def _delete(acts: ki.Activities, ref: InstanceRef, spec: OdooInstanceSpec) -> None:
    with pytest.raises(ApplicationError):
        _apply(acts, ref, spec)  # refused: the name is taken (the finalizer is on)
    acts.kube.delete(api.INSTANCE, ref.namespace, ref.name)
    acts.env.run(acts.cleanup.cleanup_instance, CleanupInput(ref=ref, spec=spec))
    assert acts.kube.find(api.INSTANCE, ref.namespace, ref.name) is None  # finished


def _restart(acts: ki.Activities, ref: InstanceRef, spec: OdooInstanceSpec) -> None:
    # What an upgrade's success runs.
    edges = RunEdgeActionsInput(ref=ref, spec=spec, actions=(RestartWeb(),))
    acts.env.run(acts.edges.run_edge_actions, edges)


@pytest.mark.parametrize(
    ("write", "untouched"),
    [
        pytest.param(_delete, "not scaled to 0", id="deletion-scale-down"),
        pytest.param(_restart, "not restarted", id="restart-after-upgrade"),
    ],
)
def test_the_users_deployment_is_left_alone_and_said_so_when_the_instance_would_write_it(
    acts: ki.Activities,
    namespace: str,
    write: Callable[[ki.Activities, InstanceRef, OdooInstanceSpec], None],
    untouched: str,
) -> None:
    users = ki.create_deployment(acts.kube, namespace, "shop")
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    write(acts, ref, spec)
    _assert_untouched(acts, users)
    (message,) = _not_owned_events(acts, namespace, ref)
    assert "Deployment shop exists" in message
    assert untouched in message


def _job_resource(
    kube: api.KubeApi, kind: JobKind, meta: dict[str, str], spec: dict[str, Any]
) -> dict[str, Any]:
    """A job resource of `kind` (metadata `meta`: name, namespace) with `spec`."""
    return kube.create(
        api.job_resource(kind.plural),
        meta["namespace"],
        {
            "apiVersion": naming.GROUP_VERSION,
            "kind": kind.resource_kind,
            "metadata": meta,
            "spec": spec,
        },
    )


def _meta(namespace: str, name: str) -> dict[str, str]:
    return {"namespace": namespace, "name": name}


def _upgrade(ref: dict[str, str]) -> dict[str, Any]:
    return {"odooInstanceRef": ref, "modules": ["sale"]}


def _set_phase(kube: api.KubeApi, kind: JobKind, body: dict[str, Any], phase: str) -> None:
    meta = body["metadata"]
    patch = {"status": {"phase": phase, "completionTime": "2026-01-01T00:00:00Z"}}
    kube.merge_patch(
        api.job_resource(kind.plural), meta["namespace"], meta["name"], patch, sub="status"
    )


def test_job_resources_are_pruned_only_when_they_name_this_instance_in_its_namespace(
    acts: ki.Activities, namespace: str
) -> None:
    ref, _ = ki.create_instance(acts.kube, namespace, "shop")
    kind = JobKind.UPGRADE
    # Finished upgrades of this instance, and one naming a `shop` of another namespace.
    ours = [
        _job_resource(acts.kube, kind, _meta(namespace, f"up-{n}"), _upgrade({"name": "shop"}))
        for n in range(3)
    ]
    elsewhere = {"name": "shop", "namespace": "other"}
    theirs = _job_resource(acts.kube, kind, _meta(namespace, "elsewhere"), _upgrade(elsewhere))
    for body in (*ours, theirs):
        _set_phase(acts.kube, kind, body, "Completed")
    pruned = job_lifecycle.prune_history(acts.kube, ref, kind, limit=1)
    assert len(pruned) == 2
    assert "elsewhere" not in pruned
    assert acts.kube.find(api.job_resource(kind.plural), namespace, "elsewhere") is not None


def test_a_job_resource_made_again_for_another_instance_keeps_its_status(
    acts: ki.Activities, namespace: str
) -> None:
    ref, _ = ki.create_instance(acts.kube, namespace, "shop")
    kind = JobKind.UPGRADE
    _job_resource(acts.kube, kind, _meta(namespace, "up"), _upgrade({"name": "other"}))
    job_lifecycle.mark_pending(acts.kube, ref, JobRef(kind=kind, name="up", message="waiting"))
    action = JobAction(kind=kind, name="up", succeeded=False, message="boom")
    job_lifecycle.finish(acts.kube, namespace, action, instance=ref)
    body = acts.kube.get(api.job_resource(kind.plural), namespace, "up")
    assert not body.get("status"), "another instance's job resource was written"


def test_an_init_job_a_user_named_like_the_auto_init_is_never_replaced(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    kind = JobKind.INIT
    meta = _meta(namespace, "shop-auto-init")
    users = _job_resource(acts.kube, kind, meta, {"odooInstanceRef": {"name": "shop"}})
    _set_phase(acts.kube, kind, users, "Failed")
    with pytest.raises(ApplicationError) as refused:
        acts.env.run(
            acts.converge.converge_phase,
            ConvergePhaseInput(ref=ref, spec=spec, create_auto_init=True),
        )
    assert refused.value.type == failures.CONFIG_INVALID
    assert "OdooInitJob shop-auto-init exists and was not created" in refused.value.message
    live = acts.kube.get(api.job_resource(kind.plural), namespace, "shop-auto-init")
    assert live["metadata"]["uid"] == users["metadata"]["uid"]


def test_a_job_whose_secret_copy_would_overwrite_someone_elses_secret_is_refused(
    acts: ki.Activities, namespace: str
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    source = {"type": "odoo", "odoo": {"url": "http://odoo.example.com", "masterPassword": "x"}}
    restore = {"odooInstanceRef": {"name": "shop"}, "source": source}
    _job_resource(acts.kube, JobKind.RESTORE, _meta(namespace, "copy"), restore)
    name = naming.master_password_secret_name("copy")
    users = acts.kube.create(
        api.SECRET, namespace, {"metadata": {"name": name}, "stringData": {"password": "mine"}}
    )
    active = ActiveJob(kind=JobKind.RESTORE, name="copy", state=JobState.ACTIVE)
    acts.env.run(
        acts.converge.converge_phase, ConvergePhaseInput(ref=ref, spec=spec, start_job=active)
    )
    body = acts.kube.get(api.job_resource(JobKind.RESTORE.plural), namespace, "copy")
    assert body["status"]["message"] == (
        f"not started: Secret {namespace}/{name} exists and was not made for OdooRestoreJob "
        "copy: delete or rename it (it was not changed)"
    )
    assert acts.kube.get(api.SECRET, namespace, name)["data"] == users["data"]
