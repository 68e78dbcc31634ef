"""POST /api/devices/events: per-bridge tokens, idempotent events, 4xx reasons, never a 500."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from customers.models import Bridge
from signals import api, lib, selectors, services
from signals.models import AlarmEvent, Signal
from tests.factories import (
    BridgeFactory,
    CustomerFactory,
    DealerStationFactory,
    EventCodeFactory,
    MonitoringAccountFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

URL = "/api/devices/events"


def _event(**overrides) -> dict:
    body = {
        "serial": "BR-0001",
        "event_id": "ev-1",
        "kind": "alarm",
        "zone": 17,
        "time": "2025-03-04T06:06:07+01:00",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def _post(client: Client, body, token: str | None, **extra):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **headers, **extra)


@pytest.fixture(autouse=True)
def _no_limits(settings):
    """These tests send hundreds of requests about input; test_device_api_limits.py tests limits."""
    settings.DEVICE_API_LIMIT_PER_TOKEN = 0
    settings.DEVICE_API_LIMIT_PER_ADDRESS = 0


@pytest.fixture
def api_client() -> Client:
    # A device has no CSRF token: the endpoint must not ask for one.
    return Client(enforce_csrf_checks=True)


def test_the_url_is_where_the_docs_say():
    assert reverse("signals:device-events") == URL


def test_an_alarm_creates_the_event_and_its_signals(api_client, device_token, account, zone):
    response = _post(api_client, _event(), device_token)
    assert response.status_code == 201
    event = AlarmEvent.objects.get()
    signal = Signal.objects.get()
    assert response.json() == {"event": str(event.code), "references": [signal.reference]}
    assert (event.kind, event.zone_number, event.source) == ("alarm", 17, "device")
    assert (event.device_event_id, event.bridge.serial) == ("ev-1", "BR-0001")
    assert event.occurred_at.isoformat() == "2025-03-04T05:06:07+00:00"
    assert (signal.qualifier, signal.event_code, signal.zone) == ("E", "134", 17)


def test_an_alarm_to_two_stations_answers_both_references_in_a_fixed_number_of_statements(
    api_client, device_token, account, zone, dealer, django_assert_num_queries
):
    """The answer's references are the signals just written, in id order, not read back; the
    device's event id is looked up once. On PostgreSQL: the bridge with the event id, its
    references, the zone with its cameras and the library (one round trip), then a savepoint
    (the test's own transaction is outside) with the accounts, the event with its signals and
    the notification (one round trip), and its release: five. Elsewhere each of those is a
    statement of its own (no notification), with the bridge's site read again after the
    others (``selectors.bridge_and_device_event`` says why): twelve."""
    MonitoringAccountFactory(
        customer=account.customer,
        station_record=DealerStationFactory(dealer=dealer, name="Second station"),
        account_number="B77",
    )
    _post(api_client, _event(event_id="warm-up"), device_token)  # compiled and prepared
    with django_assert_num_queries(5 if connection.vendor == "postgresql" else 12):
        response = _post(api_client, _event(), device_token)
    assert response.status_code == 201
    event = AlarmEvent.objects.get(device_event_id="ev-1")
    expected = list(event.signals.order_by("id").values_list("reference", flat=True))
    assert len(expected) == 2
    assert response.json() == {"event": str(event.code), "references": expected}
    assert _post(api_client, _event(), device_token).json()["references"] == expected


def test_a_repeated_event_answers_the_same_and_creates_nothing(
    api_client, device_token, account, zone
):
    """The same event sent again (its answer was lost): the same time in another offset, and
    another description, are still that event. One with a known id that is malformed is
    answered as a new event would be: it cannot be told to be the same."""
    first = _post(api_client, _event(), device_token)
    for again in (
        _event(),
        _event(time="2025-03-04T05:06:07Z", description="sent again"),
    ):
        response = _post(api_client, again, device_token)
        assert response.status_code == 200, again
        assert response.json() == first.json()
    malformed = _post(api_client, _event(time="0000-00-00T00:00:00Z"), device_token)
    assert malformed.status_code == 400
    assert "time" in malformed.json()["error"]
    assert AlarmEvent.objects.count() == 1
    assert Signal.objects.count() == 1


@pytest.mark.parametrize(
    "other",
    [
        {"zone": 3},
        {"kind": "restore"},
        {"time": "2025-03-04T06:07:07+01:00"},
        {"channel": 2},
    ],
    ids=["zone", "kind", "time", "channel"],
)
def test_an_event_id_used_again_for_another_event_is_a_new_event(
    api_client, device_token, account, zone, bridge, other
):
    """A bridge reset to its factory settings counts its ids from 1 again: its new alarm with
    an old id is recorded and sent, never answered as the old one. The old event keeps its
    record under a retired id; the id is the new event's from then on (its repeats, and media
    naming it, find it)."""
    first = _post(api_client, _event(), device_token).json()
    old = AlarmEvent.objects.get()
    response = _post(api_client, _event(**other), device_token)
    assert response.status_code == 201, response.content
    new = AlarmEvent.objects.get(code=response.json()["event"])
    assert new != old and response.json()["references"] != first["references"]
    assert Signal.objects.get(event=new).reference == response.json()["references"][0]
    old.refresh_from_db()
    assert old.device_event_id == f"ev-1~{old.pk}"
    assert new.device_event_id == "ev-1"
    assert selectors.device_event(bridge, "ev-1") == new
    assert _post(api_client, _event(**other), device_token).json() == response.json()
    assert AlarmEvent.objects.count() == 2 and Signal.objects.count() == 2


def test_an_alarm_after_a_power_cut_with_an_old_id_is_a_new_event(
    api_client, device_token, account, zone
):
    """A bridge without a clock battery comes back at 1970 and counts its ids from 1 again:
    the same id, kind and zone with a time its clock could not give is still another event
    than the one stored with a real time."""
    first = _post(api_client, _event(), device_token)
    after = _post(api_client, _event(time="1970-01-01T00:00:07Z"), device_token)
    assert (first.status_code, after.status_code) == (201, 201)
    assert after.json()["event"] != first.json()["event"]
    assert AlarmEvent.objects.count() == 2 and Signal.objects.count() == 2


def test_a_repeat_from_a_clock_a_little_fast_is_the_same_event(
    api_client, device_token, account, zone, monkeypatch
):
    """A clock 62 s fast: the first send's time is past the minute allowed, so the time
    received is kept; a few seconds later the same time is within it. The repeat is still the
    same event, not a second alarm to the station."""
    from django.utils import timezone as django_timezone

    now = django_timezone.now()
    fast = _event(time=(now + timedelta(seconds=62)).isoformat())
    first = _post(api_client, fast, device_token)
    assert first.status_code == 201
    assert "(bridge clock said" in AlarmEvent.objects.get().description
    later = now + timedelta(seconds=5)
    monkeypatch.setattr(django_timezone, "now", lambda: later)
    again = _post(api_client, fast, device_token)
    assert (again.status_code, again.json()) == (200, first.json())
    assert AlarmEvent.objects.count() == 1 and Signal.objects.count() == 1


def test_an_event_read_for_the_site_the_bridge_just_left_is_no_repeat(
    api_client, device_token, account, zone, bridge, dealer, monkeypatch
):
    """The bridge moved between the reads of one round trip: the event found is the old
    site's. It is neither the answer nor given up: the request is an event of the bridge's
    site as read."""
    other_site = CustomerFactory(dealer=dealer)
    sent = _event()["time"]
    theirs = AlarmEvent.objects.create(  # the very event the request reports, but elsewhere
        customer=other_site,
        bridge=bridge,
        kind="alarm",
        source="device",
        zone_number=17,
        device_event_id="ev-1",
        device_time_sent=sent,
        occurred_at=datetime.fromisoformat(sent),
    )
    read = selectors.bridge_and_device_event

    def moved_meanwhile(serial, device_event_id, **reads):
        found = read(serial, device_event_id, **reads)
        return selectors.DeviceEventReads(found.bridge, theirs, found.site_codes)

    monkeypatch.setattr(selectors, "bridge_and_device_event", moved_meanwhile)
    response = _post(api_client, _event(), device_token)
    assert response.status_code == 201
    event = AlarmEvent.objects.get(code=response.json()["event"])
    assert (event.customer, event.device_event_id) == (account.customer, "ev-1")
    theirs.refresh_from_db()
    assert theirs.device_event_id == "ev-1"


def test_a_repeat_read_while_its_id_was_given_to_a_new_event_answers_its_own_references(
    api_client, device_token, account, zone, bridge, monkeypatch
):
    """The event and its references are read by two statements of one round trip; between
    them the id can pass to a new event (a reset bridge's). The answer is still the event
    found with its own signals' references."""
    first = _post(api_client, _event(), device_token).json()
    stored = AlarmEvent.objects.get()
    newer = services.event_record(
        customer=account.customer,
        kind="alarm",
        zone=3,
        bridge=bridge,
        occurred_at=timezone.now(),
        source=AlarmEvent.Source.DEVICE,
        device_event_id="ev-2",
    )
    reads = selectors._BRIDGE_AND_DEVICE_EVENT.read

    def id_passed_meanwhile(**values):
        found = reads(**values)
        found[2] = [(newer.pk, reference) for reference in newer.references]
        return found

    monkeypatch.setattr(selectors._BRIDGE_AND_DEVICE_EVENT, "read", id_passed_meanwhile)
    again = _post(api_client, _event(), device_token)
    assert (again.status_code, again.json()) == (200, first)
    assert again.json()["event"] == str(stored.code)


def test_only_the_sites_own_event_gives_up_its_id(account, bridge, dealer):
    other_site = CustomerFactory(dealer=dealer)
    theirs = AlarmEvent.objects.create(
        customer=other_site,
        bridge=bridge,
        kind="alarm",
        source="device",
        device_event_id="ev-1",
        occurred_at=timezone.now(),
    )
    with pytest.raises(ValueError, match="another site"):
        services.event_record(
            customer=account.customer,
            kind="alarm",
            zone=17,
            bridge=bridge,
            occurred_at=timezone.now(),
            source=AlarmEvent.Source.DEVICE,
            device_event_id="ev-1",
            device_event_checked=True,
            supersedes=theirs,
        )
    theirs.refresh_from_db()
    assert theirs.device_event_id == "ev-1"


def test_a_retired_event_id_stays_within_the_ids_length(bridge):
    event = AlarmEvent(pk=123456, device_event_id="x" * 64)
    retired = lib.retired_device_id(event, "device_event_id")
    assert retired == "x" * 57 + "~123456" and len(retired) == 64


def test_an_event_from_a_clock_that_cannot_be_right_is_the_same_when_sent_again(
    api_client, device_token, account, zone
):
    """Its time kept is the one the portal received it at, a different one each time it is
    sent: the time the bridge sent (in any offset) makes it the same event."""
    first = _post(api_client, _event(time="1970-01-01T00:00:07Z"), device_token)
    assert first.status_code == 201
    for sent in ("1970-01-01T00:00:07Z", "1970-01-01T01:00:07+01:00"):
        again = _post(api_client, _event(time=sent), device_token)
        assert (again.status_code, again.json()) == (200, first.json())
    assert AlarmEvent.objects.count() == 1


def test_the_time_compared_is_the_one_read_not_the_text_kept(
    api_client, device_token, account, zone
):
    """Python reads any character between date and time as the separator, NUL included: the
    time kept to compare is the instant read (2025-03-03 21:20), not the text without its
    NUL (which would read as 2025-03-04 20:00)."""
    odd = _event(time="2025W10\x002120+00:00")
    first = _post(api_client, odd, device_token)
    assert first.status_code == 201
    assert _post(api_client, odd, device_token).json() == first.json()
    other = _post(api_client, _event(time="2025-03-04T20:00:00+00:00"), device_token)
    assert other.status_code == 201
    assert AlarmEvent.objects.count() == 2


@pytest.mark.parametrize(
    "sent", ["2025-03-04T06:06:07+01:00", "1970-01-01T00:00:07Z"], ids=["real", "wrong-clock"]
)
def test_an_event_stored_before_its_time_sent_was_kept_is_told_by_its_time(
    api_client, device_token, account, zone, sent
):
    """Stored before signals 0015: the time stored, or the clock note's when the time
    received took its place, is the time sent."""
    first = _post(api_client, _event(time=sent), device_token)
    AlarmEvent.objects.update(device_time_sent="")
    again = _post(api_client, _event(time=sent), device_token)
    assert (again.status_code, again.json()) == (200, first.json())
    other = _post(api_client, _event(time="2025-05-06T07:08:09Z"), device_token)
    assert other.status_code == 201
    assert AlarmEvent.objects.count() == 2


def test_a_camera_alarm_sent_again_by_its_channel_alone_is_the_same(
    api_client, device_token, account, zone
):
    """Its zone is the camera's (17): the repeat, naming no zone either, is the same event."""
    by_channel = _event(zone=None, channel=1)
    first = _post(api_client, by_channel, device_token)
    assert first.status_code == 201
    assert AlarmEvent.objects.get().zone_number == 17
    again = _post(api_client, by_channel, device_token)
    assert (again.status_code, again.json()) == (200, first.json())


def test_a_description_never_decides_what_time_an_event_was_sent_with(
    api_client, device_token, account, zone
):
    """A bridge's own description that reads like the portal's clock note is only text."""
    first = _post(
        api_client,
        _event(description="relay: (bridge clock said 2025-05-06T07:08:09Z)"),
        device_token,
    )
    other = _post(api_client, _event(time="2025-05-06T07:08:09Z"), device_token)
    assert (first.status_code, other.status_code) == (201, 201)
    assert AlarmEvent.objects.count() == 2 and Signal.objects.count() == 2


def test_a_bridge_moved_to_another_site_sends_new_events_there_whatever_their_ids(
    api_client, device_token, account, bridge, dealer, other_dealer, record
):
    """Its old site's events stay there; a bridge reset counts its ids from 1 again, and the
    new site's alarm with an old id is a new event, not the old site's answered again."""
    old = _post(api_client, _event(), device_token).json()
    new_site = CustomerFactory(dealer=other_dealer, name="New site")
    MonitoringAccountFactory(
        customer=new_site,
        station_record=DealerStationFactory(dealer=other_dealer),
        account_number="5120",
    )
    bridge.customer = new_site
    bridge.save(update_fields=["customer"])

    moved = _post(api_client, _event(), device_token)
    assert moved.status_code == 201, moved.content
    assert moved.json()["event"] != old["event"]
    assert not set(moved.json()["references"]) & set(old["references"])
    event = AlarmEvent.objects.get(code=moved.json()["event"])
    assert (event.customer, event.device_event_id) == (new_site, "ev-1")
    assert Signal.objects.get(event=event).account_number == "5120"
    # A repeat there is answered as usual, with the new site's event.
    assert _post(api_client, _event(), device_token).json() == moved.json()
    assert AlarmEvent.objects.count() == 2


def test_the_portals_own_events_of_a_bridge_are_no_device_events(bridge, account):
    """Heartbeat and camera events the portal records for a bridge have no device id: the
    device API's read never finds them (nor reads their history) as a repeat."""
    services.event_record(
        customer=bridge.customer,
        kind="camera_lost",
        bridge=bridge,
        channel=1,
        occurred_at=timezone.now(),
        source=AlarmEvent.Source.DEVICE,
    )
    assert AlarmEvent.objects.filter(bridge=bridge, device_event_id="").exists()
    read = selectors.bridge_and_device_event(bridge.serial, "")
    assert (read.bridge, read.existing) == (bridge, None)


def test_a_malformed_event_id_reads_no_event(api_client, device_token, account, monkeypatch):
    def refuse(serial, device_event_id, **reads):
        raise AssertionError(f"looked up event id {device_event_id!r}")

    monkeypatch.setattr(selectors, "bridge_and_device_event", refuse)
    for token in (device_token, device_token + "x"):
        response = _post(api_client, _event(event_id="has space"), token)
        assert response.status_code in (400, 401)


def test_a_repeat_is_answered_from_one_round_trip(
    api_client, device_token, account, dealer, django_assert_num_queries
):
    """A bridge that did not hear the answer sends the same event again (a storm's timeouts):
    the bridge, the event and its signals' references are read together (with the zone and
    library a new event would need), nothing is written. Elsewhere than on PostgreSQL the seven
    are a statement each."""
    MonitoringAccountFactory(
        customer=account.customer,
        station_record=DealerStationFactory(dealer=dealer, name="Second station"),
        account_number="B77",
    )
    first = _post(api_client, _event(), device_token)
    assert first.status_code == 201
    assert len(first.json()["references"]) == 2
    with django_assert_num_queries(1 if connection.vendor == "postgresql" else 7):
        again = _post(api_client, _event(), device_token)
    assert again.status_code == 200
    assert again.json() == first.json()


def _library_around(dealer, other_dealer, customer, zone):
    """Entries of every level for the site and its zone 17 (of two triggers), and entries the
    site must never see: another site's (with a zone 17 of its own) and another dealer's."""
    entry_exit = "zone.entry_exit"
    EventCodeFactory(dealer=dealer, trigger=entry_exit, event_code="131")
    EventCodeFactory(dealer=dealer, trigger="trouble", event_code="381")
    EventCodeFactory(dealer=dealer, customer=customer, trigger=entry_exit, event_code="132")
    EventCodeFactory(
        dealer=dealer, customer=customer, zone=zone, trigger=entry_exit, event_code="133"
    )
    neighbour = CustomerFactory(dealer=dealer, name="Next door")
    their_zone = ZoneFactory(customer=neighbour, number=17, zone_type=zone.zone_type)
    EventCodeFactory(dealer=dealer, customer=neighbour, trigger=entry_exit, event_code="135")
    EventCodeFactory(
        dealer=dealer, customer=neighbour, zone=their_zone, trigger=entry_exit, event_code="136"
    )
    EventCodeFactory(dealer=other_dealer, trigger=entry_exit, event_code="137")


def _pks(rows) -> list[int]:
    return sorted(row.pk for row in rows)


@pytest.mark.parametrize("number", [17, 18, None])
def test_the_read_with_the_bridge_holds_what_the_event_would_read_of_its_site(
    bridge, customer, zone, dealer, other_dealer, number
):
    """The zone (with its cameras) and the library entries read with the bridge are those
    ``zone_for_event`` and ``code_rules`` read for the bridge's site, of every trigger: no
    other site's zone or entries, no other dealer's."""
    _library_around(dealer, other_dealer, customer, zone)
    site_codes = selectors.bridge_and_device_event(bridge.serial, "ev-9", zone=number).site_codes
    expected_zone, expected_cameras = selectors.zone_for_event(customer, number=number, camera=None)
    assert (site_codes.customer_id, site_codes.number) == (customer.pk, number)
    assert (site_codes.zone, site_codes.cameras) == (expected_zone, expected_cameras)
    expected_rules = [
        rule
        for trigger in ("zone.entry_exit", "trouble")
        for rule in selectors.code_rules(customer, trigger, expected_zone)
    ]
    assert _pks(site_codes.rules) == _pks(expected_rules)
    assert len(expected_rules) == (4 if number == 17 else 3)


def test_an_unknown_serial_reads_no_site(customer, zone):
    read = selectors.bridge_and_device_event("BR-9999", "ev-1", zone=17)
    assert (read.bridge, read.existing, read.site_codes) == (None, None, None)


@pytest.mark.parametrize(("number", "code"), [(17, "133"), (18, "132")])
def test_an_alarm_takes_its_code_from_the_sites_library_as_read_with_the_bridge(
    api_client, device_token, account, customer, zone, dealer, other_dealer, number, code
):
    """The zone's entry over the site's over the dealer's; another site's zone 17 and another
    dealer's library change nothing."""
    _library_around(dealer, other_dealer, customer, zone)
    ZoneFactory(customer=customer, number=18, zone_type=zone.zone_type)
    response = _post(api_client, _event(zone=number), device_token)
    assert response.status_code == 201
    assert Signal.objects.get().event_code == code


def test_an_alarm_by_zone_or_a_trouble_reads_its_zone_and_library_only_with_the_bridge(
    api_client, device_token, account, zone, monkeypatch
):
    """A zone alarm and a zone-less trouble take the zone and library read with the bridge;
    an alarm by camera channel alone (its zone is the camera's) reads them afterwards."""
    calls = []

    def counted(name):
        def read(*args, **kwargs):
            calls.append(name)
            return original[name](*args, **kwargs)

        return read

    original = {name: getattr(selectors, name) for name in ("zone_for_event", "code_rules")}
    for name in original:
        monkeypatch.setattr(selectors, name, counted(name))
    assert _post(api_client, _event(event_id="a"), device_token).status_code == 201
    trouble = _event(event_id="b", kind="trouble", zone=None)
    assert _post(api_client, trouble, device_token).status_code == 201
    assert calls == []
    by_channel = _event(event_id="c", zone=None, channel=1)
    assert _post(api_client, by_channel, device_token).status_code == 201
    assert calls == ["zone_for_event", "code_rules"]
    assert Signal.objects.get(event__device_event_id="c").zone == 17


def test_a_bridge_moved_while_it_was_read_gets_no_site_codes(bridge, customer, zone, monkeypatch):
    """Each statement of the read sees the database as it is when it starts: when the bridge's
    site read last is not the one read first, or anything read is another site's, the site's
    codes are not used (the event reads them again by the bridge's site as read)."""
    read = selectors._BRIDGE_AND_DEVICE_EVENT.read
    elsewhere = CustomerFactory(dealer=customer.dealer)
    assert selectors.bridge_and_device_event(bridge.serial, "ev-1", zone=17).site_codes

    def moved(**values):
        *rows, _ = read(**values)
        return [*rows, [elsewhere.pk]]

    monkeypatch.setattr(selectors._BRIDGE_AND_DEVICE_EVENT, "read", moved)
    result = selectors.bridge_and_device_event(bridge.serial, "ev-1", zone=17)
    assert (result.bridge, result.site_codes) == (bridge, None)

    their_zone = ZoneFactory(customer=elsewhere, number=17)
    for foreign in (
        {"zone": their_zone},
        {"rules": [EventCodeFactory(dealer=customer.dealer, customer=elsewhere)]},
        {"rules": [EventCodeFactory(trigger="trouble")]},  # another dealer's library
    ):

        def mixed(foreign=foreign, **values):
            bridges, events, refs, zones, cameras, rules, site = read(**values)
            zones = [foreign["zone"]] if "zone" in foreign else zones
            return [bridges, events, refs, zones, cameras, foreign.get("rules", rules), site]

        monkeypatch.setattr(selectors._BRIDGE_AND_DEVICE_EVENT, "read", mixed)
        assert selectors.bridge_and_device_event(bridge.serial, "ev-1", zone=17).site_codes is None


def test_a_malformed_zone_is_answered_after_the_token(api_client, device_token, account, zone):
    for bad in (0, 1000, "x", True, [17]):
        assert _post(api_client, _event(zone=bad), device_token + "x").status_code == 401
        response = _post(api_client, _event(zone=bad), device_token)
        assert response.status_code == 400
        assert "zone must be a whole number" in response.json()["error"]
    assert not AlarmEvent.objects.exists()


def test_event_record_refuses_site_codes_of_another_site(bridge, customer, zone):
    site_codes = selectors.bridge_and_device_event(bridge.serial, "ev-1", zone=17).site_codes
    with pytest.raises(ValueError, match="another site"):
        services.event_record(
            customer=CustomerFactory(dealer=customer.dealer),
            kind="alarm",
            zone=17,
            occurred_at=timezone.now(),
            source=AlarmEvent.Source.DEVICE,
            site_codes=site_codes,
        )


def test_event_ids_may_be_numbers(api_client, device_token, account):
    assert _post(api_client, _event(event_id=42), device_token).status_code == 201
    assert _post(api_client, _event(event_id="42"), device_token).status_code == 200


def test_channel_stands_in_for_zone(api_client, device_token, account, zone):
    response = _post(api_client, _event(zone=None, channel=1), device_token)
    assert response.status_code == 201
    assert Signal.objects.get().zone == 17


def test_zero_padded_zones_are_read_as_numbers(api_client, device_token, account, zone):
    assert _post(api_client, _event(zone="017"), device_token).status_code == 201
    assert AlarmEvent.objects.get().zone_number == 17


def test_serials_are_read_like_the_label(api_client, device_token, account):
    assert _post(api_client, _event(serial="  br-0001 "), device_token).status_code == 201


def test_a_site_without_receiver_still_records_the_event(api_client, device_token):
    response = _post(api_client, _event(), device_token)
    assert response.status_code == 201
    assert response.json()["references"] == []
    assert AlarmEvent.objects.count() == 1


# --- tokens ---------------------------------------------------------------------------------


def test_only_a_hash_of_the_token_is_stored(bridge, device_token):
    bridge.refresh_from_db()
    assert device_token.startswith("brt_") and len(device_token) > 40
    assert bridge.token_hash == hashlib.sha256(device_token.encode()).hexdigest()
    assert device_token not in repr(list(Bridge.objects.filter(pk=bridge.pk).values()))


def test_a_new_token_retires_the_old_one(api_client, bridge, device_token, account):
    new_token = services.bridge_token_issue(bridge=bridge)
    assert new_token != device_token
    old = _post(api_client, _event(), device_token)
    assert old.status_code == 401
    assert _post(api_client, _event(), new_token).status_code == 201


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer wrong-token",
        "Bearer " + "x" * 500,
        "Token brt_abc",
    ],
)
def test_bad_or_missing_tokens_get_401(api_client, device_token, account, header):
    extra = {"HTTP_AUTHORIZATION": header} if header is not None else {}
    response = api_client.post(
        URL, data=json.dumps(_event()), content_type="application/json", **extra
    )
    assert response.status_code == 401
    assert response.json()["error"]
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not AlarmEvent.objects.exists()


def test_another_bridges_token_gets_401(api_client, device_token, customer, account):
    other = BridgeFactory(customer=customer, serial="BR-0002")
    other_token = services.bridge_token_issue(bridge=other)
    assert _post(api_client, _event(), other_token).status_code == 401
    assert _post(api_client, _event(serial="BR-0002"), other_token).status_code == 201


def test_an_unknown_serial_answers_like_a_wrong_token(api_client, device_token):
    unknown = _post(api_client, _event(serial="NO-SUCH-1"), device_token)
    wrong = _post(api_client, _event(), device_token + "x")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


@pytest.mark.parametrize("event_id", [None, "has space", "x" * 65])
def test_a_wrong_token_is_answered_before_a_wrong_event_id(
    api_client, device_token, account, event_id
):
    """The bridge and the event id are looked up together; the token still decides first, so
    that nothing about a bridge's events is said to a caller without its token."""
    wrong = _post(api_client, _event(event_id=event_id), device_token + "x")
    assert wrong.status_code == 401
    right = _post(api_client, _event(event_id=event_id), device_token)
    assert right.status_code == 400
    assert "event_id" in right.json()["error"]
    assert not AlarmEvent.objects.exists()


def test_a_repeated_event_id_is_not_answered_without_the_bridges_token(
    api_client, device_token, customer, account
):
    first = _post(api_client, _event(), device_token)
    assert first.status_code == 201
    other = BridgeFactory(customer=customer, serial="BR-0002")
    other_token = services.bridge_token_issue(bridge=other)
    # Another bridge's token with this bridge's serial and event id learns nothing of it.
    probe = _post(api_client, _event(), other_token)
    assert probe.status_code == 401
    assert "references" not in probe.json()
    # Its own serial and the same event id: a new event of its own.
    own = _post(api_client, _event(serial="BR-0002"), other_token)
    assert own.status_code == 201
    assert own.json()["references"] != first.json()["references"]


def test_a_bridge_without_a_token_accepts_none(api_client, bridge):
    assert bridge.token_hash == ""
    for token in ("", "brt_", api.lib.device_token_hash("")):
        assert _post(api_client, _event(), token).status_code == 401


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00", "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
        (b'{"a": ' + b"1" * 5000 + b"}", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b'"text"', "JSON object"),
        (_event(serial=None), "serial"),
        (_event(serial=17), "serial"),
        (_event(serial="   "), "serial"),
        (_event(event_id=None), "event_id"),
        (_event(event_id=""), "event_id"),
        (_event(event_id="has space"), "event_id"),
        (_event(event_id="x" * 65), "event_id"),
        (_event(event_id=True), "event_id"),
        (_event(event_id=-1), "event_id"),
        (_event(event_id=1.5), "event_id"),
        (_event(kind=None), "kind"),
        (_event(kind="explode"), "kind"),
        (_event(kind="periodic_test"), "kind"),
        (_event(kind="cameras_viewed"), "kind"),
        (_event(kind=["alarm"]), "kind"),
        (_event(zone=None), "zone"),
        (_event(zone=0), "zone"),
        (_event(zone=1000), "zone"),
        (_event(zone=-3), "zone"),
        (_event(zone="abc"), "zone"),
        (_event(zone="0017"), "zone"),
        (_event(zone=17.0), "zone"),
        (_event(zone=True), "zone"),
        (_event(zone=None, channel=5), "channel"),  # a Bridge 4 has channels 1-4
        (_event(zone=None, channel=0), "channel"),
        (_event(kind="camera_lost", zone=None), "channel"),
        (_event(time=None), "time"),
        (_event(time=1741064767), "time"),
        (_event(time="yesterday"), "time"),
        (_event(time="2025-03-04T05:06:07"), "UTC offset"),
        (_event(time="2025-02-30T05:06:07Z"), "time"),
        (_event(time="9" * 100), "time"),
        (_event(description=["x"]), "description"),
    ],
)
def test_bad_input_gets_400_with_a_reason(api_client, device_token, account, body, reason):
    response = _post(api_client, body, device_token)
    assert response.status_code == 400, response.content
    assert reason in response.json()["error"]
    assert not AlarmEvent.objects.exists()


@pytest.mark.parametrize(
    "sent",
    [
        "0001-01-01T00:00:00+00:00",  # a page in New York could not show it
        "0001-01-01T00:00:00+01:00",  # not even in UTC
        "1970-01-01T00:00:05Z",  # a clock never set
        "2019-12-31T23:59:59Z",
        "9999-12-31T23:59:59+00:00",
        "future",  # two minutes ahead: a wrong time zone, a fast clock
    ],
)
def test_a_bridge_clock_that_cannot_be_right_gives_way_to_the_time_received(
    client, api_client, device_token, account, zone, operator, caplog, sent
):
    if sent == "future":
        sent = (timezone.now() + api.DEVICE_TIME_AHEAD * 2).isoformat()
    account.customer.time_zone = "America/New_York"
    account.customer.save(update_fields=["time_zone"])
    before = timezone.now()
    with caplog.at_level("WARNING", logger="signals.api"):
        response = _post(api_client, _event(time=sent, description="Back door"), device_token)

    # Accepted and sent: an alarm never waits for its bridge's clock.
    assert response.status_code == 201, response.content
    event = AlarmEvent.objects.get()
    assert before <= event.occurred_at <= event.received_at
    assert event.description == f"Back door (bridge clock said {sent})"
    assert Signal.objects.get().event_time == event.occurred_at
    assert any(sent in r.getMessage() for r in caplog.records)
    # The operator's deep link shows the site (it answered 500 for year 1 in New York).
    client.force_login(operator)
    page = client.get("/monitoring", {"act": "3444", "zone": "017"})
    assert page.status_code == 200
    assert "bridge clock said" in page.content.decode()


def test_a_bridge_clock_a_little_behind_or_ahead_is_kept(api_client, device_token, account):
    ahead = timezone.now() + api.DEVICE_TIME_AHEAD / 2
    for number, sent in enumerate([api.DEVICE_TIME_EARLIEST, ahead]):
        body = _event(event_id=f"ev-{number}", time=sent.isoformat())
        assert _post(api_client, body, device_token).status_code == 201
    assert sorted(AlarmEvent.objects.values_list("occurred_at", "description")) == [
        (api.DEVICE_TIME_EARLIEST, ""),
        (ahead, ""),
    ]


def test_a_body_too_large_gets_413(api_client, device_token, account):
    body = json.dumps(_event(description="x" * (api.MAX_BODY_BYTES + 1)))
    response = _post(api_client, body, device_token)
    assert response.status_code == 413
    assert "larger" in response.json()["error"]
    assert not AlarmEvent.objects.exists()


def test_a_declared_length_too_large_gets_413_before_reading(api_client, device_token):
    response = _post(api_client, b"{}", device_token, CONTENT_LENGTH=str(10**9))
    assert response.status_code == 413


def test_a_bad_content_length_gets_400(api_client, device_token):
    response = _post(api_client, b"{}", device_token, CONTENT_LENGTH="lots")
    assert response.status_code == 400


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_other_methods_get_405(api_client, device_token, method):
    response = getattr(api_client, method)(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST"


def test_long_descriptions_are_cut_not_refused(api_client, device_token, account):
    response = _post(api_client, _event(description="d" * 500), device_token)
    assert response.status_code == 201
    assert AlarmEvent.objects.get().description == "d" * 200


def test_control_characters_in_the_description_are_dropped(api_client, device_token, account):
    response = _post(api_client, _event(description="door\x00 forced\x07"), device_token)
    assert response.status_code == 201
    assert AlarmEvent.objects.get().description == "door forced"


def test_a_serial_no_label_could_carry_gets_400_before_any_lookup(api_client, device_token):
    # PostgreSQL refuses NUL bytes in text: such a serial must never reach the database.
    for serial in ("BR\x000001", "a b", "x"):
        response = _post(api_client, _event(serial=serial), device_token)
        assert response.status_code == 400, serial
        assert "serial must be" in response.json()["error"]


# --- never a 500 ----------------------------------------------------------------------------

HYPOTHESIS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
field_values = st.one_of(
    json_values,
    st.sampled_from(["alarm", "restore", "camera_lost", "trouble", "arm", "test", "017", "999"]),
    st.integers(min_value=-2, max_value=1001),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.from_regex(r"[0-9T:+\-.Z ]{0,40}", fullmatch=True),
)


@HYPOTHESIS
@given(body=st.binary(max_size=2048))
def test_arbitrary_bytes_never_500(api_client, device_token, account, zone, body):
    response = _post(api_client, body, device_token)
    assert response.status_code in {400, 401, 413}


@HYPOTHESIS
@given(
    fields=st.dictionaries(
        st.sampled_from(["event_id", "kind", "zone", "channel", "time", "description"]),
        field_values,
    )
)
def test_arbitrary_fields_never_500(api_client, device_token, account, zone, fields):
    response = _post(api_client, {"serial": "BR-0001", **fields}, device_token)
    assert response.status_code in {200, 201, 400}
    if response.status_code >= 400:
        assert response.json()["error"]


@HYPOTHESIS
@given(header=st.text(max_size=300), serial=json_values)
def test_arbitrary_credentials_never_500(api_client, device_token, header, serial):
    try:
        response = api_client.post(
            URL,
            data=json.dumps(_event(serial=serial)),
            content_type="application/json",
            HTTP_AUTHORIZATION=header,
        )
    except UnicodeEncodeError:  # the test client cannot send such a header at all
        return
    assert response.status_code in {400, 401}


def test_every_refusal_is_logged_with_its_reason(client, caplog):
    with caplog.at_level("WARNING", logger="signals.api"):
        response = client.post("/api/devices/events", data=b"{}", content_type="application/json")
    assert response.status_code == 401
    [record] = [r for r in caplog.records if r.name == "signals.api"]
    assert "401" in record.getMessage() and "token" in record.getMessage()
