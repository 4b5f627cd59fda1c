"""Serving: the separate-process entry point and concurrent clients.

Covers: ``python -m odoo_operator.sandbox.emulator`` printing its URL first and
stopping on SIGTERM with CRDs registered; concurrent writers from several
threads with every write seen exactly once by a watch and distinct
resourceVersions; ``serve_in_thread`` kubeconfig with a namespace.
"""

from __future__ import annotations

import concurrent.futures
import json
import signal
import subprocess
import sys
import urllib.request

import kubernetes
import yaml

from tests.fixtures.kube import CRD_DIR


def test_process_serves_until_sigterm_when_started_as_a_module():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "odoo_operator.sandbox.emulator",
            "--port",
            "0",
            "--crd-dir",
            str(CRD_DIR),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        doc = json.loads(
            urllib.request.urlopen(f"{url}/apis/bemade.org/v1alpha1", timeout=5).read()
        )
        assert "odooinstances" in [r["name"] for r in doc["resources"]]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=10)
        assert proc.stdout is not None
        proc.stdout.close()
    assert code == 0


def test_every_write_is_watched_once_when_clients_write_concurrently(api_client, namespace):
    core = kubernetes.client.CoreV1Api(api_client)
    rv = core.list_namespaced_config_map(namespace).metadata.resource_version

    def write(i: int) -> str:
        configuration = kubernetes.client.Configuration()
        configuration.host = api_client.configuration.host
        with kubernetes.client.ApiClient(configuration) as client:
            api = kubernetes.client.CoreV1Api(client)
            api.create_namespaced_config_map(namespace, {"metadata": {"name": f"c{i}"}})
            return str(
                api.patch_namespaced_config_map(
                    f"c{i}", namespace, {"data": {"i": str(i)}}
                ).metadata.resource_version
            )

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        versions = list(pool.map(write, range(40)))
    assert len(set(versions)) == 40
    watch = kubernetes.watch.Watch()
    seen = []
    for event in watch.stream(
        core.list_namespaced_config_map, namespace, resource_version=rv, timeout_seconds=5
    ):
        seen.append((event["type"], event["object"].metadata.name))
        if len(seen) == 80:
            watch.stop()
    assert sorted(seen) == sorted(
        [("ADDED", f"c{i}") for i in range(40)] + [("MODIFIED", f"c{i}") for i in range(40)]
    )


def test_kubeconfig_names_the_namespace_when_given(kube_emulator_server, tmp_path):
    path = kube_emulator_server.write_kubeconfig(tmp_path / "config", namespace="shop")
    config = yaml.safe_load(path.read_text())
    assert config["clusters"][0]["cluster"]["server"] == kube_emulator_server.url
    assert config["contexts"][0]["context"]["namespace"] == "shop"
