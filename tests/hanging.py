"""Peers that hang: a server that never answers, a proxy whose answers stop mid-way.

Not a test module. Stands in for a PostgreSQL or S3 endpoint that is
reachable but stuck (a connection is accepted, no byte ever comes back), or
for a transfer that stalls half-way (`stalling_proxy`), so a client waits for
its own timeout, or the test (a deadline, a kill) stops it first.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def _listening(
    on_connection: Callable[[socket.socket], list[socket.socket]],
) -> Iterator[socket.socket]:
    """A server on 127.0.0.1 (a free port) handing each connection to `on_connection`;
    the sockets it returns are held open until the end, then closed with it."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # closed at the end
            while True:
                connection, _ = server.accept()
                held.extend(on_connection(connection))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.close()
        for sock in held:
            sock.close()
        thread.join(timeout=5)


@contextlib.contextmanager
def unanswering_server() -> Iterator[tuple[socket.socket, threading.Event]]:
    """The listening socket (127.0.0.1, a free port) and an Event set once a
    connection came in; every connection is held open until the end."""
    accepted = threading.Event()

    def hold(connection: socket.socket) -> list[socket.socket]:
        accepted.set()
        return [connection]

    with _listening(hold) as server:
        yield server, accepted


def _pump(source: socket.socket, sink: socket.socket, budget: int | None) -> None:
    """Relay `source` to `sink` until it closes, or `budget` bytes went (then stop)."""
    with contextlib.suppress(OSError):  # closed at the end
        while budget is None or budget > 0:
            data = source.recv(min(65536, budget or 65536))
            if not data:
                break
            sink.sendall(data)
            if budget is not None:
                budget -= len(data)


@contextlib.contextmanager
def stalling_proxy(target: tuple[str, int], *, after: int) -> Iterator[tuple[str, int]]:
    """A TCP proxy to `target` (its address is yielded): each connection's answer is
    relayed until `after` bytes came back, then held, open, with nothing more (a
    transfer stuck mid-way); requests are relayed in full."""

    def relay(client: socket.socket) -> list[socket.socket]:
        upstream = socket.create_connection(target)
        for source, sink, budget in ((client, upstream, None), (upstream, client, after)):
            threading.Thread(target=_pump, args=(source, sink, budget), daemon=True).start()
        return [client, upstream]

    with _listening(relay) as server:
        host, port = server.getsockname()[:2]
        yield host, port
