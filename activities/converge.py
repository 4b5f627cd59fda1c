"""The `converge_phase` activity: make the cluster match one phase's ensure().

Owns scaling the web and cron Deployments (a merge patch of `spec.replicas`,
only for the counts the phase sets), creating the auto OdooInitJob and
starting the batch Job of an active job resource. Every step is idempotent,
so a retried activity converges to the same state. It decides nothing: the
workflow's ensure() says what, this module does it.
"""

from __future__ import annotations

import logging

from temporalio import activity

from activities import api, failures, job_lifecycle, lookup
from model import naming
from model.payloads import ConvergePhaseInput
from model.settings import JobSettings, OperatorSettings

__all__ = ["ConvergeActivities", "scale"]

_log = logging.getLogger(__name__)


def scale(kube: api.KubeApi, namespace: str, name: str, replicas: int) -> bool:
    """Set a Deployment's spec.replicas (and naming.REPLICAS_ANNOTATION, so the watcher
    tells this write from someone else's); False when the Deployment does not exist."""
    try:
        kube.merge_patch(
            api.DEPLOYMENT,
            namespace,
            name,
            {
                "metadata": {"annotations": {naming.REPLICAS_ANNOTATION: str(replicas)}},
                "spec": {"replicas": replicas},
            },
        )
    except failures.NotFound:
        _log.warning("Deployment %s/%s not found: not scaled to %d", namespace, name, replicas)
        return False
    return True


class ConvergeActivities:
    def __init__(
        self, kube: api.KubeApi, operator: OperatorSettings, job_settings: JobSettings
    ) -> None:
        self._kube = kube
        self._operator = operator
        self._job_settings = job_settings

    @activity.defn(name="converge_phase", no_thread_cancel_exception=True)
    def converge_phase(self, input: ConvergePhaseInput) -> None:
        with failures.boundary():
            self._converge(input)

    def _converge(self, input: ConvergePhaseInput) -> None:
        kube, ref = self._kube, input.ref
        if input.web_replicas is not None:
            scale(kube, ref.namespace, naming.web_deployment_name(ref.name), input.web_replicas)
        if input.cron_replicas is not None:
            scale(kube, ref.namespace, naming.cron_deployment_name(ref.name), input.cron_replicas)
        for pending in input.mark_pending:
            job_lifecycle.mark_pending(kube, ref.namespace, pending.kind, pending.name)
        if input.create_auto_init:
            cluster = lookup.load_cluster(kube, self._operator, input.spec)
            job_lifecycle.create_auto_init(kube, lookup.instance_facts(ref, input.spec, cluster))
        if input.start_job is not None:
            job_lifecycle.start(
                kube, self._operator, self._job_settings, ref, input.spec, input.start_job
            )
