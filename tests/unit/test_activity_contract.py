"""Every activity stub has exactly one implementation registered by the worker.

Covers: same wire name; same parameter and return type hints as the stub in
activities.signatures; no implementation without a stub; no stub registered
twice; no implementation interrupted by the SDK's thread-cancel exception;
every activity workflows.calls gives a heartbeat timeout heartbeats while it
runs (activities.heartbeats), and heartbeating() keeps beating while its block runs.
"""

from __future__ import annotations

import ast
import inspect
import threading
import typing
from collections.abc import Callable
from typing import Any

import kubernetes
import pytest
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from activities import api, heartbeats, signatures
from model.settings import OperatorSettings, Settings
from odoo_operator import worker
from workflows import calls


def _definition(fn: Callable[..., Any]) -> activity._Definition:
    definition = activity._Definition.from_callable(fn)
    assert definition is not None
    return definition


def _name(fn: Callable[..., Any]) -> str:
    name = _definition(fn).name
    assert name is not None
    return name


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(fn)
    hints.pop("self", None)
    return hints


@pytest.fixture(scope="module")
def implementations() -> list[Callable[..., Any]]:
    kube = api.KubeApi(kubernetes.client.ApiClient(kubernetes.client.Configuration()))
    return worker.activities(
        kube, Settings(operator=OperatorSettings(namespace="ops", reporting_instance="test"))
    )


def test_every_stub_has_one_implementation_when_worker_registers(
    implementations: list[Callable[..., Any]],
) -> None:
    registered = [_name(fn) for fn in implementations]

    for stub in signatures.STUBS:
        assert registered.count(_name(stub)) == 1, _name(stub)
    assert sorted(registered) == sorted(_name(stub) for stub in signatures.STUBS)


@pytest.mark.parametrize("stub", signatures.STUBS, ids=_name)
def test_type_hints_match_the_stub_when_implemented(
    stub: Callable[..., Any], implementations: list[Callable[..., Any]]
) -> None:
    impl = next(fn for fn in implementations if _name(fn) == _name(stub))

    assert _hints(impl) == _hints(stub)
    params = [p for p in typing.get_type_hints(impl) if p not in ("return", "self")]
    assert params == [p for p in typing.get_type_hints(stub) if p != "return"]


def test_no_activity_thread_is_interrupted_when_its_activity_is_cancelled(
    implementations: list[Callable[..., Any]],
) -> None:
    # An exception raised asynchronously in an activity thread can leave the
    # connection pool's lock held, and every activity thread then hangs
    # (activities.signatures says when this happened).
    interrupted = [
        _name(fn) for fn in implementations if not _definition(fn).no_thread_cancel_exception
    ]
    assert interrupted == []


def _heartbeating_stubs() -> list[str]:
    """The activities workflows.calls runs with a heartbeat_timeout."""
    names = []
    for node in ast.walk(ast.parse(inspect.getsource(calls))):
        if (
            isinstance(node, ast.Call)
            and any(k.arg == "heartbeat_timeout" for k in node.keywords)
            and isinstance(node.args[0], ast.Attribute)
        ):
            names.append(node.args[0].attr)
    return sorted(names)


def test_every_activity_with_a_heartbeat_timeout_heartbeats_when_it_runs(
    implementations: list[Callable[..., Any]],
) -> None:
    stubs = _heartbeating_stubs()
    assert stubs == [
        "apply_children",
        "cleanup_instance",
        "copy_database",
        "follow_job",
        "run_edge_actions",
    ]
    # follow_job, async, heartbeats in its own loop (with the Job's progress).
    silent = [
        name
        for name in stubs
        if not any(
            beat in inspect.getsource(next(fn for fn in implementations if _name(fn) == name))
            for beat in ("heartbeats.heartbeating()", "activity.heartbeat(")
        )
    ]
    assert silent == []


def test_heartbeats_keep_coming_until_the_block_ends_when_heartbeating() -> None:
    beats: list[tuple[Any, ...]] = []
    three = threading.Event()

    def on_heartbeat(*details: Any) -> None:
        beats.append(details)
        if len(beats) >= 3:
            three.set()

    def body() -> int:
        with heartbeats.heartbeating(interval=0.01):
            assert three.wait(timeout=10)  # a condition with a deadline
            return len(beats)

    env = ActivityEnvironment()
    env.on_heartbeat = on_heartbeat
    assert env.run(body) >= 3
