"""Dealer pages: send test signal, the signal lists, and issuing a bridge's device token."""

from __future__ import annotations

from datetime import UTC, datetime

import lxml.html
import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from signals.lib import Trigger, device_token_matches
from signals.models import AlarmEvent, Signal
from tests.factories import (
    BridgeFactory,
    CustomerFactory,
    DealerStationFactory,
    DeliveryAttemptFactory,
    EventCodeFactory,
    MonitoringAccountFactory,
    ReceiverFactory,
    SignalFactory,
)

pytestmark = pytest.mark.django_db

LIST = reverse("signals:list")


def _test_url(customer) -> str:
    return reverse("signals:test-send", args=[customer.code])


def _customer_list(customer) -> str:
    return reverse("signals:customer-list", args=[customer.code])


def _token_url(bridge) -> str:
    return reverse("signals:bridge-token", args=[bridge.code])


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def outsider_account(outsider_customer, outsider_record):
    return MonitoringAccountFactory(
        customer=outsider_customer, station_record=outsider_record, account_number="OUT1"
    )


# --- send test signal -----------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner_client", "technician_client"])
def test_editors_send_a_test_signal(request, persona, customer, account, dealer):
    second = DealerStationFactory(dealer=dealer, receiver=ReceiverFactory(), name="Second")
    MonitoringAccountFactory(customer=customer, station_record=second, account_number="T2")
    response = request.getfixturevalue(persona).post(_test_url(customer))
    assert response.status_code == 302
    assert response.url == reverse("customers:detail", args=[customer.code]) + "#monitoring"
    event = AlarmEvent.objects.get()
    assert (event.kind, event.source, event.customer) == ("test", "test_signal", customer)
    assert event.actor.username in ("owner", "technician")
    assert Signal.objects.filter(event=event).count() == 2
    assert _messages(response) == [
        "2 test signals queued for delivery. Follow them on the signals page."
    ]


def test_no_receiver_no_test_signal(owner_client, customer, video_only_account):
    response = owner_client.post(_test_url(customer))
    assert response.status_code == 302
    assert not Signal.objects.exists()
    assert (
        "none of this customer's monitoring station accounts has a receiver"
        in (_messages(response)[0])
    )


def test_a_switched_off_test_code_is_explained(owner_client, customer, account, dealer):
    EventCodeFactory(dealer=dealer, trigger=Trigger.TEST, event_code="601", enabled=False)
    response = owner_client.post(_test_url(customer))
    assert not Signal.objects.exists()
    assert "switched off in your alarm library" in _messages(response)[0]


def test_viewers_may_not_send_test_signals(viewer_client, customer, account):
    assert viewer_client.post(_test_url(customer)).status_code == 403
    assert not AlarmEvent.objects.exists()


def test_outsiders_get_404_for_test_signals(outsider_client, customer, account):
    assert outsider_client.post(_test_url(customer)).status_code == 404
    assert not AlarmEvent.objects.exists()


def test_test_signal_needs_sign_in_and_post(client, owner_client, customer, account):
    response = client.post(_test_url(customer))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert owner_client.get(_test_url(customer)).status_code == 405
    assert not AlarmEvent.objects.exists()


def test_the_customer_page_offers_the_button_to_editors_only(
    owner_client, viewer_client, customer, account
):
    detail = reverse("customers:detail", args=[customer.code])
    owner_html = owner_client.get(detail).content.decode()
    viewer_html = viewer_client.get(detail).content.decode()
    assert _test_url(customer) in owner_html
    assert _test_url(customer) not in viewer_html
    assert _customer_list(customer) in owner_html
    assert _customer_list(customer) in viewer_html


# --- lists ----------------------------------------------------------------------------------


def test_lists_need_sign_in(client, customer):
    for url in (LIST, _customer_list(customer)):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_lists_are_read_only(owner_client, customer, method):
    for url in (LIST, _customer_list(customer)):
        assert getattr(owner_client, method)(url).status_code == 405


def test_outsiders_get_404_for_a_customers_signals(outsider_client, customer):
    assert outsider_client.get(_customer_list(customer)).status_code == 404


def test_any_member_sees_the_dealers_signals_only(viewer_client, account, outsider_account):
    mine = SignalFactory(account=account)
    theirs = SignalFactory(account=outsider_account)
    response = viewer_client.get(LIST)
    assert response.status_code == 200
    assert list(response.context["signals"]) == [mine]
    html = response.content.decode()
    assert mine.reference in html
    assert theirs.reference not in html


def test_the_customer_list_shows_that_customer_only(owner_client, customer, dealer, account):
    mine = SignalFactory(account=account)
    other = SignalFactory(account=MonitoringAccountFactory(customer__dealer=dealer))
    response = owner_client.get(_customer_list(customer))
    assert list(response.context["signals"]) == [mine]
    assert other.reference not in response.content.decode()


def test_the_list_shows_state_answer_xml_and_attempts(owner_client, customer, account):
    customer.name = "<script>alert(1)</script>"
    customer.save()
    signal = SignalFactory(
        account=account,
        customer=customer,
        attempts=2,
        ack_status="rejected",
        ack_reason="Account not ready",
    )
    DeliveryAttemptFactory(signal=signal, outcome="timeout", reply=b"", error="no reply in 10 s")
    DeliveryAttemptFactory(
        signal=signal,
        outcome="retry",
        reply=b"<reply>busy & more</reply>",
        sent_is_payload=True,
    )
    response = owner_client.get(LIST)
    html = response.content.decode()
    assert "rejected: Account not ready" in html
    assert "Pending" in html
    assert "no reply in 10 s" in html
    assert "&lt;reply&gt;busy &amp; more&lt;/reply&gt;" in html
    # The XML sent, escaped: the site name was escaped once for XML, then for HTML.
    assert "&lt;account&gt;3444&lt;/account&gt;" in html
    assert "&amp;lt;script&amp;gt;" in html
    assert "<script>alert(1)" not in html
    # The attempt that sent the payload as stored shows it; the one that sent nothing, nothing.
    cells = lxml.html.fromstring(response.content).xpath('//td[@data-testid="sent"]')
    sent_cells = [cell.text_content().strip() for cell in cells]
    assert sent_cells[0] == ""
    assert f"<reference>{signal.reference}</reference>" in sent_cells[1]


def test_filter_by_state_and_station_record(owner_client, customer, dealer, account):
    other_record = DealerStationFactory(dealer=dealer, name="Other record")
    other = MonitoringAccountFactory(customer=customer, station_record=other_record)
    pending = SignalFactory(account=account)
    delivered = SignalFactory(account=account, state="delivered", delivered_at=pending.created_at)
    elsewhere = SignalFactory(account=other)

    def listed(**params) -> set:
        return set(owner_client.get(LIST, params).context["signals"])

    assert listed() == {pending, delivered, elsewhere}
    assert listed(state="delivered") == {delivered}
    assert listed(state="pending") == {pending, elsewhere}
    assert listed(station=str(other_record.code)) == {elsewhere}
    assert listed(station=str(account.station_record.code), state="pending") == {pending}
    assert listed(state="bogus", station="not-a-uuid") == {pending, delivered, elsewhere}


def test_search_by_account_number_reference_or_customer(owner_client, dealer, account, record):
    other_site = CustomerFactory(dealer=dealer, name="Harbour Depot")
    other = MonitoringAccountFactory(
        customer=other_site, station_record=record, account_number="77-100"
    )
    mine = SignalFactory(account=account)  # account 3444 at "Corner Store"
    theirs = SignalFactory(account=other)

    def listed(q: str) -> set:
        return set(owner_client.get(LIST, {"q": q}).context["signals"])

    assert listed("34") == {mine}  # an account number, from its start
    assert listed("77-1") == {theirs}
    assert listed(theirs.reference) == {theirs}
    assert listed("harbour") == {theirs}  # a customer's name, any case
    assert listed("corner") == {mine}
    assert listed("44") == set()  # not the middle of an account number
    assert listed("\x00") == {mine, theirs}


def test_filter_by_date_in_the_dealers_days(owner_client, account):
    old = SignalFactory(account=account, created_at=datetime(2024, 3, 1, 12, tzinfo=UTC))
    new = SignalFactory(account=account, created_at=datetime(2024, 3, 5, 12, tzinfo=UTC))

    def listed(**params) -> set:
        return set(owner_client.get(LIST, params).context["signals"])

    assert listed(date_from="2024-03-02") == {new}
    assert listed(date_to="2024-03-02") == {old}
    assert listed(date_from="2024-03-01", date_to="2024-03-05") == {old, new}
    assert listed(date_from="not a date") == {old, new}  # an invalid filter filters nothing


def test_another_dealers_record_is_no_filter(owner_client, account, outsider_record):
    SignalFactory(account=account)
    response = owner_client.get(LIST, {"station": str(outsider_record.code)})
    assert response.context["filter"].cleaned.get("station") is None
    assert len(response.context["signals"]) == 1


def test_the_list_is_paginated(owner_client, account):
    SignalFactory.create_batch(30, account=account)
    assert len(owner_client.get(LIST).context["signals"]) == 25
    assert len(owner_client.get(LIST, {"page": 2}).context["signals"]) == 5
    assert owner_client.get(LIST, {"page": 9}).status_code == 404


@pytest.mark.parametrize("count", [1, 20])
def test_list_query_counts_do_not_grow(
    client, owner, customer, account, count, django_assert_num_queries
):
    for signal in SignalFactory.create_batch(count, account=account):
        DeliveryAttemptFactory(signal=signal, sent=b"<signal>as built then</signal>")
        DeliveryAttemptFactory(signal=signal, sent_is_payload=True)  # shown from the signal
    client.force_login(owner)
    # session, user, memberships, station records (filter), count, page, attempts
    with django_assert_num_queries(7):
        assert client.get(LIST).status_code == 200
    # ... and the customer
    with django_assert_num_queries(8):
        assert client.get(_customer_list(customer)).status_code == 200


def test_the_nav_links_to_the_signals(owner_client):
    assert f'href="{LIST}"' in owner_client.get(reverse("customers:list")).content.decode()


# --- device tokens --------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner_client", "technician_client"])
def test_editors_issue_a_token_shown_once(request, persona, bridge):
    response = request.getfixturevalue(persona).post(_token_url(bridge))
    assert response.status_code == 200
    token = response.context["token"]
    assert (
        f'data-testid="device-token" class="user-select-all">{token}<' in response.content.decode()
    )
    assert "no-cache" in response["Cache-Control"]
    bridge.refresh_from_db()
    assert device_token_matches(token, bridge.token_hash)
    assert token not in bridge.token_hash


def test_a_second_token_replaces_the_first(owner_client, bridge):
    first = owner_client.post(_token_url(bridge)).context["token"]
    second = owner_client.post(_token_url(bridge)).context["token"]
    bridge.refresh_from_db()
    assert not device_token_matches(first, bridge.token_hash)
    assert device_token_matches(second, bridge.token_hash)


def test_token_rules(client, viewer_client, outsider_client, owner_client, bridge):
    assert viewer_client.post(_token_url(bridge)).status_code == 403
    assert outsider_client.post(_token_url(bridge)).status_code == 404
    assert owner_client.get(_token_url(bridge)).status_code == 405
    response = client.post(_token_url(bridge))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    bridge.refresh_from_db()
    assert bridge.token_hash == ""


def test_the_devices_section_offers_the_token_button(owner_client, customer, bridge):
    other = BridgeFactory(customer=customer, serial="BR-0002")
    html = owner_client.get(reverse("customers:detail", args=[customer.code])).content.decode()
    assert _token_url(bridge) in html
    assert _token_url(other) in html
    assert "Issue device token" in html


def test_a_client_without_csrf_cannot_issue_tokens(owner, bridge):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post(_token_url(bridge)).status_code == 403


# --- the XML sent, and refreshing while pending --------------------------------------------


def test_the_xml_sent_is_indented_in_its_own_box_with_a_copy_button(owner_client, account):
    signal = SignalFactory(account=account)
    html = owner_client.get(LIST).content.decode()
    box = html[html.index(f'id="payload-{signal.reference}"') :]
    box = box[: box.index("</pre>")]
    lines = box.split("\n")
    assert lines[0].endswith("&lt;?xml version=&#x27;1.0&#x27; encoding=&#x27;UTF-8&#x27;?&gt;")
    assert lines[1].startswith("&lt;signal ")
    assert any(line.startswith("  &lt;account&gt;3444") for line in lines)  # one element a line
    assert f'data-copy-target="#payload-{signal.reference}"' in html
    assert 'class="payload small mb-0"' in html  # the scrolling box (static/css/portal.css)


def test_a_payload_that_is_no_xml_is_shown_as_sent():
    from signals.lib import payload_for_people

    assert payload_for_people(b"SIA-DCS 0001 L0#3444[#3444|Nri1/BA017]") == (
        "SIA-DCS 0001 L0#3444[#3444|Nri1/BA017]"
    )
    assert payload_for_people(b"<broken") == "<broken"
    # Entities are never expanded.
    evil = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "boom">]><a>&x;</a>'
    assert "boom</a>" not in payload_for_people(evil)


def test_the_table_refreshes_itself_only_while_a_shown_signal_is_pending(owner_client, account):
    pending = SignalFactory(account=account)
    page = owner_client.get(LIST).content.decode()
    assert 'hx-trigger="every 5s"' in page and 'data-refreshing="true"' in page
    assert "js/signal-list.js" in page
    # The refresh asks for the table only, with the same filters.
    part = owner_client.get(LIST, {"state": "pending"}, headers={"HX-Request": "true"})
    assert part.templates[0].name == "signals/_signal_table.html"
    assert f'hx-get="{LIST}?state=pending"' in part.content.decode()
    Signal.objects.filter(pk=pending.pk).update(state="delivered", delivered_at=pending.created_at)
    part = owner_client.get(LIST, headers={"HX-Request": "true"}).content.decode()
    assert "hx-trigger" not in part and "Delivered" in part
