"""Moving a codec's bytes to a receiver path and its reply back: TCP (optionally TLS), UDP and
HTTPS POST. Transports know nothing of protocols: a codec gives them the bytes to send and a
function that says when the bytes read so far hold a complete reply (``ReplySize``).

Every exchange has one deadline for the whole of it: the connection (TCP connect and TLS
handshake) must be up within ``connect_timeout``, and the request and the *whole* reply must
then pass within ``reply_timeout``. A receiver that answers one byte at a time, or stalls a TLS
handshake, cannot hold a sender past ``connect_timeout + reply_timeout``: every socket
operation waits at most what is left of the deadline, never a fresh timeout of its own. A host
name is resolved within the same deadline (``resolve_steps``: the system resolver, on a thread of
its own, since ``getaddrinfo`` has no timeout), and each of its addresses is tried with what is
left of it.

Each exchange is written once, as *steps*: a generator that does the socket work on
non-blocking sockets and, whenever a socket would block, yields a ``Wait`` (this socket
readable, or writable, or this name looked up, before this deadline). Whoever runs the steps
waits for that, then resumes them, or throws ``TimeoutError`` into them once the deadline has
passed. ``run`` does it in the calling thread, one exchange at a time (``exchange()``, the
heartbeats, the media relay); ``signals.lanes`` keeps many exchanges going in one thread with
one ``poll``. Either way an exchange's deadlines, errors and TLS are the same code.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import math
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Generator
from concurrent import futures
from concurrent.futures import Future
from types import TracebackType
from typing import Protocol, Self, TypeVar
from urllib.parse import urlsplit

import h11

# How much a reply may be, whatever the protocol (a codec says less if it wants).
MAX_REPLY_BYTES = 256 * 1024 + 4
# HTTP response headers beyond this are not a receiver's reply.
MAX_HTTP_HEADER_BYTES = 16 * 1024
# A datagram is at most this big (DC-09 frames are far smaller).
MAX_DATAGRAM_BYTES = 65_507

# ``reply_size(buffer, eof)``: bytes of the first complete reply in ``buffer``, or None while
# more is needed; raises (the codec's ProtocolError, a ValueError) for bytes that cannot become
# one. ``eof`` is True once the receiver has closed its side.
ReplySize = Callable[[bytes, bool], "int | None"]


class TransportError(Exception):
    """The bytes did not make it there and back; ``reason`` is short enough for a status column."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Deadline:
    """A point in ``time.monotonic()`` that a whole exchange must finish by."""

    __slots__ = ("at",)

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; ``TimeoutError`` once the deadline has passed."""
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("deadline passed")
        return left


class Wait:
    """What an exchange's steps wait for: ``sock`` readable (or, with ``write``, writable), or
    ``future`` (a name's look-up) done, before ``deadline``."""

    __slots__ = ("deadline", "future", "sock", "write")

    def __init__(
        self,
        sock: socket.socket | None,
        write: bool,
        deadline: Deadline,
        future: Future | None = None,
    ) -> None:
        self.sock = sock
        self.write = write
        self.deadline = deadline
        self.future = future


T = TypeVar("T")
# An exchange (or a part of one) as steps: yields what it waits for, returns its result.
Steps = Generator[Wait, None, T]


class Transport(Protocol):
    def exchange(self, data: bytes, reply_size: ReplySize) -> bytes: ...

    def steps(self, data: bytes, reply_size: ReplySize) -> Steps[bytes]: ...

    def close(self) -> None: ...


def run(steps: Steps[T]) -> T:
    """Run ``steps`` to their end in this thread: wait for each thing they wait for, at most
    until its deadline, and throw ``TimeoutError`` into them when that passes."""
    poller: select.poll | None = None
    try:
        wait = next(steps)
        while True:
            left = wait.deadline.at - time.monotonic()
            ready = False
            if left > 0 and wait.future is not None:
                done, _ = futures.wait([wait.future], timeout=left)
                ready = bool(done)
            elif left > 0:
                assert wait.sock is not None
                if poller is None:
                    poller = select.poll()
                poller.register(wait.sock, select.POLLOUT if wait.write else select.POLLIN)
                try:
                    ready = bool(poller.poll(math.ceil(left * 1000)))
                finally:
                    poller.unregister(wait.sock)
            wait = steps.send(None) if ready else steps.throw(TimeoutError("deadline passed"))
    except StopIteration as stop:
        return stop.value
    finally:
        steps.close()


# --- names under a deadline ---------------------------------------------------------------------

AddrInfo = tuple[socket.AddressFamily, socket.SocketKind, int, str, tuple]

# The look-ups running now, one per (host, port, socket type): a name whose resolver does not
# answer holds one thread however many exchanges wait for it, not one each.
_lookups: dict[tuple[str, int, int], Future[list[AddrInfo]]] = {}
_lookups_lock = threading.Lock()


def resolve_steps(host: str, port: int, *, kind: int, deadline: Deadline) -> Steps[list[AddrInfo]]:
    """The addresses of ``host`` (``getaddrinfo``), known before ``deadline``.

    ``getaddrinfo`` has no timeout and may block for as long as the resolver retries, so a
    name is looked up on a thread of its own and waited for at most what is left of the
    deadline; a look-up given up on finishes in the background. An address needs no look-up.
    Raises ``TransportError`` saying what failed.
    """
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        return socket.getaddrinfo(host, port, type=kind, flags=socket.AI_NUMERICHOST)
    if deadline.at <= time.monotonic():
        raise TransportError(f"timeout resolving host {host}")
    key = (host, port, kind)
    with _lookups_lock:
        future = _lookups.get(key)
        if future is None:
            future = _lookups[key] = Future()
            threading.Thread(
                target=_look_up, args=(key, future), name=f"resolve-{host}", daemon=True
            ).start()
    if not future.done():
        try:
            yield Wait(None, False, deadline, future)
        except TimeoutError:
            raise TransportError(f"timeout resolving host {host}") from None
    try:
        infos = future.result()
    except OSError:  # socket.gaierror, and what else getaddrinfo raises
        raise TransportError(f"cannot resolve host {host}") from None
    if not infos:
        raise TransportError(f"cannot resolve host {host}")
    return infos


def _look_up(key: tuple[str, int, int], future: Future[list[AddrInfo]]) -> None:
    host, port, kind = key
    try:
        infos = socket.getaddrinfo(host, port, type=kind)
    except BaseException as exc:
        with _lookups_lock:
            _lookups.pop(key, None)
        future.set_exception(exc)
        return
    with _lookups_lock:
        _lookups.pop(key, None)
    future.set_result(infos)


# --- sockets under a deadline -------------------------------------------------------------------


def connect(
    host: str,
    port: int,
    *,
    deadline: Deadline,
    ssl_context: ssl.SSLContext | None = None,
) -> socket.socket:
    """``connect_steps``, run in this thread (the socket it returns does not block: use
    ``send_all`` and ``recv_some`` on it)."""
    return run(connect_steps(host, port, deadline=deadline, ssl_context=ssl_context))


def connect_steps(
    host: str,
    port: int,
    *,
    deadline: Deadline,
    ssl_context: ssl.SSLContext | None = None,
) -> Steps[socket.socket]:
    """A TCP connection (with TLS when ``ssl_context`` is given), up before ``deadline``: the
    name resolved and each of its addresses tried within it. The socket does not block.

    Raises ``TransportError`` saying what failed.
    """
    infos = yield from resolve_steps(host, port, kind=socket.SOCK_STREAM, deadline=deadline)
    raw: socket.socket | None = None
    error: TransportError | None = None
    for family, kind, proto, _, address in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            deadline.remaining()
            code = sock.connect_ex(address)
            if code in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
                yield Wait(sock, True, deadline)
                code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                raise OSError(code, os.strerror(code))
        except ConnectionRefusedError:
            error = TransportError("connect refused")
        except TimeoutError:
            sock.close()
            raise TransportError("connect timeout") from None
        except OSError as exc:
            error = TransportError(f"connect failed: {exc.strerror or exc}")
        except BaseException:  # given up on by whoever ran the steps
            sock.close()
            raise
        else:
            raw = sock
            break
        sock.close()
    if raw is None:
        assert error is not None
        raise error
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if ssl_context is None:
        return raw
    try:
        sock = ssl_context.wrap_socket(raw, server_hostname=host, do_handshake_on_connect=False)
        while True:
            try:
                sock.do_handshake()
                break
            except ssl.SSLWantReadError:
                yield Wait(sock, False, deadline)
            except ssl.SSLWantWriteError:
                yield Wait(sock, True, deadline)
    except ssl.SSLCertVerificationError as exc:
        raw.close()
        detail = exc.verify_message or exc.reason or "verify failed"
        raise TransportError(f"tls certificate rejected: {detail}") from None
    except ssl.SSLError as exc:
        raw.close()
        raise TransportError(f"tls handshake failed: {exc.reason or exc}") from None
    except TimeoutError:
        raw.close()
        raise TransportError("tls handshake timeout") from None
    except OSError as exc:
        raw.close()
        raise TransportError(f"tls handshake failed: {exc.strerror or exc}") from None
    except BaseException:
        raw.close()
        raise
    return sock


def send_all(sock: socket.socket, data: bytes, deadline: Deadline) -> None:
    """``send_steps``, run in this thread."""
    run(send_steps(sock, data, deadline))


def send_steps(sock: socket.socket, data: bytes, deadline: Deadline) -> Steps[None]:
    """Send every byte before ``deadline`` (``TimeoutError`` if the peer stops reading)."""
    view = memoryview(data)
    while view:
        try:
            sent = sock.send(view)
        except (BlockingIOError, InterruptedError, ssl.SSLWantWriteError):
            yield Wait(sock, True, deadline)
            continue
        except ssl.SSLWantReadError:
            yield Wait(sock, False, deadline)
            continue
        view = view[sent:]


def recv_some(sock: socket.socket, size: int, deadline: Deadline) -> bytes:
    """``recv_steps``, run in this thread."""
    return run(recv_steps(sock, size, deadline))


def recv_steps(
    sock: socket.socket, size: int, deadline: Deadline, *, wait_first: bool = False
) -> Steps[bytes]:
    """Up to ``size`` bytes, waiting at most what is left of ``deadline``; b"" at EOF.

    ``wait_first``: nothing can have come yet (the request has just gone), so wait for the
    socket before trying it; a TLS socket's bytes already decrypted are read at once.
    """
    if wait_first and not (isinstance(sock, ssl.SSLSocket) and sock.pending()):
        yield Wait(sock, False, deadline)
    while True:
        try:
            return sock.recv(size)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError):
            yield Wait(sock, False, deadline)
        except ssl.SSLWantWriteError:
            yield Wait(sock, True, deadline)


def _socket_error(exc: OSError) -> TransportError:
    """What an error in mid-exchange means, in a few words."""
    if isinstance(exc, TimeoutError):
        return TransportError("timeout waiting for reply")
    if isinstance(exc, ssl.SSLError):
        return TransportError(f"tls error: {exc.reason or exc}")
    if isinstance(exc, BrokenPipeError | ConnectionResetError | ConnectionAbortedError):
        return TransportError("connection reset by receiver")
    return TransportError(f"socket error: {exc.strerror or exc}")


# --- TCP ----------------------------------------------------------------------------------------


class TcpTransport:
    """A lazily opened TCP (or TLS) connection to one receiver path, kept open between
    exchanges when ``persistent`` (one exchange per connection otherwise).

    Any failure closes the connection and raises ``TransportError``; the next exchange opens a
    fresh one. The transport never resends by itself: whether to retry is the dispatcher's call.
    ``exchange()`` may be called from several threads (one exchange at a time); ``steps()``
    belongs to one caller at a time (a dispatcher's lane).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        use_tls: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 5.0,
        reply_timeout: float = 10.0,
        persistent: bool = True,
        max_reply_bytes: int = MAX_REPLY_BYTES,
    ) -> None:
        self.host = host
        self.port = port
        self.use_tls = use_tls
        # ``use_tls`` alone decides; the default context verifies the receiver's certificate and
        # host name.
        self.ssl_context = (ssl_context or ssl.create_default_context()) if use_tls else None
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.persistent = persistent
        self.max_reply_bytes = max_reply_bytes
        self.connections_opened = 0
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        scheme = "tls" if self.use_tls else "tcp"
        return f"<TcpTransport {scheme}://{self.host}:{self.port}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def exchange(self, data: bytes, reply_size: ReplySize) -> bytes:
        """Send ``data`` and return the reply, all within the deadline."""
        with self._lock:
            return run(self.steps(data, reply_size))

    def steps(self, data: bytes, reply_size: ReplySize) -> Steps[bytes]:
        """``exchange`` as steps."""
        sock = yield from self._connection()
        try:
            deadline = Deadline(self.reply_timeout)
            yield from send_steps(sock, data, deadline)
            reply, extra = yield from _read_reply(sock, reply_size, deadline, self.max_reply_bytes)
        except TransportError:
            self._close_locked()
            raise
        except OSError as exc:
            self._close_locked()
            raise _socket_error(exc) from None
        except Exception as exc:  # the codec said the bytes cannot become a reply
            self._close_locked()
            raise TransportError(_reason(exc)) from None
        except BaseException:  # given up on mid-exchange: the conversation is out of step
            self._close_locked()
            raise
        if extra or not self.persistent:
            # Bytes nobody asked for: this conversation is out of step. Start afresh.
            self._close_locked()
        return reply

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _connection(self) -> Steps[socket.socket]:
        if self._sock is not None and _is_stale(self._sock):
            # Idle connections get closed by receivers (and middleboxes); noticing that before
            # sending avoids a failed attempt that never reached anybody.
            self._close_locked()
        if self._sock is None:
            self._sock = yield from connect_steps(
                self.host,
                self.port,
                deadline=Deadline(self.connect_timeout),
                ssl_context=self.ssl_context,
            )
            self.connections_opened += 1
        return self._sock

    def _close_locked(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _read_reply(
    sock: socket.socket, reply_size: ReplySize, deadline: Deadline, limit: int
) -> Steps[tuple[bytes, bytes]]:
    """The first complete reply read from ``sock``, and any bytes that came after it."""
    buffer = b""
    while True:
        size = reply_size(buffer, False) if buffer else None
        if size is not None:
            return buffer[:size], buffer[size:]
        if len(buffer) > limit:
            raise TransportError(f"reply too large: over {limit} bytes")
        try:
            chunk = yield from recv_steps(sock, 65536, deadline, wait_first=not buffer)
        except ssl.SSLEOFError:
            chunk = b""  # a peer that hangs up without a TLS goodbye
        if not chunk:
            size = reply_size(buffer, True) if buffer else None
            if size is None:
                raise TransportError(
                    "connection closed mid-reply" if buffer else "connection closed by receiver"
                )
            return buffer[:size], buffer[size:]
        buffer += chunk


def _reason(exc: Exception) -> str:
    return getattr(exc, "reason", None) or str(exc) or type(exc).__name__


def _is_stale(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: EOF, a reset, or unasked-for bytes.

    Each of those makes it unusable for the next request/reply pair.
    """
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    # poll, not select: select cannot watch a descriptor numbered 1024 or more, which a
    # dispatcher with many connections open reaches.
    poller = select.poll()
    try:
        poller.register(sock, select.POLLIN)
        return bool(poller.poll(0))
    except (OSError, ValueError):
        return True


# --- HTTPS --------------------------------------------------------------------------------------


class HttpsTransport:
    """POST each package to a receiver's HTTPS URL; the response body is the reply.

    One connection per send. The connection and TLS handshake must be up within
    ``connect_timeout``; the request and the whole response (status, headers, body) must then
    arrive within ``reply_timeout``. HTTP is read with h11, a small sans-I/O HTTP/1.1 parser,
    so every socket read is ours and bounded by what is left of the deadline.
    """

    def __init__(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        connect_timeout: float = 5.0,
        reply_timeout: float = 10.0,
        content_type: str = "application/xml; charset=utf-8",
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(f"not an https URL: {url!r}")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or 443
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.ssl_context = ssl_context or ssl.create_default_context()
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
        self.content_type = content_type

    def __repr__(self) -> str:
        return f"<HttpsTransport {self.url}>"

    @property
    def _host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 443 else f"{host}:{self.port}"

    def exchange(self, data: bytes, reply_size: ReplySize | None = None) -> bytes:
        """POST ``data``; the response body is the reply (HTTP says where it ends)."""
        return run(self.steps(data, reply_size))

    def steps(self, data: bytes, reply_size: ReplySize | None = None) -> Steps[bytes]:
        """``exchange`` as steps."""
        sock = yield from connect_steps(
            self.host,
            self.port,
            deadline=Deadline(self.connect_timeout),
            ssl_context=self.ssl_context,
        )
        try:
            return (yield from self._exchange(sock, data, Deadline(self.reply_timeout)))
        except OSError as exc:
            raise _socket_error(exc) from None
        except h11.ProtocolError as exc:
            raise TransportError(f"http error: {exc}"[:200]) from None
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    def _exchange(self, sock: socket.socket, payload: bytes, deadline: Deadline) -> Steps[bytes]:
        http = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HTTP_HEADER_BYTES)
        request = http.send(
            h11.Request(
                method="POST",
                target=self.path,
                headers=[
                    ("Host", self._host_header),
                    ("Content-Type", self.content_type),
                    ("Accept", "application/xml"),
                    ("Content-Length", str(len(payload))),
                    ("Connection", "close"),
                ],
            )
        )
        yield from send_steps(sock, request + http.send(h11.Data(data=payload)), deadline)
        http.send(h11.EndOfMessage())
        response: h11.Response | None = None
        body = bytearray()
        while True:
            event = http.next_event()
            if event is h11.NEED_DATA:
                try:
                    chunk = yield from recv_steps(sock, 65536, deadline, wait_first=not response)
                except ssl.SSLEOFError:
                    chunk = b""  # a peer that hangs up without a TLS goodbye
                http.receive_data(chunk)
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_REPLY_BYTES:
                    raise TransportError(f"reply too large: over {MAX_REPLY_BYTES} bytes")
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                raise TransportError("connection closed by receiver")
        assert response is not None  # h11 delivers the Response before any Data or the end
        if not 200 <= response.status_code < 300:
            reason = response.reason.decode("ascii", "replace")
            raise TransportError(f"http {response.status_code} {reason}".strip()[:200])
        return bytes(body)

    def close(self) -> None:
        """Nothing is kept open between sends."""


# --- UDP ----------------------------------------------------------------------------------------


class UdpTransport:
    """One datagram out, one datagram back, on a fresh socket per exchange (so a late answer
    to an earlier exchange can never be read as the answer to this one). No TLS: protocols
    that use UDP encrypt their messages themselves."""

    def __init__(self, host: str, port: int, *, reply_timeout: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.reply_timeout = reply_timeout
        self.connect_timeout = 0.0

    def __repr__(self) -> str:
        return f"<UdpTransport udp://{self.host}:{self.port}>"

    def exchange(self, data: bytes, reply_size: ReplySize) -> bytes:
        return run(self.steps(data, reply_size))

    def steps(self, data: bytes, reply_size: ReplySize) -> Steps[bytes]:
        """``exchange`` as steps."""
        if len(data) > MAX_DATAGRAM_BYTES:
            raise TransportError(f"datagram too large: {len(data)} bytes")
        deadline = Deadline(self.reply_timeout)
        infos = yield from resolve_steps(
            self.host, self.port, kind=socket.SOCK_DGRAM, deadline=deadline
        )
        family, _, _, _, address = infos[0]
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            try:
                # Connected: the kernel drops datagrams from anyone but the receiver, and an
                # ICMP "port unreachable" surfaces as a refused connection.
                sock.connect(address)
                yield from send_steps(sock, data, deadline)
                while True:
                    datagram = yield from recv_steps(
                        sock, MAX_DATAGRAM_BYTES, deadline, wait_first=True
                    )
                    try:
                        size = reply_size(datagram, True)
                    except Exception as exc:
                        raise TransportError(_reason(exc)) from None
                    if size is not None:
                        return datagram[:size]
            except ConnectionRefusedError:
                raise TransportError("receiver port unreachable") from None
            except TransportError:
                raise
            except OSError as exc:
                raise _socket_error(exc) from None

    def close(self) -> None:
        """Nothing is kept open between exchanges."""
