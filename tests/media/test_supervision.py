"""Bridge heartbeats, the watchdog and lost cameras: each change of state is one event,
signalled to the site's stations through the outbox with its Contact ID code."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from customers.models import Customer
from media import services, tasks
from media.models import BridgeStatus, CameraStatus, MediaRequest
from signals.models import AlarmEvent, Signal
from tests.factories import BridgeFactory, MediaRequestFactory

pytestmark = pytest.mark.django_db


def beat(token, *, lost=()):
    return Client().post(
        "/api/devices/heartbeat",
        data=json.dumps({"serial": "BR-0001", "lost_channels": list(lost)}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def silence(bridge, minutes: float) -> None:
    """Pretend the bridge's last heartbeat was ``minutes`` ago."""
    BridgeStatus.objects.filter(bridge=bridge).update(
        last_heartbeat_at=timezone.now() - timedelta(minutes=minutes)
    )


def signals_sent() -> list[tuple[str, str, str, int]]:
    return list(
        Signal.objects.order_by("id").values_list("event__kind", "qualifier", "event_code", "zone")
    )


def test_a_silent_bridge_goes_offline_once_with_a_trouble_and_comes_back_with_a_restore(
    device_token, bridge, account, dealer
):
    assert beat(device_token).status_code == 200
    silence(bridge, dealer.bridge_offline_minutes - 1)
    assert tasks.bridges_watchdog() == 0
    silence(bridge, dealer.bridge_offline_minutes + 1)
    assert tasks.bridges_watchdog() == 1
    assert tasks.bridges_watchdog() == 0  # offline once, not every minute
    status = BridgeStatus.objects.get(bridge=bridge)
    assert status.state == BridgeStatus.State.OFFLINE
    # Offline since the last heartbeat.
    assert status.state_changed_at == status.last_heartbeat_at
    assert signals_sent() == [("bridge_offline", "E", "350", 0)]
    event = AlarmEvent.objects.get()
    assert event.source == AlarmEvent.Source.SUPERVISION
    assert event.bridge == bridge

    assert beat(device_token).json()["state"] == "online"
    assert signals_sent() == [("bridge_offline", "E", "350", 0), ("bridge_online", "R", "350", 0)]
    assert beat(device_token).status_code == 200
    assert len(signals_sent()) == 2  # a restore once


def test_the_delay_is_the_dealers(device_token, bridge, account, dealer):
    dealer.bridge_offline_minutes = 3
    dealer.save(update_fields=["bridge_offline_minutes"])
    beat(device_token)
    silence(bridge, 4)
    assert tasks.bridges_watchdog() == 1


def test_a_bridge_that_never_sent_a_heartbeat_is_not_reported(bridge, account):
    assert tasks.bridges_watchdog() == 0
    assert not AlarmEvent.objects.exists()


def test_an_archived_site_is_not_reported(device_token, bridge, account, customer):
    beat(device_token)
    silence(bridge, 60)
    Customer.objects.filter(pk=customer.pk).update(status=Customer.Status.ARCHIVED)
    assert tasks.bridges_watchdog() == 0


def test_a_heartbeat_racing_the_watchdog_is_seen_by_it(device_token, bridge, account, dealer):
    """The watchdog re-reads each row under its lock: a heartbeat between its query and its
    update keeps the bridge online."""
    beat(device_token)
    silence(bridge, dealer.bridge_offline_minutes + 1)
    cutoff_now = timezone.now()
    beat(device_token)  # arrives after the watchdog's "now"
    assert services.bridges_watchdog(now=cutoff_now) == []
    assert BridgeStatus.objects.get(bridge=bridge).state == BridgeStatus.State.ONLINE


def test_lost_cameras_are_troubles_and_their_return_restores(
    device_token, bridge, camera, camera2, account
):
    beat(device_token)
    response = beat(device_token, lost=[2])
    assert response.json()["lost_channels"] == [2]
    assert CameraStatus.objects.get(camera=camera2).state == CameraStatus.State.LOST
    beat(device_token, lost=[2])  # still lost: nothing new
    beat(device_token, lost=[])
    assert CameraStatus.objects.get(camera=camera2).state == CameraStatus.State.OK
    assert signals_sent() == [("camera_lost", "E", "380", 2), ("camera_restored", "R", "380", 2)]
    events = AlarmEvent.objects.order_by("id")
    assert [e.channel for e in events] == [2, 2]
    assert all(e.source == AlarmEvent.Source.DEVICE for e in events)


def test_a_lost_channel_without_a_camera_changes_nothing(device_token, bridge, camera, account):
    beat(device_token, lost=[4])
    assert not AlarmEvent.objects.exists()


def test_requests_nobody_answered_expire(settings, camera):
    old = MediaRequestFactory(
        camera=camera,
        requested_at=timezone.now() - timedelta(seconds=settings.MEDIA_REQUEST_TIMEOUT_SECONDS + 5),
    )
    fresh = MediaRequestFactory(camera=camera)
    tasks.bridges_watchdog()
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.state == MediaRequest.State.FAILED and old.failure_reason
    assert fresh.state == MediaRequest.State.PENDING


def test_a_bridge_of_another_dealer_is_judged_by_its_own_dealers_delay(
    device_token, bridge, account, other_dealer
):
    other_dealer.bridge_offline_minutes = 60
    other_dealer.save(update_fields=["bridge_offline_minutes"])
    theirs = BridgeFactory(customer__dealer=other_dealer)
    BridgeStatus.objects.create(
        bridge=theirs, last_heartbeat_at=timezone.now() - timedelta(minutes=30)
    )
    beat(device_token)
    silence(bridge, 30)
    marked = services.bridges_watchdog()
    assert [s.bridge for s in marked] == [bridge]
