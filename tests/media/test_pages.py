"""The dealer's side of media: each bridge's state and the site's recent events with their
media on the customer page, and the dashboard's offline-bridges card with its list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from customers.models import Customer
from media.models import BridgeStatus, CameraStatus
from tests.factories import (
    AlarmEventFactory,
    BridgeFactory,
    CameraFactory,
    CustomerFactory,
    MediaItemFactory,
)

pytestmark = pytest.mark.django_db

DASHBOARD = "/dealer/"


def detail(customer) -> str:
    return reverse("customers:detail", args=[customer.code])


def test_the_customer_page_shows_each_bridges_state_in_the_sites_time_zone(owner_client, customer):
    customer.time_zone = "America/Chicago"
    customer.save()
    online = BridgeFactory(customer=customer, name="Front box")
    offline = BridgeFactory(customer=customer, name="Back box")
    BridgeFactory(customer=customer, name="New box")
    BridgeStatus.objects.create(bridge=online, last_heartbeat_at=timezone.now())
    BridgeStatus.objects.create(
        bridge=offline,
        state=BridgeStatus.State.OFFLINE,
        state_changed_at=datetime(2025, 1, 2, 3, 4, tzinfo=UTC),
    )
    lost = CameraFactory(bridge=online, channel=2, name="Yard")
    CameraStatus.objects.create(
        camera=lost, state=CameraStatus.State.LOST, state_changed_at=timezone.now()
    )
    text = owner_client.get(detail(customer)).text
    assert "Online" in text
    # 03:04 UTC is 21:04 the day before in Chicago.
    assert "Offline since 2025-01-01 21:04 CST" in text
    assert "No heartbeat yet" in text
    assert "Yard (channel 2) lost since" in text


def test_the_customer_page_lists_recent_events_with_their_media(owner_client, customer):
    camera = CameraFactory(bridge__customer=customer, channel=1)
    event = AlarmEventFactory(customer=customer, zone_number=17, description="Back door")
    MediaItemFactory(camera=camera, event=event, phase="pre")
    MediaItemFactory(camera=camera, event=event, phase="post")
    response = owner_client.get(detail(customer))
    text = response.text
    assert 'data-testid="recent-events"' in text
    assert "Back door" in text
    shown = text.count('data-testid="event-media"') + text.count('data-testid="event-snapshot"')
    assert shown == 2


def test_the_customer_page_lists_events_as_received_with_both_times(owner_client, customer):
    """A bridge whose clock is years behind: its event is the latest received, listed first,
    and shows when the portal received it (in the site's time zone) beside its own time."""
    customer.time_zone = "America/Chicago"
    customer.save()
    received = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
    earlier = received - timedelta(minutes=3)
    AlarmEventFactory(
        customer=customer, description="Earlier alarm", occurred_at=earlier, received_at=earlier
    )
    AlarmEventFactory(
        customer=customer,
        description="Wrong clock alarm",
        occurred_at=datetime(2021, 3, 4, 7, 0, tzinfo=UTC),
        received_at=received,
    )
    text = owner_client.get(detail(customer)).text
    table = text.split('data-testid="recent-events"')[1].split("</table>")[0]
    assert table.index("Wrong clock alarm") < table.index("Earlier alarm")
    # 07:00 UTC is 01:00 in Chicago (CST); 19:00 UTC is 13:00.
    assert "2021-03-04 01:00:00 CST" in table
    assert "received 2026-11-30 13:00:00 CST" in table
    assert table.count('data-testid="event-received"') == 1


def test_another_dealers_media_is_not_on_the_page(owner_client, customer, outsider_customer):
    theirs = AlarmEventFactory(customer=outsider_customer, description="Their event Qx9")
    MediaItemFactory(camera=CameraFactory(bridge__customer=outsider_customer), event=theirs)
    text = owner_client.get(detail(customer)).text
    assert "Their event Qx9" not in text
    assert owner_client.get(detail(outsider_customer)).status_code == 404


def test_the_media_panel_runs_a_fixed_number_of_queries(owner_client, customer):
    """The page with one bridge, event and snapshot costs what it costs with five of each."""

    def add_one() -> None:
        bridge = BridgeFactory(customer=customer)
        BridgeStatus.objects.create(bridge=bridge, last_heartbeat_at=timezone.now())
        camera = CameraFactory(bridge=bridge, channel=1)
        CameraStatus.objects.create(camera=camera, state=CameraStatus.State.LOST)
        MediaItemFactory(camera=camera, event=AlarmEventFactory(customer=customer))

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert owner_client.get(detail(customer)).status_code == 200
        return len(queries)

    add_one()
    one = count()
    for _ in range(4):
        add_one()
    assert count() == one


def test_the_dashboard_counts_offline_bridges_and_links_to_them(owner_client, dealer, customer):
    offline = BridgeFactory(customer=customer, serial="OFF-0001")
    BridgeStatus.objects.create(
        bridge=offline,
        state=BridgeStatus.State.OFFLINE,
        state_changed_at=timezone.now() - timedelta(hours=1),
    )
    BridgeStatus.objects.create(bridge=BridgeFactory(customer=customer))
    archived = CustomerFactory(dealer=dealer, status=Customer.Status.ARCHIVED)
    BridgeStatus.objects.create(
        bridge=BridgeFactory(customer=archived), state=BridgeStatus.State.OFFLINE
    )
    response = owner_client.get(DASHBOARD)
    text = response.text
    assert 'data-testid="count-bridges-offline">1<' in text
    listed = owner_client.get(reverse("media:offline-bridges"))
    assert [s.bridge for s in listed.context["statuses"]] == [offline]
    assert "OFF-0001" in listed.text and customer.name in listed.text


def test_the_offline_list_is_the_dealers_own(outsider_client, customer):
    BridgeStatus.objects.create(
        bridge=BridgeFactory(customer=customer, serial="MINE-0001"),
        state=BridgeStatus.State.OFFLINE,
    )
    listed = outsider_client.get(reverse("media:offline-bridges"))
    assert listed.status_code == 200
    assert "MINE-0001" not in listed.text
    assert 'data-testid="no-offline-bridges"' in listed.text
