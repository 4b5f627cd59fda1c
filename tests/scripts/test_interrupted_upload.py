"""A backup's upload killed half-way leaves no object under its key, and no upload once aborted.

The backup Job runs for real (tests/scripts/tenants.py); its Pod is deleted
(the kubelet kills the aws CLI) while the multipart upload is in flight.
Covers: the Job fails (a deleted Pod counts against backoffLimit 0) and no
object exists under the final key, only the unfinished multipart upload (S3
shows an object only once CompleteMultipartUpload succeeded), which the
failed backup's edge action (activities.backup_resources.abort_uploads)
then aborts: nothing is left in the bucket.
"""

from __future__ import annotations

import os
import time
import uuid

import kubernetes

from activities import api, backup_resources
from model.settings import OperatorSettings
from sandbox import podrunner, postgres, s3
from tests.scripts import tenants as t
from tests.scripts.test_backup_restore_roundtrip import TOOLS_IMAGE


def test_killed_upload_leaves_no_partial_object(
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    job_pods: podrunner.LocalPodRunner,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
) -> None:
    from model.crds import OdooBackupJobSpec
    from specs import jobs

    bucket = f"partial-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(bucket)
    source = t.make_tenant(api_client, namespace, postgres_server, job_pods, "prod")
    t.init_database(api_client, source, modules="base")
    for i in range(96):  # 96 MiB of incompressible files: a dozen upload parts
        path = source.filestore / f"{i:02x}" / f"f{i}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(1024 * 1024))
    credentials = t.s3_credentials(api_client, namespace, s3_server)
    spec = {
        "odooInstanceRef": {"name": "prod"},
        "destination": {
            "bucket": bucket,
            "objectKey": "big.zip",
            "endpoint": s3_server.endpoint,
            "s3CredentialsSecretRef": {"name": credentials},
        },
    }
    uid = t.create_resource(api_client, namespace, "OdooBackupJob", "big", spec)
    job = jobs.backup_job(
        source.inst,
        resource_name="big",
        resource_uid=uid,
        spec=OdooBackupJobSpec.model_validate(spec),
        tools_image=TOOLS_IMAGE,
        credentials_secret=credentials,
    )
    kube = api.KubeApi(api_client)
    kube.create(api.JOB, namespace, job)
    client = s3_server.client()
    deadline = time.monotonic() + 120
    while not client.list_multipart_uploads(bucket):
        assert time.monotonic() < deadline, "the multipart upload never started"
        time.sleep(0.05)
    pods = kube.list_of(api.Resource("v1", "pods"), namespace, label_selector="job-name=big-backup")
    core = kubernetes.client.CoreV1Api(api_client)
    for pod in pods:
        core.delete_namespaced_pod(pod["metadata"]["name"], namespace, grace_period_seconds=0)

    def failed() -> bool:
        status = kube.get(api.JOB, namespace, "big-backup").get("status") or {}
        return any(
            c.get("type") == "Failed" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )

    # A deleted Pod counts as a failure and backoffLimit is 0: the Job fails.
    t.wait_until(failed, "the backup Job Failed")
    assert client.head_object(bucket, "big.zip") is None
    assert list(client.list_objects(bucket)) == []
    # The parts already sent wait in an unfinished multipart upload, never an object.
    assert client.list_multipart_uploads(bucket) == ["big.zip"]
    # What the workflow's edge action for a failed backup (a safety backup's too)
    # does then: the upload aborted, nothing of it left.
    started = time.monotonic()
    settings = OperatorSettings(namespace=namespace)
    aborted = backup_resources.BackupActivities(kube, settings).abort_uploads(namespace, "big")
    assert len(aborted) == 1
    assert client.list_multipart_uploads(bucket) == []
    assert list(client.list_objects(bucket)) == []
    print(f"MATRIX backup:upload:process-killed {time.monotonic() - started:.2f}s to aborted")
