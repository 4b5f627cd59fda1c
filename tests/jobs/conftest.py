"""Job-resource tier fixtures: a real worker whose instances' Jobs run (tests/jobs/harness.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import kubernetes
import pytest
import pytest_asyncio
from temporalio.client import Client

from sandbox import podrunner, postgres, s3
from tests.jobs import harness


@pytest_asyncio.fixture(loop_scope="session")
async def op(
    temporal_client: Client,
    api_client: kubernetes.client.ApiClient,
    namespace: str,
    task_queue: str,
    postgres_server: postgres.EmbeddedPostgres,
    s3_server: s3.S3Server,
    job_pods: podrunner.LocalPodRunner,
) -> AsyncIterator[harness.Operator]:
    async with harness.operator(
        temporal_client, api_client, namespace, task_queue, postgres_server, s3_server, job_pods
    ) as running:
        yield running


@pytest.fixture
def bucket(s3_server: s3.S3Server) -> str:
    name = f"backups-{uuid.uuid4().hex[:8]}"
    s3_server.create_bucket(name)
    return name
