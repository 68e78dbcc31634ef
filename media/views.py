"""Media through signed portal URLs (``media.signing``): snapshots and clips (with HTTP Range,
so clips seek), and cameras' live HLS streams proxied from their bridge's media relay.

Every answer to a bad, tampered, expired or someone else's URL is a 4xx with a reason in plain
text, never a server error; a relay that fails answers 502 or 504 (the gateway's own codes).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

from django.conf import settings
from django.core.files.storage import Storage
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.views.decorators.http import require_safe
from werkzeug.http import parse_range_header

from customers.models import Camera
from media import hls, signing
from media.models import MediaItem

CHUNK = 64 * 1024


def _refused(status: int, reason: str) -> HttpResponse:
    response = HttpResponse(reason, status=status, content_type="text/plain; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return response


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@require_safe
def item(request: HttpRequest, token: str) -> HttpResponse:
    """A snapshot or clip, whole or the byte range asked for."""
    try:
        grant = signing.verify(token, kind=signing.ITEM, user=request.user)
    except signing.MediaUrlError as exc:
        return _refused(exc.status, exc.reason)
    code = _as_uuid(grant.code)
    media = (
        MediaItem.objects.filter(code=code, customer_id=grant.customer_id).first() if code else None
    )
    if media is None:
        return _refused(404, "This media is no longer kept.")
    return ranged_response(
        request,
        storage=media.file.storage,
        name=media.file.name,
        size=media.size,
        content_type=media.content_type,
        etag=f'"{media.sha256}"' if media.sha256 else "",
    )


def ranged_response(
    request: HttpRequest,
    *,
    storage: Storage,
    name: str,
    size: int,
    content_type: str,
    etag: str = "",
) -> HttpResponse:
    """The file whole (200), or the one byte range the ``Range`` header asks for (206), or 416
    for a range past its end. The header is parsed by werkzeug; a header it cannot read, or
    several ranges, get the whole file (RFC 9110 lets a server ignore Range)."""
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": "inline",
        # Private: another user of a shared cache must never get it; short: the URL expires.
        "Cache-Control": f"private, max-age={settings.MEDIA_URL_MAX_AGE_SECONDS}",
    }
    if etag:
        headers["ETag"] = etag
    start, stop, status = 0, size, 200
    asked = request.headers.get("Range")
    if_range = request.headers.get("If-Range")
    if asked and (not if_range or (etag and if_range == etag)):
        parsed = parse_range_header(asked)
        if parsed is not None and parsed.units == "bytes" and len(parsed.ranges) == 1:
            bounds = parsed.range_for_length(size)
            if bounds is None:
                response = _refused(416, "The range asked for is outside the file.")
                response["Content-Range"] = f"bytes */{size}"
                return response
            start, stop = bounds
            status = 206
            headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    response = StreamingHttpResponse(
        _read(storage, name, start, stop), status=status, content_type=content_type
    )
    for key, value in headers.items():
        response[key] = value
    response["Content-Length"] = str(stop - start)
    return response


def _read(storage: Storage, name: str, start: int, stop: int) -> Iterator[bytes]:
    """Bytes ``start`` to ``stop`` of a stored file, a chunk at a time; closed however the
    response ends (Django closes the iterator)."""
    with storage.open(name, "rb") as handle:
        handle.seek(start)
        left = stop - start
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk


@require_safe
def live(request: HttpRequest, token: str) -> HttpResponse:
    """A camera's live HLS playlist (its URIs rewritten into signed portal URLs) or one of its
    segments, fetched from the bridge's relay under a deadline."""
    try:
        grant = signing.verify(token, kind=signing.LIVE, user=request.user)
    except signing.MediaUrlError as exc:
        return _refused(exc.status, exc.reason)
    code = _as_uuid(grant.code)
    camera = (
        Camera.objects.select_related("bridge")
        .filter(code=code, bridge__customer_id=grant.customer_id)
        .first()
        if code
        else None
    )
    if camera is None or not camera.bridge.relay_url or not camera.stream_url:
        return _refused(404, "This camera has no live stream.")
    root = hls.camera_root(camera.bridge.relay_url, camera.channel)
    playlist = hls.is_playlist(grant.path)
    try:
        url = hls.resolve(root, grant.path)
        content_type = "" if playlist else hls.segment_type(grant.path)
        fetched = hls.fetch(
            url,
            timeout=settings.MEDIA_RELAY_TIMEOUT_SECONDS,
            max_bytes=hls.MAX_PLAYLIST_BYTES if playlist else hls.MAX_SEGMENT_BYTES,
        )
        if fetched.status == 404:
            raise hls.RelayError(404, "The camera's live stream is not running.")
        if fetched.status != 200:
            raise hls.RelayError(502, f"The relay answered {fetched.status}.")
        if not playlist:
            response = HttpResponse(fetched.body, content_type=content_type)
            response["Cache-Control"] = "private, max-age=60"
            return response
        try:
            text = fetched.body.decode("utf-8")
        except UnicodeDecodeError:
            raise hls.RelayError(502, "The relay's playlist is not text.") from None
        if not text.lstrip("\ufeff").startswith("#EXTM3U"):
            raise hls.RelayError(502, "The relay's answer is not an HLS playlist.")
        urls = signing.MediaUrls(request.user)
        body = hls.rewrite_playlist(
            text,
            root=root,
            base_url=url,
            sign=lambda path: urls.live(camera, path=path),
        )
    except hls.RelayError as exc:
        return _refused(exc.status, exc.reason)
    response = HttpResponse(body, content_type="application/vnd.apple.mpegurl")
    response["Cache-Control"] = "no-store"
    return response
