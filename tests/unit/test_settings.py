"""The operator's settings: one source per setting, reached the way users reach it.

Covers: every ODOO_OPERATOR_* variable (and POD_NAME) the chart's templates
set is a settings field, and each field the chart leaves out says why; the
variables and flags of the settings as they were before they were grouped
still set the same fields; environment text read the way the chart renders
it (comma lists, JSON, booleans, numbers) and a flag winning over its
variable; no default written outside model/settings.py (a scan of the shipped
packages for the default values, and no default on the objects the watcher
and the activities take their settings in); the README's Configuration table
is the settings' own (flag, variable, default, meaning).
"""

from __future__ import annotations

import dataclasses
import inspect
import re
import socket
from pathlib import Path

import pytest
from pydantic_core import PydanticUndefined

from activities import (
    backup_resources,
    children,
    cleanup,
    converge,
    job_inputs,
    job_lifecycle,
    lookup,
    references,
    snapshot,
    status,
)
from model import settings
from odoo_operator import cli, environment, runner
from specs import defaults
from watcher import config as watcher_config

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "charts" / "odoo-operator" / "templates"
SHIPPED = ("model", "specs", "activities", "workflows", "watcher", "odoo_operator")

NOT_SET_BY_CHART = {
    "ODOO_OPERATOR_WATCH_SCANNING_NAMESPACES": "values.schema.json refuses glob patterns in "
    "watchNamespaces, and exact names need no scanning (nor its cluster-wide grant)",
    "ODOO_OPERATOR_WATCH_SERVER_TIMEOUT_SECONDS": "Kopf's watch reconnect period: the default "
    "suits any API server; no user has a reason to change it",
    "ODOO_OPERATOR_TEMPORAL_RETRY_MIN_SECONDS": "the watcher's retry of an unreachable Temporal: "
    "tests shorten it, a cluster keeps the default",
    "ODOO_OPERATOR_TEMPORAL_RETRY_MAX_SECONDS": "the same backoff's cap: tests shorten it, a "
    "cluster keeps the default",
    "ODOO_OPERATOR_WEBHOOK_ADDR": "the chart's Service reaches the pod on any interface, the "
    "default",
    "ODOO_OPERATOR_WEBHOOK_HOST": "only for a certificate Kopf generates; the chart always "
    "mounts one (its own or cert-manager's)",
    "ODOO_OPERATOR_WEBHOOK_RELOAD_POLL_SECONDS": "tests shorten it; a renewed certificate is "
    "picked up within the default",
}
"""Settings the chart does not set, and why (every other one it sets)."""

BEFORE_GROUPING = {
    "ODOO_OPERATOR_TEMPORAL_ADDRESS": ("temporal", "address"),
    "ODOO_OPERATOR_TEMPORAL_NAMESPACE": ("temporal", "namespace"),
    "ODOO_OPERATOR_TASK_QUEUE": ("temporal", "task_queue"),
    "ODOO_OPERATOR_TEMPORAL_TLS_CERT": ("temporal", "tls_cert"),
    "ODOO_OPERATOR_TEMPORAL_TLS_KEY": ("temporal", "tls_key"),
    "ODOO_OPERATOR_TEMPORAL_TLS_CA": ("temporal", "tls_ca"),
    "ODOO_OPERATOR_TEMPORAL_API_KEY": ("temporal", "api_key"),
    "ODOO_OPERATOR_OPERATOR_NAMESPACE": ("operator", "namespace"),
    "ODOO_OPERATOR_CLUSTERS_SECRET": ("operator", "clusters_secret"),
    "POD_NAME": ("operator", "reporting_instance"),
    "ODOO_OPERATOR_DEFAULT_IMAGE": ("defaults", "image"),
    "ODOO_OPERATOR_DEFAULT_STORAGE_CLASS": ("defaults", "storage_class"),
    "ODOO_OPERATOR_DEFAULT_STORAGE_SIZE": ("defaults", "storage_size"),
    "ODOO_OPERATOR_DEFAULT_INGRESS_CLASS": ("defaults", "ingress_class"),
    "ODOO_OPERATOR_DEFAULT_INGRESS_ISSUER": ("defaults", "ingress_issuer"),
    "ODOO_OPERATOR_DEFAULT_GATEWAY_NAME": ("defaults", "gateway_name"),
    "ODOO_OPERATOR_DEFAULT_GATEWAY_NAMESPACE": ("defaults", "gateway_namespace"),
    "ODOO_OPERATOR_DEFAULT_RESOURCES": ("defaults", "resources"),
    "ODOO_OPERATOR_DEFAULT_AFFINITY": ("defaults", "affinity"),
    "ODOO_OPERATOR_DEFAULT_TOLERATIONS": ("defaults", "tolerations"),
    "ODOO_OPERATOR_TOOLS_IMAGE": ("jobs", "tools_image"),
    "ODOO_OPERATOR_JOB_HISTORY_LIMIT": ("jobs", "history_limit"),
    "ODOO_OPERATOR_MAX_CONCURRENT_ACTIVITIES": ("worker", "max_concurrent_activities"),
    "ODOO_OPERATOR_MAX_CACHED_WORKFLOWS": ("worker", "max_cached_workflows"),
    "ODOO_OPERATOR_WATCH_NAMESPACES": ("watcher", "namespaces"),
    "ODOO_OPERATOR_TEMPORAL_RETRY_MAX_SECONDS": ("watcher", "retry_delay_max_seconds"),
    "ODOO_OPERATOR_WEBHOOK_ENABLED": ("webhook", "enabled"),
    "ODOO_OPERATOR_WEBHOOK_PORT": ("webhook", "port"),
    "ODOO_OPERATOR_WEBHOOK_TLS_CERT": ("webhook", "tls_cert"),
    "ODOO_OPERATOR_WEBHOOK_TLS_KEY": ("webhook", "tls_key"),
    "ODOO_OPERATOR_PROBE_PORT": ("probes", "port"),
    "ODOO_OPERATOR_LEADER_ELECTION": ("leader_election", "enabled"),
    "ODOO_OPERATOR_LEADER_ELECTION_LEASE_SECONDS": ("leader_election", "lease_duration_seconds"),
    "ODOO_OPERATOR_LEADER_ELECTION_RENEW_SECONDS": ("leader_election", "renew_deadline_seconds"),
    "ODOO_OPERATOR_LEADER_ELECTION_RETRY_SECONDS": ("leader_election", "retry_period_seconds"),
}
"""Every variable the operator read when its settings were one flat model, and the
field it sets now (its flag is still `--<variable without the prefix>`)."""

GENERIC_DEFAULTS = {
    "odoo-operator": "the product's name: also its field manager, labels and CLI",
    "default": "a word: also JSON-schema and Kubernetes vocabulary",
    "0.0.0.0": "every interface: the probe server and Odoo's http_interface bind it too",
}
"""Default values too common to trace by their text, and why."""


def chart_variables() -> set[str]:
    """Every setting variable a chart template sets (the ConfigMap, the containers' env)."""
    pattern = re.compile(r"\b(ODOO_OPERATOR_[A-Z0-9_]+|POD_NAME)\b")
    return {
        name for template in TEMPLATES.iterdir() for name in pattern.findall(template.read_text())
    }


def test_every_variable_the_chart_sets_is_a_setting() -> None:
    variables = {source.variable for source in environment.sources()}

    assert chart_variables() - variables == set()


def test_every_setting_the_chart_leaves_out_says_why() -> None:
    variables = {source.variable for source in environment.sources()}

    assert variables - chart_variables() == set(NOT_SET_BY_CHART)


def test_every_variable_has_the_prefix_when_it_is_not_the_downward_apis_pod_name() -> None:
    odd = [
        source.variable
        for source in environment.sources()
        if not source.variable.startswith(settings.ENV_PREFIX) and source.variable != "POD_NAME"
    ]

    assert odd == []


@pytest.mark.parametrize("variable", list(BEFORE_GROUPING))
def test_a_variable_and_its_flag_set_the_same_field_when_settings_are_grouped(
    variable: str,
) -> None:
    [source] = [s for s in environment.sources() if s.variable == variable]
    flag = "--" + variable.removeprefix(settings.ENV_PREFIX).lower().replace("_", "-")

    assert (source.group, source.field) == BEFORE_GROUPING[variable]
    assert source.flag == flag
    assert variable in (source.info.description or "")  # --help names it


def test_environment_text_is_read_as_the_chart_renders_it() -> None:
    chart_rendered = {
        "ODOO_OPERATOR_WATCH_NAMESPACES": "shop, crm",
        "ODOO_OPERATOR_DEFAULT_RESOURCES": "{}",
        "ODOO_OPERATOR_DEFAULT_AFFINITY": '{"nodeAffinity": {}}',
        "ODOO_OPERATOR_DEFAULT_TOLERATIONS": "[]",
        "ODOO_OPERATOR_LEADER_ELECTION": "true",
        "ODOO_OPERATOR_LEADER_ELECTION_LEASE_SECONDS": "15",
        "ODOO_OPERATOR_PROBE_PORT": "8081",
        "POD_NAME": "odoo-operator-worker-0",
        "UNRELATED": "ignored",
    }

    read = environment.from_environment(chart_rendered)

    assert read.watcher.namespaces == ("shop", "crm")
    assert read.defaults.resources is None
    assert read.defaults.affinity == {"nodeAffinity": {}}
    assert read.defaults.tolerations == ()
    assert read.leader_election.enabled is True
    assert read.leader_election.lease_duration_seconds == 15.0
    assert read.probes.port == 8081
    assert read.operator.reporting_instance == "odoo-operator-worker-0"


def test_a_flag_wins_over_its_variable_which_wins_over_the_default() -> None:
    environ = {"ODOO_OPERATOR_TASK_QUEUE": "from-env", "ODOO_OPERATOR_PROBE_PORT": "9000"}
    args = cli.build_parser().parse_args(["worker", "--task-queue", "from-flag"])

    read = environment.from_arguments(args, environ)

    assert read.temporal.task_queue == "from-flag"
    assert read.probes.port == 9000
    assert read.temporal.address == settings.Settings().temporal.address


def test_a_bad_value_is_refused_naming_the_field_when_read() -> None:
    with pytest.raises(ValueError, match="max_concurrent_activities"):
        environment.from_environment({"ODOO_OPERATOR_MAX_CONCURRENT_ACTIVITIES": "0"})


def _text_defaults() -> dict[str, str]:
    """Each textual default of a setting (not a generic word), by variable."""
    found: dict[str, str] = {}
    for source in environment.sources():
        default = source.info.default
        text = str(default) if isinstance(default, str | Path) else ""
        if text and text not in GENERIC_DEFAULTS:
            found[source.variable] = text
    return found


@pytest.mark.parametrize("variable", list(_text_defaults()))
def test_a_default_is_written_only_in_the_settings_model_when_shipped(variable: str) -> None:
    text = _text_defaults()[variable]
    literal = re.compile(rf"[\"']{re.escape(text)}[\"']")
    writers = sorted(
        str(path.relative_to(ROOT))
        for package in SHIPPED
        for path in (ROOT / package).rglob("*.py")
        if literal.search(path.read_text())
    )

    assert writers == ["model/settings.py"]


def test_the_watchers_and_activities_settings_objects_have_no_defaults() -> None:
    for config in (
        watcher_config.WatcherConfig,
        watcher_config.WebhookConfig,
        watcher_config.ElectionConfig,
    ):
        with_default = [
            field.name
            for field in dataclasses.fields(config)
            if field.default is not dataclasses.MISSING
            or field.default_factory is not dataclasses.MISSING
        ]
        assert with_default == [], config
    takers = (
        backup_resources.BackupActivities,
        children.ChildrenActivities,
        cleanup.CleanupActivities,
        converge.ConvergeActivities,
        references.ReferenceActivities,
        snapshot.SnapshotActivities,
        status.StatusActivities,
        defaults.defaults_patch,
        job_inputs.batch_job,
        job_lifecycle.start,
        lookup.load_cluster,
    )
    for taker in takers:
        hints = inspect.get_annotations(taker.__init__ if inspect.isclass(taker) else taker)
        parameters = inspect.signature(taker).parameters
        group_parameters = [
            name
            for name, hint in hints.items()
            if name in parameters and (hint.endswith("Settings") or hint == "InstanceDefaults")
        ]
        assert group_parameters, taker  # it takes its settings as groups
        defaulted = [
            name
            for name in group_parameters
            if parameters[name].default is not inspect.Parameter.empty
        ]
        assert defaulted == [], taker


def test_the_watcher_is_configured_from_the_settings_groups_alone() -> None:
    read = settings.Settings(leader_election=settings.LeaderElectionSettings(enabled=True))

    config = runner.watcher_config(read)
    election = runner.election_config(read)

    assert config.watcher is read.watcher
    assert config.operator is read.operator
    assert config.task_queue == read.temporal.task_queue
    assert config.webhook is not None
    assert config.webhook.settings is read.webhook
    assert election is not None
    assert election.settings is read.leader_election
    assert election.namespace == read.operator.namespace
    assert election.identity.startswith(f"{read.operator.reporting_instance}_")


def _default_cell(source: environment.Source) -> str:
    info = source.info
    if info.default_factory is socket.gethostname:
        return "host name"
    value = info.default
    assert value is not PydanticUndefined, source
    if value is None:
        return "(none)"
    if value in ("", ()):
        return "(empty)"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def configuration_table() -> str:
    """The README's Configuration table, from the settings."""
    lines = [
        "| Flag | Environment variable | Default | Meaning |",
        "|---|---|---|---|",
    ]
    for source in environment.sources():
        meaning = (source.info.description or "").removesuffix(f" Env {source.variable}.")
        lines.append(
            f"| `{source.flag}` | `{source.variable}` | `{_default_cell(source)}` | {meaning} |"
        )
    return "\n".join(lines) + "\n"


def test_the_readme_lists_every_setting_as_the_settings_define_it() -> None:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("| Flag | Environment variable | Default | Meaning |")
    end = readme.index("\n\n", start) + 1

    assert readme[start:end] == configuration_table()
