"""Rules the database holds for events, signals, attempts and notification recipients."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DataError, IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from dealers.models import NotificationRecipient
from signals.models import REPLY_MAX, AlarmEvent, DeliveryAttempt, Signal
from tests.factories import (
    AlarmEventFactory,
    BridgeFactory,
    DeliveryAttemptFactory,
    NotificationRecipientFactory,
    SignalFactory,
)

pytestmark = pytest.mark.django_db


def _refused(**fields) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        SignalFactory(**fields)


def test_references_are_unique(account):
    signal = SignalFactory(account=account)
    _refused(account=account, reference=signal.reference)


@pytest.mark.parametrize(
    "fields",
    [
        {"reference": "has space"},
        {"reference": "x" * 65},
        {"qualifier": "X"},
        {"priority": 0},
        {"priority": 10},
        {"event_code": "13a"},
        {"event_code": "1300"},
        {"zone": 1000},
        {"partition": 100},
        {"state": "lost"},
        {"state": "delivered", "delivered_at": None},
    ],
)
def test_signal_invariants(account, fields):
    signal = SignalFactory(account=account)
    # PostgreSQL refuses an over-long value by its column type (DataError), SQLite by the check.
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        Signal.objects.filter(pk=signal.pk).update(**fields)


def test_a_bridge_event_id_is_unique_per_bridge(customer):
    bridge, other = BridgeFactory(customer=customer), BridgeFactory(customer=customer)
    AlarmEventFactory(customer=customer, bridge=bridge, device_event_id="7")
    AlarmEventFactory(customer=customer, bridge=other, device_event_id="7")
    AlarmEventFactory(customer=customer, bridge=bridge, device_event_id="")
    AlarmEventFactory(customer=customer, bridge=bridge, device_event_id="")
    with pytest.raises(IntegrityError), transaction.atomic():
        AlarmEventFactory(customer=customer, bridge=bridge, device_event_id="7")


def test_events_outlive_their_bridge(customer):
    bridge = BridgeFactory(customer=customer)
    event = AlarmEventFactory(customer=customer, bridge=bridge, device_event_id="1")
    bridge.delete()
    event.refresh_from_db()
    assert event.bridge is None


def test_event_kinds_and_zones_are_checked(customer):
    with pytest.raises(IntegrityError), transaction.atomic():
        AlarmEventFactory(customer=customer, kind="explosion")
    with pytest.raises(IntegrityError), transaction.atomic():
        AlarmEventFactory(customer=customer, zone_number=1000)


def test_receivers_with_signals_cannot_be_deleted(account):
    signal = SignalFactory(account=account)
    with pytest.raises(ProtectedError):
        signal.receiver.delete()


def test_due_skips_live_leases_and_future_attempts(account):
    now = timezone.now()
    earlier = now - timedelta(seconds=1)
    due = SignalFactory(account=account, next_attempt_at=earlier)
    expired = SignalFactory(
        account=account, next_attempt_at=earlier, lease_owner="w1", lease_expires_at=earlier
    )
    SignalFactory(
        account=account,
        next_attempt_at=earlier,
        lease_owner="w2",
        lease_expires_at=now + timedelta(seconds=30),
    )
    SignalFactory(account=account, next_attempt_at=now + timedelta(minutes=1))
    SignalFactory(account=account, next_attempt_at=earlier, state="delivered", delivered_at=now)
    assert set(Signal.objects.due(now)) == {due, expired}


def test_attempt_replies_are_cut(account):
    attempt = DeliveryAttemptFactory(reply=b"r" * (REPLY_MAX + 50), error="e" * 5000)
    attempt.refresh_from_db()
    assert len(attempt.reply) == REPLY_MAX
    assert len(attempt.error) == 2000
    assert DeliveryAttempt.objects.for_dealer(attempt.signal.dealer).get() == attempt


def test_tenancy_paths(account, other_dealer, dealer):
    signal = SignalFactory(account=account)
    assert list(Signal.objects.for_dealer(dealer)) == [signal]
    assert not Signal.objects.for_dealer(other_dealer).exists()
    assert list(AlarmEvent.objects.for_dealer(dealer)) == [signal.event]


def test_recipients_are_unique_per_dealer_whatever_the_case(dealer, other_dealer):
    NotificationRecipientFactory(dealer=dealer, email="Ops@Example.com")
    NotificationRecipientFactory(dealer=other_dealer, email="ops@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        NotificationRecipientFactory(dealer=dealer, email="ops@example.COM")


def test_recipients_by_kind(dealer):
    both = NotificationRecipientFactory(dealer=dealer, name="Both")
    receivers_only = NotificationRecipientFactory(dealer=dealer, signal_failure_notifications=False)
    NotificationRecipientFactory(
        dealer=dealer, receiver_notifications=False, signal_failure_notifications=False
    )
    kind = NotificationRecipient.Kind
    assert set(
        NotificationRecipient.objects.for_dealer(dealer).subscribed_to(kind.RECEIVER_STATUS)
    ) == {
        both,
        receivers_only,
    }
    assert list(NotificationRecipient.objects.subscribed_to(kind.SIGNAL_FAILED)) == [both]
    assert str(both) == f"Both <{both.email}>"


def test_any_reply_bytes_are_kept_exactly_and_shown_escaped(account):
    every_byte = bytes(range(256))
    attempt = DeliveryAttemptFactory(reply=every_byte, error="bad \x00 byte")
    attempt.refresh_from_db()

    assert bytes(attempt.reply) == every_byte
    assert attempt.error == "bad \\x00 byte"
    assert attempt.reply_escaped
    assert "\x00" not in attempt.reply_text and "\\x00" in attempt.reply_text
    plain = DeliveryAttemptFactory(reply="accepted ✓\n".encode())
    assert (plain.reply_text, plain.reply_escaped) == ("accepted ✓\n", False)
