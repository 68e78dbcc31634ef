"""A monitoring-station receiver for tests, the demo and station engineers who want to see what
the portal sends. It speaks any protocol the portal has a codec for (the codec plays the
receiver's side: ``Codec.receiver_side``), over TCP (optionally TLS) or, for protocols that use
it, UDP.

It answers duplicates as its protocol does, keeps every accepted alarm in arrival order
(overall and per account), and can be told to misbehave at seeded random rates, the way real
receivers and networks do.

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
from typing import Any, Self

from signals import codecs
from signals.codecs.base import Heard, ProtocolError, ReceiverConfig, ReceiverSide

logger = logging.getLogger(__name__)

TLS_HANDSHAKE_TIMEOUT = 5.0
MAX_REQUEST_BYTES = 512 * 1024


@dataclass(frozen=True)
class Faults:
    """How often the emulator misbehaves; every rate is a probability from 0 to 1 per request.

    - ``close_rate``: close the connection right after reading the request; nothing is stored.
    - ``reject_rate``: refuse it for now as the protocol does (XML v1 ``rejected``, DC-09
      ``NAK``); nothing is stored, the sender should try again.
    - ``failover_rate``: ask for the other path as the protocol does (XML v1 ``failover``; DC-09
      has no such answer and stays silent); nothing is stored.
    - ``drop_rate``: store the alarm as usual but never send the reply, keeping the connection
      open: the sender times out, resends, and must take the duplicate as delivered.
    - ``delay_rate``: wait ``delay_seconds`` before replying (the alarm is already stored).
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
    """One accepted alarm and when and from where it came."""

    message: Any  # the protocol's own object (an XML v1 Package, a DC-09 Frame ...)
    account: str
    reference: str
    summary: str
    received_at: datetime
    peer: str


@dataclass(frozen=True)
class Outcome:
    """What the emulator does with one request."""

    status: str | None  # None when the connection is closed without a decision
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

    ``protocol`` is a ``Receiver.Protocol`` value; ``config`` the receiver's settings and secret
    (a DC-09 key ...); ``transport`` "tcp" (TLS with ``ssl_context``) or "udp". ``faults`` may be
    replaced while it runs (a test can make it misbehave, then recover).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        protocol: str = "xml_v1",
        config: ReceiverConfig | None = None,
        transport: str = "tcp",
        ssl_context: ssl.SSLContext | None = None,
        faults: Faults | None = None,
        seed: int | None = None,
        idle_timeout: float | None = None,
        allow_remote: bool = False,
    ) -> None:
        if not allow_remote and not is_loopback_host(host):
            raise ValueError(f"refusing to bind the emulator to non-loopback host {host!r}")
        codec = codecs.codec_for(protocol)
        if codec is None:
            raise ValueError(f"no codec for the protocol {protocol!r}")
        if transport not in ("tcp", "udp") or transport not in codec.transports:
            raise ValueError(f"{codec.label} does not go over {transport!r}")
        if transport == "udp" and ssl_context is not None:
            raise ValueError("TLS goes over TCP only")
        self.host = host
        self.port = port
        self.protocol = protocol
        self.transport = transport
        self.side: ReceiverSide = codec.receiver_side(
            config or ReceiverConfig(receiver_id=0, protocol=protocol)
        )
        self.ssl_context = ssl_context
        self.faults = faults or Faults()
        self.idle_timeout = idle_timeout
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)  # anything recorded or counted
        self._received: list[Received] = []
        self._by_account: dict[str, list[Received]] = {}
        self._counts: Counter[str] = Counter()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._wake_reader: socket.socket | None = None
        self._wake_writer: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._connections: dict[socket.socket, threading.Thread] = {}

    def __repr__(self) -> str:
        return f"<ReceiverEmulator {self.protocol} {self.transport}://{self.host}:{self.port}>"

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
        if self.transport == "udp":
            listener = socket.socket(family, socket.SOCK_DGRAM)
            listener.bind((self.host, self.port))
        else:
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
        logger.info(
            "receiver emulator (%s) listening on %s %s:%s",
            self.protocol,
            self.transport,
            self.host,
            self.port,
        )
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
    def accepted(self) -> list[Any]:
        """Every accepted alarm (the protocol's own object), in the order they were accepted."""
        with self._lock:
            return [item.message for item in self._received]

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def accepted_for(self, account: str) -> list[Any]:
        """The alarms accepted for one account, in order."""
        with self._lock:
            return [item.message for item in self._by_account.get(account, [])]

    @property
    def counts(self) -> dict[str, int]:
        """Requests by outcome: accepted, duplicate, rejected, failover, invalid, heartbeat,
        dropped, delayed, closed (and what else the protocol answers)."""
        with self._lock:
            return dict(self._counts)

    def wait_for_accepted(self, count: int, timeout: float) -> bool:
        """Block until at least ``count`` alarms were accepted; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self._received) >= count, timeout)

    def wait_for_count(self, outcome: str, count: int, timeout: float) -> bool:
        """Block until at least ``count`` requests had this outcome (see ``counts``); False on
        timeout. A test that changes ``faults`` waits here first: the connection's thread
        reads them when it gets to the request, which may be after the sender gave up."""
        with self._changed:
            return self._changed.wait_for(lambda: self._counts[outcome] >= count, timeout)

    def reset(self) -> None:
        """Forget everything received (duplicates included)."""
        with self._lock:
            self._received.clear()
            self._by_account.clear()
            self._counts.clear()
        self.side.forget()

    # --- deciding -------------------------------------------------------------------------------

    def handle_request(self, request: bytes, peer: str = "") -> Outcome:
        """Decide what to do with one received request and record it. No I/O but logging."""
        faults = self.faults
        if self._roll(faults.close_rate):
            self._count("closed")
            logger.info("closing connection from %s without a reply (emulated fault)", peer)
            return Outcome(status=None, reply=None, close=True)
        decision = "ok"
        if self._roll(faults.reject_rate):
            decision = "retry"
        elif self._roll(faults.failover_rate):
            decision = "failover"
        try:
            heard = self.side.handle(request, decision=decision)
        except Exception:  # a receiver never dies of what it is sent
            logger.exception("could not handle a request from %s", peer)
            self._count("invalid")
            return Outcome(status="invalid", reply=None, close=True)
        self._record(heard, peer)
        if heard.reply is None:
            logger.info("no answer to %s (%s)", peer, heard.status)
            return Outcome(status=heard.status, reply=None)
        if (heard.accepted or heard.duplicate) and self._roll(faults.drop_rate):
            self._count("dropped")
            logger.info("reply %s to %s never sent (emulated fault)", heard.status, peer)
            return Outcome(status=heard.status, reply=None)
        delay = faults.delay_seconds if self._roll(faults.delay_rate) else 0.0
        if delay:
            self._count("delayed")
        logger.info(
            "reply %s reference=%s%s",
            heard.status,
            heard.reference,
            f" after {delay:g}s" * bool(delay),
        )
        return Outcome(status=heard.status, reply=heard.reply, delay=delay)

    def _record(self, heard: Heard, peer: str) -> None:
        if heard.summary and not heard.heartbeat:
            logger.info(
                "%s account=%s reference=%s %s from %s",
                self.protocol,
                heard.account,
                heard.reference,
                heard.summary,
                peer,
            )
        with self._lock:
            self._counts[heard.status or "answered"] += 1
            self._changed.notify_all()
            if not heard.accepted:
                return
            item = Received(
                message=heard.message,
                account=heard.account,
                reference=heard.reference,
                summary=heard.summary,
                received_at=datetime.now(UTC),
                peer=peer,
            )
            self._received.append(item)
            self._by_account.setdefault(heard.account, []).append(item)

    def _roll(self, rate: float) -> bool:
        if rate <= 0.0:
            return False
        with self._lock:
            return self._random.random() < rate

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] += 1
            self._changed.notify_all()

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
                    if self.transport == "udp":
                        self._serve_datagram()
                        continue
                    try:
                        conn, address = self._listener.accept()
                    except (BlockingIOError, InterruptedError):
                        continue
                    except OSError:
                        logger.exception("accept failed")
                        continue
                    self._spawn(conn, f"{address[0]}:{address[1]}")

    def _serve_datagram(self) -> None:
        assert self._listener is not None
        try:
            request, address = self._listener.recvfrom(65_535)
        except (BlockingIOError, InterruptedError, OSError):
            return
        peer = f"{address[0]}:{address[1]}"
        try:
            if self.side.request_size(request, eof=True) is None:
                raise ProtocolError("incomplete request")
        except ProtocolError as exc:
            logger.info("datagram from %s ignored: %s", peer, exc.reason)
            self._count("invalid")
            return
        outcome = self.handle_request(request, peer)
        if outcome.reply is None or outcome.close:
            return
        if outcome.delay:
            # A delayed answer on its own thread, so other senders are not held up.
            threading.Thread(
                target=self._answer_later, args=(outcome, address), daemon=True
            ).start()
        else:
            with contextlib.suppress(OSError):
                self._listener.sendto(outcome.reply, address)

    def _answer_later(self, outcome: Outcome, address: Any) -> None:
        if self._stopping.wait(outcome.delay) or self._listener is None:
            return
        with contextlib.suppress(OSError):
            self._listener.sendto(outcome.reply or b"", address)

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
        buffer = b""
        try:
            if self.ssl_context is not None:
                conn = self._handshake(conn, peer)
            conn.settimeout(self.idle_timeout)
            while not self._stopping.is_set():
                size = self.side.request_size(buffer, eof=False) if buffer else None
                if size is None:
                    if len(buffer) > MAX_REQUEST_BYTES:
                        raise ProtocolError("request too large")
                    chunk = conn.recv(65536)
                    if not chunk:
                        size = self.side.request_size(buffer, eof=True) if buffer else None
                        if size is None:
                            break
                    buffer += chunk
                    if size is None:
                        continue
                request, buffer = buffer[:size], buffer[size:]
                outcome = self.handle_request(request, peer)
                if outcome.close:
                    break
                if outcome.delay and self._stopping.wait(outcome.delay):
                    break
                if outcome.reply is not None:
                    conn.sendall(outcome.reply)
        except TimeoutError:
            logger.info("closing idle connection from %s", peer)
        except (ProtocolError, OSError, ValueError) as exc:
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
