"""Reads several activities share: the live instance and its database location.

Owns turning an `InstanceRef` into the live OdooInstance object (gone or
replaced by a new incarnation: `InstanceGone`) and into the
`specs.facts.Instance` facts the builders need (database host, port, name and
role). Writes nothing.
"""

from __future__ import annotations

from typing import Any

from activities import api, clusters, failures
from model import naming
from model.crds import OdooInstanceSpec
from model.payloads import InstanceRef
from model.settings import OperatorSettings
from specs import facts

__all__ = ["instance_facts", "load_cluster", "read_instance"]


def read_instance(kube: api.KubeApi, ref: InstanceRef) -> dict[str, Any]:
    """The live OdooInstance; InstanceGone when deleted or re-created under the name."""
    body = kube.find(api.INSTANCE, ref.namespace, ref.name)
    if body is None:
        raise failures.InstanceGone(f"OdooInstance {ref.namespace}/{ref.name} no longer exists")
    uid = body.get("metadata", {}).get("uid")
    if uid and uid != ref.uid:
        raise failures.InstanceGone(
            f"OdooInstance {ref.namespace}/{ref.name} was re-created (uid {uid}, not {ref.uid})"
        )
    return body


def load_cluster(
    kube: api.KubeApi, operator: OperatorSettings, spec: OdooInstanceSpec
) -> clusters.Cluster:
    """The PostgreSQL cluster of an instance; ClusterConfigError says what to fix."""
    return clusters.read_cluster(
        kube, operator.namespace, operator.clusters_secret, spec.database.cluster
    )


def instance_facts(
    ref: InstanceRef, spec: OdooInstanceSpec, cluster: clusters.Cluster
) -> facts.Instance:
    return facts.Instance(
        name=ref.name,
        namespace=ref.namespace,
        uid=ref.uid,
        spec=spec,
        database=facts.Database(
            host=cluster.host,
            port=cluster.port,
            name=naming.database_name(ref.uid, spec.database.name),
            user=naming.role_name(ref.namespace, ref.name),
        ),
    )
