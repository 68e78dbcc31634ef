"""Walk every signed-media route (from the URL resolver, through tests/urlwalk.py) as each kind
of outsider. Their URLs carry a signed token rather than a UUID, so the finder signs one for
the victim (the site's operator); every outsider then gets a 4xx, never the media."""

from __future__ import annotations

import pytest
from django.test import Client

from media import signing
from tests.factories import (
    BridgeFactory,
    CameraFactory,
    MediaItemFactory,
    MonitoringAccountFactory,
)
from tests.urlwalk import UrlFinder, Visitor, all_routes, expect_status, walk

pytestmark = pytest.mark.django_db

SIGNED = {"media:item", "media:live"}


def signed_routes():
    return [route for route in all_routes() if route.name in SIGNED]


def test_the_walk_finds_every_signed_route():
    assert {route.name for route in signed_routes()} == SIGNED
    # Every other route of the media app is claimed by its own walk (the device API's and the
    # dealer's pages); a new signed route must be added to SIGNED.
    names = {r.name for r in all_routes() if r.name.startswith("media:")}
    assert {n for n in names if "token" in str(n)} <= SIGNED


class SignedUrlFinder(UrlFinder):
    """Signs a URL for the victim instead of trying UUIDs."""

    def __init__(self, client: Client, *, user, item, camera) -> None:
        super().__init__(client, [])
        self.user, self.item, self.camera = user, item, camera

    def _find(self, route):
        if route.name == "media:item":
            return signing.media_url(self.item, user=self.user)
        if route.name == "media:live":
            return signing.live_url(self.camera, user=self.user)
        return None


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_every_signed_route_keeps_outsiders_out(
    customer, record, operator, other_operator, outsider, viewer
):
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")
    bridge = BridgeFactory(customer=customer, relay_url="http://127.0.0.1:9/")
    camera = CameraFactory(bridge=bridge, channel=1, stream_url="rtsp://cam/1")
    item = MediaItemFactory(camera=camera)
    finder = SignedUrlFinder(_client(operator), user=operator, item=item, camera=camera)
    refused = {"GET": expect_status(403), "HEAD": expect_status(403), "POST": expect_status(405)}
    visitors = [
        Visitor("another station's operator", _client(other_operator), refused),
        Visitor("another dealer", _client(outsider), refused),
        # The site's own dealer may see its media, but not through a URL made for the operator.
        Visitor("the site's dealer, with the operator's URL", _client(viewer), refused),
        Visitor("signed out", _client(), refused),
        Visitor(
            "the operator",
            _client(operator),
            {"POST": expect_status(405), "PUT": expect_status(405), "DELETE": expect_status(405)},
        ),
    ]
    problems = walk(signed_routes(), finder, visitors)
    assert not problems, "\n".join(problems)
