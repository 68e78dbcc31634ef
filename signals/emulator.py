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
import heapq
import ipaddress
import itertools
import logging
import random
import selectors
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Self

from signals import codecs
from signals.codecs.base import Heard, ProtocolError, ReceiverConfig, ReceiverSide

logger = logging.getLogger(__name__)

TLS_HANDSHAKE_TIMEOUT = 5.0
MAX_REQUEST_BYTES = 512 * 1024
RECV_BYTES = 65536
# A client that leaves its replies unread: past the first mark the emulator stops reading its
# requests (as a blocking send would have held it up), past the second it hangs up.
OUTBOX_PAUSE_BYTES = 256 * 1024
MAX_OUTBOX_BYTES = 4 * 1024 * 1024
# Reads in a row from one TLS connection before the others get their turn.
TLS_READS_PER_TURN = 16
# After accept() fails (out of file descriptors, say) the listener stays readable: accepting is
# paused this long rather than spinning on it.
ACCEPT_PAUSE = 0.1


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
    """A multi-client receiver on one background thread; ``start()``/``stop()`` or ``with``.

    ``protocol`` is a ``Receiver.Protocol`` value; ``config`` the receiver's settings and secret
    (a DC-09 key ...); ``transport`` "tcp" (TLS with ``ssl_context``) or "udp". ``faults`` may be
    replaced while it runs (a test can make it misbehave, then recover). One thread serves
    every connection (a selector loop, see "serving" below); the readers (``accepted``,
    ``counts``, ``wait_for_*`` ...) may be called from any thread.
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
        self._thread: threading.Thread | None = None
        # The serving loop's own state, touched by its thread only.
        self._selector: selectors.BaseSelector | None = None
        self._connections: set[_Connection] = set()
        self._ready: list[_Connection] = []  # TLS connections with more to read, no event due
        # A heap, soonest first, of (due, order, kind, what for): a connection, a delayed
        # datagram's (reply, address), or nothing (``_ACCEPT_AGAIN`` resumes accepting).
        self._timers: list[tuple[float, int, str, Any]] = []
        self._timer_order = itertools.count()  # ties in due time go first come, first served

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
        if self._thread is not None:
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
        self._thread = threading.Thread(
            target=self._serve, name=f"receiver-emulator-{self.port}", daemon=True
        )
        self._thread.start()
        logger.info(
            "receiver emulator (%s) listening on %s %s:%s",
            self.protocol,
            self.transport,
            self.host,
            self.port,
        )
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection (a pending delayed reply is never sent) and
        wait for the serving thread to end."""
        if self._thread is None:
            return
        self._stopping.set()
        assert self._wake_writer is not None
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"x")
        # The serving thread closes the connections itself on its way out.
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning("receiver emulator on %s:%s did not stop in time", self.host, self.port)
        for sock in (self._listener, self._wake_reader, self._wake_writer):
            if sock is not None:
                sock.close()
        self._listener = self._wake_reader = self._wake_writer = None
        self._thread = None
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
        timeout. A test that changes ``faults`` waits here first: the serving thread reads
        them when it gets to the request, which may be after the sender gave up."""
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
    # One thread serves every TCP connection: a selector loop over the listener, the wake-up
    # socket and the (non-blocking) connections, with a heap of timers for what is due later (a
    # delayed reply, a handshake or idle deadline). A thread per connection spent its CPU on
    # thread wake-ups and GIL hand-overs, and capped the rate well below what one thread does.

    def _serve(self) -> None:
        assert self._listener is not None and self._wake_reader is not None
        with selectors.DefaultSelector() as selector:
            self._selector = selector
            selector.register(self._listener, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            try:
                self._loop(selector)
            finally:
                for conn in list(self._connections):
                    self._close(conn)
                self._timers.clear()
                self._ready.clear()
                self._selector = None

    def _loop(self, selector: selectors.BaseSelector) -> None:
        timers = self._timers
        stopping = self._stopping
        while not stopping.is_set():
            if self._ready:
                timeout: float | None = 0.0
            elif timers:
                timeout = max(0.0, timers[0][0] - time.monotonic())
            else:
                timeout = None
            events = selector.select(timeout)
            now = time.monotonic()
            for key, mask in events:
                conn = key.data
                if conn is not None:
                    try:
                        self._on_event(conn, mask, now)
                    except Exception as exc:  # a receiver never dies of what it is sent
                        self._fail(conn, exc)
                elif key.fileobj is self._wake_reader:
                    return
                elif self.transport == "udp":
                    try:
                        self._serve_datagram(now)
                    except Exception as exc:
                        logger.info("a datagram was ignored: %r", exc, exc_info=True)
                else:
                    self._accept(now)
            if self._ready:
                ready, self._ready = self._ready, []
                for conn in ready:
                    if not conn.closed:
                        try:
                            self._advance(conn, now)
                        except Exception as exc:
                            self._fail(conn, exc)
            while timers and timers[0][0] <= now:
                _, _, kind, conn = heapq.heappop(timers)
                if kind == _ACCEPT_AGAIN:
                    selector.register(self._listener, selectors.EVENT_READ)
                    continue
                if kind == _DELAYED_DATAGRAM:
                    self._send_datagram(*conn)
                    continue
                if conn is None or conn.closed:
                    continue
                try:
                    self._on_timer(kind, conn, now)
                except Exception as exc:
                    self._fail(conn, exc)

    def _accept(self, now: float) -> None:
        assert self._listener is not None
        while True:
            try:
                sock, address = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                logger.warning("accept failed (%s); accepting again in %gs", exc, ACCEPT_PAUSE)
                assert self._selector is not None
                self._selector.unregister(self._listener)
                self._after(now + ACCEPT_PAUSE, _ACCEPT_AGAIN, None)
                return
            peer = f"{address[0]}:{address[1]}"
            try:
                sock.setblocking(False)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError as exc:  # the client already gone
                logger.info("connection from %s ended: %s", peer, exc)
                sock.close()
                continue
            if self.ssl_context is not None:
                try:
                    sock = self.ssl_context.wrap_socket(
                        sock, server_side=True, do_handshake_on_connect=False
                    )
                except (ssl.SSLError, OSError, ValueError) as exc:
                    logger.info("TLS handshake with %s failed: %s", peer, exc)
                    sock.close()
                    continue
            conn = _Connection(sock, peer, last_activity=now)
            self._connections.add(conn)
            try:
                if self.ssl_context is None:
                    self._opened(conn, now)
                    self._set_events(conn, selectors.EVENT_READ)
                else:
                    # Given up on at the deadline, so a client that stalls it holds up no one.
                    conn.tls = conn.handshaking = True
                    self._after(now + TLS_HANDSHAKE_TIMEOUT, _HANDSHAKE_DEADLINE, conn)
                    self._handshake(conn, now)
            except Exception as exc:
                self._fail(conn, exc)

    def _opened(self, conn: _Connection, now: float) -> None:
        """The connection carries requests from now on (a TLS one once its handshake is done)."""
        conn.last_activity = now
        if self.idle_timeout is not None:
            self._after(now + self.idle_timeout, _IDLE_CHECK, conn)

    def _after(self, due: float, kind: str, conn: Any) -> None:
        heapq.heappush(self._timers, (due, next(self._timer_order), kind, conn))

    def _on_event(self, conn: _Connection, mask: int, now: float) -> None:
        if conn.handshaking:
            self._handshake(conn, now)
            return
        if mask & selectors.EVENT_WRITE:
            self._flush(conn, now)
        if mask & selectors.EVENT_READ:
            self._receive(conn, now)
        self._advance(conn, now)

    def _on_timer(self, kind: str, conn: _Connection, now: float) -> None:
        if kind == _DELAYED_REPLY:
            if conn.held_reply is not None:
                conn.outbox += conn.held_reply
            conn.held_until = conn.held_reply = None
            conn.last_activity = now  # the wait was the emulator's, not an idle client's
            self._advance(conn, now)
        elif kind == _HANDSHAKE_DEADLINE:
            if conn.handshaking:
                logger.info(
                    "TLS handshake with %s failed: not done after %gs",
                    conn.peer,
                    TLS_HANDSHAKE_TIMEOUT,
                )
                self._close(conn)
        elif kind == _IDLE_CHECK:
            assert self.idle_timeout is not None
            if conn.held_until is not None:
                self._after(conn.held_until + self.idle_timeout, _IDLE_CHECK, conn)
            elif now - conn.last_activity >= self.idle_timeout:
                logger.info("closing idle connection from %s", conn.peer)
                self._close(conn)
            else:
                self._after(conn.last_activity + self.idle_timeout, _IDLE_CHECK, conn)

    def _handshake(self, conn: _Connection, now: float) -> None:
        sock = conn.sock
        assert isinstance(sock, ssl.SSLSocket)
        try:
            sock.do_handshake()
        except ssl.SSLWantReadError:
            self._set_events(conn, selectors.EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self._set_events(conn, selectors.EVENT_WRITE)
            return
        except (ssl.SSLError, OSError, ValueError) as exc:
            logger.info("TLS handshake with %s failed: %s", conn.peer, exc)
            self._close(conn)
            return
        conn.handshaking = False
        conn.unread = True  # the first request may have come with the handshake's last bytes
        self._opened(conn, now)
        self._advance(conn, now)

    def _receive(self, conn: _Connection, now: float) -> None:
        """One read; at the end of the stream ``conn.eof``."""
        try:
            chunk = conn.sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            conn.unread = False
            return
        if not chunk:
            conn.eof = True
            conn.unread = False
            return
        conn.inbox += chunk
        conn.last_activity = now
        # A TLS socket may hold decrypted bytes the selector cannot see: read it until it says
        # it wants more from the network.
        conn.unread = conn.tls

    def _advance(self, conn: _Connection, now: float) -> None:
        """Answer what can be answered, send what can be sent, then wait for what is missing."""
        reads = 0
        while True:
            self._answer(conn)
            backlog = len(conn.outbox)
            if backlog:
                self._flush(conn, now)
            if conn.closed:
                return
            if backlog > OUTBOX_PAUSE_BYTES >= len(conn.outbox):
                continue  # the client took enough of its replies: on to its next requests
            if not (conn.unread and self._reading(conn)):
                break
            if reads == TLS_READS_PER_TURN:
                self._ready.append(conn)  # the rest on the next turn, after the others
                break
            self._receive(conn, now)
            reads += 1
        if conn.closing and not conn.outbox:
            self._close(conn)
            return
        events = selectors.EVENT_WRITE if conn.outbox else 0
        if self._reading(conn):
            events |= selectors.EVENT_READ
        self._set_events(conn, events)

    @staticmethod
    def _reading(conn: _Connection) -> bool:
        # Not while a delayed reply holds the connection (what comes next is answered after it),
        # nor while the client leaves its replies unread: it waits, as a blocking send would.
        return not (
            conn.eof
            or conn.closing
            or conn.held_until is not None
            or len(conn.outbox) > OUTBOX_PAUSE_BYTES
        )

    def _answer(self, conn: _Connection) -> None:
        """Handle the complete requests in ``conn.inbox``, in order, replies to ``conn.outbox``."""
        side = self.side
        while (
            conn.held_until is None
            and not conn.closing
            and len(conn.outbox) <= OUTBOX_PAUSE_BYTES
            and not self._stopping.is_set()
        ):
            inbox = conn.inbox
            try:
                size = side.request_size(inbox, eof=False) if inbox else None
                if size is None:
                    if len(inbox) > MAX_REQUEST_BYTES:
                        raise ProtocolError("request too large")
                    if not conn.eof:
                        return
                    # The client has finished: what is left may still be one last request.
                    size = side.request_size(inbox, eof=True) if inbox else None
                    if size is None:
                        conn.closing = True
                        return
            except ProtocolError as exc:
                logger.info("connection from %s ended: %s", conn.peer, exc)
                conn.closing = True  # after the replies already due
                conn.inbox = b""
                return
            request, conn.inbox = inbox[:size], inbox[size:]
            outcome = self.handle_request(request, conn.peer)
            if outcome.close:
                conn.closing = True
                conn.inbox = b""
                return
            if outcome.delay:
                conn.held_until = time.monotonic() + outcome.delay
                conn.held_reply = outcome.reply
                self._after(conn.held_until, _DELAYED_REPLY, conn)
                return
            if outcome.reply is not None:
                conn.outbox += outcome.reply

    def _flush(self, conn: _Connection, now: float) -> None:
        try:
            sent = conn.sock.send(conn.outbox)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError, ssl.SSLWantReadError):
            sent = 0
        if sent:
            del conn.outbox[:sent]
            conn.last_activity = now
        if len(conn.outbox) > MAX_OUTBOX_BYTES:
            raise ProtocolError(f"more than {MAX_OUTBOX_BYTES} bytes of replies left unread")

    def _set_events(self, conn: _Connection, events: int) -> None:
        if events == conn.events:
            return
        assert self._selector is not None
        if not conn.events:
            self._selector.register(conn.sock, events, conn)
        elif not events:
            self._selector.unregister(conn.sock)
        else:
            self._selector.modify(conn.sock, events, conn)
        conn.events = events

    def _fail(self, conn: _Connection, exc: Exception) -> None:
        if isinstance(exc, (ProtocolError, OSError, ValueError)):
            logger.info("connection from %s ended: %s", conn.peer, exc)
        else:  # a bug of ours, not the client's doing: keep the traceback
            logger.info("connection from %s ended: %r", conn.peer, exc, exc_info=True)
        self._close(conn)

    def _close(self, conn: _Connection) -> None:
        if conn.closed:
            return
        conn.closed = True
        self._connections.discard(conn)
        if conn.events and self._selector is not None:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self._selector.unregister(conn.sock)
        conn.events = 0
        conn.sock.close()

    # UDP: each datagram is one request, answered from the same loop.

    def _serve_datagram(self, now: float) -> None:
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
            # Answered from this loop when due, so other senders are not held up meanwhile
            # (and a flood of delayed answers costs a timer each, not a thread).
            self._after(now + outcome.delay, _DELAYED_DATAGRAM, (outcome.reply, address))
        else:
            self._send_datagram(outcome.reply, address)

    def _send_datagram(self, reply: bytes, address: Any) -> None:
        assert self._listener is not None
        with contextlib.suppress(OSError):
            self._listener.sendto(reply, address)


# What the serving loop's timers are for.
_DELAYED_REPLY = "delayed reply"
_HANDSHAKE_DEADLINE = "handshake deadline"
_IDLE_CHECK = "idle check"
_ACCEPT_AGAIN = "accept again"
_DELAYED_DATAGRAM = "delayed datagram"


@dataclass(eq=False, slots=True)
class _Connection:
    """One TCP client, as the serving loop keeps it between events."""

    sock: socket.socket  # non-blocking; an ssl.SSLSocket with TLS
    peer: str
    last_activity: float  # time.monotonic() of the last byte received or sent
    tls: bool = False
    handshaking: bool = False
    inbox: bytes = b""  # received, not yet handled
    outbox: bytearray = field(default_factory=bytearray)  # replies not yet sent
    # A delayed reply is due at ``held_until``; nothing after it is handled before then.
    held_until: float | None = None
    held_reply: bytes | None = None
    eof: bool = False  # the client will send nothing more
    closing: bool = False  # close once the outbox is sent
    unread: bool = False  # TLS: bytes may wait inside the SSL object
    events: int = 0  # what the selector watches for (0: not registered)
    closed: bool = False
