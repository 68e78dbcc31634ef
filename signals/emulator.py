"""A monitoring-station receiver that speaks portal XML v1 over the TCP framing, for tests, the
demo and station engineers who want to see what the portal sends.

It validates each package against the XSD, answers ``duplicate`` for a reference it has accepted
before, keeps every accepted package in arrival order (overall and per account), and can be told
to misbehave at seeded random rates, the way real receivers and networks do.

The emulator is a test tool: it binds to loopback unless explicitly allowed not to.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import random
import selectors
import socket
import ssl
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Self

from signals.transports import TransportError, encode_frame, recv_frame
from signals.xml_v1 import (
    Package,
    ProtocolError,
    Status,
    decode_package,
    encode_reply,
    salvage_reference,
)

logger = logging.getLogger(__name__)

# Used as the reply's reference when a rejected package has no readable one of its own.
UNKNOWN_REFERENCE = "unknown"
TLS_HANDSHAKE_TIMEOUT = 5.0


@dataclass(frozen=True)
class Faults:
    """How often the emulator misbehaves; every rate is a probability from 0 to 1 per frame.

    - ``close_rate``: close the connection right after reading the package; nothing is stored.
    - ``reject_rate``: answer ``rejected``; nothing is stored, the sender should retry later.
    - ``failover_rate``: answer ``failover``; nothing is stored, the sender should use the
      alternate path.
    - ``drop_rate``: store the package as usual but never send the reply, keeping the connection
      open: the sender times out, resends, and must take the ``duplicate`` as delivered.
    - ``delay_rate``: wait ``delay_seconds`` before replying (the package is already stored).
    """

    reject_rate: float = 0.0
    failover_rate: float = 0.0
    delay_rate: float = 0.0
    delay_seconds: float = 2.0
    drop_rate: float = 0.0
    close_rate: float = 0.0

    def __post_init__(self) -> None:
        for name in ("reject_rate", "failover_rate", "delay_rate", "drop_rate", "close_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value!r}")
        if self.delay_seconds < 0:
            raise ValueError(f"delay_seconds must not be negative, got {self.delay_seconds!r}")


@dataclass(frozen=True)
class Received:
    """One accepted package and when and from where it came."""

    package: Package
    received_at: datetime
    peer: str


@dataclass(frozen=True)
class Outcome:
    """What the emulator does with one frame."""

    status: Status | None  # None when the connection is closed without a decision
    reply: bytes | None  # None: send nothing
    close: bool = False
    delay: float = 0.0


def is_loopback_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class ReceiverEmulator:
    """A multi-client receiver on background threads; ``start()``/``stop()`` or ``with``.

    ``faults`` may be replaced while it runs (a test can make it misbehave, then recover).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        faults: Faults | None = None,
        seed: int | None = None,
        idle_timeout: float | None = None,
        allow_remote: bool = False,
    ) -> None:
        if not allow_remote and not is_loopback_host(host):
            raise ValueError(f"refusing to bind the emulator to non-loopback host {host!r}")
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.faults = faults or Faults()
        self.idle_timeout = idle_timeout
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._accepted_changed = threading.Condition(self._lock)
        self._received: list[Received] = []
        self._by_account: dict[str, list[Received]] = {}
        self._accepted_references: set[str] = set()
        self._counts: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._wake_reader: socket.socket | None = None
        self._wake_writer: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._connections: dict[socket.socket, threading.Thread] = {}

    def __repr__(self) -> str:
        return f"<ReceiverEmulator {self.host}:{self.port}>"

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and start serving; ``port`` holds the real port afterwards."""
        if self._accept_thread is not None:
            raise RuntimeError("emulator already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.create_server((self.host, self.port), family=family, backlog=64)
        listener.setblocking(False)
        self._listener = listener
        self.port = listener.getsockname()[1]
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._stopping.clear()
        self._accept_thread = threading.Thread(
            target=self._accept_loop, name=f"receiver-emulator-{self.port}", daemon=True
        )
        self._accept_thread.start()
        logger.info("receiver emulator listening on %s:%s", self.host, self.port)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection and wait for the threads to end."""
        if self._accept_thread is None:
            return
        self._stopping.set()
        assert self._wake_writer is not None
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        self._accept_thread.join(timeout)
        with self._lock:
            connections = dict(self._connections)
        for conn in connections:
            # The base-class call: SSLSocket.shutdown() would drop its SSL object under the
            # connection thread's feet; a plain TCP shutdown just wakes that thread's recv.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(conn, socket.SHUT_RDWR)
        for thread in connections.values():
            thread.join(timeout)
        for sock in (self._listener, self._wake_reader, self._wake_writer):
            if sock is not None:
                sock.close()
        self._listener = self._wake_reader = self._wake_writer = None
        self._accept_thread = None
        logger.info("receiver emulator on %s:%s stopped", self.host, self.port)

    # --- what it received -----------------------------------------------------------------------

    @property
    def accepted(self) -> list[Package]:
        """Every accepted package, in the order they were accepted."""
        with self._lock:
            return [item.package for item in self._received]

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def accepted_for(self, account: str) -> list[Package]:
        """The packages accepted for one account, in order."""
        with self._lock:
            return [item.package for item in self._by_account.get(account, [])]

    @property
    def counts(self) -> dict[str, int]:
        """Frames by outcome: accepted, duplicate, rejected, failover, invalid, dropped, delayed,
        closed."""
        with self._lock:
            return dict(self._counts)

    def wait_for_accepted(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` packages were accepted; False on timeout."""
        with self._accepted_changed:
            return self._accepted_changed.wait_for(lambda: len(self._received) >= count, timeout)

    def reset(self) -> None:
        """Forget everything received (duplicates included)."""
        with self._lock:
            self._received.clear()
            self._by_account.clear()
            self._accepted_references.clear()
            self._counts.clear()

    # --- deciding -------------------------------------------------------------------------------

    def handle_frame(self, payload: bytes, peer: str = "") -> Outcome:
        """Decide what to do with one received frame and record it. No I/O but logging."""
        faults = self.faults
        if self._roll(faults.close_rate):
            self._count("closed")
            logger.info("closing connection from %s without a reply (emulated fault)", peer)
            return Outcome(status=None, reply=None, close=True)

        try:
            package = decode_package(payload)
        except ProtocolError as exc:
            self._count("invalid")
            reference = salvage_reference(payload) or UNKNOWN_REFERENCE
            logger.info("invalid package from %s: %s", peer, exc.reason)
            status, reason = Status.REJECTED, f"invalid package: {exc.reason}"
        else:
            logger.info(
                "package reference=%s account=%s code=%s%s zone=%03d from %s",
                package.reference,
                package.account,
                package.qualifier.value,
                package.code,
                package.zone,
                peer,
            )
            reference = package.reference
            status, reason = self._decide(package, peer)

        drop = self._roll(faults.drop_rate)
        delay = faults.delay_seconds if self._roll(faults.delay_rate) else 0.0
        if drop:
            self._count("dropped")
            logger.info(
                "reply reference=%s status=%s never sent (emulated fault)", reference, status
            )
            return Outcome(status=status, reply=None)
        if delay:
            self._count("delayed")
        logger.info(
            "reply reference=%s status=%s%s%s",
            reference,
            status,
            f" reason={reason!r}" if reason else "",
            f" after {delay:g}s" if delay else "",
        )
        reply = encode_reply(reference, status, reason, received_at=datetime.now(UTC))
        return Outcome(status=status, reply=reply, delay=delay)

    def _decide(self, package: Package, peer: str) -> tuple[Status, str]:
        if self._roll(self.faults.reject_rate):
            self._count(Status.REJECTED.value)
            return Status.REJECTED, "emulated rejection: try again later"
        if self._roll(self.faults.failover_rate):
            self._count(Status.FAILOVER.value)
            return Status.FAILOVER, "emulated failover: use the alternate path"
        with self._lock:
            if package.reference in self._accepted_references:
                self._counts[Status.DUPLICATE.value] += 1
                return Status.DUPLICATE, ""
            self._accepted_references.add(package.reference)
            item = Received(package=package, received_at=datetime.now(UTC), peer=peer)
            self._received.append(item)
            self._by_account.setdefault(package.account, []).append(item)
            self._counts[Status.ACCEPTED.value] += 1
            self._accepted_changed.notify_all()
        return Status.ACCEPTED, ""

    def _roll(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        with self._lock:
            return self._random.random() < rate

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] += 1

    # --- serving --------------------------------------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None and self._wake_reader is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not self._stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self._wake_reader:
                        return
                    try:
                        conn, address = self._listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        logger.exception("accept failed")
                        continue
                    self._spawn(conn, f"{address[0]}:{address[1]}")

    def _spawn(self, conn: socket.socket, peer: str) -> None:
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = threading.Thread(
            target=self._serve_connection, args=(conn, peer), name=f"receiver-{peer}", daemon=True
        )
        with self._lock:
            if self._stopping.is_set():
                conn.close()
                return
            self._connections[conn] = thread
        thread.start()

    def _serve_connection(self, conn: socket.socket, peer: str) -> None:
        try:
            if self.ssl_context is not None:
                conn = self._handshake(conn, peer)
            conn.settimeout(self.idle_timeout)
            while not self._stopping.is_set():
                payload = recv_frame(conn)
                if payload is None:
                    break
                outcome = self.handle_frame(payload, peer)
                if outcome.close:
                    break
                if outcome.delay and self._stopping.wait(outcome.delay):
                    break
                if outcome.reply is not None:
                    conn.sendall(encode_frame(outcome.reply))
        except TimeoutError:
            logger.info("closing idle connection from %s", peer)
        except (TransportError, OSError, ValueError) as exc:
            # ValueError: a TLS socket closed by stop() while this thread was reading it.
            logger.info("connection from %s ended: %s", peer, exc)
        finally:
            with self._lock:
                self._connections.pop(conn, None)
            conn.close()

    def _handshake(self, conn: socket.socket, peer: str) -> socket.socket:
        assert self.ssl_context is not None
        conn.settimeout(TLS_HANDSHAKE_TIMEOUT)
        try:
            tls = self.ssl_context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            logger.info("TLS handshake with %s failed: %s", peer, exc)
            raise
        with self._lock:
            # Track the TLS socket instead of the raw one it replaced. stop() sets the flag
            # before it copies the connections, so one of the two always sees the other.
            thread = self._connections.pop(conn)
            stopping = self._stopping.is_set()
            if not stopping:
                self._connections[tls] = thread
        if stopping:
            tls.close()
            raise OSError("emulator stopping")
        return tls
