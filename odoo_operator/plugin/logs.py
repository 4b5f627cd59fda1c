"""`kubectl odoo logs JOB`: the logs of a job resource's batch Job, every step in order.

Owns finding the job resource (`KIND/NAME`, or a bare NAME looked up in every
kind), its batch Job (status.jobName) and that Job's Pods (oldest first:
one per attempt), and printing each Pod's containers in the order they ran
(the init containers, which are the steps, then the main one) under a
header naming the step. A step that never started, a Job not started yet or
already gone (its TTL) is said, not an error. Must not write anything.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TextIO

from activities import api, failures
from model.payloads import JobKind

__all__ = ["KIND_NAMES", "find_job_resource", "print_logs"]

KIND_NAMES = {
    **{kind.value: kind for kind in JobKind},
    **{kind.resource_kind.lower(): kind for kind in JobKind},
    **{kind.plural: kind for kind in JobKind},
}
"""What `KIND/NAME` may say: `backup`, `odoobackupjob`, `odoobackupjobs`, ..."""

_JOB_NAME_LABEL = "batch.kubernetes.io/job-name"


class JobNotFound(Exception):
    """No job resource of that name (or several, in different kinds)."""


def find_job_resource(
    kube: api.KubeApi, namespace: str, ref: str
) -> tuple[JobKind, dict[str, Any]]:
    """The job resource `KIND/NAME` or `NAME` of `namespace`."""
    kind_text, _, name = ref.rpartition("/")
    if kind_text:
        kind = KIND_NAMES.get(kind_text.lower())
        if kind is None:
            raise JobNotFound(
                f"{kind_text!r} is not a job kind (one of {', '.join(k.value for k in JobKind)})"
            )
        kinds: tuple[JobKind, ...] = (kind,)
    else:
        kinds = tuple(JobKind)
    found = [
        (kind, body)
        for kind in kinds
        if (body := kube.find(api.job_resource(kind.plural), namespace, name)) is not None
    ]
    if not found:
        raise JobNotFound(f"no job resource {ref} in namespace {namespace}")
    if len(found) > 1:
        names = ", ".join(f"{kind.value}/{name}" for kind, _ in found)
        raise JobNotFound(f"{name} names several job resources; say which: {names}")
    return found[0]


def _pods(kube: api.KubeApi, namespace: str, job: str) -> list[dict[str, Any]]:
    pods = kube.list_of(api.POD, namespace, label_selector=f"{_JOB_NAME_LABEL}={job}")
    return sorted(pods, key=lambda pod: pod["metadata"].get("creationTimestamp") or "")


def _containers(pod: dict[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(name, role, started) of each container in the order they run."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    states = {
        s["name"]: s.get("state") or {}
        for s in [
            *(status.get("initContainerStatuses") or []),
            *(status.get("containerStatuses") or []),
        ]
    }
    steps = spec.get("initContainers") or []
    for index, container in enumerate(steps, start=1):
        name = container["name"]
        yield name, f"step {index} of {len(steps) + 1}", "waiting" not in states.get(name, {})
    for container in spec.get("containers") or []:
        name = container["name"]
        role = f"step {len(steps) + 1} of {len(steps) + 1}" if steps else "main"
        yield name, role, "waiting" not in states.get(name, {})


def print_logs(kube: api.KubeApi, namespace: str, ref: str, out: TextIO) -> None:
    kind, body = find_job_resource(kube, namespace, ref)
    name = body["metadata"]["name"]
    status = body.get("status") or {}
    title = f"{kind.resource_kind}/{name}"
    job = status.get("jobName")
    if not job:
        print(f"{title}: no batch Job yet ({status.get('phase') or 'New'})", file=out)
        return
    pods = _pods(kube, namespace, job)
    if not pods:
        print(
            f"{title}: the Pods of Job {job} are gone (the Job is deleted some time after it "
            "finishes, and its logs with it)",
            file=out,
        )
        return
    for attempt, pod in enumerate(pods, start=1):
        pod_name = pod["metadata"]["name"]
        phase = (pod.get("status") or {}).get("phase") or "Pending"
        print(f"=== {title}: Job {job}, Pod {pod_name} (attempt {attempt}, {phase})", file=out)
        for container, role, started in _containers(pod):
            print(f"--- {container} ({role})", file=out)
            if not started:
                print("(not started)", file=out)
                continue
            try:
                text = kube.log(namespace, pod_name, container)
            except failures.ApiError as err:
                print(f"(no log: {err.summary})", file=out)
                continue
            out.write(text if text.endswith("\n") or not text else text + "\n")
