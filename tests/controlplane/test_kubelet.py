"""The simulated kubelet on the real controllers: what Deployments and Jobs report.

Covers:
- a Deployment scaled up becomes ready (its Pods Running and Ready), and
  scaled down to 0 ends with no ready count in its status and no Pods left
  (the kubelet confirms their deletion);
- a held Pod stays Pending (unbound containers never start) and the
  Deployment reports it not ready, until `release()`;
- `fail_jobs` makes a Job's Pods fail, so the real Job controller sets the
  Job Failed (BackoffLimitExceeded);
- `set_ready(False)` on one Pod lowers the Deployment's readyReplicas, and
  `set_ready(True)` raises it again;
- a Job Pod run by LocalPodRunner gets its environment from a Secret and a
  ConfigMap, its exit code decides Complete or Failed, a failing
  container's last log lines are its termination message, and its whole log
  (or its last lines, tailLines) is read through the API server (pods/log,
  served by the kubelet's endpoint);
- the Pod's activeDeadlineSeconds stops the step that runs (status.reason
  DeadlineExceeded, which job_outcome words as "deadline of N s exceeded at
  step S"), and a step's termination message file reaches its status.
"""

from __future__ import annotations

import base64
import pathlib
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest

from sandbox import controlplane, kubelet, podrunner
from specs import job_outcome
from tests.fixtures.kube import wait_for

DEADLINE = 30.0


def _deployment(name: str, replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "web", "image": "odoo:18.0"}]},
            },
        },
    }


def _job(name: str, container: dict[str, Any], node: str | None = None) -> dict[str, Any]:
    pod: dict[str, Any] = {"restartPolicy": "Never", "containers": [container]}
    if node is not None:
        pod["nodeName"] = node
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, "template": {"spec": pod}},
    }


def _status(apps: kubernetes.client.AppsV1Api, namespace: str, name: str) -> dict[str, Any]:
    deployment = apps.read_namespaced_deployment(name, namespace)
    raw: dict[str, Any] = apps.api_client.sanitize_for_serialization(deployment)
    return dict(raw.get("status") or {})


def _ready(apps: kubernetes.client.AppsV1Api, namespace: str, name: str) -> int:
    return int(_status(apps, namespace, name).get("readyReplicas") or 0)


def _pods(core: kubernetes.client.CoreV1Api, namespace: str, app: str) -> list[Any]:
    pods = core.list_namespaced_pod(namespace, label_selector=f"app={app}").items
    return sorted(pods, key=lambda pod: pod.metadata.name)


def _job_condition(batch: kubernetes.client.BatchV1Api, namespace: str, name: str) -> Any:
    """The Job's Complete or Failed condition once its controller set it."""
    conditions = batch.read_namespaced_job(name, namespace).status.conditions or []
    for condition in conditions:
        if condition.type in ("Complete", "Failed") and condition.status == "True":
            return condition
    return None


def test_deployment_ends_with_no_ready_count_and_no_pods_when_scaled_to_zero(
    api_client: kubernetes.client.ApiClient, namespace: str
) -> None:
    apps = kubernetes.client.AppsV1Api(api_client)
    core = kubernetes.client.CoreV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("web", 2))
    wait_for(lambda: _ready(apps, namespace, "web") == 2, timeout=DEADLINE)
    assert {pod.status.phase for pod in _pods(core, namespace, "web")} == {"Running"}

    apps.patch_namespaced_deployment_scale("web", namespace, {"spec": {"replicas": 0}})

    wait_for(lambda: not _pods(core, namespace, "web"), timeout=DEADLINE)
    wait_for(lambda: "replicas" not in _status(apps, namespace, "web"), timeout=DEADLINE)
    status = _status(apps, namespace, "web")
    assert "readyReplicas" not in status
    assert "availableReplicas" not in status


def test_held_pod_stays_pending_when_held_until_released(
    api_client: kubernetes.client.ApiClient, kube_kubelet: kubelet.KubeletThread, namespace: str
) -> None:
    apps = kubernetes.client.AppsV1Api(api_client)
    core = kubernetes.client.CoreV1Api(api_client)
    kube_kubelet.hold(kubelet.pod_matcher(namespace, "web-"))
    try:
        apps.create_namespaced_deployment(namespace, _deployment("web", 1))
        [pod] = wait_for(lambda: _pods(core, namespace, "web"), timeout=DEADLINE)
        # Bound to the Node (scheduled), but its containers never start.
        wait_for(lambda: core.read_namespaced_pod(pod.metadata.name, namespace).spec.node_name)
        assert core.read_namespaced_pod(pod.metadata.name, namespace).status.phase == "Pending"
        assert _ready(apps, namespace, "web") == 0
    finally:
        kube_kubelet.release()

    wait_for(lambda: _ready(apps, namespace, "web") == 1, timeout=DEADLINE)
    assert core.read_namespaced_pod(pod.metadata.name, namespace).status.phase == "Running"


def test_job_is_failed_by_its_controller_when_its_pods_are_made_to_fail(
    api_client: kubernetes.client.ApiClient, kube_kubelet: kubelet.KubeletThread, namespace: str
) -> None:
    batch = kubernetes.client.BatchV1Api(api_client)
    kube_kubelet.fail_jobs(kubelet.pod_matcher(namespace, "doomed-"))
    batch.create_namespaced_job(namespace, _job("doomed", {"name": "c", "image": "busybox"}))

    condition = wait_for(lambda: _job_condition(batch, namespace, "doomed"), timeout=DEADLINE)

    assert (condition.type, condition.reason) == ("Failed", "BackoffLimitExceeded")
    assert batch.read_namespaced_job("doomed", namespace).status.failed == 1


def test_ready_replicas_follow_when_a_pod_is_made_not_ready(
    api_client: kubernetes.client.ApiClient, kube_kubelet: kubelet.KubeletThread, namespace: str
) -> None:
    apps = kubernetes.client.AppsV1Api(api_client)
    core = kubernetes.client.CoreV1Api(api_client)
    apps.create_namespaced_deployment(namespace, _deployment("web", 2))
    wait_for(lambda: _ready(apps, namespace, "web") == 2, timeout=DEADLINE)
    first = _pods(core, namespace, "web")[0].metadata.name

    kube_kubelet.set_ready(namespace, first, False)
    wait_for(lambda: _ready(apps, namespace, "web") == 1, timeout=DEADLINE)
    pod = core.read_namespaced_pod(first, namespace)
    assert pod.status.phase == "Running"  # its containers still run
    assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "False"

    kube_kubelet.set_ready(namespace, first, True)
    wait_for(lambda: _ready(apps, namespace, "web") == 2, timeout=DEADLINE)


# --- Job Pods run as local processes ------------------------------------------


@pytest.fixture
def runner_node(
    control_plane: controlplane.ControlPlane,
    api_client: kubernetes.client.ApiClient,
    tmp_path: pathlib.Path,
) -> Iterator[str]:
    """A Node of its own whose kubelet runs Job Pods with a LocalPodRunner; its name.

    Pods name it in spec.nodeName, so the session's kubelet leaves them alone.
    """
    name = f"runner-{uuid.uuid4().hex[:10]}"
    runner = kubelet.KubeletThread(
        control_plane.url,
        control_plane.admin_ssl_context(),
        job_runner=podrunner.LocalPodRunner(tmp_path / "pods"),
        node_name=name,
    )
    runner.start()
    try:
        yield name
    finally:
        runner.stop()
        kubernetes.client.CoreV1Api(api_client).delete_node(name)


SCRIPT = """
import os, sys
print("greeting:", os.environ["GREETING"])
print("password length:", len(os.environ["PASSWORD"]))
for n in range(30):
    print("line", n)
if os.environ["PASSWORD"] != "s3cret":
    print("wrong password", file=sys.stderr)
    sys.exit(3)
"""


@pytest.mark.parametrize(
    ("password", "outcome"), [("s3cret", "Complete"), ("wrong", "Failed")], ids=["ok", "fails"]
)
def test_job_outcome_follows_the_exit_code_when_its_command_runs_locally(
    api_client: kubernetes.client.ApiClient,
    runner_node: str,
    namespace: str,
    password: str,
    outcome: str,
) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    batch = kubernetes.client.BatchV1Api(api_client)
    core.create_namespaced_secret(
        namespace,
        {
            "metadata": {"name": "creds"},
            "data": {"password": base64.b64encode(password.encode()).decode()},
        },
    )
    core.create_namespaced_config_map(
        namespace, {"metadata": {"name": "settings"}, "data": {"greeting": "hello"}}
    )
    container = {
        "name": "run",
        "image": "python",
        "command": [sys.executable, "-u", "-c", SCRIPT],
        "env": [
            {
                "name": "GREETING",
                "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}},
            },
            {
                "name": "PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}},
            },
        ],
    }
    batch.create_namespaced_job(namespace, _job("task", container, node=runner_node))

    condition = wait_for(lambda: _job_condition(batch, namespace, "task"), timeout=DEADLINE)

    assert condition.type == outcome
    [pod] = core.list_namespaced_pod(namespace, label_selector="job-name=task").items
    # The whole log, through the API server (pods/log), as kubectl logs reads it.
    log = core.read_namespaced_pod_log(pod.metadata.name, namespace, container="run")
    assert log.splitlines()[:2] == [
        "greeting: hello",
        "password length: 6" if password == "s3cret" else "password length: 5",
    ]
    assert "line 29" in log
    # Its last lines only, as activities.job_follow reads them (tailLines).
    tail = core.read_namespaced_pod_log(pod.metadata.name, namespace, container="run", tail_lines=2)
    assert tail.splitlines() == log.splitlines()[-2:]
    [state] = [c.state for c in pod.status.container_statuses]
    if outcome == "Complete":
        assert pod.status.phase == "Succeeded"
        assert state.terminated.exit_code == 0
        return
    assert pod.status.phase == "Failed"
    assert state.terminated.exit_code == 3
    message = state.terminated.message
    assert message.splitlines()[-1] == "wrong password"
    assert "line 29" in message
    assert "greeting: hello" not in message  # only the tail: the last lines
    assert len(message.splitlines()) == podrunner.LOG_TAIL_LINES


def test_pod_deadline_stops_the_running_step_and_messages_reach_the_status(
    api_client: kubernetes.client.ApiClient, runner_node: str, namespace: str
) -> None:
    core = kubernetes.client.CoreV1Api(api_client)
    batch = kubernetes.client.BatchV1Api(api_client)
    report = {"name": "TERMINATION_LOG", "value": "/dev/termination-log"}
    steps = [
        {
            "name": "first",
            "image": "python",
            "command": ["/bin/sh", "-c", 'echo "first: done" > "$TERMINATION_LOG"'],
            "env": [report],
        },
        {"name": "second", "image": "python", "command": ["/bin/sh", "-c", "sleep 60"]},
    ]
    job = _job("slow", steps[1], node=runner_node)
    pod = job["spec"]["template"]["spec"]
    pod["initContainers"] = [steps[0]]
    pod["activeDeadlineSeconds"] = 2
    batch.create_namespaced_job(namespace, job)

    condition = wait_for(lambda: _job_condition(batch, namespace, "slow"), timeout=DEADLINE)

    assert condition.type == "Failed"
    [found] = core.list_namespaced_pod(namespace, label_selector="job-name=slow").items
    raw: dict[str, Any] = api_client.sanitize_for_serialization(found)
    assert raw["status"]["reason"] == "DeadlineExceeded"
    [first] = raw["status"]["initContainerStatuses"]
    assert first["state"]["terminated"]["message"] == "first: done"
    job_body = api_client.sanitize_for_serialization(batch.read_namespaced_job("slow", namespace))
    assert job_outcome.failure_message(job_body, [raw]).startswith(
        "deadline of 2 s exceeded at step second"
    )
