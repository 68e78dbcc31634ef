"""Pretend to be the demo's bridges: heartbeats, an alarm every few minutes with generated
snapshots and a generated clip, and answers to "last two minutes" requests.

``make run`` starts it (portal/management/commands/run_all.py). It talks to the portal over
HTTP like a real bridge, with the token seed_demo gave each demo bridge (media/demo.py derives
it from the secret key; nothing secret is stored or printed).
"""

from __future__ import annotations

import json
import logging
import random
import signal
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from customers.models import Bridge
from media import demo

logger = logging.getLogger(__name__)

HTTP_TIMEOUT = 30.0
RETRY_SECONDS = 5.0


@dataclass
class SimulatedBridge:
    serial: str
    token: str
    # channel -> camera name
    cameras: dict[int, str]
    # (zone number, camera channel) of the zones that show a camera
    zones: list[tuple[int, int]]
    site: str
    next_alarm: float = 0.0
    next_heartbeat: float = 0.0
    answered: set[str] = field(default_factory=set)
    alarms: int = 0


class PortalError(Exception):
    pass


class Command(BaseCommand):
    help = (
        "Simulate the demo bridges against a running portal: heartbeats, an alarm with "
        "snapshots and a clip every few minutes, and answers to 'last two minutes' requests."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--base-url", default="", help="The portal's address (default: PORTAL_BASE_URL)."
        )
        parser.add_argument(
            "--alarm-every", type=float, default=180.0, help="Seconds between alarms per bridge."
        )
        parser.add_argument(
            "--first-alarm-after",
            type=float,
            default=5.0,
            help="Seconds before the first alarm, so a newcomer sees video at once.",
        )
        parser.add_argument("--heartbeat-every", type=float, default=30.0)
        parser.add_argument("--poll-every", type=float, default=3.0)
        parser.add_argument(
            "--once",
            action="store_true",
            help="One heartbeat, one alarm and one command poll per bridge, then exit.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("The bridge simulator is for the demo: set DJANGO_DEBUG=true.")
        self.base_url = (options["base_url"] or settings.PORTAL_BASE_URL).rstrip("/")
        bridges = self._bridges()
        self.stop = threading.Event()
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                signal.signal(signum, lambda *_: self.stop.set())
        if not bridges:
            if options["once"]:
                raise CommandError("No demo bridges: run `manage.py seed_demo` first.")
            # make run stops every process when one ends: wait quietly instead.
            self.stdout.write("No demo bridges (run `manage.py seed_demo`): nothing to simulate.")
            self.stdout.flush()
            self.stop.wait()
            return
        self.stdout.write(
            f"Simulating {len(bridges)} bridge(s) against {self.base_url}: "
            + ", ".join(b.serial for b in bridges)
        )
        self.stdout.flush()
        if options["once"]:
            for bridge in bridges:
                self._heartbeat(bridge)
                self._alarm(bridge)
                self._commands(bridge)
            return
        start = time.monotonic()
        for index, bridge in enumerate(bridges):
            # Spread the bridges' alarms; the first one early.
            bridge.next_alarm = start + options["first_alarm_after"] + index * 20
        next_poll = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            for bridge in bridges:
                if now >= bridge.next_heartbeat:
                    bridge.next_heartbeat = now + options["heartbeat_every"]
                    if not self._try(bridge, self._heartbeat):
                        bridge.next_heartbeat = now + RETRY_SECONDS
                if now >= bridge.next_alarm:
                    bridge.next_alarm = now + options["alarm_every"] * random.uniform(0.8, 1.2)
                    if not self._try(bridge, self._alarm):
                        bridge.next_alarm = now + RETRY_SECONDS
                if now >= next_poll:
                    self._try(bridge, self._commands)
            if now >= next_poll:
                next_poll = now + options["poll_every"]
            self.stop.wait(0.5)

    def _try(self, bridge: SimulatedBridge, action) -> bool:
        """Run one action of a bridge; False (and a line of output) when the portal could not
        be reached or refused it: the web server may still be starting, or restarting."""
        try:
            action(bridge)
        except (PortalError, OSError) as exc:
            self.stdout.write(f"{bridge.serial}: {exc}")
            self.stdout.flush()
            return False
        return True

    # --- the bridges ----------------------------------------------------------------------

    def _bridges(self) -> list[SimulatedBridge]:
        demo.seed()  # the tokens follow the secret key of this run
        bridges = []
        rows = (
            Bridge.objects.filter(serial__startswith=demo.DEMO_SERIAL_PREFIX)
            .select_related("customer")
            .prefetch_related("cameras__zones")
            .order_by("serial")
        )
        for bridge in rows:
            cameras = {camera.channel: camera.name for camera in bridge.cameras.all()}
            zones = sorted(
                {
                    (zone.number, camera.channel)
                    for camera in bridge.cameras.all()
                    for zone in camera.zones.all()
                }
            )
            bridges.append(
                SimulatedBridge(
                    serial=bridge.serial,
                    token=demo.demo_bridge_token(bridge.serial),
                    cameras=cameras,
                    zones=zones,
                    site=bridge.customer.name,
                )
            )
        return bridges

    # --- HTTP -----------------------------------------------------------------------------

    def _post(
        self,
        bridge: SimulatedBridge,
        path: str,
        *,
        body: bytes,
        content_type: str,
        query: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        if query:
            url += "?" + urllib.parse.urlencode(query)
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Authorization": f"Bearer {bridge.token}", "Content-Type": content_type},
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:300].decode("utf-8", "replace")
            raise PortalError(f"{path} answered {exc.code}: {detail}") from None

    def _json(self, bridge: SimulatedBridge, path: str, data: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"serial": bridge.serial, **data}).encode()
        return self._post(bridge, path, body=body, content_type="application/json")

    def _upload(
        self, bridge: SimulatedBridge, data: bytes, content_type: str, **params: Any
    ) -> dict[str, Any]:
        query = {
            "serial": bridge.serial,
            "upload_id": uuid.uuid4().hex,
            "time": datetime.now(UTC).isoformat(),
            **params,
        }
        return self._post(
            bridge, "/api/devices/media", body=data, content_type=content_type, query=query
        )

    # --- what a bridge does ---------------------------------------------------------------

    def _heartbeat(self, bridge: SimulatedBridge) -> None:
        self._json(bridge, "/api/devices/heartbeat", {"lost_channels": []})

    def _alarm(self, bridge: SimulatedBridge) -> None:
        if not bridge.zones:
            return
        # The first alarm is on the zone of the demo's deep link (seed_demo prints it), so a
        # newcomer who follows it lands on a fresh clip; later ones on any zone with a camera.
        first = [z for z in bridge.zones if z[0] == demo.DEMO_DEEP_LINK_ZONE]
        if first and not bridge.alarms:
            zone, channel = first[0]
        else:
            zone, channel = random.choice(bridge.zones)
        bridge.alarms += 1
        now = datetime.now(UTC)
        event_id = f"sim-{uuid.uuid4().hex[:16]}"
        self._json(
            bridge,
            "/api/devices/events",
            {
                "event_id": event_id,
                "kind": "alarm",
                "zone": zone,
                "time": now.isoformat(),
                "description": "Simulated alarm",
            },
        )
        label = f"{bridge.site} · {bridge.cameras.get(channel, f'channel {channel}')}"
        for phase, index in (("pre", 0), ("post", 12)):
            snapshot = demo.snapshot_jpeg(label=f"{label} ({phase})", when=now, index=index)
            self._upload(
                bridge,
                snapshot,
                "image/jpeg",
                kind="snapshot",
                channel=channel,
                event_id=event_id,
                phase=phase,
            )
        data, content_type = demo.clip(label=label, when=now, seconds=6.0)
        self._upload(
            bridge,
            data,
            content_type,
            kind="clip",
            channel=channel,
            event_id=event_id,
            phase="post",
        )
        # The site's other cameras: a snapshot each, for the operator's overview.
        for other, name in sorted(bridge.cameras.items()):
            if other == channel:
                continue
            snapshot = demo.snapshot_jpeg(label=f"{bridge.site} · {name}", when=now)
            self._upload(
                bridge,
                snapshot,
                "image/jpeg",
                kind="snapshot",
                channel=other,
                event_id=event_id,
                phase="post",
            )
        self.stdout.write(f"{bridge.serial}: alarm zone {zone:03d} with snapshots and a clip")
        self.stdout.flush()

    def _commands(self, bridge: SimulatedBridge) -> None:
        answer = self._json(bridge, "/api/devices/commands", {})
        for command in answer.get("commands", []):
            code = command.get("request")
            if command.get("type") != "upload_recent" or code in bridge.answered:
                continue
            channel = int(command["channel"])
            # The demo keeps clips short: the length asked for, up to 20 s.
            seconds = min(float(command.get("seconds", 120)), 20.0)
            label = f"{bridge.site} · {bridge.cameras.get(channel, f'channel {channel}')}"
            data, content_type = demo.clip(
                label=f"{label} (last {command.get('seconds')} s)",
                when=datetime.now(UTC),
                seconds=seconds,
                fps=5,
            )
            self._upload(bridge, data, content_type, kind="clip", channel=channel, request=code)
            bridge.answered.add(code)
            self.stdout.write(
                f"{bridge.serial}: sent the last {seconds:.0f} s of channel {channel}"
            )
            self.stdout.flush()
