"""Walk every operator page about one object (a site, an event: ``<uuid:...>`` routes of the
monitoring app outside the station console), from the URL resolver through tests/urlwalk.py,
as each kind of outsider: another station's operator, the site's own dealer (its people are no
operators), another dealer, and someone signed out. None gets the page or changes anything.
"""

from __future__ import annotations

import pytest
from django.test import Client

from media.models import MediaRequest
from monitoring.access import StationAdminRequiredMixin
from monitoring.models import Verdict
from tests.factories import (
    AlarmEventFactory,
    BridgeFactory,
    CameraFactory,
    MediaRequestFactory,
    MonitoringAccountFactory,
)
from tests.urlwalk import (
    UrlFinder,
    Visitor,
    all_routes,
    expect_login_redirect,
    expect_status,
    walk,
)

pytestmark = pytest.mark.django_db


def operator_routes():
    """The monitoring app's routes about one object, the console's aside."""
    return [
        route
        for route in all_routes()
        if route.name.startswith("monitoring:")
        and route.converters
        and not route.view_inherits(StationAdminRequiredMixin)
    ]


def test_the_walk_finds_the_operator_pages():
    assert {
        "monitoring:site",
        "monitoring:verdict",
        "monitoring:request-recent",
        "monitoring:request-status",
    } <= {r.name for r in operator_routes()}


def _sign_in_first(route, method, url, response):
    """Signed out: to the sign-in page (a method the page never takes may say 405 first)."""
    if response.status_code == 405:
        return None
    return expect_login_redirect()(route, method, url, response)


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_every_operator_page_keeps_outsiders_out(
    customer, record, operator, other_operator, owner, outsider
):
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")
    event = AlarmEventFactory(customer=customer)
    camera = CameraFactory(bridge=BridgeFactory(customer=customer), channel=1)
    media_request = MediaRequestFactory(camera=camera)
    finder = UrlFinder(_client(operator), [customer, event, camera, media_request])
    nobody = {"GET": expect_status(403, 404, 405), "POST": expect_status(403, 404, 405)}
    visitors = [
        Visitor("another station's operator", _client(other_operator), nobody),
        Visitor("the site's dealer (no operator)", _client(owner), nobody),
        Visitor("another dealer", _client(outsider), nobody),
        Visitor("signed out", _client(), {"GET": _sign_in_first, "POST": _sign_in_first}),
        Visitor(
            "the operator",
            _client(operator),
            {"PUT": expect_status(405), "DELETE": expect_status(405)},
        ),
    ]
    problems = walk(operator_routes(), finder, visitors)
    assert not problems, "\n".join(problems)
    assert not Verdict.objects.exists()
    # Only the finder (the operator) asked for recent video; no outsider did.
    assert set(MediaRequest.objects.values_list("requested_by", flat=True)) <= {None, operator.pk}
