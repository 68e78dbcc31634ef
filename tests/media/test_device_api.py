"""The media device API: uploads checked by their content, idempotent, size-limited, refused
with a reason and nothing stored; heartbeats and command polling; never a 500."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from media import selectors
from media.models import MediaItem, MediaRequest
from media.storage import media_storage
from signals import services as signal_services
from signals.models import AlarmEvent
from tests.factories import (
    BridgeFactory,
    CameraFactory,
    CustomerFactory,
    MediaItemFactory,
    MediaRequestFactory,
)
from tests.media import hostile

pytestmark = pytest.mark.django_db

MEDIA_URL = "/api/devices/media"
HEARTBEAT_URL = "/api/devices/heartbeat"
COMMANDS_URL = "/api/devices/commands"


@pytest.fixture
def api_client() -> Client:
    # A device has no CSRF token: the endpoints must not ask for one.
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def event(bridge, zone, account):
    return signal_services.event_record(
        customer=bridge.customer,
        kind="alarm",
        zone=17,
        bridge=bridge,
        occurred_at=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
        source=AlarmEvent.Source.DEVICE,
        device_event_id="ev-1",
    )


def upload(client, token, data: bytes, *, content_type="application/octet-stream", **params):
    query = {
        "serial": "BR-0001",
        "kind": "snapshot",
        "channel": "1",
        "event_id": "ev-1",
        "time": "2025-03-04T06:06:08+01:00",
        "upload_id": "up-1",
        **params,
    }
    query = {k: v for k, v in query.items() if v is not None}
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    url = f"{MEDIA_URL}?{urlencode(query)}"
    return client.post(url, data=data, content_type=content_type, **headers)


def stored_files() -> list[str]:
    storage = media_storage()
    found = []

    def walk(path: str) -> None:
        dirs, files = storage.listdir(path)
        found.extend(f"{path}/{name}".lstrip("/") for name in files)
        for name in dirs:
            walk(f"{path}/{name}".lstrip("/"))

    if storage.exists(""):
        walk("")
    return found


def assert_nothing_stored() -> None:
    assert not MediaItem.objects.exists()
    assert stored_files() == []


@pytest.fixture(autouse=True)
def _empty_storage():
    """Each test starts with an empty media folder (the test settings' throwaway one)."""
    storage = media_storage()
    for name in stored_files():
        storage.delete(name)
    yield


def test_the_urls_are_where_the_docs_say():
    assert reverse("media:device-media") == MEDIA_URL
    assert reverse("media:device-heartbeat") == HEARTBEAT_URL
    assert reverse("media:device-commands") == COMMANDS_URL


# --- uploads that work ----------------------------------------------------------------------


def test_a_snapshot_is_stored_with_what_its_content_is(api_client, device_token, event, camera):
    data = hostile.jpeg(64, 48)
    # The declared type is a lie: the content decides.
    response = upload(api_client, device_token, data, content_type="text/html", phase="pre")
    assert response.status_code == 201, response.content
    item = MediaItem.objects.get()
    assert response.json()["media"] == str(item.code)
    assert (item.kind, item.content_type, item.width, item.height) == (
        "snapshot",
        "image/jpeg",
        64,
        48,
    )
    assert (item.event, item.camera, item.channel, item.phase) == (event, camera, 1, "pre")
    assert item.customer == event.customer
    assert item.captured_at == datetime(2025, 3, 4, 5, 6, 8, tzinfo=UTC)
    with item.file.open("rb") as stored:
        assert stored.read() == data
    assert stored_files() == [item.file.name]


@pytest.mark.parametrize("webm", [False, True], ids=["mp4-h264", "webm"])
def test_a_clip_is_stored(api_client, device_token, event, camera, webm):
    data = hostile.clip(webm=webm)
    response = upload(api_client, device_token, data, kind="clip", phase="post")
    assert response.status_code == 201, response.content
    item = MediaItem.objects.get()
    assert item.content_type == ("video/webm" if webm else "video/mp4")
    assert item.duration_seconds == pytest.approx(1.0, abs=0.15)
    assert (item.width, item.height) == (320, 180)


def test_an_event_can_be_named_by_the_portals_id(api_client, device_token, event, camera):
    response = upload(api_client, device_token, hostile.jpeg(), event_id=None, event=event.code)
    assert response.status_code == 201
    assert MediaItem.objects.get().event == event


def test_a_repeated_upload_id_answers_the_same_and_stores_once(
    api_client, device_token, event, camera
):
    data = hostile.jpeg()
    first = upload(api_client, device_token, data)
    again = upload(api_client, device_token, data)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert MediaItem.objects.count() == 1
    assert len(stored_files()) == 1


def test_a_reused_upload_id_with_other_content_is_a_conflict(
    api_client, device_token, event, camera
):
    assert upload(api_client, device_token, hostile.jpeg(64, 48)).status_code == 201
    # A repeated id is answered from the row before the body is read: the same answer.
    assert upload(api_client, device_token, hostile.jpeg(32, 32)).status_code == 200
    assert MediaItem.objects.count() == 1


def test_a_reset_bridges_upload_with_an_old_id_is_stored_for_its_new_alarm(
    api_client, device_token, event, camera, bridge
):
    """A bridge reset to its factory settings counts its event and upload ids from 1 again:
    the snapshot of its new alarm (whose event id is the new event's now) is stored for that
    alarm, not answered as the old alarm's snapshot. The old upload keeps a retired id."""
    old = upload(api_client, device_token, hostile.jpeg(64, 48))
    assert old.status_code == 201
    new_event = signal_services.event_record(
        customer=bridge.customer,
        kind="alarm",
        zone=3,
        bridge=bridge,
        occurred_at=datetime(2025, 5, 6, 7, 8, 9, tzinfo=UTC),
        source=AlarmEvent.Source.DEVICE,
        device_event_id="ev-1",
        device_event_checked=True,
        supersedes=event,
    )
    new = upload(api_client, device_token, hostile.jpeg(32, 32))
    assert new.status_code == 201, new.content
    assert new.json() != old.json()
    item = MediaItem.objects.get(upload_id="up-1")
    assert item.event == new_event
    first = MediaItem.objects.get(event=event)
    assert first.upload_id == f"up-1~{first.pk}"
    again = upload(api_client, device_token, hostile.jpeg(32, 32))
    assert (again.status_code, again.json()) == (200, new.json())
    assert MediaItem.objects.count() == 2 and len(stored_files()) == 2


@pytest.mark.parametrize(
    "other", [{"channel": "2"}, {"phase": "post"}, {"kind": "clip"}], ids=lambda o: next(iter(o))
)
def test_an_upload_id_used_again_for_other_media_is_another_upload(
    api_client, device_token, event, camera, other
):
    assert upload(api_client, device_token, hostile.jpeg(64, 48)).status_code == 201
    data = hostile.clip(webm=True) if other.get("kind") == "clip" else hostile.jpeg(32, 32)
    response = upload(api_client, device_token, data, **other)
    assert response.status_code == 201, response.content
    assert MediaItem.objects.count() == 2 and len(stored_files()) == 2


def test_an_upload_id_used_again_for_another_request_is_another_upload(
    api_client, device_token, camera
):
    first, second = MediaRequestFactory(camera=camera), MediaRequestFactory(camera=camera)
    for request, data in ((first, hostile.jpeg(64, 48)), (second, hostile.jpeg(32, 32))):
        response = upload(api_client, device_token, data, event_id=None, request=request.code)
        assert response.status_code == 201, response.content
    assert MediaItem.objects.get(request=second).upload_id == "up-1"
    assert MediaItem.objects.get(request=first).upload_id.startswith("up-1~")


def test_an_upload_id_used_again_for_an_event_not_sent_yet_is_refused_as_such(
    api_client, device_token, event, camera
):
    """Not the old upload's answer (the bridge would drop the file): the event first."""
    assert upload(api_client, device_token, hostile.jpeg(64, 48)).status_code == 201
    response = upload(api_client, device_token, hostile.jpeg(32, 32), event_id="ev-2")
    assert response.status_code == 404
    assert "send the event first" in response.json()["error"]
    for malformed in ({"event_id": None}, {"time": "yesterday"}):
        response = upload(api_client, device_token, hostile.jpeg(64, 48), **malformed)
        assert response.status_code == 400, malformed
    assert MediaItem.objects.count() == 1


def test_only_the_bridges_own_upload_at_its_site_gives_up_its_id(bridge, camera, event):
    from media import services as media_services

    theirs = MediaItemFactory(camera=CameraFactory(channel=1), upload_id="up-1")
    with pytest.raises(ValueError, match="another bridge's or site's upload"):
        media_services.media_store(
            bridge=bridge,
            channel=1,
            kind="snapshot",
            phase="",
            event=event,
            media_request=None,
            captured_at=event.occurred_at,
            upload_id="up-1",
            data=b"",
            inspected=None,
            supersedes=theirs,
        )
    theirs.refresh_from_db()
    assert theirs.upload_id == "up-1"


def test_a_clip_answering_a_request_finishes_it(api_client, device_token, camera):
    request = MediaRequestFactory(camera=camera)
    response = upload(
        api_client,
        device_token,
        hostile.clip(),
        kind="clip",
        event_id=None,
        request=request.code,
    )
    assert response.status_code == 201, response.content
    request.refresh_from_db()
    assert request.state == MediaRequest.State.DONE
    assert request.done_at is not None
    item = MediaItem.objects.get()
    assert (item.request, item.event) == (request, None)


# --- refusals: nothing stored ---------------------------------------------------------------

HOSTILE = {
    "empty": (b"", "snapshot", 422, "empty"),
    "decompression bomb": (hostile.decompression_bomb(), "snapshot", 422, "pixels"),
    "JPEG+ZIP polyglot": (hostile.polyglot_zip(), "snapshot", 422, "follow the end"),
    "JPEG+HTML polyglot": (hostile.polyglot_html(), "snapshot", 422, "follow the end"),
    "HTML in a JPEG comment": (hostile.html_in_comment(), "snapshot", 422, "another kind"),
    "truncated JPEG": (hostile.truncated_jpeg(), "snapshot", 422, "truncated"),
    "PNG as snapshot": (hostile.png(), "snapshot", 415, "JPEG"),
    "HTML as snapshot": (b"<html><script>alert(1)</script></html>", "snapshot", 415, "JPEG"),
    "clip as snapshot": (hostile.clip(), "snapshot", 415, "JPEG"),
    "JPEG as clip": (hostile.jpeg(), "clip", 415, "MP4"),
    "truncated MP4": (hostile.truncated_clip(), "clip", 422, "truncated"),
    "truncated WebM": (hostile.truncated_clip(webm=True), "clip", 422, "truncated"),
    "MP4 + ZIP": (hostile.clip() + hostile.polyglot_zip()[-200:], "clip", 422, "MP4"),
    "MPEG-4 part 2 in MP4": (hostile.mpeg4_part2_in_mp4(), "clip", 422, "H.264"),
    "0-byte clip": (b"", "clip", 422, "empty"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_uploads_are_refused_with_a_reason_and_nothing_stored(
    api_client, device_token, event, camera, name, caplog
):
    data, kind, status, reason = HOSTILE[name]
    with caplog.at_level(logging.WARNING, logger="signals.api"):
        response = upload(api_client, device_token, data, kind=kind)
    assert response.status_code == status, response.content
    assert reason.lower() in response.json()["error"].lower()
    assert_nothing_stored()
    assert "device API refused" in caplog.text


def test_the_pixel_limit_applies_to_an_honest_large_image(
    api_client, device_token, event, camera, settings
):
    settings.MEDIA_IMAGE_MAX_PIXELS = 64 * 48 - 1
    response = upload(api_client, device_token, hostile.jpeg(64, 48))
    assert response.status_code == 422
    assert "pixels" in response.json()["error"]
    assert_nothing_stored()


def test_an_upload_larger_than_the_limit_is_refused_before_it_is_read(
    api_client, device_token, event, camera, settings
):
    data = hostile.jpeg(320, 240)
    settings.MEDIA_SNAPSHOT_MAX_BYTES = len(data) - 1
    response = upload(api_client, device_token, data)
    assert response.status_code == 413
    assert_nothing_stored()
    settings.MEDIA_SNAPSHOT_MAX_BYTES = len(data)
    assert upload(api_client, device_token, data).status_code == 201


def test_a_clip_longer_than_allowed_is_refused(api_client, device_token, event, camera, settings):
    settings.MEDIA_CLIP_MAX_SECONDS = 0.5
    response = upload(api_client, device_token, hostile.clip(), kind="clip")
    assert response.status_code == 422
    assert "lasts" in response.json()["error"]
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("token", "serial"),
    [(None, "BR-0001"), ("brt_wrong", "BR-0001"), ("right", "BR-9999"), ("right", None)],
    ids=["no token", "wrong token", "unknown serial", "no serial"],
)
def test_authentication_failures_store_nothing(
    api_client, device_token, event, camera, token, serial
):
    token = device_token if token == "right" else token
    response = upload(api_client, token, hostile.jpeg(), serial=serial)
    assert response.status_code in (400, 401)
    assert_nothing_stored()


def test_another_bridges_token_does_not_upload_for_this_bridge(
    api_client, device_token, event, camera, customer
):
    other = BridgeFactory(customer=customer, serial="BR-0002")
    other_token = signal_services.bridge_token_issue(bridge=other)
    response = upload(api_client, other_token, hostile.jpeg())
    assert response.status_code == 401
    assert_nothing_stored()


def test_an_event_of_another_site_cannot_be_named(
    api_client, device_token, event, camera, outsider_customer
):
    other_event = signal_services.event_record(
        customer=outsider_customer,
        kind="test",
        occurred_at=datetime(2025, 3, 4, tzinfo=UTC),
        source=AlarmEvent.Source.TEST_SIGNAL,
    )
    response = upload(
        api_client, device_token, hostile.jpeg(), event_id=None, event=other_event.code
    )
    assert response.status_code == 404
    assert_nothing_stored()


def test_a_bridge_moved_to_another_site_cannot_file_media_under_its_old_sites_events(
    api_client, device_token, event, bridge, camera
):
    bridge.customer = CustomerFactory(dealer=bridge.customer.dealer, name="New site")
    bridge.save(update_fields=["customer"])
    # ev-1 is the old site's event: the new site's footage must not go there.
    response = upload(api_client, device_token, hostile.jpeg())
    assert response.status_code == 404, response.content
    assert "send the event first" in response.json()["error"]
    assert_nothing_stored()


def test_a_bridge_moved_to_another_site_stores_its_uploads_there_whatever_their_ids(
    api_client, device_token, event, bridge, camera
):
    first = upload(api_client, device_token, hostile.jpeg(64, 48))
    assert first.status_code == 201
    new_site = CustomerFactory(dealer=bridge.customer.dealer, name="New site")
    bridge.customer = new_site
    bridge.save(update_fields=["customer"])
    there = signal_services.event_record(
        customer=new_site,
        kind="alarm",
        zone=3,
        bridge=bridge,
        occurred_at=datetime(2026, 1, 2, tzinfo=UTC),
        source=AlarmEvent.Source.DEVICE,
        device_event_id="ev-1",
    )

    # The same upload_id (a reset bridge counts from 1 again), other content: a new item.
    again = upload(api_client, device_token, hostile.jpeg(32, 24))
    assert again.status_code == 201, again.content
    item = MediaItem.objects.get(code=again.json()["media"])
    assert (item.customer, item.event, item.upload_id) == (new_site, there, "up-1")
    assert MediaItem.objects.count() == 2


def test_a_bridge_moved_to_another_site_is_not_asked_for_its_old_sites_clips(
    api_client, device_token, bridge, camera, other_dealer
):
    old_site = bridge.customer
    asked = MediaRequestFactory(camera=camera)
    assert asked.customer == old_site
    bridge.customer = CustomerFactory(dealer=other_dealer, name="New site")
    bridge.save(update_fields=["customer"])

    assert list(selectors.open_requests(bridge)) == []
    response = upload(
        api_client, device_token, hostile.jpeg(), event_id=None, request=str(asked.code)
    )
    assert response.status_code == 404, response.content
    assert_nothing_stored()
    # Media of another site that answered a request (before this rule) is not the request's.
    MediaItemFactory(camera=camera, request=asked, customer=bridge.customer)
    assert selectors.request_media(asked) == []
    assert [list(r.media_items.all()) for r in selectors.site_requests(old_site)] == [[]]


@pytest.mark.parametrize("sent", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"])
def test_a_bridge_clock_that_cannot_be_right_gives_way_to_the_time_received(
    api_client, device_token, event, camera, sent, caplog
):
    before = timezone.now()
    with caplog.at_level("WARNING", logger="media.api"):
        response = upload(api_client, device_token, hostile.jpeg(), time=sent)
    assert any(sent in r.getMessage() for r in caplog.records)
    assert response.status_code == 201, response.content
    item = MediaItem.objects.get()
    assert before <= item.captured_at <= timezone.now()
    # Filed under the day it came, not year 1 or 9999.
    assert item.file.name.split("/")[1] == f"{before.astimezone(UTC):%Y}"


@pytest.mark.parametrize(
    ("params", "status", "reason"),
    [
        ({"event_id": "ev-unknown"}, 404, "send the event first"),
        ({"event_id": None}, 400, "what the media is for"),
        ({"kind": "document"}, 400, "kind"),
        ({"channel": "5"}, 400, "channel"),
        ({"channel": None}, 400, "channel"),
        ({"time": "yesterday"}, 400, "time"),
        ({"time": None}, 400, "time"),
        ({"upload_id": None}, 400, "upload_id"),
        ({"upload_id": "has spaces"}, 400, "upload_id"),
        ({"phase": "during"}, 400, "phase"),
        ({"request": "not-a-uuid", "event_id": None}, 400, "request"),
        ({"event": "not-a-uuid", "event_id": None}, 400, "event"),
    ],
)
def test_bad_parameters_are_refused_with_a_reason(
    api_client, device_token, event, camera, params, status, reason
):
    response = upload(api_client, device_token, hostile.jpeg(), **params)
    assert response.status_code == status, response.content
    assert reason in response.json()["error"]
    assert_nothing_stored()


def test_a_request_of_another_bridge_cannot_be_answered(api_client, device_token, camera):
    request = MediaRequestFactory()
    response = upload(
        api_client, device_token, hostile.clip(), kind="clip", event_id=None, request=request.code
    )
    assert response.status_code == 404
    assert_nothing_stored()
    request.refresh_from_db()
    assert request.state == MediaRequest.State.PENDING


def test_only_post(api_client, device_token):
    for url in (MEDIA_URL, HEARTBEAT_URL, COMMANDS_URL):
        response = api_client.get(url, HTTP_AUTHORIZATION=f"Bearer {device_token}")
        assert response.status_code == 405
        assert response["Allow"] == "POST"


def test_the_limits_apply_to_uploads(api_client, device_token, event, camera, settings):
    settings.DEVICE_API_LIMIT_PER_TOKEN = 1
    settings.DEVICE_API_LIMIT_WINDOW_SECONDS = 3600
    assert upload(api_client, device_token, hostile.jpeg()).status_code == 201
    response = upload(api_client, device_token, hostile.jpeg(), upload_id="up-2")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert MediaItem.objects.count() == 1


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.one_of(
        st.binary(max_size=600),
        st.binary(max_size=300).map(lambda tail: hostile.jpeg()[:200] + tail),
        st.binary(max_size=300).map(lambda tail: b"\x00\x00\x00\x20ftypisom" + tail),
        st.binary(max_size=300).map(lambda tail: b"\x1a\x45\xdf\xa3" + tail),
    ),
    kind=st.sampled_from(["snapshot", "clip"]),
)
def test_random_bytes_never_answer_500_nor_store_anything(
    api_client, device_token, event, camera, data, kind
):
    response = upload(api_client, device_token, data, kind=kind, upload_id="fuzz")
    assert 400 <= response.status_code < 500
    assert_nothing_stored()


# --- heartbeats -----------------------------------------------------------------------------


def beat(client, token, **body):
    data = {"serial": "BR-0001", **body}
    return client.post(
        HEARTBEAT_URL,
        data=json.dumps(data),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_a_heartbeat_marks_the_bridge_online(api_client, device_token, bridge):
    response = beat(api_client, device_token)
    assert response.status_code == 200
    assert response.json() == {"state": "online", "lost_channels": [], "commands": 0}
    bridge.status.refresh_from_db()
    assert bridge.status.last_heartbeat_at is not None


@pytest.mark.parametrize(
    "lost",
    ["3", [0], [5], ["1"], [True], list(range(1, 20))],
    ids=["not a list", "zero", "out of range", "text", "bool", "too many"],
)
def test_a_heartbeat_with_bad_lost_channels_is_refused(api_client, device_token, bridge, lost):
    response = beat(api_client, device_token, lost_channels=lost)
    assert response.status_code == 400
    assert "lost_channels" in response.json()["error"]


def test_heartbeat_and_commands_need_the_token(api_client, device_token, bridge):
    for url in (HEARTBEAT_URL, COMMANDS_URL):
        response = api_client.post(
            url,
            data=json.dumps({"serial": "BR-0001"}),
            content_type="application/json",
            HTTP_AUTHORIZATION="Bearer brt_wrong",
        )
        assert response.status_code == 401
        unauthenticated = api_client.post(url, data="{", content_type="application/json")
        assert unauthenticated.status_code == 401


# --- command polling ------------------------------------------------------------------------


def poll(client, token):
    return client.post(
        COMMANDS_URL,
        data=json.dumps({"serial": "BR-0001"}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_polling_hands_out_the_bridges_open_requests_and_marks_them_picked(
    api_client, device_token, camera, camera2
):
    first = MediaRequestFactory(camera=camera)
    second = MediaRequestFactory(camera=camera2, seconds=60)
    MediaRequestFactory()  # another bridge's
    MediaRequestFactory(camera=camera, state="done", done_at=first.requested_at)
    response = poll(api_client, device_token)
    assert response.status_code == 200
    commands = response.json()["commands"]
    assert [(c["request"], c["channel"], c["seconds"]) for c in commands] == [
        (str(first.code), 1, 120),
        (str(second.code), 2, 60),
    ]
    assert all(c["type"] == "upload_recent" for c in commands)
    first.refresh_from_db()
    assert first.state == MediaRequest.State.PICKED and first.picked_at is not None
    # Picked requests are handed out again until answered (a bridge may have restarted).
    assert len(poll(api_client, device_token).json()["commands"]) == 2


def test_a_bridge_with_no_requests_gets_none(api_client, device_token, bridge):
    assert poll(api_client, device_token).json() == {"commands": []}


def test_another_bridges_camera_is_not_this_bridges_command(api_client, device_token, bridge):
    CameraFactory(channel=1)
    MediaRequestFactory()
    assert poll(api_client, device_token).json() == {"commands": []}


def test_a_storage_that_fails_answers_503_and_keeps_nothing(
    api_client, device_token, event, camera, monkeypatch
):
    storage = media_storage()

    def full_disk(name, content, max_length=None):
        raise OSError("No space left on device")

    monkeypatch.setattr(storage, "save", full_disk)
    response = upload(api_client, device_token, hostile.jpeg())
    assert response.status_code == 503
    assert response["Retry-After"]
    assert not MediaItem.objects.exists()


def test_a_form_content_type_does_not_change_what_is_read(api_client, device_token, event, camera):
    data = hostile.jpeg()
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = upload(
            api_client, device_token, data, content_type=content_type, upload_id=content_type[:5]
        )
        assert response.status_code == 201, response.content
