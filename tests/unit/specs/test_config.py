"""odoo.conf, the ConfigMap, the Secret and the env blocks (specs.config).

Covers: the odoo.conf content (fixed keys, then configOptions sorted,
overrides in place); no password anywhere in the ConfigMap (even from
configOptions, which the spec refuses when they hold a secret); the
ConfigMap's keys; the Secret's kind and both passwords; extraEnv merged
last-wins by name, first position kept; extraEnvFrom; the Odoo system
parameters: report.url is the web Service the cron pods can reach
(http://<name>:8069, the Service's name and port), web.base.url the public
URL (https on the first host).
"""

from __future__ import annotations

import json

import pydantic
import pytest

from specs import config, network, odoo_cli, workloads
from tests.unit.specs.shop import ADMIN, container, env_names, make


def test_config_map_carries_the_connection_facts_but_no_secret_when_built() -> None:
    cm = config.config_map(make())

    assert cm["metadata"]["name"] == "shop-odoo-conf"
    assert cm["data"] == {
        "odoo.conf": config.odoo_conf(make()),
        "db_host": "pg",
        "db_port": "5432",
        "db_name": "odoo_uid_1",
        "db_user": "odoo.prod.shop",
    }
    assert "db_name = odoo_uid_1" in cm["data"]["odoo.conf"]
    assert "db_user = odoo.prod.shop" in cm["data"]["odoo.conf"]


@pytest.mark.parametrize("key", ["db_password", "admin_passwd", "smtp_password", "my_secret"])
def test_spec_refused_pointing_to_config_secret_ref_when_config_options_hold_a_secret(
    key: str,
) -> None:
    with pytest.raises(pydantic.ValidationError, match=r"spec\.configSecretRef") as refused:
        make(configOptions={key: "leak", "workers": "4"})
    assert "leak" not in str(refused.value.errors(include_input=False))


def test_conf_has_no_password_when_config_options_are_plain() -> None:
    inst = make(configOptions={"workers": "4", "smtp_user": "mailer"})
    cm = config.config_map(inst)

    text = json.dumps(cm)
    assert ADMIN not in text
    assert "db_password" not in text
    assert "admin_passwd" not in text
    assert "workers = 4" in cm["data"]["odoo.conf"]
    assert cm["data"]["db_user"] == "odoo.prod.shop"


def test_conf_lists_fixed_keys_then_sorted_options_when_rendered() -> None:
    conf = config.odoo_conf(make(configOptions={"zeta": "1", "alpha": "2", "log_level": "debug"}))

    lines = conf.splitlines()
    assert lines[0] == "[options]"
    assert lines[1] == "data_dir = /var/lib/odoo"
    assert "log_level = debug" in lines  # overridden in place
    assert "db_host = pg" in lines
    assert "db_port = 5432" in lines
    assert "list_db = False" in lines
    assert lines[-2:] == ["alpha = 2", "zeta = 1"]


def test_secret_holds_both_passwords_when_built() -> None:
    secret = config.db_secret(make(), password="dbpw", admin_password="adm")

    assert secret["metadata"]["name"] == "shop-db-password"
    assert secret["stringData"] == {"password": "dbpw", "admin-password": "adm"}


def test_extra_env_overrides_by_name_last_wins_when_merged() -> None:
    inst = make(
        extraEnv=[
            {"name": "PGDATABASE", "value": "other"},
            {"name": "A", "value": "1"},
            {"name": "A", "value": "2"},
        ],
        extraEnvFrom=[{"secretRef": {"name": "mail"}}],
    )
    c = container(workloads.cron_deployment(inst, replicas=0))

    assert env_names(c) == ["HOST", "PORT", "USER", "PASSWORD", "PGDATABASE", "A"]
    values = {e["name"]: e.get("value") for e in c["env"]}
    assert values["PGDATABASE"] == "other"
    assert values["A"] == "2"
    assert c["envFrom"] == [{"secretRef": {"name": "mail"}}]


def test_merge_env_keeps_base_order_when_overriding() -> None:
    merged = config.merge_env(
        [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        [{"name": "C", "value": "3"}, {"name": "A", "value": "9"}],
    )

    assert merged == [
        {"name": "A", "value": "9"},
        {"name": "B", "value": "2"},
        {"name": "C", "value": "3"},
    ]


def test_secret_is_opaque_string_data_when_built() -> None:
    secret = config.db_secret(make(), password="p", admin_password="a")

    assert secret["type"] == "Opaque"
    assert "data" not in secret  # stringData only: the API server encodes it


def test_reports_render_through_the_web_service_and_links_stay_public_when_built() -> None:
    inst = make()
    parameters = config.system_parameters(inst)
    assert parameters == {
        "report.url": "http://shop:8069",
        "web.base.url": "https://erp.example.com",
    }
    service = network.service(inst)
    ports = [p["port"] for p in service["spec"]["ports"]]
    assert f"http://{service['metadata']['name']}:{odoo_cli.HTTP_PORT}" == parameters["report.url"]
    assert odoo_cli.HTTP_PORT in ports
