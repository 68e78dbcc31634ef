"""The demo's bridges: their API tokens, and generated media for the bridge simulator and the
tests (JPEG snapshots drawn with Pillow, short clips encoded with PyAV: H.264 in MP4 when the
FFmpeg build has an H.264 encoder, else VP8 in WebM)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
from datetime import datetime
from fractions import Fraction

import av
from PIL import Image, ImageDraw

H264_ENCODERS = ("libx264", "libopenh264", "h264")
# The bridges seed_demo creates (customers/demo.py); the simulator drives these.
DEMO_SERIAL_PREFIX = "DEMO-BR-"
# The zone of the deep link seed_demo prints (/monitoring?act=3444&zone=017).
DEMO_DEEP_LINK_ZONE = 17


def demo_bridge_token(serial: str) -> str:
    """A demo bridge's API token, derived from the portal's secret key: seed_demo stores its
    hash and the simulator derives it again, so no token is written to a file or printed.
    Demo only: seed_demo and the simulator refuse to run without DEBUG."""
    from django.conf import settings

    from signals.lib import TOKEN_PREFIX

    digest = hmac.new(
        settings.SECRET_KEY.encode(), f"demo-bridge-token:{serial}".encode(), hashlib.sha256
    ).digest()
    return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).decode().rstrip("=")


def seed() -> list[str]:
    """Give each demo bridge its derived token (again: the secret key may have changed);
    returns their serials."""
    from customers.models import Bridge
    from signals.lib import device_token_hash

    serials = []
    for bridge in Bridge.objects.filter(serial__startswith=DEMO_SERIAL_PREFIX).order_by("serial"):
        token_hash = device_token_hash(demo_bridge_token(bridge.serial))
        if bridge.token_hash != token_hash:
            bridge.token_hash = token_hash
            bridge.save(update_fields=["token_hash"])
        serials.append(bridge.serial)
    return serials


def h264_encoder() -> str | None:
    """The name of an H.264 encoder this PyAV build has, or None."""
    for name in H264_ENCODERS:
        try:
            codec = av.Codec(name, "w")
        except Exception:  # FFmpeg raises for an unknown or decode-only codec
            continue
        if codec.is_encoder:
            return name
    return None


def _frame_image(
    width: int, height: int, label: str, index: int, when: datetime | None
) -> Image.Image:
    image = Image.new("RGB", (width, height), (20, 40, 70))
    draw = ImageDraw.Draw(image)
    # A moving bar, so a player visibly advances.
    x = (index * 8) % max(width - 40, 1)
    draw.rectangle([x, height // 2 - 20, x + 40, height // 2 + 20], fill=(230, 180, 40))
    draw.text((8, 8), label, fill=(255, 255, 255))
    if when is not None:
        draw.text((8, height - 18), when.strftime("%Y-%m-%d %H:%M:%S %Z"), fill=(255, 255, 255))
    return image


def snapshot_jpeg(
    *,
    label: str = "Camera",
    when: datetime | None = None,
    width: int = 640,
    height: int = 360,
    index: int = 0,
) -> bytes:
    buffer = io.BytesIO()
    _frame_image(width, height, label, index, when).save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def clip(
    *,
    label: str = "Camera",
    when: datetime | None = None,
    seconds: float = 2.0,
    fps: int = 10,
    width: int = 320,
    height: int = 180,
    webm: bool | None = None,
) -> tuple[bytes, str]:
    """A short clip and its content type: MP4 (H.264) unless ``webm`` or no H.264 encoder."""
    encoder = None if webm else h264_encoder()
    container_format, codec_name, content_type = (
        ("mp4", encoder, "video/mp4") if encoder else ("webm", "libvpx", "video/webm")
    )
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container_format) as container:
        stream = container.add_stream(codec_name, rate=fps)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        if codec_name == "libx264":
            stream.options = {"preset": "ultrafast", "tune": "zerolatency"}
        for index in range(max(1, round(seconds * fps))):
            image = _frame_image(width, height, label, index, when)
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue(), content_type
