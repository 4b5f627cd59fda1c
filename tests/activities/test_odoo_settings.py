"""Odoo's report.url and web.base.url kept in the instance's database (real API, PostgreSQL).

Covers, with a database laid out like Odoo's (ir_config_parameter with a
unique key, the cache-signaling sequence), written as the instance's role:
- apply_children of an initialized instance writes report.url (the web
  Service, http://<name>:8069) and web.base.url (https://<first host>); a
  second apply writes nothing; a value changed by hand is put back, and
  Odoo's workers are told (base_cache_signaling_default moves) only when
  something was written;
- the MarkDatabase edge action writes them the moment the database becomes
  initialized (after an init or a restore);
- on a database without Odoo's tables the apply still succeeds: a Warning
  OdooSettingsNotWritten Event says what was not written and why.
"""

from __future__ import annotations

from typing import Any

from activities import api, odoo_settings
from model.payloads import ApplyChildrenInput, InstanceRef, MarkDatabase, RunEdgeActionsInput
from sandbox import postgres
from tests.activities import kube_instance as ki


def _initialized(acts: ki.Activities, ref: InstanceRef) -> None:
    patch = {"status": {"dbInitialized": True}}
    acts.kube.merge_patch(api.INSTANCE, ref.namespace, ref.name, patch, sub="status")


def _apply(acts: ki.Activities, ref: InstanceRef, spec: Any, generation: int = 1) -> None:
    acts.env.run(
        acts.children.apply_children, ApplyChildrenInput(ref=ref, spec=spec, generation=generation)
    )


def _parameters(server: postgres.EmbeddedPostgres, acts: ki.Activities, ref: InstanceRef) -> Any:
    with ki.role_connection(server, acts.kube, ref) as conn:
        rows = conn.execute("SELECT key, value FROM ir_config_parameter ORDER BY key").fetchall()
        signal = conn.execute("SELECT last_value FROM base_cache_signaling_default").fetchone()
    return dict(rows), signal[0] if signal else None


def test_report_url_is_the_web_service_and_base_url_the_public_one_once_initialized(
    acts: ki.Activities, namespace: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    ref, spec = ki.create_instance(
        acts.kube, namespace, "shop", ingress={"hosts": ["shop.example.com", "www.example.com"]}
    )
    _apply(acts, ref, spec)  # the role; no database yet: nothing to write
    with ki.create_database_as_role(postgres_server, acts.kube, ref) as conn:
        conn.execute(ki.ODOO_CONFIG_TABLES)
    _initialized(acts, ref)

    _apply(acts, ref, spec)
    wanted = {"report.url": "http://shop:8069", "web.base.url": "https://shop.example.com"}
    parameters, signal = _parameters(postgres_server, acts, ref)
    assert parameters == wanted
    _apply(acts, ref, spec)  # nothing differs: nothing written, nobody told
    assert _parameters(postgres_server, acts, ref) == (wanted, signal)

    with ki.role_connection(postgres_server, acts.kube, ref) as conn:
        conn.execute("UPDATE ir_config_parameter SET value = 'http://localhost:8069'")
    _apply(acts, ref, spec)
    parameters, later = _parameters(postgres_server, acts, ref)
    assert parameters == wanted
    assert later > signal


def test_the_database_becoming_initialized_writes_them_at_once(
    acts: ki.Activities, namespace: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "copy")
    _apply(acts, ref, spec)
    # What a restore leaves: the source instance's values.
    with ki.create_database_as_role(postgres_server, acts.kube, ref) as conn:
        conn.execute(ki.ODOO_CONFIG_TABLES)
        conn.execute(
            "INSERT INTO ir_config_parameter (key, value) VALUES "
            "('report.url', 'http://prod:8069'), ('web.base.url', 'https://prod.example.com')"
        )
    edges = RunEdgeActionsInput(ref=ref, spec=spec, actions=(MarkDatabase(initialized=True),))
    acts.env.run(acts.edges.run_edge_actions, edges)
    parameters, _ = _parameters(postgres_server, acts, ref)
    assert parameters == {
        "report.url": "http://copy:8069",
        "web.base.url": "https://copy.example.com",
    }


def test_an_apply_succeeds_and_says_so_when_they_cannot_be_written(
    acts: ki.Activities, namespace: str, postgres_server: postgres.EmbeddedPostgres
) -> None:
    ref, spec = ki.create_instance(acts.kube, namespace, "shop")
    _apply(acts, ref, spec)
    ki.create_database_as_role(postgres_server, acts.kube, ref).close()  # no Odoo tables
    _initialized(acts, ref)
    _apply(acts, ref, spec)  # does not raise
    (event,) = [
        e
        for e in acts.kube.list_of(api.EVENT, namespace)
        if e["reason"] == odoo_settings.NOT_WRITTEN
    ]
    assert event["type"] == "Warning"
    assert "report.url and web.base.url were not written" in event["message"]
    assert "ir_config_parameter" in event["message"]
