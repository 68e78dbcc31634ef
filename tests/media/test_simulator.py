"""The bridge simulator of `make run` against a live portal over HTTP: a heartbeat, an alarm
with its snapshots and clip, and the answer to a "last two minutes" request."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from media import demo
from media.models import BridgeStatus, MediaItem, MediaRequest
from signals.lib import device_token_hash
from signals.models import AlarmEvent
from tests.factories import BridgeFactory, CameraFactory, MediaRequestFactory, ZoneFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_bridge(customer):
    bridge = BridgeFactory(customer=customer, serial=f"{demo.DEMO_SERIAL_PREFIX}0001")
    door = CameraFactory(bridge=bridge, channel=1, name="Front door")
    counter = CameraFactory(bridge=bridge, channel=2, name="Counter")
    ZoneFactory(customer=customer, number=17).cameras.add(door)
    # The first alarm is on zone 17 (the demo deep link's), whatever other zones there are.
    ZoneFactory(customer=customer, number=2).cameras.add(counter)
    return bridge


def test_seeding_gives_demo_bridges_a_token_derived_from_the_secret_key(demo_bridge):
    assert demo.seed() == [demo_bridge.serial]
    demo_bridge.refresh_from_db()
    token = demo.demo_bridge_token(demo_bridge.serial)
    assert demo_bridge.token_hash == device_token_hash(token)
    assert token.startswith("brt_") and len(token) > 40


def test_one_round_of_the_simulator_reaches_the_portal(live_server, settings, demo_bridge):
    settings.DEBUG = True
    request = MediaRequestFactory(camera=demo_bridge.cameras.get(channel=2), seconds=4)
    call_command("run_bridge_simulator", "--once", "--base-url", live_server.url)

    assert BridgeStatus.objects.get(bridge=demo_bridge).last_heartbeat_at is not None
    event = AlarmEvent.objects.get(bridge=demo_bridge)
    assert (event.kind, event.zone_number) == ("alarm", 17)
    event_media = MediaItem.objects.filter(event=event)
    kinds = sorted(event_media.values_list("channel", "kind", "phase"))
    assert kinds == [
        (1, "clip", "post"),
        (1, "snapshot", "post"),
        (1, "snapshot", "pre"),
        (2, "snapshot", "post"),
    ]
    clip = event_media.get(kind="clip")
    assert clip.content_type in ("video/mp4", "video/webm") and clip.duration_seconds > 5

    request.refresh_from_db()
    assert request.state == MediaRequest.State.DONE
    answer = MediaItem.objects.get(request=request)
    assert (answer.kind, answer.channel) == ("clip", 2)
    assert answer.duration_seconds == pytest.approx(4, abs=0.3)


def test_the_simulator_is_for_the_demo_only(settings, demo_bridge):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG"):
        call_command("run_bridge_simulator", "--once")
