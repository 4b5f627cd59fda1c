"""The OdooJobReferences workflow: job resources whose odooInstanceRef does not resolve.

One short run per (namespace, referenced name), id
`odoo-jobrefs/<namespace>/<instance>` (naming.job_references_workflow_id),
started by the watcher with signal-with-start (`check`) when a job
resource's event reaches no instance workflow and when an instance is
deleted. It runs `check_job_references` (activities.references), which marks
such resources Failed, and runs it once more for each `check` signal that
arrived meanwhile (so a resource created while a check ran is not missed),
then ends. It decides nothing itself and does no I/O of its own.
"""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from model.payloads import (
        CheckJobReferencesInput,
        CheckJobReferencesResult,
        Poke,
    )
    from workflows import calls

__all__ = ["CHECK_SIGNAL", "WORKFLOW_TYPE", "JobReferencesWorkflow"]

WORKFLOW_TYPE = "OdooJobReferences"
CHECK_SIGNAL = "check"


@workflow.defn(name=WORKFLOW_TYPE)
class JobReferencesWorkflow:
    @workflow.init
    def __init__(self, input: CheckJobReferencesInput) -> None:
        self._again = False

    @workflow.signal(name=CHECK_SIGNAL)
    def check(self, poke: Poke) -> None:
        """Look again once the current check is done."""
        self._again = True

    @workflow.run
    async def run(self, input: CheckJobReferencesInput) -> CheckJobReferencesResult:
        failed: list[str] = []
        while True:
            self._again = False
            try:
                result = await calls.check_job_references(input)
            except ActivityError as err:
                # Given up (see calls): the next event of the resource checks again.
                workflow.logger.warning(
                    "checking the job references of %s/%s failed: %s",
                    input.namespace, input.instance, err.cause or err,
                )  # fmt: skip
                return CheckJobReferencesResult(failed=tuple(failed))
            failed.extend(result.failed)
            if not self._again:
                return CheckJobReferencesResult(failed=tuple(failed))
