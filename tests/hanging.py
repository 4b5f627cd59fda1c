"""A TCP server that accepts connections and never answers: a peer that hangs.

Not a test module. Stands in for a PostgreSQL or S3 endpoint that is
reachable but stuck (a connection is accepted, no byte ever comes back), so a
client waits for its own timeout, or a deadline stops it first.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def unanswering_server() -> Iterator[tuple[socket.socket, threading.Event]]:
    """The listening socket (127.0.0.1, a free port) and an Event set once a
    connection came in; every connection is held open until the end."""
    server = socket.create_server(("127.0.0.1", 0))
    accepted = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        with contextlib.suppress(OSError):  # closed at the end
            while True:
                connection, _ = server.accept()
                held.append(connection)
                accepted.set()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server, accepted
    finally:
        server.close()
        for connection in held:
            connection.close()
        thread.join(timeout=5)
