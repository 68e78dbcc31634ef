"""The alarm library: zone > site > dealer > built-in default, and switched-off entries."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from customers.models import Zone
from signals import lib, services
from signals.lib import DEFAULT_CODES, EventKind, Trigger
from signals.models import AlarmEvent, EventCode, Signal
from tests.factories import CustomerFactory, EventCodeFactory, ZoneFactory

pytestmark = pytest.mark.django_db

ENTRY_EXIT = Trigger.ZONE_ENTRY_EXIT


def _send(customer, zone, kind=EventKind.ALARM) -> list[Signal]:
    event = services.event_record(
        customer=customer,
        kind=kind,
        zone=zone,
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        source=AlarmEvent.Source.DEVICE,
    )
    return list(event.signals.all())


def _code(customer, zone, kind=EventKind.ALARM) -> str | None:
    signals = _send(customer, zone, kind)
    assert len(signals) <= 1
    return signals[0].event_code if signals else None


# --- the built-in table ---------------------------------------------------------------------


def test_every_zone_type_and_event_kind_has_an_entry_and_a_default():
    for zone_type in Zone.Type:
        assert lib.zone_trigger(zone_type) in Trigger.values
    assert set(DEFAULT_CODES) == set(Trigger.values)
    for kind in EventKind:
        assert lib.trigger_for(kind, Zone.Type.FOLLOWER) in DEFAULT_CODES
    assert all(len(code) == 3 and code.isdigit() for code in DEFAULT_CODES.values())


@pytest.mark.parametrize(
    ("zone_type", "code"),
    [
        (Zone.Type.INSTANT, "130"),
        (Zone.Type.FOLLOWER, "132"),
        (Zone.Type.TWENTY_FOUR_HOUR, "133"),
        (Zone.Type.ENTRY_EXIT, "134"),
        (Zone.Type.EXTERIOR_ENTRY_EXIT, "134"),
        (Zone.Type.EXTERIOR_INSTANT, "136"),
        (Zone.Type.INTERCOM_ARMED, "420"),
    ],
)
def test_zone_type_defaults_follow_the_reference(customer, account, zone_type, code):
    zone = ZoneFactory(customer=customer, number=5, zone_type=zone_type)
    assert _code(customer, zone) == code


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (EventKind.PERIODIC_TEST, "602"),
        (EventKind.PROGRAMMING_CHANGE, "306"),
        (EventKind.RESTART, "305"),
        (EventKind.BRIDGE_OFFLINE, "350"),
        (EventKind.CANCEL, "406"),
        (EventKind.ARM, "407"),
        (EventKind.DISARM, "407"),
        (EventKind.CAMERAS_VIEWED, "606"),
        (EventKind.VERDICT_REAL, "139"),
        (EventKind.VERDICT_FALSE_ALARM, "406"),
        (EventKind.VERDICT_UNVERIFIED, "610"),
    ],
)
def test_system_event_defaults(customer, account, kind, code):
    assert _code(customer, None, kind) == code


def test_camera_lost_default_is_380(customer, account, bridge):
    event = services.event_record(
        customer=customer,
        kind=EventKind.CAMERA_LOST,
        bridge=bridge,
        channel=2,
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        source=AlarmEvent.Source.DEVICE,
    )
    assert event.signals.get().event_code == "380"


# --- precedence -----------------------------------------------------------------------------


@pytest.fixture
def levels(dealer, customer, zone):
    """Entry/Exit entries at every level, each with its own code."""
    return SimpleNamespace(
        dealer=EventCodeFactory(dealer=dealer, trigger=ENTRY_EXIT, event_code="151"),
        site=EventCodeFactory(
            dealer=dealer, customer=customer, trigger=ENTRY_EXIT, event_code="152"
        ),
        zone=EventCodeFactory(
            dealer=dealer, customer=customer, zone=zone, trigger=ENTRY_EXIT, event_code="153"
        ),
    )


def test_the_zone_entry_wins(customer, account, zone, levels):
    assert _code(customer, zone) == "153"


def test_then_the_site_entry(customer, account, zone, levels):
    levels.zone.delete()
    assert _code(customer, zone) == "152"


def test_then_the_dealer_library(customer, account, zone, levels):
    levels.zone.delete()
    levels.site.delete()
    assert _code(customer, zone) == "151"


def test_then_the_built_in_default(customer, account, zone, levels):
    EventCode.objects.all().delete()
    assert _code(customer, zone) == "134"


@pytest.mark.parametrize("level", ["dealer", "site", "zone"])
def test_switched_off_at_the_winning_level_sends_nothing(customer, account, zone, levels, level):
    # Keep only the entries from the dealer up to this level; switch this one off.
    order = ["dealer", "site", "zone"]
    for name in order[order.index(level) + 1 :]:
        getattr(levels, name).delete()
    entry = getattr(levels, level)
    entry.enabled = False
    entry.save()

    assert _send(customer, zone) == []
    assert AlarmEvent.objects.count() == 1  # the event is still recorded


@pytest.mark.parametrize("off", ["dealer", "site"])
def test_a_more_specific_entry_switches_back_on(customer, account, zone, levels, off):
    entry = getattr(levels, off)
    entry.enabled = False
    entry.save()
    assert _code(customer, zone) == "153"


def test_a_zone_entry_applies_to_restores_too(customer, account, zone, levels):
    signal = _send(customer, zone, EventKind.RESTORE)[0]
    assert (signal.qualifier, signal.event_code) == ("R", "153")


def test_entries_of_other_zones_sites_and_dealers_do_not_apply(
    customer, account, zone, dealer, other_dealer
):
    other_site = CustomerFactory(dealer=dealer)
    other_zone = ZoneFactory(customer=customer, number=18, zone_type=Zone.Type.ENTRY_EXIT)
    EventCodeFactory(dealer=other_dealer, trigger=ENTRY_EXIT, event_code="161")
    EventCodeFactory(dealer=dealer, customer=other_site, trigger=ENTRY_EXIT, event_code="162")
    EventCodeFactory(
        dealer=dealer, customer=customer, zone=other_zone, trigger=ENTRY_EXIT, event_code="163"
    )
    EventCodeFactory(dealer=dealer, trigger=Trigger.ZONE_INSTANT, event_code="164")
    assert _code(customer, zone) == "134"


def test_a_zone_entry_for_the_zones_old_type_no_longer_applies(customer, account, zone, levels):
    zone.zone_type = Zone.Type.INSTANT
    zone.save()
    assert _code(customer, zone) == "130"


def test_disabling_one_zone_type_leaves_the_others(customer, account, zone, dealer):
    EventCodeFactory(dealer=dealer, trigger=ENTRY_EXIT, event_code="134", enabled=False)
    instant = ZoneFactory(customer=customer, number=3, zone_type=Zone.Type.INSTANT)
    assert _code(customer, zone) is None
    assert _code(customer, instant) == "130"


def test_resolution_is_pure():
    rule = SimpleNamespace
    rules = [
        rule(trigger="test", customer_id=None, zone_id=None, event_code="611", enabled=True),
        rule(trigger="test", customer_id=7, zone_id=None, event_code="612", enabled=False),
        rule(trigger="test", customer_id=7, zone_id=70, event_code="613", enabled=True),
        rule(trigger="cancel", customer_id=7, zone_id=70, event_code="614", enabled=True),
    ]
    assert lib.code_resolve("test", rules, customer_id=7, zone_id=70) == "613"
    assert lib.code_resolve("test", rules, customer_id=7, zone_id=71) is None
    assert lib.code_resolve("test", rules, customer_id=8, zone_id=None) == "611"
    assert lib.code_resolve("cancel", rules, customer_id=7, zone_id=None) == "406"
    assert lib.code_resolve("cancel", [], customer_id=7) == "406"


# --- priority -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "qualifier", "is_alarm", "priority"),
    [
        ("110", "E", True, 1),  # fire
        ("121", "E", True, 2),  # duress / hold-up
        ("130", "E", True, 3),  # burglary
        ("100", "E", True, 4),  # medical: another alarm
        ("420", "E", True, 4),  # an Intercom Armed zone is still an alarm
        ("380", "E", False, 5),  # trouble
        ("130", "R", True, 5),  # a restore is never urgent
        ("602", "E", False, 6),  # periodic test
        ("407", "R", False, 6),  # arming
    ],
)
def test_priority_table(code, qualifier, is_alarm, priority):
    assert lib.priority_for(code, qualifier=qualifier, is_alarm=is_alarm) == priority


def test_a_fire_code_from_the_library_goes_first(customer, account, zone, dealer):
    EventCodeFactory(dealer=dealer, trigger=ENTRY_EXIT, event_code="110")
    assert _send(customer, zone)[0].priority == 1


# --- the library's own rules ----------------------------------------------------------------


def test_one_entry_per_trigger_and_level(dealer, customer, zone):
    EventCodeFactory(dealer=dealer, trigger=ENTRY_EXIT)
    EventCodeFactory(dealer=dealer, customer=customer, trigger=ENTRY_EXIT)
    EventCodeFactory(dealer=dealer, customer=customer, zone=zone, trigger=ENTRY_EXIT)
    for extra in ({}, {"customer": customer}, {"customer": customer, "zone": zone}):
        with pytest.raises(IntegrityError), transaction.atomic():
            EventCodeFactory(dealer=dealer, trigger=ENTRY_EXIT, **extra)


def test_a_zone_entry_names_its_site(dealer, zone):
    with pytest.raises(IntegrityError), transaction.atomic():
        EventCode.objects.create(dealer=dealer, zone=zone, trigger=ENTRY_EXIT, event_code="134")


def test_codes_have_three_digits(dealer):
    with pytest.raises(IntegrityError), transaction.atomic():
        EventCode.objects.create(dealer=dealer, trigger=ENTRY_EXIT, event_code="13")
    entry = EventCode(dealer=dealer, trigger=ENTRY_EXIT, event_code="1a4")
    with pytest.raises(ValidationError):
        entry.full_clean()


def test_clean_takes_the_site_from_the_zone_and_refuses_other_dealers(dealer, other_dealer, zone):
    entry = EventCode(dealer=dealer, zone=zone, trigger=ENTRY_EXIT, event_code="134")
    entry.full_clean()
    assert entry.customer_id == zone.customer_id
    foreign = EventCode(dealer=other_dealer, zone=zone, trigger=ENTRY_EXIT, event_code="134")
    with pytest.raises(ValidationError):
        foreign.full_clean()


def test_library_defaults_fill_what_is_missing_only(dealer):
    EventCodeFactory(dealer=dealer, trigger=Trigger.PERIODIC_TEST, event_code="603")
    created = services.library_defaults_create(dealer=dealer)
    assert len(created) == len(DEFAULT_CODES) - 1
    assert EventCode.objects.get(dealer=dealer, trigger=Trigger.PERIODIC_TEST).event_code == "603"
    assert services.library_defaults_create(dealer=dealer) == []
    assert str(EventCode.objects.get(dealer=dealer, trigger=ENTRY_EXIT)) == (
        "Zone alarm: Entry/Exit: 134 (Dealer library)"
    )
