"""Job resources that cannot run as written: refused before any Job, saying which field.

The real workflow and activities (tests/jobs/harness.py). Covers:
- a restore whose S3 credentials Secret does not exist: no batch Job, the
  resource Failed with "not started: spec.source.s3.s3CredentialsSecretRef:
  Secret <ns>/<name> not found", the instance Uninitialized with
  dbInitialized false (the failure edge, as for a failed Job);
- a backup whose Secret lacks secretKey: Failed naming the missing key, the
  instance back to Running, untouched.
"""

from __future__ import annotations

import asyncio

import pytest

from activities import api
from tests.jobs import harness

pytestmark = pytest.mark.timeout(600)


async def test_missing_credentials_refuse_the_job_and_name_the_field(
    op: harness.Operator, bucket: str
) -> None:
    staging = await op.create_instance("staging", init={"enabled": False})
    await staging.wait_phase("Uninitialized")
    restore = op.create_job(
        "OdooRestoreJob",
        {
            "odooInstanceRef": {"name": "staging"},
            "source": {"type": "s3", "s3": op.destination(bucket, "any.zip", "nowhere")},
        },
    )
    await staging.poke()
    failed = await op.wait_job("OdooRestoreJob", restore)
    assert failed["status"]["phase"] == "Failed"
    assert failed["status"]["message"] == (
        "not started: spec.source.s3.s3CredentialsSecretRef: "
        f"Secret {op.namespace}/nowhere not found"
    )
    assert op.kube.find(api.JOB, op.namespace, f"{restore}-restore") is None
    status = await staging.wait_phase("Uninitialized")
    assert status.get("dbInitialized") is False
    assert "Uninitialized->Restoring" in await staging.transitions()

    prod = await op.running_instance("prod")
    await asyncio.to_thread(
        op.kube.create,
        api.SECRET,
        op.namespace,
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "half"},
            "stringData": {"accessKey": "AK"},
        },
    )
    backup = op.create_job(
        "OdooBackupJob",
        {"odooInstanceRef": {"name": "prod"}, "destination": op.destination(bucket, "x", "half")},
    )
    await prod.poke()
    failed = await op.wait_job("OdooBackupJob", backup)
    assert failed["status"]["message"] == (
        f"not started: spec.destination.s3CredentialsSecretRef: Secret {op.namespace}/half "
        "has no key secretKey"
    )
    await prod.wait_phase("Running")
