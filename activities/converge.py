"""The `converge_phase` activity: make the cluster match one phase's ensure().

Owns scaling the web and cron Deployments (a merge patch of `spec.replicas`,
only for the counts the phase sets), marking waiting job resources Pending
with why they wait,
creating the auto OdooInitJob and starting the batch Job of an active job
resource. Every step is idempotent, so a retried activity converges to the
same state. It decides nothing: the workflow's ensure() says what, this
module does it.

Only the instance's own Deployments are scaled (activities.ownership): a
Deployment of the same name that someone else made (`kubectl create
deployment shop` before an OdooInstance `shop`) keeps its replicas, whatever
the phase asks (a stop, an Error with spec.replicas 0, the deletion). The
refusal is a Warning `NotOwned` Event naming it, and CONFIG_INVALID with the
same message once every other step is done, so the workflow shows it in
status.message (Error).
"""

from __future__ import annotations

import logging

from temporalio import activity

from activities import api, failures, job_lifecycle, lookup, ownership
from model import naming
from model.payloads import ConvergePhaseInput, InstanceRef
from model.settings import JobSettings, OperatorSettings

__all__ = ["ConvergeActivities", "scale"]

_log = logging.getLogger(__name__)


def scale(kube: api.KubeApi, ref: InstanceRef, name: str, replicas: int) -> bool:
    """Set the spec.replicas of the instance's Deployment `name` (and
    naming.REPLICAS_ANNOTATION, so the watcher tells this write from someone
    else's); False when it does not exist, NotOwned (left as it is) when it is
    not this instance's."""
    live = kube.find(api.DEPLOYMENT, ref.namespace, name)
    ownership.ensure_owned(live, ref, untouched=f"not scaled to {replicas}: it keeps its replicas")
    patch = {
        "metadata": {"annotations": {naming.REPLICAS_ANNOTATION: str(replicas)}},
        "spec": {"replicas": replicas},
    }
    try:
        if live is not None:
            kube.merge_patch(api.DEPLOYMENT, ref.namespace, name, patch)
            return True
    except failures.NotFound:
        pass  # deleted since the read
    _log.warning("Deployment %s/%s not found: not scaled to %d", ref.namespace, name, replicas)
    return False


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
        refused: list[ownership.NotOwned] = []
        for name, replicas in (
            (naming.web_deployment_name(ref.name), input.web_replicas),
            (naming.cron_deployment_name(ref.name), input.cron_replicas),
        ):
            if replicas is None:
                continue
            try:
                scale(kube, ref, name, replicas)
            except ownership.NotOwned as err:
                ownership.report(
                    kube, ref, err, reporting_instance=self._operator.reporting_instance
                )
                refused.append(err)
        for note in input.mark_pending:
            job_lifecycle.mark_pending(kube, ref, note)
        if input.create_auto_init:
            cluster = lookup.load_cluster(kube, self._operator, input.spec)
            job_lifecycle.create_auto_init(kube, lookup.instance_facts(ref, input.spec, cluster))
        if input.start_job is not None:
            job_lifecycle.start(
                kube, self._operator, self._job_settings, ref, input.spec, input.start_job
            )
        if refused:
            raise ownership.NotOwned("; ".join(err.message for err in refused))
