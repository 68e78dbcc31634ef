"""The dealer dashboard: what every member sees, each number linking to its filtered list,
in a fixed number of queries; and the latest changes (dealers.history)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers import services as customer_services
from dealers import history
from signals.models import Signal
from tests.factories import (
    CustomerFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    ReceiverPathFactory,
    SignalFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("dealers:dashboard")


@pytest.fixture
def book(dealer, record, other_dealer, outsider_record):
    """The dealer's sites, accounts and signals, and another dealer's that must not count."""
    sites = CustomerFactory.create_batch(3, dealer=dealer)
    archived = CustomerFactory(dealer=dealer, status="archived")
    accounts = [
        MonitoringAccountFactory(customer=c, station_record=record) for c in [*sites, archived]
    ]
    now = timezone.now()
    SignalFactory(account=accounts[0], state="delivered", delivered_at=now)
    SignalFactory(account=accounts[1], state="delivered", delivered_at=now)
    SignalFactory(account=accounts[1], state="failed", failed_at=now)
    SignalFactory(account=accounts[2])  # pending
    old = SignalFactory(account=accounts[2])  # pending, and older than a day
    Signal.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=2))
    theirs = CustomerFactory(dealer=other_dealer)
    their_account = MonitoringAccountFactory(customer=theirs, station_record=outsider_record)
    SignalFactory(account=their_account, state="failed", failed_at=now)
    return sites


def _number(response, testid: str, **attrs) -> int:
    """The number a data-testid shows in the page (the element's text)."""
    import re

    extra = "".join(f'[^>]*{k}="{v}"' for k, v in attrs.items())
    match = re.search(rf'data-testid="{testid}"{extra}[^>]*>(\d+)', response.content.decode())
    assert match, testid
    return int(match.group(1))


@pytest.mark.parametrize("persona", ["owner_client", "technician_client", "viewer_client"])
def test_every_member_sees_the_numbers(request, persona, book, record):
    response = request.getfixturevalue(persona).get(DASHBOARD)
    assert response.status_code == 200
    assert _number(response, "count-customers") == 3
    assert _number(response, "count-archived") == 1
    assert _number(response, "count-accounts") == 4
    assert _number(response, "count-signals-delivered") == 2
    assert _number(response, "count-signals-failed") == 1
    assert _number(response, "count-signals-pending") == 1
    assert _number(response, "count-pending-now") == 2
    assert _number(response, "count-failed-now") == 1


def test_each_number_links_to_its_filtered_list(owner_client, book, record):
    text = owner_client.get(DASHBOARD).content.decode()
    signals = reverse("signals:list")
    assert f'href="{signals}?state=delivered&amp;since=24h"' in text
    assert f'href="{signals}?state=pending"' in text
    customers = reverse("customers:list")
    assert f'href="{customers}?station={record.code}&amp;status=all"' in text
    assert f'href="{customers}?status=archived"' in text
    # ... and the lists agree with the numbers.
    listed = owner_client.get(signals, {"state": "delivered", "since": "24h"})
    assert listed.context["paginator"].count == 2
    listed = owner_client.get(customers, {"station": str(record.code), "status": "all"})
    assert listed.context["paginator"].count == 4


def test_receivers_down_are_counted(owner_client, dealer, record, receiver):
    from stations.models import PathHealth

    path = ReceiverPathFactory(receiver=receiver)
    PathHealth.objects.create(path=path, state="down")
    DealerStationFactory(dealer=dealer, receiver=None, station=record.station, name="Video only")
    response = owner_client.get(DASHBOARD)
    assert _number(response, "count-receivers-down") == 1
    assert record.name in response.content.decode()
    # The number links to the records it counts.
    records = reverse("stations:record-list")
    assert f'href="{records}?receiver=down"' in response.content.decode()
    listed = owner_client.get(records, {"receiver": "down"})
    assert [r.name for r in listed.context["records"]] == [record.name]
    assert 'data-testid="troubled-only"' in listed.content.decode()
    assert len(owner_client.get(records).context["records"]) == 2
    PathHealth.objects.filter(path=path).update(state="up")
    assert list(owner_client.get(records, {"receiver": "down"}).context["records"]) == []


@pytest.mark.parametrize("size", [1, 20])
def test_the_dashboard_runs_a_fixed_number_of_queries(
    client, owner, dealer, record, size, django_assert_num_queries
):
    for _ in range(size):
        customer = CustomerFactory(dealer=dealer)
        account = MonitoringAccountFactory(customer=customer, station_record=record)
        SignalFactory(account=account)
        ZoneFactory(customer=customer)
        customer_services.customer_update(customer=customer, city="Elsewhere")
    DealerStationFactory.create_batch(size, dealer=dealer)
    client.force_login(owner)
    # session, user, memberships; customers 2; signals 2; bridges 2; receivers 2; team 1;
    # latest changes: one per history source, and one more for each source with changed rows
    # (the sites here, whose city changed)
    expected = 3 + 2 + 2 + 2 + 2 + 1 + len(history.sources()) + 1
    with django_assert_num_queries(expected):
        assert client.get(DASHBOARD).status_code == 200


# --- latest changes -------------------------------------------------------------------------


def test_latest_changes_say_who_changed_what(owner_client, owner, dealer, record):
    customer = CustomerFactory(dealer=dealer, name="Corner Shop", city="Springfield")
    customer.name = "Corner Store"
    customer._history_user = owner
    customer.save()
    changes = owner_client.get(DASHBOARD).context["panels"][-1][1]["changes"]
    latest = changes[0]
    assert (latest.kind, latest.label, latest.action, latest.who) == (
        "Site",
        "Corner Store",
        "changed",
        owner,
    )
    assert latest.fields == [("name", "Corner Shop", "Corner Store")]
    assert latest.url == reverse("customers:detail", args=[customer.code])


def test_latest_changes_stay_in_the_dealer(owner_client, outsider_customer):
    outsider_customer.name = "Renamed elsewhere"
    outsider_customer.save()
    text = owner_client.get(DASHBOARD).content.decode()
    assert "Renamed elsewhere" not in text and outsider_customer.name not in text
