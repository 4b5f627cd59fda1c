"""The activities of the sagas that replace data: restores and upgrades (workflows.replacements).

Owns the side effects the workflow's restore and upgrade steps need besides
starting batch Jobs and scaling (converge_phase does those):
- `prepare_operation`: the job resource's uid and options, whether the
  instance's live database exists, asked of PostgreSQL (never assumed), and
  for a restore from S3 that its backup object exists
  (job_inputs.backup_object_problem);
- `describe_job`: one job resource's state as the snapshot describes it
  (activities.snapshot.describe), for the Jobs an operation waits on (its
  own, its safety backup's);
- `swap_database`, `swap_database_back`, `copy_database`, `drop_databases`:
  activities.databases' copy, swap and undo through the cluster's admin
  login, and the drop of the operation's copies and leftovers (only
  databases the instance's role owns);
- `run_filestore_step`: create (idempotently, by its name) or look at a
  restore's short filestore Job (specs.jobs.filestore_job);
- `record_operation`: write the operation's fields of the job resource's
  status (safetyBackup, previousDatabase, ...);
- `set_instance_image`: write spec.image (an upgrade to the image it names,
  or back to the previous one).
It decides nothing: the workflow chooses the step, this module does it,
idempotently (every call may be retried, or repeated after a crash).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Protocol

from pydantic import ValidationError
from temporalio import activity

from activities import (
    api,
    clusters,
    databases,
    failures,
    heartbeats,
    job_inputs,
    job_lifecycle,
    lookup,
    ownership,
    snapshot,
)
from model import naming
from model.crds import (
    OdooRestoreJobSpec,
    OdooUpgradeJobSpec,
    OperationSpec,
    duration_seconds,
)
from model.payloads import (
    ActiveJob,
    CopyDatabaseInput,
    DescribeJobInput,
    DropDatabasesInput,
    FilestoreStepInput,
    FilestoreStepResult,
    JobKind,
    OperationPlan,
    PrepareOperationInput,
    RecordOperationInput,
    SetImageInput,
    SetImageResult,
    SwapDatabaseInput,
    SwapDatabaseResult,
)
from model.phases import FINISHED_JOB_PHASES, JobPhase, JobState, batch_job_state
from model.settings import JobSettings, OperatorSettings
from specs import job_outcome, jobs

__all__ = ["ReplacementActivities"]


class _Swap(Protocol):
    """databases.Databases.swap_in or swap_back."""

    def __call__(
        self, cluster: clusters.Cluster, *, live: str, incoming: str, aside: str, mark: str
    ) -> databases.SwapOutcome: ...


class ReplacementActivities:
    def __init__(
        self,
        kube: api.KubeApi,
        operator: OperatorSettings,
        job_settings: JobSettings,
        postgres: databases.Databases,
    ) -> None:
        self._kube = kube
        self._operator = operator
        self._job_settings = job_settings
        self._postgres = postgres

    # --- reads ----------------------------------------------------------------

    @activity.defn(name="prepare_operation", no_thread_cancel_exception=True)
    def prepare_operation(self, input: PrepareOperationInput) -> OperationPlan | None:
        with failures.boundary():
            body = self._kube.find(
                api.job_resource(input.kind.plural), input.ref.namespace, input.name
            )
            if body is None:
                return None
            model: type[OperationSpec] = (
                OdooRestoreJobSpec if input.kind is JobKind.RESTORE else OdooUpgradeJobSpec
            )
            try:
                spec = model.model_validate(body.get("spec") or {})
            except ValidationError as err:
                raise failures.ConfigProblem(
                    f"invalid {input.kind.resource_kind} spec: {err.errors()[0]['msg']}"
                ) from err
            if isinstance(spec, OdooRestoreJobSpec) and spec.source.s3 is not None:
                # Checked when the resource was first read (job_inputs.check); again
                # here, before anything stops: it may have gone since.
                source = spec.source.s3
                problem = job_inputs.backup_object_problem(self._kube, input.ref.namespace, source)
                if problem is not None:
                    raise failures.ConfigProblem(problem)
            cluster = lookup.load_cluster(self._kube, self._operator, input.spec)
            database = databases.database_name_for(input.ref.uid, input.spec.database.name)
            return OperationPlan(
                kind=input.kind,
                name=input.name,
                uid=body["metadata"]["uid"],
                database=database,
                live_exists=self._postgres.database_exists(cluster, database),
                safety_backup=spec.safety_backup,
                safety_destination=spec.safety_backup_destination,
                keep_previous=timedelta(seconds=duration_seconds(spec.keep_previous_for)),
                image=spec.image if isinstance(spec, OdooUpgradeJobSpec) else None,
                backup_format=spec.format if isinstance(spec, OdooRestoreJobSpec) else None,
            )

    @activity.defn(name="describe_job", no_thread_cancel_exception=True)
    def describe_job(self, input: DescribeJobInput) -> ActiveJob | None:
        with failures.boundary():
            body = self._kube.find(
                api.job_resource(input.kind.plural), input.ref.namespace, input.name
            )
            if body is None:
                return None
            described = snapshot.describe(self._kube, input.kind, body)
            status = body.get("status") or {}
            if status.get("phase") in FINISHED_JOB_PHASES:
                # Finished already (its batch Job may have expired): its phase says how.
                done = status["phase"] == JobPhase.COMPLETED
                return described.model_copy(
                    update={
                        "state": JobState.SUCCEEDED if done else JobState.FAILED,
                        "message": None if done else status.get("message"),
                    }
                )
            return described

    # --- PostgreSQL ---------------------------------------------------------------

    @activity.defn(name="swap_database", no_thread_cancel_exception=True)
    def swap_database(self, input: SwapDatabaseInput) -> SwapDatabaseResult:
        return self._swap(input, self._postgres.swap_in)

    @activity.defn(name="swap_database_back", no_thread_cancel_exception=True)
    def swap_database_back(self, input: SwapDatabaseInput) -> SwapDatabaseResult:
        return self._swap(input, self._postgres.swap_back)

    def _swap(self, input: SwapDatabaseInput, how: _Swap) -> SwapDatabaseResult:
        with failures.boundary():
            swap = input.swap
            outcome = how(
                self._cluster(input),
                live=swap.live,
                incoming=swap.incoming,
                aside=swap.aside,
                mark=swap.mark,
            )
            return SwapDatabaseResult(outcome=outcome.value)

    @activity.defn(name="copy_database", no_thread_cancel_exception=True)
    def copy_database(self, input: CopyDatabaseInput) -> bool:
        with heartbeats.heartbeating(), failures.boundary():
            return self._postgres.copy_database(
                self._cluster(input), input.source, input.copy_name, input.mark
            )

    @activity.defn(name="drop_databases", no_thread_cancel_exception=True)
    def drop_databases(self, input: DropDatabasesInput) -> tuple[str, ...]:
        with failures.boundary():
            cluster = self._cluster(input)
            owner = naming.role_name(input.ref.namespace, input.ref.name)
            dropped = []
            for name in input.names:
                outcome = self._postgres.drop_database(cluster, name, owner=owner)
                if outcome is databases.DropOutcome.DROPPED:
                    dropped.append(name)
            return tuple(dropped)

    # --- the filestore -------------------------------------------------------------

    @activity.defn(name="run_filestore_step", no_thread_cancel_exception=True)
    def run_filestore_step(self, input: FilestoreStepInput) -> FilestoreStepResult:
        """Create the step's Job unless it exists, and say where it stands."""
        with failures.boundary():
            ref = input.ref
            cluster = lookup.load_cluster(self._kube, self._operator, input.spec)
            inst = lookup.instance_facts(ref, input.spec, cluster)
            job = jobs.filestore_job(
                inst,
                resource_name=input.name,
                resource_uid=input.uid,
                tools_image=self._job_settings.tools_image,
                action=jobs.FilestoreAction(input.action),
                attempt=input.attempt,
            )
            name = job["metadata"]["name"]
            found = self._kube.find(api.JOB, ref.namespace, name)
            if found is None:
                restores = api.job_resource(JobKind.RESTORE.plural)
                if self._kube.find(restores, ref.namespace, input.name) is None:
                    # The restore resource is gone (an undo after it was deleted): a Job
                    # owned by it would be collected at once.
                    job["metadata"].pop("ownerReferences")
                try:
                    found = self._kube.create(api.JOB, ref.namespace, job)
                except failures.Conflict:
                    found = self._kube.get(api.JOB, ref.namespace, name)
            state, message = batch_job_state(found)
            if state is JobState.FAILED:
                pods = self._kube.list_of(api.POD, ref.namespace, label_selector=f"job-name={name}")
                message = job_outcome.failure_message(found, pods)
            elif state is JobState.SUCCEEDED:
                self._kube.merge_patch(
                    api.JOB,
                    ref.namespace,
                    name,
                    {"spec": {"ttlSecondsAfterFinished": job_lifecycle.FINISHED_JOB_TTL_SECONDS}},
                )
            return FilestoreStepResult(state=state, message=message, job_name=name)

    # --- the API --------------------------------------------------------------------

    @activity.defn(name="record_operation", no_thread_cancel_exception=True)
    def record_operation(self, input: RecordOperationInput) -> None:
        with failures.boundary():
            fields = input.record.model_dump(mode="json", exclude_none=True)
            gone = fields.pop("previous_database_gone")
            status: dict[str, Any] = {_camel(key): value for key, value in fields.items()}
            if gone:
                status["previousDatabase"] = None  # a merge patch's null removes it
            if not status:
                return
            resource = api.job_resource(input.kind.plural)
            body = self._kube.find(resource, input.ref.namespace, input.name)
            if body is None or not ownership.refers_to(body, input.ref.namespace, input.ref.name):
                return  # gone, or made again for another instance: not ours to write
            try:
                self._kube.merge_patch(
                    resource, input.ref.namespace, input.name, {"status": status}, sub="status"
                )
            except failures.NotFound:
                return  # deleted meanwhile: nothing to record on

    @activity.defn(name="set_instance_image", no_thread_cancel_exception=True)
    def set_instance_image(self, input: SetImageInput) -> SetImageResult:
        with failures.boundary():
            lookup.read_instance(self._kube, input.ref)  # gone or re-created: InstanceGone
            body: dict[str, Any] = self._kube.merge_patch(
                api.INSTANCE, input.ref.namespace, input.ref.name, {"spec": {"image": input.image}}
            )
            return SetImageResult(generation=int(body["metadata"]["generation"]))

    def _cluster(
        self, input: SwapDatabaseInput | CopyDatabaseInput | DropDatabasesInput
    ) -> clusters.Cluster:
        return lookup.load_cluster(self._kube, self._operator, input.spec)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
