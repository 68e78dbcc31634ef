"""Signed media URLs: short-lived, scoped to one user who may see the site, and never a 500.

A URL made for a user works for that user while they are a member of the site's dealer or an
operator of an active station that monitors the site; it fails for another station's operator,
another dealer, someone signed out, after it expires, and once tampered with. Clips are served
with HTTP Range so that players can seek.
"""

from __future__ import annotations

import hashlib
import math

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from media import signing
from media.signing import media_url
from stations.models import StationMembership
from tests.factories import (
    BridgeFactory,
    CameraFactory,
    MediaItemFactory,
    MembershipFactory,
    MonitoringAccountFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

CLIP = bytes(range(256)) * 40  # 10,240 bytes: stands for a clip, bytes are what matter here


@pytest.fixture
def site(customer, record):
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")
    return customer


@pytest.fixture
def cam(site):
    return CameraFactory(bridge=BridgeFactory(customer=site), channel=1, name="Door")


@pytest.fixture
def snapshot(cam):
    return MediaItemFactory(camera=cam)


@pytest.fixture
def clip(cam):
    return MediaItemFactory(
        camera=cam,
        kind="clip",
        content_type="video/mp4",
        file=ContentFile(CLIP, name="clip.mp4"),
        size=len(CLIP),
        sha256=hashlib.sha256(CLIP).hexdigest(),
    )


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_sites_operator_and_every_dealer_role_get_the_snapshot(
    snapshot, operator, owner, viewer, technician
):
    for user in (operator, owner, viewer, technician):
        response = _as(user).get(media_url(snapshot, user=user))
        assert response.status_code == 200, user
        assert response["Content-Type"] == "image/jpeg"
        body = b"".join(response.streaming_content)
        assert body == snapshot.file.open("rb").read()
        assert response["Cache-Control"].startswith("private")


@pytest.mark.parametrize("who", ["other_operator", "outsider"])
def test_another_stations_operator_and_another_dealer_get_nothing(snapshot, who, request):
    user = request.getfixturevalue(who)
    # Even with a URL made for them (a bug elsewhere could hand one out): access is re-checked.
    for url in (media_url(snapshot, user=user), media_url(snapshot, user=snapshot_owner(request))):
        response = _as(user).get(url)
        assert response.status_code == 403
        assert b"JFIF" not in response.content


def snapshot_owner(request):
    return request.getfixturevalue("owner")


def test_a_url_made_for_someone_else_is_refused(snapshot, operator, owner):
    url = media_url(snapshot, user=owner)
    response = _as(operator).get(url)
    assert response.status_code == 403
    assert "made for someone else" in response.text


def test_signed_out_gets_403_not_the_file(snapshot, owner):
    response = Client().get(media_url(snapshot, user=owner))
    assert response.status_code == 403


def test_an_expired_url_is_gone(snapshot, operator):
    url = media_url(snapshot, user=operator, expires_in=-1)
    response = _as(operator).get(url)
    assert response.status_code == 410
    assert "expired" in response.text


def test_a_url_expires_after_its_lifetime(snapshot, operator, settings, monkeypatch):
    import time

    settings.MEDIA_URL_MAX_AGE_SECONDS = 30
    url = media_url(snapshot, user=operator)
    client = _as(operator)
    assert client.get(url).status_code == 200
    now = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now + 31)
    assert client.get(url).status_code == 410


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature changed
        lambda t: "x" + t,  # payload changed
        lambda t: t.split(":")[0],  # no signature
        lambda t: "",  # nothing
        lambda t: "%00%ff",  # not even base64
        lambda t: t + ":" + t,  # two tokens
    ],
)
def test_a_tampered_url_is_refused_never_a_500(snapshot, operator, mangle):
    token = media_url(snapshot, user=operator).split("/")[3]
    url = f"/media/s/{mangle(token)}/"
    response = _as(operator).get(url)
    assert response.status_code in (403, 404)


def test_a_token_of_another_kind_opens_nothing(snapshot, operator, cam):
    live = signing.live_url(cam, user=operator).split("/")[3]
    assert _as(operator).get(f"/media/s/{live}/").status_code == 403
    # A well-signed token for a code that is no media item.
    token = signing.sign(
        kind=signing.ITEM, code="nonsense", customer_id=cam.bridge.customer_id, user=operator
    )
    assert _as(operator).get(f"/media/s/{token}/").status_code == 404


def test_access_is_checked_now_not_when_the_url_was_made(snapshot, operator, owner, dealer):
    url = media_url(snapshot, user=operator)
    client = _as(operator)
    assert client.get(url).status_code == 200
    StationMembership.objects.filter(user=operator).delete()
    assert client.get(url).status_code == 403

    url = media_url(snapshot, user=owner)
    client = _as(owner)
    assert client.get(url).status_code == 200
    dealer.is_active = False
    dealer.save(update_fields=["is_active"])
    assert client.get(url).status_code == 403


def test_an_archived_site_is_closed_to_operators_not_to_its_dealer(snapshot, operator, owner):
    from customers.models import Customer

    Customer.objects.filter(pk=snapshot.customer_id).update(status=Customer.Status.ARCHIVED)
    assert _as(operator).get(media_url(snapshot, user=operator)).status_code == 403
    assert _as(owner).get(media_url(snapshot, user=owner)).status_code == 200


def test_a_member_of_two_dealers_sees_each_dealers_media(snapshot, outsider, dealer):
    MembershipFactory(dealer=dealer, user=outsider, role="viewer")
    assert _as(outsider).get(media_url(snapshot, user=outsider)).status_code == 200


def test_deleted_media_is_404(snapshot, operator):
    url = media_url(snapshot, user=operator)
    snapshot.delete()
    assert _as(operator).get(url).status_code == 404


def test_only_get_and_head(snapshot, operator):
    url = media_url(snapshot, user=operator)
    client = _as(operator)
    assert client.head(url).status_code == 200
    assert client.post(url).status_code == 405


# --- ranges ---------------------------------------------------------------------------------


def _get(client, url, **headers):
    response = client.get(url, headers=headers)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return response, body


def test_a_clip_is_served_whole_with_accept_ranges(clip, operator):
    response, body = _get(_as(operator), media_url(clip, user=operator))
    assert response.status_code == 200
    assert body == CLIP
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(len(CLIP))
    assert response["Content-Type"] == "video/mp4"
    assert response["ETag"] == f'"{hashlib.sha256(CLIP).hexdigest()}"'


@pytest.mark.parametrize(
    ("header", "start", "stop"),
    [
        ("bytes=0-99", 0, 100),
        ("bytes=100-", 100, len(CLIP)),
        ("bytes=-500", len(CLIP) - 500, len(CLIP)),
        ("bytes=10000-99999", 10000, len(CLIP)),  # past the end: cut to the end
        ("bytes=5-5", 5, 6),
    ],
)
def test_a_byte_range_is_206_with_exactly_those_bytes(clip, operator, header, start, stop):
    response, body = _get(_as(operator), media_url(clip, user=operator), Range=header)
    assert response.status_code == 206
    assert body == CLIP[start:stop]
    assert response["Content-Range"] == f"bytes {start}-{stop - 1}/{len(CLIP)}"
    assert response["Content-Length"] == str(stop - start)


def test_a_range_past_the_end_is_416(clip, operator):
    response, _ = _get(_as(operator), media_url(clip, user=operator), Range="bytes=20000-")
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(CLIP)}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "bytes=abc", "lines=1-2", "bytes=9-3"])
def test_ranges_the_portal_does_not_serve_get_the_whole_clip(clip, operator, header):
    response, body = _get(_as(operator), media_url(clip, user=operator), Range=header)
    assert response.status_code == 200
    assert body == CLIP


def test_if_range_with_another_version_gets_the_whole_clip(clip, operator):
    url = media_url(clip, user=operator)
    client = _as(operator)
    response, body = _get(client, url, Range="bytes=0-9", **{"If-Range": '"old"'})
    assert response.status_code == 200 and body == CLIP
    response, body = _get(client, url, Range="bytes=0-9", **{"If-Range": clip_etag(clip)})
    assert response.status_code == 206 and body == CLIP[:10]


def clip_etag(clip) -> str:
    return f'"{clip.sha256}"'


def test_a_user_who_is_both_still_needs_their_own_url(snapshot, operator):
    helper = UserFactory(username="helper")
    url = media_url(snapshot, user=helper)
    assert _as(operator).get(url).status_code == 403


@pytest.mark.parametrize("script_prefix", ["/", "/portal/", "/TOKEN/"])
def test_a_media_url_is_the_one_reverse_makes(snapshot, operator, cam, script_prefix):
    """The URL around a token is reversed once per script prefix and kept: it must be exactly
    what reverse() makes for that token."""
    from django.urls import get_script_prefix, reverse, set_script_prefix

    before = get_script_prefix()
    set_script_prefix(script_prefix)
    try:
        url = media_url(snapshot, user=operator)
        live = signing.live_url(cam, user=operator, path="index.m3u8")
        item_token = url.removeprefix(f"{script_prefix}media/s/").removesuffix("/")
        live_token = live.removeprefix(f"{script_prefix}media/live/").removesuffix("/")
        assert url == reverse("media:item", args=[item_token])
        assert live == reverse("media:live", args=[live_token])
    finally:
        set_script_prefix(before)
    assert signing.verify(item_token, kind=signing.ITEM, user=operator).code == str(snapshot.code)


@pytest.mark.parametrize("value", ["", "eyJrIjoiaXRlbSJ9:1tXyZ", "é ünïcode", "x" * 500])
def test_a_signature_is_djangos_own(value, settings):
    """The signer derives its HMAC key once (media.signing._Signer): every signature must be
    the one Django's TimestampSigner makes for the same secret and salt."""
    from django.core.signing import TimestampSigner

    django_signer = TimestampSigner(key=settings.SECRET_KEY, salt=signing.SALT)
    assert signing._signer(settings.SECRET_KEY).signature(value) == django_signer.signature(value)
    other = "another secret, as in SECRET_KEY_FALLBACKS"
    assert signing._signer(settings.SECRET_KEY).signature(value, other) == (
        django_signer.signature(value, other)
    )


def test_a_token_is_what_signing_dumps_makes(operator, cam, monkeypatch, settings):
    from django.core import signing as django_signing

    monkeypatch.setattr(django_signing.time, "time", lambda: 1_790_000_000.25)
    monkeypatch.setattr(signing.time, "time", lambda: 1_790_000_000.25)
    token = signing.MediaUrls(operator).token(signing.LIVE, cam.code, 7, path="seg 1.ts")
    expires = math.ceil(1_790_000_000.25 + settings.MEDIA_LIVE_URL_MAX_AGE_SECONDS)
    payload = {"k": "live", "c": str(cam.code), "s": 7, "u": operator.pk, "e": expires}
    payload["p"] = "seg 1.ts"
    assert token == django_signing.dumps(payload, salt=signing.SALT)


@pytest.mark.parametrize(
    "payload",
    [
        {"k": "item", "c": "5f0c", "s": 1, "u": 2, "e": 3},
        {"k": "live", "c": "x", "s": 10**12, "u": 2, "e": 3, "p": 'seg é\\"/1.ts'},
    ],
)
def test_a_payload_is_encoded_as_djangos_json_serializer_does(payload):
    from django.core.signing import JSONSerializer

    assert signing._CompactJSON().dumps(payload) == JSONSerializer().dumps(payload)
