"""The operator's site page with video: the alarm that brought them first with its clip and
snapshots, the other cameras' latest snapshots and live view, recent events with their media,
and "request the last two minutes" answered without a reload. Every media URL on the page is a
signed portal URL for the viewer; no storage path or camera address is ever shown."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from media import signing
from media.models import MediaItem, MediaRequest
from tests.factories import (
    AlarmEventFactory,
    BridgeFactory,
    CameraFactory,
    CustomerFactory,
    MediaItemFactory,
    MonitoringAccountFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

URL = "/monitoring"
MEDIA_URL = re.compile(r'(?:src|href)="(/media/s/[^"/]+/)"')
CAMERA_ADDRESS = "rtsp://admin:hunter2@192.0.2.7:554/live"


@pytest.fixture
def site(customer, record):
    bridge = BridgeFactory(customer=customer, serial="SITE-0001", relay_url="http://relay.test/x/")
    door = CameraFactory(bridge=bridge, channel=1, name="Back door", stream_url=CAMERA_ADDRESS)
    yard = CameraFactory(bridge=bridge, channel=2, name="Yard")
    ZoneFactory(customer=customer, number=17, name="Back door PIR").cameras.add(door)
    ZoneFactory(customer=customer, number=3, name="Yard beam").cameras.add(yard)
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")
    customer.door, customer.yard = door, yard
    return customer


@pytest.fixture
def alarm(site):
    event = AlarmEventFactory(customer=site, zone_number=17, channel=1, kind="alarm")
    MediaItemFactory(
        camera=site.door,
        event=event,
        kind="clip",
        content_type="video/mp4",
        file=ContentFile(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, name="c.mp4"),
    )
    for _ in range(2):
        MediaItemFactory(camera=site.door, event=event)
    return event


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def test_the_alarm_comes_first_with_its_clip_and_snapshots(operator_client, site, alarm, operator):
    with CaptureQueriesContext(connection) as queries:
        response = operator_client.get(URL, {"act": "3444", "zone": "017"})
    featured = response.context["featured"]
    assert featured.event == alarm
    assert featured.clip.item.kind == MediaItem.Kind.CLIP
    assert len(featured.snapshots) == 2
    html = response.text
    section = html.split('data-testid="featured-alarm"')[1].split("</section>")[0]
    assert 'data-testid="featured-clip"' in section
    assert section.count('data-testid="featured-snapshot"') == 2
    # The clip's camera is named from the page's cameras, not read again.
    assert "Back door · channel 1" in section
    assert not [q for q in queries if '"customers_camera"."id" = ' in q["sql"]]
    # Every media URL on the page is signed for this operator and opens for them.
    urls = set(MEDIA_URL.findall(html))
    assert len(urls) >= 3
    for url in urls:
        grant = signing.verify(url.split("/")[3], kind=signing.ITEM, user=operator)
        assert grant.customer_id == site.pk
    assert operator_client.get(featured.clip.url).status_code == 200
    # Storage paths and camera addresses stay on the server.
    assert "hunter2" not in html and "192.0.2.7" not in html and "rtsp://" not in html
    assert alarm.media_items.first().file.name not in html


def test_other_cameras_show_their_latest_snapshot_and_live_view_where_they_have_it(
    operator_client, site, alarm, operator
):
    MediaItemFactory(camera=site.yard, captured_at=timezone.now() - timedelta(hours=2))
    newest = MediaItemFactory(camera=site.yard, captured_at=timezone.now())
    response = operator_client.get(URL, {"act": "3444", "zone": "017"})
    tiles = {tile.camera.name: tile for tile in response.context["tiles"]}
    assert list(tiles) == ["Back door", "Yard"]  # the zone's camera first
    grant = signing.verify(tiles["Yard"].snapshot_url.split("/")[3], kind="item", user=operator)
    assert grant.code == str(newest.code)
    assert tiles["Back door"].live_url.startswith("/media/live/")
    assert tiles["Yard"].live_url == ""  # no stream configured
    # The alarm's camera shows the alarm; the others may be asked for recent video.
    assert not tiles["Back door"].can_request and tiles["Yard"].can_request
    assert response.text.count('data-testid="live-button"') == 1


def test_a_cameras_latest_snapshot_from_the_alarm_is_signed_once(
    operator_client, site, alarm, operator, monkeypatch
):
    """The door camera's latest snapshot is one of the alarm's: the page signs it once and
    shows it under one URL (the browser fetches the picture once)."""
    made = []
    token = signing.MediaUrls.token

    def counted(self, kind, code, *args, **kwargs):
        made.append(code)
        return token(self, kind, code, *args, **kwargs)

    monkeypatch.setattr(signing.MediaUrls, "token", counted)
    response = operator_client.get(URL, {"act": "3444", "zone": "017"})
    tiles = {tile.camera.name: tile for tile in response.context["tiles"]}
    alarm_urls = [link.url for link in response.context["featured"].snapshots]
    assert tiles["Back door"].snapshot_url in alarm_urls
    latest = alarm.media_items.filter(kind="snapshot").order_by("-captured_at", "-id").first()
    grant = signing.verify(
        tiles["Back door"].snapshot_url.split("/")[3], kind="item", user=operator
    )
    assert grant.code == str(latest.code)
    # The alarm's clip and two snapshots, and the door camera's live stream: no other token.
    assert len(made) == len(set(made)) == 4


def test_recent_events_show_their_media(operator_client, site, alarm):
    response = operator_client.get(URL, {"act": "3444"})
    (view,) = [v for v in response.context["events"] if v.event == alarm]
    assert len(view.clips) == 1 and len(view.snapshots) == 2
    assert 'data-testid="event-media"' in response.text


def test_an_alarm_from_a_bridge_with_a_wrong_clock_comes_first(operator_client, site):
    """A bridge without a clock battery boots at its firmware's date: its alarm now must not
    sink below the site's older events (off the page) nor leave an older alarm featured."""
    from signals.models import RECEIVED_APART

    now = timezone.now()
    for minutes in range(1, 26):  # more than the page shows
        earlier = now - timedelta(minutes=minutes)
        AlarmEventFactory(customer=site, zone_number=17, occurred_at=earlier, received_at=earlier)
    firmware_date = datetime(2021, 3, 4, 7, 0, tzinfo=UTC)
    alarm = AlarmEventFactory(customer=site, zone_number=17, occurred_at=firmware_date)
    response = operator_client.get(URL, {"act": "3444", "zone": "017"})
    views = response.context["events"]
    assert views[0].event == alarm
    assert response.context["featured"].event == alarm
    # Both times, in the site's time zone (America/New_York): the bridge's, and the portal's.
    assert views[0].when == "2021-03-04 02:00:00"
    received = timezone.localtime(alarm.received_at, ZoneInfo("America/New_York"))
    assert views[0].received == received.strftime("%Y-%m-%d %H:%M:%S")
    featured = response.text.split('data-testid="featured-when"')[1].split("</div>")[0]
    assert f"received {views[0].received}" in featured
    table = response.text.split('data-testid="events"')[1].split("</table>")[0]
    assert table.count('data-testid="event-received"') == 1
    # Received within RECEIVED_APART of its bridge's time: one time only.
    assert all(v.received == "" for v in views[1:])
    assert views[1].event.received_at - views[1].event.occurred_at < RECEIVED_APART


def test_query_count_does_not_grow_with_events_and_media(client, operator, record):
    def build(size: int):
        customer = CustomerFactory(dealer=record.dealer)
        bridge = BridgeFactory(customer=customer)
        for channel in range(1, 5):
            camera = CameraFactory(bridge=bridge, channel=channel)
            ZoneFactory(customer=customer, number=channel).cameras.add(camera)
            for n in range(size):
                event = AlarmEventFactory(customer=customer, zone_number=channel, channel=channel)
                MediaItemFactory(camera=camera, event=event)
                MediaItemFactory(camera=camera, captured_at=timezone.now() - timedelta(minutes=n))
        number = f"Q{size}"
        MonitoringAccountFactory(customer=customer, station_record=record, account_number=number)
        return number

    small, large = build(1), build(4)
    client.force_login(operator)
    counts = []
    for number in (small, large):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(URL, {"act": number, "zone": "2"}).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    # The deep link's (tests/monitoring/test_deep_link.py: session, user, resolve, the page in
    # one round trip on PostgreSQL, the opening): the events' verdicts and media are read in
    # the page's round trip, so events add no query of their own.
    page_reads = 1 if connection.vendor == "postgresql" else 8
    assert counts[0] == 3 + page_reads + 1, counts


# --- the last two minutes -------------------------------------------------------------------


def _request_url(site) -> str:
    return f"/operator/sites/{site.code}/last-two-minutes/"


@pytest.mark.parametrize("zone", ["\u00b2", "7" * 5000, "1000", "x"])
def test_a_zone_that_is_no_zone_number_asks_without_one(operator_client, site, zone):
    # "²" passes str.isdigit and 5,000 digits pass it too: int() refused both (a 500).
    response = operator_client.post(_request_url(site), {"camera": site.yard.code, "zone": zone})
    assert response.status_code == 302
    assert MediaRequest.objects.get().zone_number is None


def test_asking_for_the_last_two_minutes_polls_until_the_clip_is_in(
    operator_client, site, operator
):
    response = operator_client.post(
        _request_url(site), {"camera": site.yard.code, "zone": "3"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    request = MediaRequest.objects.get()
    assert (request.camera, request.zone_number, request.requested_by, request.seconds) == (
        site.yard,
        3,
        operator,
        120,
    )
    status_url = f"/operator/requests/{request.code}/"
    assert f'hx-get="{status_url}"' in response.text
    assert 'hx-trigger="every 2s"' in response.text

    # Still waiting: the answer keeps polling.
    assert 'hx-trigger="every' in operator_client.get(status_url).text

    # The bridge uploads the clip: the next poll shows it and stops polling.
    MediaItemFactory(
        camera=site.yard,
        request=request,
        kind="clip",
        content_type="video/mp4",
        file=ContentFile(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64, name="r.mp4"),
    )
    MediaRequest.objects.filter(pk=request.pk).update(
        state=MediaRequest.State.DONE, done_at=timezone.now()
    )
    response = operator_client.get(status_url)
    assert 'data-testid="request-clip"' in response.text
    assert "hx-trigger" not in response.text
    (url,) = MEDIA_URL.findall(response.text)
    assert operator_client.get(url).status_code == 200


def test_a_failed_request_stops_polling_and_says_so(operator_client, site):
    operator_client.post(_request_url(site), {"camera": site.yard.code}, HTTP_HX_REQUEST="true")
    request = MediaRequest.objects.get()
    assert request.zone_number is None
    MediaRequest.objects.filter(pk=request.pk).update(
        state=MediaRequest.State.FAILED, failure_reason="no answer within 10 minutes"
    )
    response = operator_client.get(f"/operator/requests/{request.code}/")
    assert "no answer within 10 minutes" in response.text
    assert "hx-trigger" not in response.text


def test_without_htmx_the_request_returns_to_the_site(operator_client, site):
    response = operator_client.post(_request_url(site), {"camera": site.yard.code, "zone": "junk"})
    assert response.status_code == 302
    assert response["Location"] == f"/operator/sites/{site.code}/"
    assert MediaRequest.objects.get().zone_number is None


def test_nobody_else_asks_or_watches(client, site, other_operator, owner, outsider, customer):
    CameraFactory(bridge=BridgeFactory(customer=CustomerFactory()), channel=1)
    for user in (other_operator, owner, outsider):
        client.force_login(user)
        response = client.post(_request_url(site), {"camera": site.yard.code})
        assert response.status_code in (403, 404)
    assert not MediaRequest.objects.exists()


def test_a_camera_of_another_site_cannot_be_asked(operator_client, site):
    elsewhere = CameraFactory(bridge=BridgeFactory(customer=CustomerFactory()), channel=1)
    for camera in (elsewhere.code, "junk", ""):
        response = operator_client.post(_request_url(site), {"camera": camera})
        assert response.status_code == 400
    assert not MediaRequest.objects.exists()
