"""Reads several activities share: the live instance, its database location, S3.

Owns turning an `InstanceRef` into the live OdooInstance object (gone or
replaced by a new incarnation: `InstanceGone`) and into the
`specs.facts.Instance` facts the builders need (database host, port, name and
role), and an S3 location into a client with the credentials its Secret
holds. Writes nothing.
"""

from __future__ import annotations

import base64
from typing import Any

from activities import api, clusters, failures, s3
from model import naming
from model.crds import OdooInstanceSpec, S3Config
from model.payloads import InstanceRef
from model.settings import OperatorSettings
from specs import facts

__all__ = ["instance_facts", "load_cluster", "read_instance", "s3_client"]


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


def s3_client(
    kube: api.KubeApi, namespace: str, target: S3Config, *, read_timeout: float = 60.0
) -> s3.S3Client:
    """A client of `target`'s endpoint with the keys of its s3CredentialsSecretRef
    (accessKey, secretKey; the Secret in `namespace` unless the reference names
    one); anonymous without a reference or a Secret."""
    access, secret = "", ""
    ref = target.s3_credentials_secret_ref
    if ref is not None:
        keys = kube.find(api.SECRET, ref.namespace or namespace, ref.name)
        data = (keys or {}).get("data") or {}
        access = base64.b64decode(data.get("accessKey", "")).decode()
        secret = base64.b64decode(data.get("secretKey", "")).decode()
    return s3.S3Client(
        target.endpoint,
        access,
        secret,
        region=target.region,
        insecure=target.insecure,
        read_timeout=read_timeout,
    )
