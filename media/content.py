"""What an uploaded file really is, decided from its bytes (never from what the device said).

A snapshot must be one whole baseline/progressive JPEG and nothing else: Pillow decodes it,
after its declared size has been checked against a pixel limit (a decompression bomb is
refused before a single pixel is decoded); its marker structure is walked so that nothing may
follow the end of the image or hide in its metadata (a JPEG+ZIP or JPEG+HTML polyglot).

A clip must be MP4 with H.264 video or WebM with VP8/VP9/AV1 video: the container is checked
to fill the file exactly (MP4 boxes, the WebM segment), then PyAV (FFmpeg) demuxes and decodes
every frame; a clip that stops before its declared duration is truncated.

Everything here works on bytes in memory and raises ``MediaRefused`` with a reason a device's
developer can act on. No Django, no database.
"""

from __future__ import annotations

import hashlib
import io
import logging
import struct
from dataclasses import dataclass

import av
from PIL import Image

logger = logging.getLogger(__name__)

JPEG = "image/jpeg"
MP4 = "video/mp4"
WEBM = "video/webm"

# FFmpeg logs every oddity of a hostile file to stderr: decoding errors are ours to report.
av.logging.set_level(av.logging.PANIC)

# Byte strings that have no business in a camera's JPEG metadata: archives, markup, scripts.
_SMUGGLED = (b"PK\x03\x04", b"PK\x05\x06", b"<html", b"<script", b"<?php", b"<svg", b"<!doctype")
# Padding some encoders leave after the end-of-image marker.
_PADDING = frozenset(b"\x00\xff\r\n")
_MP4_VIDEO_CODECS = frozenset({"h264"})
_WEBM_VIDEO_CODECS = frozenset({"vp8", "vp9", "av1"})
# The MP4 box types a clip's top level may hold.
_MP4_TOP_BOXES = frozenset(
    {
        b"ftyp",
        b"moov",
        b"mdat",
        b"free",
        b"skip",
        b"wide",
        b"uuid",
        b"meta",
        b"moof",
        b"mfra",
        b"sidx",
        b"styp",
        b"pdin",
        b"udta",
    }
)


class MediaRefused(Exception):
    """The upload is not acceptable media; the message says why. ``wrong_type``: it is not
    the kind of file asked for at all (rather than a damaged or hostile one of that kind)."""

    def __init__(self, message: str, *, wrong_type: bool = False) -> None:
        super().__init__(message)
        self.wrong_type = wrong_type


@dataclass(frozen=True)
class Inspected:
    content_type: str
    size: int
    sha256: str
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None


def sniff(data: bytes) -> str | None:
    """The content type the first bytes announce (to be confirmed by decoding), or None."""
    if data[:3] == b"\xff\xd8\xff":
        return JPEG
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return MP4
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return WEBM
    return None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- JPEG -----------------------------------------------------------------------------------


def _jpeg_end(data: bytes) -> int:
    """The offset just after the JPEG's end-of-image marker, walking its segments; refuses
    metadata that smuggles another format."""
    pos = 2  # after SOI
    size = len(data)
    while True:
        # Markers may be preceded by fill bytes 0xFF.
        while pos < size and data[pos] == 0xFF and pos + 1 < size and data[pos + 1] == 0xFF:
            pos += 1
        if pos + 1 >= size or data[pos] != 0xFF:
            raise MediaRefused("The JPEG is truncated or damaged: a marker is missing.")
        marker = data[pos + 1]
        pos += 2
        if marker == 0xD9:  # EOI without any scan
            raise MediaRefused("The JPEG has no image data.")
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue  # markers without a length
        if pos + 2 > size:
            raise MediaRefused("The JPEG is truncated: a segment is cut off.")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > size:
            raise MediaRefused("The JPEG is truncated or damaged: a segment overruns the file.")
        segment = data[pos + 2 : pos + length]
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:  # APPn and COM: metadata
            lowered = segment.lower()
            if any(sign in lowered for sign in _SMUGGLED):
                raise MediaRefused(
                    "The JPEG's metadata holds another kind of file (an archive or markup)."
                )
        pos += length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
    # Entropy-coded data: 0xFF is followed by 0x00 (stuffing), a restart marker, or a marker
    # that ends the scan (another scan's segments in a progressive JPEG, or EOI).
    while True:
        found = data.find(b"\xff", pos)
        if found < 0 or found + 1 >= size:
            raise MediaRefused("The JPEG is truncated: it has no end-of-image marker.")
        following = data[found + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
            pos = found + 1
            continue
        if following == 0xD9:
            return found + 2
        # A segment between scans (DHT, SOS, ...): walk it like the header.
        pos = found + 2
        if pos + 2 > size:
            raise MediaRefused("The JPEG is truncated: a segment is cut off.")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2 or pos + length > size:
            raise MediaRefused("The JPEG is truncated or damaged: a segment overruns the file.")
        segment = data[pos + 2 : pos + length]
        if (0xE0 <= following <= 0xEF or following == 0xFE) and any(
            sign in segment.lower() for sign in _SMUGGLED
        ):
            raise MediaRefused(
                "The JPEG's metadata holds another kind of file (an archive or markup)."
            )
        pos += length


def inspect_jpeg(data: bytes, *, max_pixels: int) -> Inspected:
    end = _jpeg_end(data)
    trailer = data[end:]
    if trailer and not set(trailer) <= _PADDING:
        raise MediaRefused(
            f"{len(trailer)} bytes follow the end of the JPEG image: a snapshot is one image "
            "and nothing else."
        )
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG"]) as image:
            width, height = image.size
            if width <= 0 or height <= 0:
                raise MediaRefused("The JPEG has no pixels.")
            if width * height > max_pixels:
                raise MediaRefused(
                    f"The JPEG is {width}x{height} pixels; at most {max_pixels} pixels are "
                    "accepted."
                )
            image.load()  # decodes every pixel: a truncated or corrupt image fails here
    except MediaRefused:
        raise
    except Image.DecompressionBombError:
        raise MediaRefused("The JPEG declares too many pixels.") from None
    except Exception as exc:  # Pillow raises OSError, SyntaxError, ValueError ...
        raise MediaRefused(
            f"The file does not decode as a JPEG image ({type(exc).__name__})."
        ) from None
    return Inspected(JPEG, len(data), _digest(data), width=width, height=height)


# --- clips ----------------------------------------------------------------------------------


def _mp4_boxes_fill(data: bytes) -> None:
    """The top-level MP4 boxes must tile the file exactly."""
    pos, size = 0, len(data)
    seen = set()
    while pos < size:
        if pos + 8 > size:
            raise MediaRefused("The MP4 is truncated: a box header is cut off.")
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if length == 1:
            if pos + 16 > size:
                raise MediaRefused("The MP4 is truncated: a box header is cut off.")
            (length,) = struct.unpack(">Q", data[pos + 8 : pos + 16])
        elif length == 0:
            length = size - pos  # the last box runs to the end of the file
        if kind not in _MP4_TOP_BOXES:
            raise MediaRefused(f"The MP4 holds an unexpected top-level box {kind!r}.")
        if length < 8 or pos + length > size:
            raise MediaRefused("The MP4 is truncated: a box runs past the end of the file.")
        seen.add(kind)
        pos += length
    if b"moov" not in seen and b"moof" not in seen:
        raise MediaRefused("The MP4 has no movie header (moov): it is truncated or damaged.")


def _ebml_vint(data: bytes, pos: int) -> tuple[int, int, bool]:
    """An EBML variable-size integer at ``pos``: (value, its length, whether 'unknown')."""
    if pos >= len(data):
        raise MediaRefused("The WebM is truncated.")
    first = data[pos]
    length = 1
    mask = 0x80
    while length <= 8 and not first & mask:
        mask >>= 1
        length += 1
    if length > 8 or pos + length > len(data):
        raise MediaRefused("The WebM is damaged: a size field is invalid.")
    value = first & (mask - 1)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    unknown = value == (1 << (7 * length)) - 1
    return value, length, unknown


def _webm_fills(data: bytes) -> None:
    """The EBML header and the segment (when its size is known) must fill the file exactly."""
    pos = 4  # EBML header id
    header_size, n, _ = _ebml_vint(data, pos)
    pos += n + header_size
    if data[pos : pos + 4] != b"\x18\x53\x80\x67":
        raise MediaRefused("The WebM has no segment after its header.")
    pos += 4
    segment_size, n, unknown = _ebml_vint(data, pos)
    pos += n
    if unknown:
        return  # a live recording: the decoder's check below has to do
    if pos + segment_size > len(data):
        raise MediaRefused("The WebM is truncated: its segment runs past the end of the file.")
    trailer = data[pos + segment_size :]
    if trailer.strip(b"\x00"):
        raise MediaRefused(
            f"{len(trailer)} bytes follow the end of the WebM segment: a clip is one video "
            "and nothing else."
        )


def inspect_clip(data: bytes, *, max_pixels: int, max_seconds: float) -> Inspected:
    kind = sniff(data)
    if kind == MP4:
        _mp4_boxes_fill(data)
        demuxer, codecs = "mp4", _MP4_VIDEO_CODECS
    elif kind == WEBM:
        _webm_fills(data)
        demuxer, codecs = "webm", _WEBM_VIDEO_CODECS
    else:
        raise MediaRefused("A clip must be MP4 (H.264) or WebM.")
    try:
        with av.open(io.BytesIO(data), format=demuxer, mode="r") as container:
            if len(container.streams.video) != 1:
                raise MediaRefused("A clip has exactly one video stream.")
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            if codec not in codecs:
                wanted = "H.264" if kind == MP4 else "VP8, VP9 or AV1"
                raise MediaRefused(f"The clip's video is {codec}; a {kind} clip must be {wanted}.")
            width, height = stream.codec_context.width, stream.codec_context.height
            if not width or not height or width * height > max_pixels:
                raise MediaRefused(
                    f"The clip is {width}x{height} pixels; at most {max_pixels} pixels are "
                    "accepted."
                )
            declared = container.duration / av.time_base if container.duration else None
            if declared is not None and declared > max_seconds:
                raise MediaRefused(f"The clip lasts {declared:.0f} s; at most {max_seconds} s.")
            time_base = float(stream.time_base or 0)
            frames = 0
            end = 0.0
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's flush packet
                if packet.is_corrupt:
                    raise MediaRefused("The clip holds a damaged frame.")
                if packet.pts is not None:
                    end = max(end, (packet.pts + (packet.duration or 0)) * time_base)
                if end > max_seconds:
                    raise MediaRefused(f"The clip lasts more than {max_seconds} s.")
                frames += len(packet.decode())
            for _ in stream.codec_context.decode(None):
                frames += 1
    except MediaRefused:
        raise
    except Exception as exc:  # FFmpeg's errors (InvalidDataError ...) and anything odd
        raise MediaRefused(
            f"The file does not decode as a {kind} clip ({type(exc).__name__})."
        ) from None
    if frames == 0:
        raise MediaRefused("The clip has no frames that decode.")
    if stream.frames and frames < stream.frames:
        raise MediaRefused(f"The clip is truncated: {frames} of its {stream.frames} frames decode.")
    if declared is not None and end + 0.05 < declared * 0.98:
        raise MediaRefused(
            f"The clip is truncated: it stops at {end:.2f} s of its {declared:.2f} s."
        )
    duration = declared if declared is not None else end
    return Inspected(kind, len(data), _digest(data), width, height, round(duration, 3))


def inspect(data: bytes, *, kind: str, max_pixels: int, max_seconds: float) -> Inspected:
    """Check an upload of ``kind`` ("snapshot" or "clip"); raises ``MediaRefused``."""
    if not data:
        raise MediaRefused("The file is empty (0 bytes).")
    sniffed = sniff(data)
    if kind == "snapshot":
        if sniffed != JPEG:
            raise MediaRefused(
                "A snapshot must be a JPEG image; this file is not one.", wrong_type=True
            )
        return inspect_jpeg(data, max_pixels=max_pixels)
    if sniffed not in (MP4, WEBM):
        raise MediaRefused(
            "A clip must be MP4 (H.264) or WebM; this file is neither.", wrong_type=True
        )
    return inspect_clip(data, max_pixels=max_pixels, max_seconds=max_seconds)
