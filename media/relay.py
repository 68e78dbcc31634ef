"""A small media relay for the demo and the tests: real HLS streams (H.264 in MPEG-TS segments,
encoded with PyAV from frames drawn with Pillow) in a folder, served by a real HTTP server on
loopback, laid out as a relay lays them out: ``<root>/<bridge serial>/<channel>/index.m3u8``.

A bridge whose ``relay_url`` is ``http://127.0.0.1:<port>/<serial>/`` then has live view for
each camera whose stream was generated. Production relays are real HLS servers; the portal only
ever talks to them over HTTP (``media.hls``).
"""

from __future__ import annotations

import functools
import threading
from fractions import Fraction
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FPS = 10
SEGMENT_SECONDS = 1
PLAYLIST = "index.m3u8"


def generate_stream(
    folder: Path, *, label: str = "Live", seconds: int = 20, width: int = 320, height: int = 180
) -> Path:
    """Write an HLS stream (playlist and 1-second segments) into ``folder``; its playlist."""
    import av
    from PIL import Image, ImageDraw

    folder.mkdir(parents=True, exist_ok=True)
    playlist = folder / PLAYLIST
    options = {
        "hls_time": str(SEGMENT_SECONDS),
        "hls_list_size": "0",
        "hls_playlist_type": "vod",
        "hls_segment_filename": str(folder / "segment%03d.ts"),
    }
    with av.open(str(playlist), "w", format="hls", options=options) as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = width, height
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, FPS)
        # A key frame every segment, so that each segment starts playable.
        stream.options = {"preset": "ultrafast", "tune": "zerolatency", "g": str(FPS)}
        for index in range(seconds * FPS):
            image = Image.new("RGB", (width, height), (15, 30, 55))
            draw = ImageDraw.Draw(image)
            x = (index * 6) % max(width - 40, 1)
            draw.rectangle([x, height // 2 - 20, x + 40, height // 2 + 20], fill=(220, 60, 60))
            draw.text((8, 8), f"{label} LIVE {index // FPS:02d}s", fill=(255, 255, 255))
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return playlist


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".m3u8": "application/vnd.apple.mpegurl",
        ".ts": "video/mp2t",
    }

    def log_message(self, format: str, *args) -> None:
        pass


class RelayServer:
    """Serves ``root`` over HTTP on loopback in a thread; ``url`` is its base, ending in ``/``.

    Use as a context manager, or ``start()`` / ``stop()``.
    """

    def __init__(self, root: Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.root = root
        handler = functools.partial(_QuietHandler, directory=str(root))
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def bridge_url(self, serial: str) -> str:
        """The ``relay_url`` of a bridge whose streams are in ``<root>/<serial>/``."""
        return f"{self.url}{serial}/"

    def start(self) -> RelayServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> RelayServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
