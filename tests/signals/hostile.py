"""Hostile loopback servers for the delivery tests: real sockets that misbehave on purpose."""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time


class DripServer:
    """Accepts connections and, on each, (optionally) does the TLS handshake, reads an HTTP
    request, then sends ``head`` and one more byte every ``interval`` seconds, for at most
    ``limit`` seconds (so even a sender that never gives up lets the test end).

    ``tls_handshake=False`` with a ``context`` stalls the handshake instead: it accepts the
    TCP connection and drips bytes that are not TLS.
    """

    def __init__(
        self,
        context: ssl.SSLContext | None,
        *,
        head: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",
        interval: float = 0.1,
        limit: float = 20.0,
        tls_handshake: bool = True,
        read_request: bool = True,
    ) -> None:
        self.context = context
        self.head = head
        self.interval = interval
        self.limit = limit
        self.tls_handshake = tls_handshake
        self.read_request = read_request
        self.requests = 0
        self.got_request = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> DripServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        ends = time.monotonic() + self.limit
        with contextlib.ExitStack() as stack, contextlib.suppress(OSError, ValueError):
            stack.enter_context(conn)
            conn.settimeout(self.limit)
            if self.context is not None and self.tls_handshake:
                conn = stack.enter_context(self.context.wrap_socket(conn, server_side=True))
            if self.read_request and self.tls_handshake:
                self._read_request(conn)
                self.requests += 1
                self.got_request.set()
            # Without the handshake: the header of a TLS handshake record of 16 KiB, whose
            # body then comes a byte at a time.
            data = self.head if self.tls_handshake else b"\x16\x03\x03\x40\x00"
            conn.sendall(data)
            while time.monotonic() < ends and not self._stopping.wait(self.interval):
                conn.sendall(b"x")

    @staticmethod
    def _read_request(conn: socket.socket) -> None:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(body) < length:
            chunk = conn.recv(4096)
            if not chunk:
                return
            body += chunk
