"""Hostile and broken uploads, built from real media: each must be refused with nothing stored."""

from __future__ import annotations

import io
import struct
import zipfile

from PIL import Image

from media import demo


def _sof_dimensions(jpeg: bytes, width: int, height: int) -> bytes:
    """The same JPEG with its frame header claiming other dimensions (a decompression bomb:
    a small file whose header asks for billions of pixels)."""
    data = bytearray(jpeg)
    pos = 2
    while pos < len(data):
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in (0xC0, 0xC1, 0xC2):
            data[pos + 5 : pos + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        pos += 2 + length
    raise ValueError("no frame header")


def jpeg(width: int = 64, height: int = 48) -> bytes:
    return demo.snapshot_jpeg(width=width, height=height)


def decompression_bomb() -> bytes:
    return _sof_dimensions(jpeg(), 60000, 60000)


def polyglot_zip() -> bytes:
    """A JPEG that is also a ZIP archive (the archive appended after the image)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("payload.html", "<script>alert(1)</script>")
    return jpeg() + archive.getvalue()


def polyglot_html() -> bytes:
    return jpeg() + b"<html><body><script>alert(document.cookie)</script></body></html>"


def html_in_comment() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buffer, "JPEG", comment=b"<script>alert(1)</script>")
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = jpeg(320, 240)
    return data[: len(data) * 2 // 3]


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), "red").save(buffer, "PNG")
    return buffer.getvalue()


def clip(webm: bool = False) -> bytes:
    return demo.clip(seconds=1.0, webm=webm)[0]


def truncated_clip(webm: bool = False) -> bytes:
    data = clip(webm)
    return data[: len(data) * 2 // 3]


def mpeg4_part2_in_mp4() -> bytes:
    """A real MP4 whose video is MPEG-4 Part 2, not H.264."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(5):
            frame = av.VideoFrame.from_image(Image.new("RGB", (64, 48), "blue"))
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()
