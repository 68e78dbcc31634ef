"""One timeline of who changed what on a site (its page and the admin), and times that say
their time zone: the dealer's on the dealer's pages, the site's on the site's."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.urls import reverse

from customers import services
from signals import services as signal_services
from tests.factories import MonitoringAccountFactory, SignalFactory, ZoneFactory

pytestmark = pytest.mark.django_db


def _history(client, customer):
    return client.get(reverse("customers:history", args=[customer.code]))


def test_the_site_timeline_tells_who_changed_what(owner_client, owner, customer, record):
    customer.name = "Corner Shop"
    customer._history_user = owner
    customer.save()
    services.zone_save(zone=ZoneFactory.build(customer=customer, number=17, name="Door"))
    account = MonitoringAccountFactory(customer=customer, station_record=record)
    first_number = account.account_number
    services.account_update(
        account=account, station_record=record, account_number="9999", actor=owner
    )
    signal_services.site_codes_save(
        customer=customer, site={"zone.instant": ("131", True)}, zones={}
    )
    changes = _history(owner_client, customer).context["changes"]
    described = [(c.kind, c.action) for c in changes]
    assert described[:3] == [("Alarm code", "added"), ("Account", "changed"), ("Account", "added")]
    assert ("Zone", "added") in described and ("Site", "changed") in described
    account_change = changes[1]
    assert account_change.who == owner
    assert ("account number", first_number, "9999") in account_change.fields
    site_change = next(c for c in changes if c.kind == "Site" and c.action == "changed")
    assert site_change.fields == [("name", "Corner Store", "Corner Shop")]


def test_the_timeline_shows_only_this_site(owner_client, customer, dealer):
    from tests.factories import CustomerFactory

    other = CustomerFactory(dealer=dealer, name="Elsewhere Depot")
    ZoneFactory(customer=other, name="Their door")
    text = _history(owner_client, customer).content.decode()
    assert "Their door" not in text and "Elsewhere Depot" not in text


def test_the_customer_page_loads_the_timeline_when_scrolled_to(owner_client, customer):
    page = owner_client.get(reverse("customers:detail", args=[customer.code])).content.decode()
    assert f'hx-get="{reverse("customers:history", args=[customer.code])}"' in page
    part = owner_client.get(
        reverse("customers:history", args=[customer.code]), headers={"HX-Request": "true"}
    )
    assert part.templates[0].name == "_timeline.html"


def test_the_admin_shows_the_same_timeline(admin_client, customer, owner):
    customer.city = "Ogdenville"
    customer._history_user = owner
    customer.save()
    page = admin_client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    text = page.content.decode()
    assert 'data-testid="timeline"' in text and "Ogdenville" in text


# --- time zones -----------------------------------------------------------------------------


def test_times_are_in_the_dealers_zone_and_on_site_pages_in_the_sites(
    owner_client, dealer, customer, record
):
    dealer.time_zone = "Asia/Tokyo"
    dealer.save()
    customer.time_zone = "America/Chicago"
    customer.save()
    account = MonitoringAccountFactory(customer=customer, station_record=record)
    SignalFactory(account=account, created_at=datetime(2024, 1, 1, 12, 0, tzinfo=UTC))
    dealer_page = owner_client.get(reverse("signals:list")).content.decode()
    assert "2024-01-01 21:00:00 JST" in dealer_page
    site_page = owner_client.get(
        reverse("signals:customer-list", args=[customer.code])
    ).content.decode()
    assert "2024-01-01 06:00:00 CST" in site_page


def test_the_date_filter_uses_the_days_of_the_page(owner_client, dealer, customer, record):
    dealer.time_zone = "Asia/Tokyo"
    dealer.save()
    account = MonitoringAccountFactory(customer=customer, station_record=record)
    late = SignalFactory(account=account, created_at=datetime(2024, 1, 1, 20, 0, tzinfo=UTC))
    # 20:00 UTC on the 1st is the 2nd in Tokyo.
    listed = owner_client.get(reverse("signals:list"), {"date_from": "2024-01-02"})
    assert list(listed.context["signals"]) == [late]


def test_owners_and_admins_set_the_dealers_time_zone(owner_client, viewer_client, dealer):
    url = reverse("dealers:settings")
    general = {"bridge_offline_minutes": 10, "media_retention_days": 30}
    response = owner_client.post(
        url, {"name": "Acme Alarms", "time_zone": "Europe/Berlin", **general}
    )
    assert response.status_code == 302
    dealer.refresh_from_db()
    assert dealer.time_zone == "Europe/Berlin"
    response = owner_client.post(
        url, {"name": "Acme Alarms", "time_zone": "Mars/Olympus", **general}
    )
    assert "time_zone" in response.context["form"].errors
    assert viewer_client.get(url).status_code == 403
    assert viewer_client.post(url, {"name": "x", "time_zone": "UTC"}).status_code == 403
