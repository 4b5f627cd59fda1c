"""A workflow that only sleeps, for proving that the time-skipping server skips time.

The Temporal sandbox re-imports this module on every run: no side effects at
import, nothing but the workflow and its payloads.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel, ConfigDict


class SleepInput(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    duration: timedelta


class SleepResult(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    slept: timedelta


@workflow.defn(name="SleepThenReport")
class SleepThenReport:
    @workflow.run
    async def run(self, given: SleepInput) -> SleepResult:
        started = workflow.now()
        await workflow.sleep(given.duration)
        return SleepResult(slept=workflow.now() - started)
