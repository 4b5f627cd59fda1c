"""The plugin's two connections: Kubernetes as kubectl makes it, Temporal as the temporal CLI.

Owns the namespace a command works in (`-n`, else the kubeconfig context's,
else `default`, as kubectl chooses it), the Kubernetes client (the
kubeconfig and context kubectl would use) and the Temporal client (made on
first use, with a deadline: a status still shows what Kubernetes knows when
Temporal cannot be reached), and the handle of an instance's workflow.
Must not read the environment itself (odoo_operator.environment does).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client, WorkflowHandle

from activities import api
from model import naming
from model.settings import TemporalSettings
from odoo_operator import worker

__all__ = ["CONNECT_TIMEOUT_SECONDS", "Session", "TemporalUnreachable", "open_session"]

CONNECT_TIMEOUT_SECONDS = 10.0
"""How long a command waits for the Temporal frontend before saying it cannot reach it."""


class TemporalUnreachable(Exception):
    """Temporal does not answer at the configured address."""


@dataclass
class Session:
    """Where one command works: a namespace, the Kubernetes API and Temporal."""

    kube: api.KubeApi
    namespace: str
    temporal: TemporalSettings
    _client: Client | None = field(default=None, init=False)

    async def client(self) -> Client:
        if self._client is None:
            try:
                self._client = await asyncio.wait_for(
                    worker.connect(self.temporal), timeout=CONNECT_TIMEOUT_SECONDS
                )
            except (TimeoutError, RuntimeError, OSError) as err:
                raise TemporalUnreachable(
                    f"cannot reach Temporal at {self.temporal.address} (namespace "
                    f"{self.temporal.namespace}): {err or 'no answer'}; set TEMPORAL_ADDRESS "
                    "or --temporal-address"
                ) from err
        return self._client

    async def workflow(self, name: str) -> WorkflowHandle[object, object]:
        """The instance workflow of `name` in the session's namespace."""
        client = await self.client()
        return client.get_workflow_handle(naming.workflow_id(self.namespace, name))

    def close(self) -> None:
        self.kube.close()


def open_session(
    *,
    namespace: str | None,
    kubeconfig: Path | None,
    context: str | None,
    temporal: TemporalSettings,
) -> Session:
    """A session as kubectl would open it (see the module docstring)."""
    kube = api.connect(kubeconfig, context=context, connections=2)
    chosen = namespace or api.kubeconfig_namespace(kubeconfig, context) or "default"
    return Session(kube=kube, namespace=chosen, temporal=temporal)
