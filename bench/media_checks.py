"""What checking an upload by its content costs (media/content.py), against a floor measured
in the same run.

    .venv/bin/python bench/media_checks.py [--repeat 20]

- floor: SHA-256 of the same bytes, which storing any upload costs anyway (the portal keeps
  each file's hash); no decoding.
- snapshot: a 1920x1080 JPEG of camera-like noise (a few hundred KiB), its markers walked and
  every pixel decoded by Pillow.
- clip: 6 s of 1280x720 noise at 10 fps and 2 Mbit/s (H.264 in MP4 when this FFmpeg has an
  encoder; and VP8 in WebM), its container checked to fill the file, every frame demuxed and
  decoded by PyAV.

Each case has its own floor (the hash of its own bytes) and they take turns, so that a shared
machine's load falls on both alike. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import io
from fractions import Fraction

import av
from _harness import interleaved, report
from PIL import Image

from media import content, demo


def noise(width: int, height: int, seed: int) -> Image.Image:
    """A frame with as much detail as a camera's: noise over a gradient."""
    base = Image.linear_gradient("L").resize((width, height))
    grain = Image.effect_noise((width, height), 40 + seed % 7)
    return Image.merge("RGB", (base, grain, Image.blend(base, grain, 0.5)))


def jpeg(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    noise(width, height, 0).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def clip(width: int, height: int, seconds: int, fps: int, *, webm: bool) -> bytes:
    encoder = None if webm else demo.h264_encoder()
    fmt, codec = ("mp4", encoder) if encoder else ("webm", "libvpx")
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.bit_rate = 2_000_000  # what a camera's main stream sends at 720p
        if codec == "libx264":
            stream.options = {"preset": "ultrafast"}
        for index in range(seconds * fps):
            frame = av.VideoFrame.from_image(noise(width, height, index))
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    limits = {"max_pixels": 40_000_000, "max_seconds": 660}
    files = {
        "snapshot 1080p JPEG": ("snapshot", jpeg(1920, 1080)),
        "clip 720p 6 s MP4/H.264": ("clip", clip(1280, 720, 6, 10, webm=False)),
        "clip 720p 6 s WebM/VP8": ("clip", clip(1280, 720, 6, 10, webm=True)),
    }
    for label, (kind, data) in files.items():
        size = f"{len(data) // 1024} KiB"
        samples = interleaved(
            {
                "floor": lambda data=data: hashlib.sha256(data).hexdigest(),
                label: lambda kind=kind, data=data: content.inspect(data, kind=kind, **limits),
            },
            repeat=args.repeat,
        )
        report(f"floor: sha256 of {size}", samples["floor"])
        report(f"{label} ({size})", samples[label], samples["floor"])


if __name__ == "__main__":
    main()
