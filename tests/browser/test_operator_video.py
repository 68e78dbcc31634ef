"""An operator verifies an alarm with video in a real Chromium, under the portal's strict CSP:
the deep link opens on the alarm, its clip plays and its snapshot shows; a signed media URL
fails for another station's operator, for another dealer, and once it has expired; "request
the last two minutes" shows the bridge's clip without a reload; live view plays HLS through
the portal with hls.js."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone
from playwright.sync_api import expect

from media.models import MediaRequest
from media.relay import RelayServer, generate_stream
from media.signing import media_url
from tests.browser.conftest import sign_in
from tests.factories import (
    PASSWORD,
    AlarmEventFactory,
    BridgeFactory,
    CameraFactory,
    CustomerFactory,
    DealerStationFactory,
    MediaItemFactory,
    MembershipFactory,
    MonitoringAccountFactory,
    MonitoringStationFactory,
    ReceiverFactory,
    StationMembershipFactory,
    UserFactory,
    ZoneFactory,
    jpeg_bytes,
)

pytestmark = pytest.mark.browser


def demo_clip(*, label: str, seconds: float) -> tuple[bytes, str]:
    """A real H.264 MP4 clip (PyAV), as a bridge would upload it."""
    import io
    from fractions import Fraction

    import av
    from PIL import Image, ImageDraw

    fps = 10
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"preset": "ultrafast"}
        for index in range(int(seconds * fps)):
            image = Image.new("RGB", (320, 180), (20, 40, 70))
            x = (index * 8) % 280
            ImageDraw.Draw(image).rectangle([x, 70, x + 40, 110], fill=(230, 180, 40))
            ImageDraw.Draw(image).text((8, 8), label, fill=(255, 255, 255))
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue(), "video/mp4"


SERIAL = "VID-0001"


@pytest.fixture
def world(transactional_db):
    station = MonitoringStationFactory(name="Central One")
    record = DealerStationFactory(receiver=ReceiverFactory(station=station))
    customer = CustomerFactory(dealer=record.dealer, name="Video Pharmacy")
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")
    bridge = BridgeFactory(customer=customer, serial=SERIAL)
    door = CameraFactory(bridge=bridge, channel=1, name="Back door")
    yard = CameraFactory(bridge=bridge, channel=2, name="Yard")
    ZoneFactory(customer=customer, number=17, name="Back door PIR").cameras.add(door)
    ZoneFactory(customer=customer, number=3, name="Yard beam").cameras.add(yard)
    alarm = AlarmEventFactory(
        customer=customer, bridge=bridge, channel=1, zone_number=17, kind="alarm"
    )
    clip_bytes, content_type = demo_clip(label="Back door", seconds=4.0)
    clip = MediaItemFactory(
        camera=door,
        event=alarm,
        kind="clip",
        content_type=content_type,
        file=ContentFile(clip_bytes, name="alarm.mp4"),
    )
    snapshot = MediaItemFactory(
        camera=door,
        event=alarm,
        file=ContentFile(jpeg_bytes(320, 180, "darkred"), name="alarm.jpg"),
        width=320,
        height=180,
    )
    MediaItemFactory(camera=yard, captured_at=timezone.now() - timedelta(minutes=5))
    operator = StationMembershipFactory(station=station, user=UserFactory(username="video-op")).user
    other_operator = StationMembershipFactory(
        station=MonitoringStationFactory(name="Elsewhere"), user=UserFactory(username="else-op")
    ).user
    outsider = MembershipFactory(user=UserFactory(username="rival-owner"), role="owner").user
    return {
        "customer": customer,
        "door": door,
        "yard": yard,
        "bridge": bridge,
        "clip": clip,
        "snapshot": snapshot,
        "operator": operator,
        "other_operator": other_operator,
        "outsider": outsider,
    }


def _status(browser, base_url: str, username: str, url: str) -> int:
    """What ``url`` answers to ``username`` signed in in a browser context of their own."""
    context = browser.new_context(base_url=base_url)
    try:
        page = context.new_page()
        sign_in(page, username, PASSWORD)
        return context.request.get(url).status
    finally:
        context.close()


def test_the_alarms_clip_plays_its_snapshot_shows_and_its_urls_stay_scoped(
    page, browser, live_server, world
):
    page.goto("/monitoring?act=3444&zone=017")
    sign_in(page, "video-op", PASSWORD)
    page.goto("/monitoring?act=3444&zone=017")

    featured = page.get_by_test_id("featured-alarm")
    expect(featured).to_contain_text("zone 017 Back door PIR")
    expect(featured).to_contain_text("America/New_York")
    video = page.get_by_test_id("featured-clip")
    expect(video).to_be_visible()
    # The clip really plays: its current time advances.
    page.wait_for_function("v => v.currentTime > 1", arg=video.element_handle(), timeout=15_000)
    snapshot = page.get_by_test_id("featured-snapshot").first
    expect(snapshot).to_be_visible()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 320", arg=snapshot.element_handle()
    )
    # Seeking asks for a byte range: the portal answers 206.
    ranged = page.request.get(video.get_attribute("src"), headers={"Range": "bytes=100-199"})
    assert ranged.status == 206 and len(ranged.body()) == 100

    # The URLs the page holds name nothing of the storage, and work only for this operator.
    clip_url = video.get_attribute("src")
    snapshot_url = snapshot.get_attribute("src")
    assert clip_url.startswith("/media/s/") and snapshot_url.startswith("/media/s/")
    assert page.request.get(snapshot_url).status == 200
    assert _status(browser, live_server.url, "else-op", snapshot_url) == 403
    assert _status(browser, live_server.url, "rival-owner", clip_url) == 403
    # Even a URL made for the other station's operator is refused: access is checked too.
    made_for_them = media_url(world["snapshot"], user=world["other_operator"])
    assert _status(browser, live_server.url, "else-op", made_for_them) == 403

    # A URL past its lifetime is refused.
    short = media_url(world["snapshot"], user=world["operator"], expires_in=3)
    assert page.request.get(short).status == 200
    time.sleep(4.1)  # its lifetime, rounded up to the next second
    expired = page.request.get(short)
    assert expired.status == 410
    assert "expired" in expired.text()

    # The other camera shows its latest snapshot; the page holds no camera address.
    yard = page.get_by_test_id("camera").filter(has_text="Yard")
    expect(yard.get_by_test_id("latest-snapshot")).to_be_visible()
    assert "rtsp://" not in page.content()


def test_the_last_two_minutes_appear_without_a_reload(page, world):
    sign_in(page, "video-op", PASSWORD)
    page.goto("/monitoring?act=3444&zone=003")
    yard = page.get_by_test_id("camera").filter(has_text="Yard")
    page.evaluate("window.__notReloaded = true")
    yard.get_by_test_id("request-recent").click()
    expect(yard.get_by_test_id("media-request")).to_be_visible()
    request = MediaRequest.objects.get()
    assert (request.camera, request.zone_number, request.requested_by) == (
        world["yard"],
        3,
        world["operator"],
    )

    # The bridge picks the request up and uploads its clip.
    clip_bytes, content_type = demo_clip(label="Yard", seconds=3.0)
    MediaItemFactory(
        camera=world["yard"],
        request=request,
        kind="clip",
        content_type=content_type,
        file=ContentFile(clip_bytes, name="recent.mp4"),
    )
    MediaRequest.objects.filter(pk=request.pk).update(
        state=MediaRequest.State.DONE, done_at=timezone.now()
    )

    video = yard.get_by_test_id("request-clip")
    expect(video).to_be_visible(timeout=15_000)
    page.wait_for_function("v => v.currentTime > 0.5", arg=video.element_handle(), timeout=15_000)
    assert page.evaluate("window.__notReloaded") is True


def test_live_view_plays_hls_through_the_portal(page, world, tmp_path):
    generate_stream(tmp_path / SERIAL / "1", label="Back door", seconds=6)
    with RelayServer(tmp_path) as relay:
        bridge = world["bridge"]
        bridge.relay_url = relay.bridge_url(SERIAL)
        bridge.save(update_fields=["relay_url"])
        door = world["door"]
        door.stream_url = "rtsp://admin:s3cret@10.9.8.7/stream"
        door.save(update_fields=["stream_url"])

        sign_in(page, "video-op", PASSWORD)
        seen = []
        page.on("request", lambda request: seen.append(request.url))
        page.goto("/monitoring?act=3444&zone=017")
        card = page.get_by_test_id("camera").filter(has_text="Back door")
        card.get_by_test_id("live-button").click()
        video = card.get_by_test_id("live-video")
        expect(video).to_be_visible()
        page.wait_for_function("v => v.currentTime > 1", arg=video.element_handle(), timeout=20_000)

        html = page.content()
        assert "s3cret" not in html and "10.9.8.7" not in html
        assert relay.url.rstrip("/").split("//")[1] not in html
        # The browser only ever talked to the portal.
        assert seen and all(url.startswith(page.url.split("/monitoring")[0]) for url in seen)
        assert any("/media/live/" in url for url in seen)
