"""The Django admin for events, signals (with "retry now"), the library and recipients."""

from __future__ import annotations

from datetime import timedelta

import lxml.html
import pytest
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone

from signals.models import Signal
from tests.factories import (
    AlarmEventFactory,
    DeliveryAttemptFactory,
    EventCodeFactory,
    NotificationRecipientFactory,
    SignalFactory,
)

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:signals_signal_changelist")


def _retry(admin_client, *signals):
    return admin_client.post(
        CHANGELIST,
        {"action": "retry_now", "_selected_action": [s.pk for s in signals]},
        follow=True,
    )


def test_retry_now_requeues_failed_and_pending_signals(admin_client, account, settings):
    settings.SIGNAL_DELIVERY_DEADLINE = timedelta(seconds=120)
    past = timezone.now() - timedelta(hours=1)
    failed = SignalFactory(
        account=account,
        state=Signal.State.FAILED,
        failed_at=past,
        deadline_at=past,
        next_attempt_at=past,
        attempts=7,
    )
    leased = SignalFactory(
        account=account,
        next_attempt_at=timezone.now() + timedelta(minutes=3),
        lease_owner="worker-1",
        lease_expires_at=timezone.now() + timedelta(seconds=30),
    )
    before = timezone.now()
    response = _retry(admin_client, failed, leased)
    assert response.status_code == 200
    for signal in (failed, leased):
        signal.refresh_from_db()
        assert signal.state == Signal.State.PENDING
        assert before <= signal.next_attempt_at <= timezone.now()
        assert (signal.lease_owner, signal.lease_expires_at, signal.failed_at) == ("", None, None)
        assert signal.deadline_at >= before + timedelta(seconds=120)
    assert failed.attempts == 7  # the history of attempts stays
    assert "2 signal(s) queued for delivery now." in [
        str(m) for m in get_messages(response.wsgi_request)
    ]


def test_retry_now_never_touches_delivered_signals(admin_client, account):
    delivered_at = timezone.now() - timedelta(minutes=5)
    delivered = SignalFactory(
        account=account,
        state=Signal.State.DELIVERED,
        delivered_at=delivered_at,
        ack_status="accepted",
    )
    response = _retry(admin_client, delivered)
    delivered.refresh_from_db()
    assert delivered.state == Signal.State.DELIVERED
    assert delivered.delivered_at == delivered_at
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert "0 signal(s) queued for delivery now." in messages
    assert any("1 signal(s) left alone" in m for m in messages)


def test_the_signal_changelist_searches_by_reference_and_account_number(admin_client, account):
    signal = SignalFactory(account=account)
    other = SignalFactory()
    by_reference = admin_client.get(CHANGELIST, {"q": signal.reference})
    assert list(by_reference.context["cl"].result_list) == [signal]
    by_number = admin_client.get(CHANGELIST, {"q": "3444"})
    assert list(by_number.context["cl"].result_list) == [signal]
    assert other not in by_number.context["cl"].result_list
    filtered = admin_client.get(
        CHANGELIST, {"state__exact": "pending", "station__id__exact": account.station_id}
    )
    assert list(filtered.context["cl"].result_list) == [signal]


def test_the_signal_page_shows_the_payload_as_text_and_its_attempts(admin_client, account):
    signal = SignalFactory(account=account)
    DeliveryAttemptFactory(signal=signal, reply=b"<reply>nope</reply>", sent_is_payload=True)
    response = admin_client.get(reverse("admin:signals_signal_change", args=[signal.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert f"&lt;reference&gt;{signal.reference}&lt;/reference&gt;" in html
    # The attempt's "sent" column shows the payload it sent, kept on the signal.
    (sent,) = lxml.html.fromstring(response.content).xpath(
        '//td[contains(@class, "field-sent_shown")]'
    )
    assert f"<reference>{signal.reference}</reference>" in sent.text_content()
    assert "&lt;reply&gt;nope&lt;/reply&gt;" in html
    assert 'name="payload"' not in html  # read-only, never an editable field


def test_signals_and_events_cannot_be_added_or_deleted(admin_client, account):
    signal = SignalFactory(account=account)
    assert admin_client.get(reverse("admin:signals_signal_add")).status_code == 403
    assert admin_client.get(reverse("admin:signals_alarmevent_add")).status_code == 403
    delete = reverse("admin:signals_signal_delete", args=[signal.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Signal.objects.filter(pk=signal.pk).exists()


@pytest.mark.parametrize(
    "name", ["signals_alarmevent", "signals_eventcode", "dealers_notificationrecipient"]
)
def test_the_other_changelists_load(admin_client, account, dealer, name):
    AlarmEventFactory(customer=account.customer)
    EventCodeFactory(dealer=dealer)
    NotificationRecipientFactory(dealer=dealer)
    response = admin_client.get(reverse(f"admin:{name}_changelist"))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


def test_admin_adds_a_library_entry(admin_client, dealer, customer):
    response = admin_client.post(
        reverse("admin:signals_eventcode_add"),
        {
            "dealer": dealer.pk,
            "customer": customer.pk,
            "trigger": "zone.instant",
            "event_code": "131",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    entry = dealer.event_codes.get()
    assert (entry.customer, entry.event_code, entry.level) == (customer, "131", "site")


def test_admin_refuses_a_site_of_another_dealer(admin_client, dealer, outsider_customer):
    response = admin_client.post(
        reverse("admin:signals_eventcode_add"),
        {
            "dealer": dealer.pk,
            "customer": outsider_customer.pk,
            "trigger": "zone.instant",
            "event_code": "131",
        },
    )
    assert response.status_code == 200
    assert "customer" in response.context["adminform"].form.errors
