"""The `check_job_references` activity: job resources whose instance does not resolve.

Owns marking Failed (status.phase, status.message naming the reference, a
Warning `JobFailed` Event on the resource, its webhook: job_lifecycle.finish) every
unfinished job resource whose `spec.odooInstanceRef` names an OdooInstance
that does not exist, or one in another namespace. The rule is
`crds.jobs.reference_problem`, the one the admission webhook refuses with;
this side covers a cluster without the webhook and an instance deleted
after its jobs were queued. No instance workflow would ever consume such a
resource, so without this it would stay without a phase forever.

The watcher starts the OdooJobReferences workflow that runs it when a job
resource's event reaches no instance workflow, and when an instance is
deleted. It reads the instance at call time: an instance that exists (even
while being deleted) leaves its jobs to its workflow. Idempotent: a finished
resource is never written again, and the Event has a deterministic name.
"""

from __future__ import annotations

from temporalio import activity

from activities import api, failures, job_lifecycle
from model.crds import job_resources as job_crds
from model.payloads import (
    CheckJobReferencesInput,
    CheckJobReferencesResult,
    JobAction,
    JobKind,
)
from model.phases import FINISHED_JOB_PHASES
from model.settings import OperatorSettings

__all__ = ["ReferenceActivities"]


class ReferenceActivities:
    def __init__(self, kube: api.KubeApi, operator: OperatorSettings) -> None:
        self._kube = kube
        self._operator = operator

    @activity.defn(name="check_job_references", no_thread_cancel_exception=True)
    def check_job_references(self, input: CheckJobReferencesInput) -> CheckJobReferencesResult:
        with failures.boundary():
            return self._check(input)

    def _check(self, input: CheckJobReferencesInput) -> CheckJobReferencesResult:
        kube = self._kube
        known: dict[tuple[str, str], bool] = {}

        def exists(namespace: str, name: str) -> bool:
            if (namespace, name) not in known:
                known[namespace, name] = kube.find(api.INSTANCE, namespace, name) is not None
            return known[namespace, name]

        failed: list[str] = []
        for kind in JobKind:
            for item in job_lifecycle.referencing(kube, kind, input.namespace, input.instance):
                if (item.get("status") or {}).get("phase") in FINISHED_JOB_PHASES:
                    continue
                ref = (item.get("spec") or {}).get("odooInstanceRef") or {}
                problem = job_crds.reference_problem(
                    input.namespace, ref.get("name"), ref.get("namespace"), exists
                )
                if problem is None:
                    continue
                name = item["metadata"]["name"]
                action = JobAction(kind=kind, name=name, succeeded=False, message=problem)
                job_lifecycle.finish(
                    kube,
                    input.namespace,
                    action,
                    reporting_instance=self._operator.reporting_instance,
                )
                failed.append(f"{kind.resource_kind}/{name}")
        return CheckJobReferencesResult(failed=tuple(failed))
