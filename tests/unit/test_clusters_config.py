"""The clusters.yaml parser and the choice of a cluster, without any server.

Covers: a valid map with defaults applied (port 5432, default false); the admin
password kept out of repr, str and every message; invalid YAML reported with
line and column; a document that is not a map; an entry that is not a map; a
missing field named with its entry; an invalid port; an empty document; the
explicit cluster; the single default; no default; two defaults (ambiguous,
unless the instance names its cluster); an unknown cluster name listing the
known ones; every error being a non-retryable CONFIG_INVALID ApplicationError.
"""

from __future__ import annotations

import textwrap

import pytest

from activities import clusters
from model import failures

SOURCE = "Secret operators/postgres-clusters"
PASSWORD = "hunter2-very-secret"

VALID = textwrap.dedent(
    f"""\
    main:
      host: pg-main.databases.svc
      port: 5433
      adminUser: postgres
      adminPassword: {PASSWORD}
      default: true
    spare:
      host: pg-spare.databases.svc
      adminUser: admin
      adminPassword: other-{PASSWORD}
    """
)


def _config_error(text: str, cluster_name: str | None = None) -> clusters.ClusterConfigError:
    with pytest.raises(clusters.ClusterConfigError) as caught:
        clusters.select_cluster(clusters.parse_clusters(text, SOURCE), cluster_name, SOURCE)
    assert PASSWORD not in str(caught.value)
    return caught.value


def test_clusters_are_parsed_with_defaults_when_port_and_default_are_omitted() -> None:
    parsed = clusters.parse_clusters(VALID, SOURCE)

    assert sorted(parsed) == ["main", "spare"]
    main, spare = parsed["main"], parsed["spare"]
    assert (main.name, main.host, main.port, main.admin_user, main.default) == (
        "main",
        "pg-main.databases.svc",
        5433,
        "postgres",
        True,
    )
    assert main.admin_password.get_secret_value() == PASSWORD
    assert (spare.port, spare.default) == (5432, False)
    assert main.address == "pg-main.databases.svc:5433"


def test_password_is_hidden_when_a_cluster_is_printed() -> None:
    main = clusters.parse_clusters(VALID, SOURCE)["main"]

    for rendered in (repr(main), str(main), main.describe(), main.model_dump_json()):
        assert PASSWORD not in rendered


def test_default_cluster_is_chosen_when_no_cluster_is_named() -> None:
    parsed = clusters.parse_clusters(VALID, SOURCE)

    assert clusters.select_cluster(parsed, None, SOURCE).name == "main"


def test_named_cluster_is_chosen_when_spec_names_one() -> None:
    parsed = clusters.parse_clusters(VALID, SOURCE)

    assert clusters.select_cluster(parsed, "spare", SOURCE).name == "spare"


def test_errors_are_non_retryable_config_invalid_when_the_config_is_wrong() -> None:
    error = _config_error("main: [")

    assert error.type == failures.CONFIG_INVALID
    assert error.non_retryable is True


def test_line_and_column_are_reported_when_yaml_is_invalid() -> None:
    error = _config_error("main:\n  host: a\n  port: 5432\n bad: [1, 2\n")

    assert "clusters.yaml in Secret operators/postgres-clusters is not valid YAML" in error.message
    assert "line 4, column" in error.message


def test_error_says_map_expected_when_document_is_a_list() -> None:
    error = _config_error("- host: a\n")

    assert "must be a map of cluster name" in error.message
    assert "not a list" in error.message


@pytest.mark.parametrize("text", ["", "   \n", "{}\n"])
def test_error_asks_for_a_cluster_when_document_is_empty(text: str) -> None:
    error = _config_error(text)

    assert "define at least one cluster" in error.message


def test_error_names_the_entry_when_an_entry_is_not_a_map() -> None:
    error = _config_error("main: pg.example:5432\n")

    assert "cluster 'main' must be a map" in error.message


@pytest.mark.parametrize("field", ["host", "adminUser", "adminPassword"])
def test_error_names_entry_and_field_when_a_field_is_missing(field: str) -> None:
    entry = {"host": "pg", "adminUser": "postgres", "adminPassword": PASSWORD}
    del entry[field]
    lines = "".join(f"  {key}: {value}\n" for key, value in entry.items())

    error = _config_error(f"main:\n{lines}  default: true\n")

    assert f"cluster 'main': missing field {field}" in error.message


def test_error_names_the_field_when_port_is_not_a_number() -> None:
    error = _config_error(
        f"main:\n  host: pg\n  port: five\n  adminUser: u\n  adminPassword: {PASSWORD}\n"
    )

    assert "cluster 'main': field port:" in error.message
    assert "five" not in error.message  # inputs are never echoed: one could be a password


def test_error_asks_for_a_default_when_none_is_marked() -> None:
    text = VALID.replace("default: true", "default: false")

    error = _config_error(text)

    assert error.message == (
        "no cluster in Secret operators/postgres-clusters is marked 'default: true' "
        "(known: main, spare); mark one as default or set spec.database.cluster"
    )


def test_ambiguity_is_refused_when_two_clusters_are_default() -> None:
    text = VALID + "  default: true\n"

    error = _config_error(text)

    assert "clusters main, spare in Secret operators/postgres-clusters" in error.message
    assert "ambiguous" in error.message


def test_named_cluster_is_chosen_when_two_clusters_are_default() -> None:
    parsed = clusters.parse_clusters(VALID + "  default: true\n", SOURCE)

    assert clusters.select_cluster(parsed, "spare", SOURCE).name == "spare"


def test_error_lists_known_clusters_when_the_named_cluster_is_unknown() -> None:
    error = _config_error(VALID, "x")

    assert error.message == (
        "spec.database.cluster 'x' is not defined in Secret operators/postgres-clusters; "
        "known: main, spare"
    )
