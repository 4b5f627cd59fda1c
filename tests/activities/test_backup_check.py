"""A restore's backup object checked before the restore is taken (job_inputs).

Against the real control plane (the credentials Secret) and the embedded S3
server. Covers: an object that is there passes; one that is not, and one the
credentials may not read (HTTP 403), are a problem naming spec.source.s3 and
the object; an endpoint the operator cannot reach passes (the restore Job,
which may run on another network, answers for it).
"""

from __future__ import annotations

import socket
import uuid

import kubernetes

from activities import api
from activities.job_inputs import backup_object_problem
from model.crds import S3Config
from sandbox import s3


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_restores_backup_object_is_checked_before_anything_stops(
    api_client: kubernetes.client.ApiClient, namespace: str, s3_server: s3.S3Server
) -> None:
    kube = api.KubeApi(api_client)
    bucket = f"check-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(bucket)
    s3_server.client().put_object(bucket, "prod/there.zip", b"a backup")
    for name, secret_key in (("s3", s3_server.secret_key), ("wrong", "not-the-secret-key")):
        kube.create(
            api.SECRET,
            namespace,
            {
                "metadata": {"name": name},
                "stringData": {"accessKey": s3_server.access_key, "secretKey": secret_key},
            },
        )

    def source(key: str, secret: str = "s3", endpoint: str = s3_server.endpoint) -> S3Config:
        return S3Config.model_validate(
            {
                "bucket": bucket,
                "objectKey": key,
                "endpoint": endpoint,
                "s3CredentialsSecretRef": {"name": secret},
            }
        )

    assert backup_object_problem(kube, namespace, source("prod/there.zip")) is None
    assert backup_object_problem(kube, namespace, source("prod/nope.zip")) == (
        f"spec.source.s3: the backup s3://{bucket}/prod/nope.zip does not exist at "
        f"{s3_server.endpoint}"
    )
    refused = backup_object_problem(kube, namespace, source("prod/there.zip", secret="wrong"))
    assert refused is not None
    assert refused.startswith(
        f"spec.source.s3: reading s3://{bucket}/prod/there.zip was refused (HTTP 403)"
    )
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    assert backup_object_problem(kube, namespace, source("nope.zip", endpoint=unreachable)) is None
