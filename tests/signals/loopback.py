"""A threaded TCP server on loopback, the base of the tests' receivers (standard library only,
so a receiver written independently of the portal's codecs can stand on it too)."""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Self


class LoopbackServer:
    """Listens on 127.0.0.1 (``port`` 0: any free port), serves each connection on a thread of
    its own with ``_serve(conn)``, and on exit stops listening and shuts every connection."""

    def __init__(self, port: int = 0) -> None:
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                # The plain socket's shutdown, also for a TLS connection (no close_notify).
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        self._thread.join(5)

    def _keep(self, conn: socket.socket) -> None:
        """Remember a connection, so that exiting shuts it."""
        with self._lock:
            self._conns.append(conn)

    def _accepted(self, conn: socket.socket) -> None:
        """Called for each accepted connection before it is served."""
        self._keep(conn)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._accepted(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        raise NotImplementedError
