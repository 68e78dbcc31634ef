"""Live view: fetching a camera's HLS stream from its bridge's media relay, and rewriting the
relay's playlists so that a browser only ever sees portal URLs.

The bridge pushes each camera to a media relay (any HLS server: MediaMTX, nginx-rtmp, a CDN
origin ...). ``customers.Bridge.relay_url`` is where that bridge's streams are; a camera's
playlist is ``<relay_url>/<channel>/index.m3u8``. The portal fetches from the relay, on behalf
of a browser holding a signed portal URL (``media.signing``), under one deadline for the whole
fetch (connect, request and the whole body), with a size limit, and never follows a URI that
leaves the camera's own path on the relay. No relay address ever reaches the page.

Plain helpers: no queries; the views feed them rows.
"""

from __future__ import annotations

import posixpath
import re
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import h11

from signals.transports import Deadline, TransportError, connect, recv_some, send_all

PLAYLIST = "index.m3u8"
# A playlist is text of a few KiB; a segment a few seconds of video.
MAX_PLAYLIST_BYTES = 256 * 1024
MAX_SEGMENT_BYTES = 32 * 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
PLAYLIST_TYPES = ("application/vnd.apple.mpegurl", "application/x-mpegurl", "audio/mpegurl")
# What a segment (or init section) may be sent to the browser as; anything else is refused.
SEGMENT_TYPES = {
    ".ts": "video/mp2t",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".aac": "audio/aac",
    ".vtt": "text/vtt",
}
_URI_ATTRIBUTE = re.compile(r'URI="([^"]*)"')


class RelayError(Exception):
    """The relay could not give what was asked (``status`` is what the browser gets)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def camera_root(relay_url: str, channel: int) -> str:
    """The folder of one camera's stream on the relay, ending in ``/``."""
    return f"{relay_url.rstrip('/')}/{channel}/"


def _suspicious(path: str) -> bool:
    # Encoded dots or slashes, or backslashes, could climb out once the relay decodes them.
    lowered = path.lower()
    return "%2e" in lowered or "%2f" in lowered or "%5c" in lowered or "\\" in path


def resolve(root: str, path: str) -> str:
    """The relay URL of ``path`` (relative to the camera's folder), or ``RelayError`` if it
    would leave that folder (``..``, an absolute URL elsewhere, another host)."""
    if not path:
        path = PLAYLIST
    url = urljoin(root, path)
    if not url.startswith(root) or _suspicious(path):
        raise RelayError(403, "The stream names a file outside this camera's stream.")
    return url


def relative(root: str, base_url: str, uri: str) -> str:
    """A URI found in a playlist fetched from ``base_url``, as a path inside the camera's
    folder; ``RelayError`` for one that leaves it."""
    url = urljoin(base_url, uri.strip())
    split = urlsplit(url)
    if not url.startswith(root) or split.fragment or _suspicious(uri):
        raise RelayError(502, "The relay's playlist points outside this camera's stream.")
    path = url[len(root) :]
    # Normalise "a/./b" and refuse anything that climbs out once normalised.
    clean = posixpath.normpath(split.path[len(urlsplit(root).path) :])
    if clean.startswith(("..", "/")):
        raise RelayError(502, "The relay's playlist points outside this camera's stream.")
    return path


def rewrite_playlist(text: str, *, root: str, base_url: str, sign: Callable[[str], str]) -> str:
    """The playlist with every URI (segment lines, and ``URI="..."`` of keys, maps and
    renditions) replaced by ``sign(path)``: a signed portal URL for that path."""
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            lines.append("")
        elif stripped.startswith("#"):
            lines.append(
                _URI_ATTRIBUTE.sub(
                    lambda m: f'URI="{sign(relative(root, base_url, m.group(1)))}"', stripped
                )
            )
        else:
            lines.append(sign(relative(root, base_url, stripped)))
    return "\n".join(lines) + "\n"


def segment_type(path: str) -> str:
    """The content type a segment is served as, by its name; ``RelayError`` if not media."""
    extension = posixpath.splitext(urlsplit(path).path)[1].lower()
    if extension not in SEGMENT_TYPES:
        raise RelayError(502, "The relay offered something that is not a video segment.")
    return SEGMENT_TYPES[extension]


def is_playlist(path: str) -> bool:
    return urlsplit(path or PLAYLIST).path.lower().endswith(".m3u8")


@dataclass
class Fetched:
    status: int
    content_type: str
    body: bytes


def fetch(url: str, *, timeout: float, max_bytes: int) -> Fetched:
    """GET ``url`` (http or https) with one deadline for all of it: connecting, sending, and
    reading the headers and the whole body. ``RelayError`` (502/504) for anything else."""
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise RelayError(502, "The relay address is not an http(s) URL.")
    deadline = Deadline(timeout)
    port = split.port or (443 if split.scheme == "https" else 80)
    target = split.path or "/"
    if split.query:
        target += f"?{split.query}"
    context = ssl.create_default_context() if split.scheme == "https" else None
    try:
        sock = connect(split.hostname, port, deadline=deadline, ssl_context=context)
    except TimeoutError:
        raise RelayError(504, "The relay did not answer in time.") from None
    except TransportError as exc:
        if "timeout" in exc.reason:
            raise RelayError(504, "The relay did not answer in time.") from None
        raise RelayError(502, "The relay cannot be reached.") from None
    try:
        return _exchange(sock, split.netloc, target, deadline, max_bytes)
    except TimeoutError:
        raise RelayError(504, "The relay did not answer in time.") from None
    except (OSError, h11.ProtocolError):
        raise RelayError(502, "The relay's answer was cut off or unreadable.") from None
    finally:
        sock.close()


def _exchange(sock, host: str, target: str, deadline: Deadline, max_bytes: int) -> Fetched:
    connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEADER_BYTES)
    request = h11.Request(
        method="GET",
        target=target,
        headers=[("Host", host), ("User-Agent", "dealer-portal-live"), ("Connection", "close")],
    )
    send_all(sock, connection.send(request) + connection.send(h11.EndOfMessage()), deadline)
    response: h11.Response | None = None
    body = bytearray()
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            connection.receive_data(recv_some(sock, 65536, deadline))
            continue
        if isinstance(event, h11.Response):
            response = event
            length = dict(event.headers).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > max_bytes:
                raise RelayError(502, "The relay's answer is too large.")
        elif isinstance(event, h11.Data):
            body += event.data
            if len(body) > max_bytes:
                raise RelayError(502, "The relay's answer is too large.")
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            break
    if response is None:
        raise RelayError(502, "The relay closed without an answer.")
    headers = dict(response.headers)
    content_type = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip()
    return Fetched(response.status_code, content_type.lower(), bytes(body))
