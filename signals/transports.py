"""Moving a codec's bytes to a receiver and its reply back: length-prefixed TCP (optionally TLS)
and HTTPS POST. Transports know nothing of XML; codecs know nothing of sockets.

TCP framing: every message, either way, is a 4-byte unsigned big-endian length followed by that
many bytes. A connection carries any number of request/reply pairs, one at a time.
"""

from __future__ import annotations

import contextlib
import http.client
import select
import socket
import ssl
import struct
import threading
import time
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import urlsplit

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 256 * 1024


class TransportError(Exception):
    """The bytes did not make it there and back; ``reason`` is short enough for a status column."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transport(Protocol):
    def send(self, payload: bytes) -> bytes: ...

    def close(self) -> None: ...


# --- framing ------------------------------------------------------------------------------------


def encode_frame(payload: bytes) -> bytes:
    """``payload`` with its length prefix; refuses anything over ``MAX_FRAME_BYTES``."""
    if len(payload) > MAX_FRAME_BYTES:
        raise TransportError(f"frame too large: {len(payload)} bytes (limit {MAX_FRAME_BYTES})")
    return HEADER.pack(len(payload)) + payload


def recv_frame(sock: socket.socket, *, deadline: float | None = None) -> bytes | None:
    """Read one frame; ``None`` when the peer closed cleanly between frames.

    ``deadline`` (a ``time.monotonic()`` value) bounds the whole frame, so a peer dribbling one
    byte at a time cannot hold the reader past it; ``TimeoutError`` is raised when it passes.
    """
    header = _recv_exact(sock, HEADER.size, deadline, allow_eof=True)
    if header is None:
        return None
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise TransportError(f"frame too large: {length} bytes (limit {MAX_FRAME_BYTES})")
    body = _recv_exact(sock, length, deadline, allow_eof=False)
    assert body is not None  # allow_eof=False raises instead
    return body


def _recv_exact(
    sock: socket.socket, size: int, deadline: float | None, *, allow_eof: bool
) -> bytes | None:
    chunks: list[bytes] = []
    received = 0
    while received < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("deadline passed")
            sock.settimeout(remaining)
        chunk = sock.recv(min(size - received, 65536))
        if not chunk:
            if allow_eof and received == 0:
                return None
            raise TransportError("connection closed mid-frame")
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


# --- TCP ----------------------------------------------------------------------------------------


class TcpTransport:
    """A persistent, lazily opened TCP (or TLS) connection to one receiver path.

    Any failure closes the connection and raises ``TransportError``; the next ``send`` opens a
    fresh one. The transport never resends by itself: whether to retry is the dispatcher's call.
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
    ) -> None:
        self.host = host
        self.port = port
        self.use_tls = use_tls
        # The default context verifies the receiver's certificate and host name.
        self.ssl_context = ssl_context or (ssl.create_default_context() if use_tls else None)
        self.connect_timeout = connect_timeout
        self.reply_timeout = reply_timeout
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

    def send(self, payload: bytes) -> bytes:
        """Send one frame and return the receiver's reply frame."""
        frame = encode_frame(payload)
        with self._lock:
            sock = self._connection()
            try:
                deadline = time.monotonic() + self.reply_timeout
                sock.settimeout(self.reply_timeout)
                sock.sendall(frame)
                reply = recv_frame(sock, deadline=deadline)
            except TransportError:
                self._close_locked()
                raise
            except TimeoutError:
                self._close_locked()
                raise TransportError("timeout waiting for reply") from None
            except ssl.SSLError as exc:
                self._close_locked()
                raise TransportError(f"tls error: {exc.reason or exc}") from None
            except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
                self._close_locked()
                raise TransportError("connection reset by receiver") from None
            except OSError as exc:
                self._close_locked()
                raise TransportError(f"socket error: {exc.strerror or exc}") from None
            if reply is None:
                self._close_locked()
                raise TransportError("connection closed by receiver")
            return reply

    def close(self) -> None:
        with self._lock:
            self._close_locked()

    def _connection(self) -> socket.socket:
        if self._sock is not None and _is_stale(self._sock):
            # Idle connections get closed by receivers (and middleboxes); noticing that before
            # sending avoids a failed attempt that never reached anybody.
            self._close_locked()
        if self._sock is None:
            self._sock = self._connect()
        return self._sock

    def _connect(self) -> socket.socket:
        try:
            raw = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        except ConnectionRefusedError:
            raise TransportError("connect refused") from None
        except TimeoutError:
            raise TransportError("connect timeout") from None
        except socket.gaierror:
            raise TransportError(f"cannot resolve host {self.host}") from None
        except OSError as exc:
            raise TransportError(f"connect failed: {exc.strerror or exc}") from None
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl_context is None:
            sock = raw
        else:
            try:
                # The handshake runs under the connect timeout set on ``raw``.
                sock = self.ssl_context.wrap_socket(raw, server_hostname=self.host)
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
        self.connections_opened += 1
        return sock

    def _close_locked(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _is_stale(sock: socket.socket) -> bool:
    """Whether an idle connection has something to read: EOF, a reset, or unasked-for bytes.

    Each of those makes it unusable for the next request/reply pair.
    """
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


# --- HTTPS --------------------------------------------------------------------------------------


class HttpsTransport:
    """POST each package to a receiver's HTTPS URL; the response body is the reply.

    One connection per send. ``timeout`` applies to the connect and to each read.
    """

    def __init__(
        self,
        url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 10.0,
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
        self.timeout = timeout
        self.content_type = content_type

    def __repr__(self) -> str:
        return f"<HttpsTransport {self.url}>"

    def send(self, payload: bytes) -> bytes:
        if len(payload) > MAX_FRAME_BYTES:
            raise TransportError(f"payload too large: {len(payload)} bytes")
        conn = http.client.HTTPSConnection(
            self.host, self.port, timeout=self.timeout, context=self.ssl_context
        )
        try:
            conn.request(
                "POST",
                self.path,
                body=payload,
                headers={"Content-Type": self.content_type, "Accept": "application/xml"},
            )
            response = conn.getresponse()
            body = response.read(MAX_FRAME_BYTES + 1)
        except ConnectionRefusedError:
            raise TransportError("connect refused") from None
        except ssl.SSLCertVerificationError as exc:
            detail = exc.verify_message or exc.reason or "verify failed"
            raise TransportError(f"tls certificate rejected: {detail}") from None
        except ssl.SSLError as exc:
            raise TransportError(f"tls error: {exc.reason or exc}") from None
        except TimeoutError:
            raise TransportError("timeout waiting for reply") from None
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            raise TransportError("connection closed by receiver") from None
        except http.client.HTTPException as exc:
            raise TransportError(f"http error: {type(exc).__name__}") from None
        except OSError as exc:
            raise TransportError(f"connect failed: {exc.strerror or exc}") from None
        finally:
            conn.close()
        if len(body) > MAX_FRAME_BYTES:
            raise TransportError("reply too large")
        if not 200 <= response.status < 300:
            raise TransportError(f"http {response.status} {response.reason}".strip())
        return body

    def close(self) -> None:
        """Nothing is kept open between sends."""
