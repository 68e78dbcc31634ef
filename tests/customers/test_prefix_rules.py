"""Prefixes the station governs: how the dealer enters a number, what signals carry, and
accounts left behind by a changed prefix."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from lxml import etree

from customers.models import MonitoringAccount
from signals import services as signal_services
from signals.codecs.xml_v1 import NAMESPACE
from signals.lib import EventKind
from signals.models import AlarmEvent
from stations.models import DealerStation
from tests.factories import (
    DealerStationFactory,
    MonitoringAccountFactory,
    ReceiverFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def adding_receiver(station):
    return ReceiverFactory(station=station, name="Adds prefix", adds_prefix=True)


@pytest.fixture
def adding_record(dealer, adding_receiver):
    return DealerStationFactory(
        dealer=dealer, receiver=adding_receiver, name="NW (adds)", account_prefix="NW"
    )


@pytest.fixture
def plain_record(dealer, receiver):
    return DealerStationFactory(
        dealer=dealer, receiver=receiver, name="NW (plain)", account_prefix="NW"
    )


def _add(client, customer, record, number):
    return client.post(
        reverse("customers:account-create", args=[customer.code]),
        {"station_record": str(record.code), "account_number": number, "reference_id": ""},
    )


def test_when_the_receiver_adds_the_prefix_the_dealer_types_the_number_without_it(
    owner_client, customer, adding_record
):
    page = owner_client.get(reverse("customers:account-create", args=[customer.code]))
    help_text = page.context["form"].fields["account_number"].help_text
    assert "without the prefix NW" in help_text
    assert "type 1234 for account NW1234" in help_text

    assert _add(owner_client, customer, adding_record, " 1234 ").status_code == 302
    account = MonitoringAccount.objects.get()
    # Stored as the station's software knows it; sent as the receiver wants it.
    assert account.account_number == "NW1234"
    assert account.transmitted_number == "1234"

    edit = owner_client.get(reverse("customers:account-update", args=[account.code]))
    assert edit.context["form"].initial["account_number"] == "1234"


def test_otherwise_the_dealer_types_it_with_the_prefix(owner_client, customer, plain_record):
    page = owner_client.get(reverse("customers:account-create", args=[customer.code]))
    assert (
        "with the prefix NW, e.g. NW1234" in page.context["form"].fields["account_number"].help_text
    )

    refused = _add(owner_client, customer, plain_record, "1234")
    assert refused.status_code == 200
    assert "NW1234" in str(refused.context["form"].errors["account_number"])
    assert not MonitoringAccount.objects.exists()

    assert _add(owner_client, customer, plain_record, "nw1234").status_code == 302
    account = MonitoringAccount.objects.get()
    assert (account.account_number, account.transmitted_number) == ("NW1234", "NW1234")


def _package_account(customer) -> tuple[str, str]:
    event = signal_services.event_record(
        customer=customer,
        kind=EventKind.ALARM,
        occurred_at=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
        source=AlarmEvent.Source.DEVICE,
    )
    signal = event.signals.get()
    root = etree.fromstring(bytes(signal.payload))
    ns = {"s": NAMESPACE}
    return (
        root.xpath("string(/s:signal/s:account)", namespaces=ns),
        root.xpath("string(/s:signal/s:site/s:videoUrl)", namespaces=ns),
    )


def test_signals_carry_the_number_without_the_prefix_when_the_receiver_adds_it(
    customer, adding_record, settings
):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    MonitoringAccountFactory(customer=customer, station_record=adding_record, account_number="NW77")
    account, video_url = _package_account(customer)
    assert account == "77"
    # The deep link names the account as the station's software knows it.
    assert video_url.startswith("https://portal.example.com/monitoring?act=NW77")


def test_signals_carry_the_whole_number_when_the_receiver_does_not_add_it(customer, plain_record):
    MonitoringAccountFactory(customer=customer, station_record=plain_record, account_number="NW77")
    assert _package_account(customer)[0] == "NW77"


def test_a_changed_prefix_flags_the_accounts_that_no_longer_follow_it(
    owner_client, customer, plain_record
):
    account = MonitoringAccountFactory(
        customer=customer, station_record=plain_record, account_number="NW77"
    )
    fine = owner_client.get(reverse("customers:list"))
    assert 'data-testid="account-off-prefix"' not in fine.content.decode()
    assert not MonitoringAccount.objects.off_prefix_rule().exists()

    DealerStation.objects.filter(pk=plain_record.pk).update(account_prefix="NX")

    assert list(MonitoringAccount.objects.off_prefix_rule()) == [account]
    listed = owner_client.get(reverse("customers:list")).content.decode()
    assert 'data-testid="account-off-prefix"' in listed
    assert "prefix NX" in listed
    detail = owner_client.get(reverse("customers:detail", args=[customer.code])).content.decode()
    assert 'data-testid="account-off-prefix"' in detail


def test_a_number_that_is_only_the_prefix_breaks_the_rule(customer, plain_record):
    MonitoringAccountFactory(customer=customer, station_record=plain_record, account_number="NW1")
    MonitoringAccount.objects.update(account_number="NW")
    assert MonitoringAccount.objects.off_prefix_rule().count() == 1
