"""LIST and WATCH filtering and streaming.

Covers: label selectors (=, ==, !=, exists, !exists, in, notin), field selectors
(metadata.name, metadata.namespace, CRD selectableFields, !=), 400 for an
unsupported field, list resourceVersion starting a watch, watch resumption
without replay, synthetic ADDED without a resourceVersion, timeoutSeconds,
label-filtered watches.
"""

from __future__ import annotations

import kubernetes
import pytest
from kubernetes.client import ApiException


def _events(function, *args, count: int, **kwargs) -> list[tuple[str, str]]:
    """The first ``count`` events of a watch (the stream's own timeout bounds the wait)."""
    watch = kubernetes.watch.Watch()
    seen = []
    for event in watch.stream(function, *args, timeout_seconds=5, **kwargs):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == count:
            watch.stop()
    return seen


@pytest.fixture
def labelled(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    for name, labels in {
        "a": {"app": "odoo", "tier": "web"},
        "b": {"app": "odoo", "tier": "cron"},
        "c": {"app": "pg"},
    }.items():
        core.create_namespaced_config_map(namespace, {"metadata": {"name": name, "labels": labels}})
    return core


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=odoo", ["a", "b"]),
        ("app==odoo", ["a", "b"]),
        ("app!=odoo", ["c"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c"]),
        ("tier in (web, other)", ["a"]),
        ("tier notin (web)", ["b", "c"]),
        ("app=odoo,tier!=web", ["b"]),
    ],
)
def test_list_is_filtered_when_a_label_selector_is_given(labelled, namespace, selector, expected):
    items = labelled.list_namespaced_config_map(namespace, label_selector=selector).items
    assert [i.metadata.name for i in items] == expected


def test_list_is_filtered_when_a_field_selector_names_metadata(labelled, namespace):
    assert [
        i.metadata.name
        for i in labelled.list_namespaced_config_map(
            namespace, field_selector="metadata.name=b"
        ).items
    ] == ["b"]
    assert [
        i.metadata.name
        for i in labelled.list_namespaced_config_map(
            namespace, field_selector="metadata.name!=b"
        ).items
    ] == ["a", "c"]
    everywhere = labelled.list_config_map_for_all_namespaces(
        field_selector=f"metadata.namespace={namespace}"
    ).items
    assert len(everywhere) == 3


def test_list_is_filtered_when_a_field_selector_uses_crd_selectable_fields(api_client, namespace):
    api = kubernetes.client.CustomObjectsApi(api_client)
    for name, ref in (("j1", "one"), ("j2", "two")):
        api.create_namespaced_custom_object(
            "bemade.org",
            "v1alpha1",
            namespace,
            "odooinitjobs",
            {
                "apiVersion": "bemade.org/v1alpha1",
                "kind": "OdooInitJob",
                "metadata": {"name": name},
                "spec": {"odooInstanceRef": {"name": ref}},
            },
        )
    api.patch_namespaced_custom_object_status(
        "bemade.org", "v1alpha1", namespace, "odooinitjobs", "j2", {"status": {"phase": "Running"}}
    )
    by_ref = api.list_namespaced_custom_object(
        "bemade.org",
        "v1alpha1",
        namespace,
        "odooinitjobs",
        field_selector="spec.odooInstanceRef.name=one",
    )
    assert [i["metadata"]["name"] for i in by_ref["items"]] == ["j1"]
    by_phase = api.list_namespaced_custom_object(
        "bemade.org", "v1alpha1", namespace, "odooinitjobs", field_selector="status.phase=Running"
    )
    assert [i["metadata"]["name"] for i in by_phase["items"]] == ["j2"]


def test_list_answers_400_when_the_field_is_not_selectable(labelled, namespace):
    with pytest.raises(ApiException) as caught:
        labelled.list_namespaced_config_map(namespace, field_selector="data.x=y")
    assert caught.value.status == 400


def test_watch_sends_only_later_events_when_resumed_from_a_list_resource_version(
    labelled, namespace
):
    listing = labelled.list_namespaced_config_map(namespace)
    labelled.patch_namespaced_config_map("a", namespace, {"data": {"k": "v"}})
    labelled.delete_namespaced_config_map("c", namespace)
    events = _events(
        labelled.list_namespaced_config_map,
        namespace,
        count=2,
        resource_version=listing.metadata.resource_version,
    )
    assert events == [("MODIFIED", "a"), ("DELETED", "c")]


def test_watch_starts_with_synthetic_added_events_when_no_resource_version_is_given(
    labelled, namespace
):
    events = _events(labelled.list_namespaced_config_map, namespace, count=3)
    assert events == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]


def test_watch_filters_by_label_when_a_selector_is_given(labelled, namespace):
    rv = labelled.list_namespaced_config_map(namespace).metadata.resource_version
    labelled.patch_namespaced_config_map("c", namespace, {"metadata": {"labels": {"app": "odoo"}}})
    labelled.patch_namespaced_config_map("a", namespace, {"metadata": {"labels": {"app": "gone"}}})
    events = _events(
        labelled.list_namespaced_config_map,
        namespace,
        count=2,
        label_selector="app=odoo",
        resource_version=rv,
    )
    # Objects entering and leaving the selection appear as ADDED and DELETED, as from the
    # watch cache.
    assert events == [("ADDED", "c"), ("DELETED", "a")]


def test_watch_delivers_live_events_when_written_after_it_started(api_client, namespace):
    import threading

    core = kubernetes.client.CoreV1Api(api_client)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version
    seen: list[str] = []
    watch = kubernetes.watch.Watch()

    def consume() -> None:
        for event in watch.stream(
            core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=5
        ):
            seen.append(event["object"].metadata.name)
            watch.stop()

    thread = threading.Thread(target=consume)
    thread.start()
    core.create_namespaced_config_map(namespace, {"metadata": {"name": "live"}})
    thread.join(timeout=5)
    assert seen == ["live"]


def test_watch_ends_when_timeout_seconds_elapse(api_client, namespace):
    import time

    core = kubernetes.client.CoreV1Api(api_client)
    started = time.monotonic()
    events = list(
        kubernetes.watch.Watch().stream(
            core.list_namespaced_config_map, namespace, timeout_seconds=1
        )
    )
    assert events == []
    assert time.monotonic() - started < 4
