"""Process settings and probes: flags over environment over defaults, /healthz, /readyz, /metrics.

Covers: a flag of `odoo-operator watch` wins over its environment variable;
comma-separated watched namespaces; the watcher configuration derived from
the settings; the probe server answering liveness, readiness (503 until every
check passes) and the Prometheus text with the watcher's phase metrics.
"""

from __future__ import annotations

import aiohttp
import prometheus_client
import pytest

from odoo_operator import cli, environment, probes, runner
from sandbox import processes
from watcher.metrics import PhaseMetrics


def test_flag_wins_over_environment_when_both_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ODOO_OPERATOR_TASK_QUEUE", "from-env")
    monkeypatch.setenv("ODOO_OPERATOR_WATCH_NAMESPACES", "a, b")
    args = cli.build_parser().parse_args(["watch", "--task-queue", "from-flag"])
    settings = environment.from_arguments(args)
    assert settings.temporal.task_queue == "from-flag"
    assert settings.watcher.namespaces == ("a", "b")
    config = runner.watcher_config(settings)
    assert (config.task_queue, config.watcher.namespaces) == ("from-flag", ("a", "b"))
    assert config.webhook is not None
    assert config.webhook.settings.port == 9443


async def test_probes_answer_when_served() -> None:
    registry = prometheus_client.CollectorRegistry()
    metrics = PhaseMetrics(registry)
    for phase in ("Provisioning", "Running"):
        metrics.observe(
            {
                "type": "MODIFIED",
                "object": {"metadata": {"namespace": "n", "name": "a"}, "status": {"phase": phase}},
            }
        )
    ready = False

    async def check() -> bool:
        return ready

    port = processes.free_port()
    async with (
        probes.serve(port, registry, [check], host="127.0.0.1"),
        aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http,
    ):
        async with http.get("/healthz") as response:
            assert response.status == 200
        async with http.get("/readyz") as response:
            assert response.status == 503
        ready = True
        async with http.get("/readyz") as response:
            assert response.status == 200
        async with http.get("/metrics") as response:
            text = await response.text()
    assert 'odoo_operator_instances{phase="Running"} 1.0' in text
    assert 'odoo_operator_phase_transitions_total{from="Provisioning",to="Running"} 1.0' in text
