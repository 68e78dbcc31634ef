"""Loopback receivers and helpers for the dispatcher tests: real sockets, never mocks."""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from signals.codecs.xml_v1 import decode_package, encode_frame, encode_reply, recv_frame
from signals.dispatcher import Dispatcher
from stations.models import Receiver, ReceiverPath
from tests.factories import ReceiverPathFactory
from tests.signals.loopback import LoopbackServer

# What a scripted receiver does with a frame: reply with these bytes, close the connection
# (CLOSE) or keep it open and never answer (HANG).
CLOSE = b"\x00close"
HANG = b"\x00hang"


def free_port() -> int:
    """A loopback port nothing listens on (connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def accept_reply(payload: bytes) -> bytes:
    return encode_reply(decode_package(payload).reference, "accepted")


class ScriptedReceiver(LoopbackServer):
    """A framed-TCP loopback server that answers each frame with ``respond(payload, n)``.

    ``n`` counts frames from 0 across connections; every frame is kept in ``frames``.
    """

    def __init__(self, respond: Callable[[bytes, int], bytes], port: int = 0) -> None:
        super().__init__(port)
        self.respond = respond
        self.frames: list[bytes] = []

    def _serve(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            while not self._stopping.is_set():
                payload = recv_frame(conn)
                if payload is None:
                    return
                with self._lock:
                    n = len(self.frames)
                    self.frames.append(payload)
                reply = self.respond(payload, n)
                if reply == CLOSE:
                    return
                if reply == HANG:
                    self._stopping.wait(30)
                    return
                conn.sendall(encode_frame(reply))


@contextmanager
def scripted(respond: Callable[[bytes, int], bytes]) -> Iterator[ScriptedReceiver]:
    with ScriptedReceiver(respond) as receiver:
        yield receiver


def path_to(
    receiver: Receiver, port: int, role: str = ReceiverPath.Role.PRIMARY, **fields: object
) -> ReceiverPath:
    """A plain-TCP loopback path with short timeouts."""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "use_tls": False,
        "connect_timeout": 1.0,
        "reply_timeout": 0.5,
    }
    values.update(fields)
    return ReceiverPathFactory(receiver=receiver, role=role, port=port, **values)


def dispatcher(**options: object) -> Dispatcher:
    """A dispatcher that never sleeps and draws the same jitter every run."""
    values: dict[str, object] = {
        "name": "test-dispatcher",
        "poll_seconds": 0,
        "rng": random.Random(7),
    }
    values.update(options)
    return Dispatcher(**values)  # type: ignore[arg-type]


def run_once_within(running: Dispatcher, seconds: float = 20.0) -> None:
    """``running.run(once=True)``, stopped after ``seconds`` if it has not ended by then, so a
    regression that makes a dispatcher loop or hang fails the test instead of hanging it."""
    watchdog = threading.Timer(seconds, running.stop)
    watchdog.start()
    try:
        running.run(once=True)
    finally:
        watchdog.cancel()


class RawReceiver(LoopbackServer):
    """A loopback TCP server for line-framed protocols (DC-09: LF ... CR): each request, read up
    to its CR, is answered with ``respond(request)`` (None: silence, the connection kept open).
    Every request is kept in ``requests``."""

    def __init__(self, respond: Callable[[bytes], bytes | None]) -> None:
        super().__init__()
        self.respond = respond
        self.requests: list[bytes] = []

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn, contextlib.suppress(OSError):
            while not self._stopping.is_set():
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
                while b"\r" in buffer:
                    request, _, buffer = buffer.partition(b"\r")
                    self.requests.append(request + b"\r")
                    answer = self.respond(request + b"\r")
                    if answer is not None:
                        conn.sendall(answer)


@contextmanager
def scripted_raw(respond: Callable[[bytes], bytes | None]) -> Iterator[RawReceiver]:
    with RawReceiver(respond) as receiver:
        yield receiver
