"""The worker's Kubernetes client keeps one connection per activity thread.

urllib3 keeps at most `maxsize` idle connections per host (10 by default);
a thread that finds none idle opens its own, and if the pool is full when it
is done, that connection is closed ("Connection pool is full, discarding
connection"). With 32 activity threads that meant a new TCP and TLS
handshake for the API server on most requests under load.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from activities import api

THREADS = 16


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    connections = 0
    # Every request is answered only once THREADS of them are in: each round
    # holds THREADS connections at the same time.
    together = threading.Barrier(THREADS, timeout=10)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def setup(self) -> None:
        super().setup()
        server = self.server
        assert isinstance(server, _Server)
        server.connections += 1

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        server.together.wait()
        body = b'{"kind": "Namespace", "apiVersion": "v1", "metadata": {"name": "x"}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    httpd.together = threading.Barrier(THREADS, timeout=10)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _kubeconfig(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "kubeconfig"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "c",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def _connections_after_rounds(server: _Server, kube: api.KubeApi) -> int:
    """Connections the server accepted for two rounds of THREADS concurrent GETs."""

    def get(_: int) -> None:
        kube.get(api.CONFIG_MAP, "x", "y")

    with ThreadPoolExecutor(THREADS) as pool:
        for _ in range(2):
            list(pool.map(get, range(THREADS)))
    return server.connections


def test_a_pool_sized_to_the_threads_reuses_every_connection(
    server: _Server, tmp_path: Path
) -> None:
    path = _kubeconfig(tmp_path, server.server_address[1])
    with api.connect(path, connections=THREADS) as kube:
        assert _connections_after_rounds(server, kube) == THREADS


def test_the_default_pool_drops_connections_under_more_threads(
    server: _Server, tmp_path: Path
) -> None:
    # The failure mode the sized pool avoids: the second round reconnects
    # THREADS - 10 times.
    path = _kubeconfig(tmp_path, server.server_address[1])
    with api.connect(path) as kube:
        assert _connections_after_rounds(server, kube) == THREADS + (THREADS - 10)
