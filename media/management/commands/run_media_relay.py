"""Serve the demo's live video: an HLS stream for each camera of the demo's bridges, over HTTP
on loopback (``media.relay``), and point those bridges' relay URL at it, so that the operator's
"Watch live" plays in ``make run`` (``run_all`` starts this).

Production bridges push to a real media relay; this stands in for one. Streams are generated
once into ``--root`` (``var/relay`` by default) and kept.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from customers.models import Bridge
from media.demo import DEMO_SERIAL_PREFIX
from media.relay import PLAYLIST, RelayServer, generate_stream


class Command(BaseCommand):
    help = "Serve the demo bridges' cameras as HLS on loopback and set their relay URL."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:9200", help="host:port to listen on")
        parser.add_argument(
            "--root",
            type=Path,
            default=Path(settings.BASE_DIR) / "var" / "relay",
            help="Where the generated streams are kept.",
        )
        parser.add_argument(
            "--seconds", type=int, default=60, help="Length of each generated stream."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, _, port = options["addr"].rpartition(":")
        if not host or not port.isdigit():
            raise CommandError("--addr is host:port, e.g. 127.0.0.1:9200")
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())

        serve(
            options["root"],
            host=host,
            port=int(port),
            seconds=options["seconds"],
            stop=stop,
            ready=lambda server, count: self.stdout.write(
                f"Serving live video of {count} demo bridge(s) on {server.url}"
            ),
        )


def serve(
    root: Path,
    *,
    host: str,
    port: int,
    seconds: int,
    stop: threading.Event,
    ready: Callable[[RelayServer, int], None] | None = None,
) -> None:
    """Generate what is missing, point the demo bridges at the relay, serve until ``stop``."""
    bridges = list(
        Bridge.objects.filter(serial__startswith=DEMO_SERIAL_PREFIX)
        .prefetch_related("cameras")
        .order_by("serial")
    )
    server = RelayServer(root, host=host, port=port).start()
    try:
        for bridge in bridges:
            for camera in bridge.cameras.all():
                if stop.is_set():
                    return
                folder = root / bridge.serial / str(camera.channel)
                if not (folder / PLAYLIST).exists():
                    generate_stream(folder, label=camera.name, seconds=seconds)
                if not camera.stream_url:
                    # Where the bridge would read the camera; never shown to a browser.
                    camera.stream_url = (
                        f"rtsp://{bridge.serial.lower()}.demo.invalid/{camera.channel}"
                    )
                    camera.save(update_fields=["stream_url"])
            bridge.relay_url = server.bridge_url(bridge.serial)
            bridge.save(update_fields=["relay_url"])
        if ready is not None:
            ready(server, len(bridges))
        stop.wait()
    finally:
        server.stop()
