"""event_record: the event and its outbox rows, in one transaction, with the exact bytes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import IntegrityError, connection
from django.utils import timezone
from lxml import etree

from customers.models import MonitoringAccount, Zone
from signals import builders, lib, selectors, services
from signals.codecs.xml_v1 import NAMESPACE, validate_package
from signals.lib import EventKind
from signals.models import AlarmEvent, Signal
from stations.models import Receiver
from tests.factories import (
    BridgeFactory,
    CameraFactory,
    CustomerFactory,
    DealerStationFactory,
    EventCodeFactory,
    MonitoringAccountFactory,
    MonitoringStationFactory,
    ReceiverFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

NS = {"s": NAMESPACE}
WHEN = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def _record(customer, **kwargs) -> AlarmEvent:
    defaults = {"kind": EventKind.ALARM, "occurred_at": WHEN, "source": AlarmEvent.Source.DEVICE}
    return services.event_record(customer=customer, **{**defaults, **kwargs})


def _xml(signal: Signal):
    return etree.fromstring(bytes(signal.payload))


def _text(root, path: str) -> str:
    return root.xpath(f"string({path})", namespaces=NS)


def test_one_signal_per_account_whose_record_has_a_receiver(
    customer, dealer, account, video_only_account, zone
):
    other_receiver = ReceiverFactory(name="Backup station XML")
    other_record = DealerStationFactory(dealer=dealer, receiver=other_receiver, name="Backup")
    second = MonitoringAccountFactory(
        customer=customer, station_record=other_record, account_number="B77"
    )

    event = _record(customer, zone=zone)

    signals = list(event.signals.order_by("id"))
    assert [(s.account, s.account_number, s.receiver) for s in signals] == [
        (account, "3444", account.station_record.receiver),
        (second, "B77", other_receiver),
    ]
    assert event.is_new
    assert all(s.state == Signal.State.PENDING and s.dealer == dealer for s in signals)
    assert not Signal.objects.filter(account=video_only_account).exists()
    assert len({s.reference for s in signals}) == 2


def test_a_site_without_a_transmitting_account_records_the_event_and_sends_nothing(
    customer, video_only_account
):
    event = _record(customer, zone=17)
    assert AlarmEvent.objects.filter(pk=event.pk).exists()
    assert not Signal.objects.exists()


def test_the_package_is_valid_and_carries_everything(customer, account, zone, settings):
    settings.PORTAL_BASE_URL = "https://portal.example"
    event = _record(
        customer,
        zone=zone,
        occurred_at=datetime(2025, 3, 4, 6, 6, 7, tzinfo=timezone.get_fixed_timezone(60)),
    )
    signal = event.signals.get()

    validate_package(bytes(signal.payload))
    root = _xml(signal)
    assert _text(root, "/s:signal/s:reference") == signal.reference
    assert _text(root, "/s:signal/s:account") == "3444"
    assert _text(root, "/s:signal/s:receiver/@number") == "R1"
    assert _text(root, "/s:signal/s:receiver/@line") == "L2"
    assert _text(root, "/s:signal/s:event/s:qualifier") == "E"
    assert _text(root, "/s:signal/s:event/s:code") == "134"  # Entry/Exit
    assert _text(root, "/s:signal/s:event/s:partition") == "01"
    assert _text(root, "/s:signal/s:event/s:zone") == "017"
    assert _text(root, "/s:signal/s:event/s:priority") == "3"
    assert _text(root, "/s:signal/s:event/s:eventTime") == "2025-03-04T05:06:07Z"
    assert _text(root, "/s:signal/s:site/s:name") == "Corner Store"
    assert _text(root, "/s:signal/s:site/s:zoneDescription") == "Back door"
    assert _text(root, "/s:signal/s:site/s:cameraDescription") == "Back door camera"
    assert (
        _text(root, "/s:signal/s:site/s:videoUrl")
        == "https://portal.example/monitoring?act=3444&zone=017"
    )
    assert (signal.qualifier, signal.event_code, signal.zone, signal.partition) == (
        "E",
        "134",
        17,
        1,
    )
    assert signal.contact_id == "3444 18 1134 01 017"
    assert signal.protocol == Receiver.Protocol.XML_V1


def test_a_restore_sends_the_same_code_with_qualifier_r(customer, account, zone):
    signal = _record(customer, kind=EventKind.RESTORE, zone=zone).signals.get()
    assert (signal.qualifier, signal.event_code) == ("R", "134")
    assert signal.priority == 5  # a restore needs no one to act
    assert _text(_xml(signal), "/s:signal/s:event/s:qualifier") == "R"


def test_hostile_site_and_zone_names_are_escaped_not_concatenated(customer, account, zone):
    customer.name = 'Smith & Sons <script>alert("x")</script> \x1b]'
    customer.save()
    zone.name = "</zoneDescription><evil/>"
    zone.save()
    signal = _record(customer, zone=zone).signals.get()
    validate_package(bytes(signal.payload))
    root = _xml(signal)
    assert _text(root, "/s:signal/s:site/s:name").startswith('Smith & Sons <script>alert("x")')
    assert _text(root, "/s:signal/s:site/s:zoneDescription") == "</zoneDescription><evil/>"
    assert not root.xpath("//s:evil", namespaces=NS)


def test_the_account_number_stays_as_it_was(customer, account, zone):
    signal = _record(customer, zone=zone).signals.get()
    payload = bytes(signal.payload)
    account.account_number = "9999"
    account.save()
    signal.refresh_from_db()
    assert signal.account_number == "3444"
    assert bytes(signal.payload) == payload

    account.delete()
    signal.refresh_from_db()
    assert signal.account is None
    assert signal.account_number == "3444"
    assert not MonitoringAccount.objects.exists()


def test_signals_are_due_now_with_the_configured_deadline(customer, account, settings):
    settings.SIGNAL_DELIVERY_DEADLINE = timedelta(seconds=90)
    before = timezone.now()
    signal = _record(customer, zone=17).signals.get()
    assert before <= signal.created_at <= timezone.now()
    assert signal.next_attempt_at == signal.created_at
    assert signal.deadline_at == signal.created_at + timedelta(seconds=90)
    assert (signal.attempts, signal.lease_owner, signal.lease_expires_at) == (0, "", None)
    assert list(Signal.objects.due(timezone.now())) == [signal]


def test_a_zone_the_portal_does_not_know_is_sent_as_instant(customer, account):
    signal = _record(customer, zone=42).signals.get()
    assert (signal.event_code, signal.zone) == ("130", 42)
    root = _xml(signal)
    assert _text(root, "/s:signal/s:site/s:zoneDescription") == ""
    assert _text(root, "/s:signal/s:site/s:videoUrl").endswith("act=3444&zone=042")


def test_a_camera_channel_finds_the_zone_that_shows_it(customer, account, bridge, zone):
    event = _record(customer, bridge=bridge, channel=1)
    signal = event.signals.get()
    assert (event.zone_number, event.channel) == (17, 1)
    assert (signal.event_code, signal.zone) == ("134", 17)


def test_a_camera_trouble_without_a_zone_carries_the_channel(customer, account, bridge):
    CameraFactory(bridge=bridge, channel=3, name="Yard")
    event = _record(customer, kind=EventKind.CAMERA_LOST, bridge=bridge, channel=3)
    signal = event.signals.get()
    assert (signal.qualifier, signal.event_code, signal.zone, signal.priority) == ("E", "380", 3, 5)
    assert _text(_xml(signal), "/s:signal/s:site/s:cameraDescription") == "Yard"


def test_system_events_have_no_zone(customer, account):
    signal = _record(customer, kind=EventKind.ARM).signals.get()
    # Contact ID sends arming as a closing.
    assert (signal.qualifier, signal.event_code, signal.zone, signal.priority) == ("R", "407", 0, 6)
    assert _text(_xml(signal), "/s:signal/s:site/s:videoUrl").endswith("/monitoring?act=3444")


def test_a_receiver_protocol_the_portal_cannot_send_gets_no_signal_and_the_event_says_why(
    customer, dealer, account
):
    odd = ReceiverFactory(name="Odd")
    Receiver.objects.filter(pk=odd.pk).update(protocol="teletype")  # no codec has it
    record = DealerStationFactory(dealer=dealer, receiver=odd, name="Odd station")
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="S1")

    event = _record(customer, zone=17)
    event.refresh_from_db()  # as stored, not as the instance says

    assert [s.account_number for s in event.signals.all()] == [account.account_number]
    assert "Account S1" in event.unsent_reason
    assert "refused" in event.unsent_reason


def test_an_event_that_sends_nothing_keeps_why(customer, dealer):
    event = _record(customer, zone=17)  # the site has no account yet
    event.refresh_from_db()

    assert not event.signals.exists()
    assert event.unsent_reason == "The site has no monitoring account with a receiver."


def test_a_bad_receiver_number_is_left_out_not_fatal(customer, account, receiver):
    receiver.receiver_number = "R 1!"
    receiver.save()
    signal = _record(customer, zone=17).signals.get()
    root = _xml(signal)
    assert _text(root, "/s:signal/s:receiver/@number") == ""
    assert _text(root, "/s:signal/s:receiver/@line") == "L2"


def test_a_broken_base_url_leaves_the_video_link_out(customer, account, settings):
    settings.PORTAL_BASE_URL = "portal.example"
    signal = _record(customer, zone=17).signals.get()
    validate_package(bytes(signal.payload))
    assert _text(_xml(signal), "/s:signal/s:site/s:videoUrl") == ""


def test_event_and_signals_are_one_transaction(customer, account, dealer, monkeypatch):
    second = DealerStationFactory(dealer=dealer, receiver=ReceiverFactory(), name="Second")
    MonitoringAccountFactory(customer=customer, station_record=second, account_number="X2")
    real = builders.message_build
    calls = []

    def fail_on_second(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(**kwargs)

    monkeypatch.setattr(builders, "message_build", fail_on_second)
    with pytest.raises(RuntimeError):
        _record(customer, zone=17)
    assert not AlarmEvent.objects.exists()
    assert not Signal.objects.exists()


def test_naive_times_are_refused(customer, account):
    with pytest.raises(ValueError):
        _record(customer, occurred_at=datetime(2025, 3, 4, 5, 6, 7))
    assert not AlarmEvent.objects.exists()


# --- idempotency ----------------------------------------------------------------------------


def test_the_same_device_event_id_twice_creates_nothing_new(customer, account, bridge):
    first = _record(customer, bridge=bridge, zone=17, device_event_id="ev-1")
    again = _record(
        customer, bridge=bridge, zone=17, device_event_id="ev-1", kind=EventKind.RESTORE
    )
    assert again.pk == first.pk
    assert (first.is_new, again.is_new) == (True, False)
    assert AlarmEvent.objects.count() == 1
    assert Signal.objects.count() == 1


def test_the_same_id_from_another_bridge_is_another_event(customer, account, bridge):
    other = BridgeFactory(customer=customer)
    _record(customer, bridge=bridge, zone=17, device_event_id="ev-1")
    _record(customer, bridge=other, zone=17, device_event_id="ev-1")
    assert AlarmEvent.objects.count() == 2


def test_a_lost_race_returns_the_winners_event(customer, account, bridge, monkeypatch):
    """The other request committed between our look-up and our insert: the database's unique
    constraint refuses ours, and we answer with theirs."""
    winner = _record(customer, bridge=bridge, zone=17, device_event_id="ev-9")
    real = selectors.device_event
    calls = []

    def not_yet_then_real(bridge, device_event_id):
        calls.append(device_event_id)
        return None if len(calls) == 1 else real(bridge, device_event_id)

    monkeypatch.setattr(selectors, "device_event", not_yet_then_real)
    loser = _record(customer, bridge=bridge, zone=17, device_event_id="ev-9")
    assert len(calls) == 2
    assert loser.pk == winner.pk
    assert not loser.is_new
    assert Signal.objects.count() == 1


def test_an_unrelated_integrity_error_is_not_swallowed(customer, account, monkeypatch):
    def collide():
        return "same-reference"

    monkeypatch.setattr(services.lib, "reference_new", collide)
    _record(customer, zone=17)
    with pytest.raises(IntegrityError):
        _record(customer, zone=18)


def test_test_signal_send_records_who(customer, account, owner):
    event = services.test_signal_send(customer=customer, actor=owner)
    signal = event.signals.get()
    assert (event.kind, event.source, event.actor) == ("test", "test_signal", owner)
    assert (signal.qualifier, signal.event_code, signal.priority) == ("E", "601", 6)


def test_an_account_at_another_station_is_a_separate_signal_stream(customer, dealer, account):
    station = MonitoringStationFactory(name="Other")
    record = DealerStationFactory(
        dealer=dealer, receiver=ReceiverFactory(station=station), name="Other record"
    )
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")
    event = _record(customer, zone=17)
    assert sorted(s.station_id for s in event.signals.all()) == sorted(
        [account.station_id, station.pk]
    )


def test_only_station_limits_the_signals_to_that_stations_account(customer, dealer, account):
    """An operator's action is for the operator's station, not every station of the site."""
    station = MonitoringStationFactory(name="Other")
    record = DealerStationFactory(
        dealer=dealer, receiver=ReceiverFactory(station=station), name="Other record"
    )
    other = MonitoringAccountFactory(customer=customer, station_record=record, account_number="77")
    event = _record(customer, kind=EventKind.CAMERAS_VIEWED, only_station=station)
    assert [(s.account, s.event_code) for s in event.signals.all()] == [(other, "606")]
    assert event.unsent_reason == ""

    lonely = MonitoringStationFactory(name="Video Only Station")
    event = _record(customer, kind=EventKind.VERDICT_REAL, zone=17, only_station=lonely)
    event.refresh_from_db()
    assert not event.signals.exists()
    assert event.unsent_reason == "The site has no account with a receiver at Video Only Station."


def test_a_zone_with_several_cameras_names_them_in_bridge_and_channel_order(
    customer, account, bridge, zone
):
    other_bridge = BridgeFactory(customer=customer, serial="AA-0001")
    zone.cameras.add(
        CameraFactory(bridge=bridge, channel=2, name="Hall"),
        CameraFactory(bridge=other_bridge, channel=5, name="Gate"),
    )
    signal = _record(customer, zone=17).signals.get()
    assert (
        _text(_xml(signal), "/s:signal/s:site/s:cameraDescription")
        == "Gate, Back door camera, Hall"
    )


def test_each_level_of_the_library_decides_for_its_own_sites_and_zones(
    customer, dealer, account, zone
):
    """The entries are read with values put into a statement compiled once (per process): one
    site's or zone's entry must never decide another's code."""
    other_site = CustomerFactory(dealer=dealer)
    MonitoringAccountFactory(
        customer=other_site, station_record=account.station_record, account_number="5555"
    )
    other_zone = ZoneFactory(customer=other_site, number=17, zone_type=Zone.Type.ENTRY_EXIT)
    trigger = lib.zone_trigger(Zone.Type.ENTRY_EXIT)
    EventCodeFactory(dealer=dealer, trigger=trigger, event_code="137")
    EventCodeFactory(dealer=dealer, customer=customer, zone=zone, trigger=trigger, event_code="138")
    EventCodeFactory(
        dealer=dealer, customer=other_site, zone=other_zone, trigger=trigger, enabled=False
    )

    assert _record(customer, zone=17).signals.get().event_code == "138"
    assert not _record(other_site, zone=17).signals.exists()
    assert _record(customer, zone=3).signals.get().event_code == "130"  # not this zone's: Instant
    other_zone.delete()
    assert _record(other_site, zone=17).signals.get().event_code == "130"


@pytest.mark.parametrize("extra", [0, 2])
def test_an_alarm_is_written_in_a_fixed_number_of_statements(
    customer, dealer, account, bridge, zone, extra, django_assert_num_queries
):
    """The alarm's path: the zone and its cameras (one round trip on PostgreSQL), the library's
    entries, the accounts (locked), the event, its signals and the notification (one round
    trip on PostgreSQL); however many cameras and accounts the site has."""
    for n in range(extra):
        zone.cameras.add(CameraFactory(bridge=bridge, channel=10 + n))
        record = DealerStationFactory(dealer=dealer, name=f"Also {n}")
        MonitoringAccountFactory(customer=customer, station_record=record, account_number=f"7{n}")
    _record(customer, zone=17)  # the statements compiled, and prepared on this session
    postgresql = connection.vendor == "postgresql"
    # The zone with its cameras (one statement each elsewhere), the library's entries.
    reads = 2 if postgresql else 3
    # A savepoint (inside the test's transaction), the accounts, the event with its signals
    # and the notification (elsewhere: the event, the signals), the savepoint's release.
    transaction = 4 if postgresql else 5
    with django_assert_num_queries(reads + transaction):
        event = _record(customer, zone=17)
    assert event.signals.count() == 1 + extra


@pytest.mark.parametrize("number", [-1, 32_768, 10**9])
def test_a_zone_number_no_zone_can_have_finds_no_zone(customer, zone, number):
    """Out of the column's range: no zone, as the ORM would say, not a database error."""
    assert selectors.zone_for_event(customer, number=number, camera=None) == (None, [])
    assert selectors.zone_for_event(customer, number=17, camera=None) == (
        zone,
        [zone.cameras.get()],
    )
