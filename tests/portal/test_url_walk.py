"""Every dealer page, walked from the URL resolver as each kind of outsider.

A dealer page is any route whose view is a ``DealerRequiredMixin``; every other route of the
portal must be claimed by another side below (``OTHER_SIDES``), so a view that forgets the
mixin fails here instead of going unnoticed. The walk (tests/urlwalk.py) opens each page as:

- another dealer's owner: a page about one of the victim's objects is a 404; a list shows
  none of the victim's names or numbers;
- the victim's viewer: every POST is refused (403, or 405 where the page takes no POST);
- an operator of a monitoring station: a 404 page that sends them to their own start page;
- signed out: a redirect to sign in;
- the victim's owner: PUT and DELETE answer 405.
"""

from __future__ import annotations

import pytest
from django.test import Client

from customers.models import Contact, CustomerImport
from dealers import services
from dealers.access import DealerRequiredMixin
from media.models import BridgeStatus
from tests import urlwalk
from tests.factories import (
    BridgeFactory,
    CameraFactory,
    CustomerFactory,
    DealerStationFactory,
    MediaItemFactory,
    MonitoringAccountFactory,
    NotificationRecipientFactory,
    SignalFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

# Routes that are not dealer pages, by name or namespace prefix (or pattern prefix for unnamed
# ones), and who guards them instead. A new route must be a dealer page or be listed here.
OTHER_SIDES = {
    "admin:": "the Django admin: staff only",
    "admin/": "the Django admin's unnamed catch-all",
    "home": "the start page: sends each user to their side",
    "invitations:": "the e-mailed invitation link: its signed token (tests/dealers)",
    "login": "signing in",
    "logout": "signing out",
    "password_": "password change and reset (django.contrib.auth)",
    "two-factor-": "the signed-in person's own second factor (tests/portal/test_two_factor.py)",
    "monitoring:": "the station side: operators (tests/monitoring)",
    "signals:device-events": "the device API: bridges with their token (tests/signals)",
    "media:device-": "the device API for media, heartbeats and commands (tests/media)",
    "media:item": "signed media URLs: their token and the user's access (tests/media)",
    "media:live": "signed live-view URLs: their token and the user's access (tests/media)",
}

# Dealer pages a viewer may POST to, and why.
VIEWER_MAY_POST = {
    "dealers:switch": "changes only the user's own session (which dealer is active)",
}


def _claimed_by_another_side(route: urlwalk.Route) -> bool:
    return any(
        route.name.startswith(prefix) or (not route.name and route.pattern.startswith(prefix))
        for prefix in OTHER_SIDES
    )


def dealer_routes() -> list[urlwalk.Route]:
    return [r for r in urlwalk.all_routes() if r.view_inherits(DealerRequiredMixin)]


def unclaimed_routes() -> list[urlwalk.Route]:
    return [
        route
        for route in urlwalk.all_routes()
        if not route.view_inherits(DealerRequiredMixin) and not _claimed_by_another_side(route)
    ]


def test_every_route_is_a_dealer_page_or_claimed_by_another_side():
    unclaimed = [str(route) for route in unclaimed_routes()]
    assert not unclaimed, (
        "These routes are neither dealer pages (DealerRequiredMixin) nor claimed by another "
        "side in OTHER_SIDES:\n" + "\n".join(unclaimed)
    )


def test_the_walk_finds_the_dealer_pages():
    names = {route.name for route in dealer_routes()}
    # A sample of each app, so that a resolver change cannot empty the walk unnoticed.
    assert {
        "dealers:dashboard",
        "stations:record-update",
        "customers:detail",
        "customers:zone-delete",
        "signals:list",
        "signals:bridge-token",
        "media:offline-bridges",
    } <= names
    assert len(names) >= 30


@pytest.fixture
def victim(dealer, owner, viewer, receiver):
    """The dealer under attack, with one object of every kind its pages are about. The names
    and numbers are unusual, so that a page of another dealer that shows them is caught."""
    record = DealerStationFactory(dealer=dealer, receiver=receiver, name="Victim Record Qx7")
    customer = CustomerFactory(dealer=dealer, name="Victim Vault Qx7", address="77 Hidden Way")
    bridge = BridgeFactory(customer=customer, serial="VICTIM-BR-01")
    camera = CameraFactory(bridge=bridge, channel=1, name="Victim Cam Qx7")
    zone = ZoneFactory(customer=customer, number=17, name="Victim Zone Qx7")
    account = MonitoringAccountFactory(
        customer=customer, station_record=record, account_number="VQX-7711"
    )
    signal = SignalFactory(account=account)
    recipient = NotificationRecipientFactory(dealer=dealer, email="victim-qx7@example.com")
    membership = viewer.dealer_memberships.get()
    invitation = services.member_invite(
        dealer=dealer,
        email="invited-qx7@example.com",
        role="technician",
        actor=owner,
        actor_role="owner",
    )
    contact = Contact.objects.create(customer=customer, name="Victim Keyholder Qx7", phone="1")
    # Offline, with an event and its snapshot: the offline list and the site's media panel.
    BridgeStatus.objects.create(bridge=bridge, state=BridgeStatus.State.OFFLINE)
    MediaItemFactory(camera=camera, event=signal.event)
    upload = CustomerImport.objects.create(
        dealer=dealer, created_by=owner, file_name="victim-qx7.csv", file_format="csv", content=b""
    )
    objects = [
        customer,
        bridge,
        camera,
        zone,
        account,
        record,
        recipient,
        membership,
        invitation,
        signal,
        contact,
        upload,
    ]
    markers = [
        customer.name,
        customer.address,
        bridge.serial,
        camera.name,
        zone.name,
        account.account_number,
        record.name,
        recipient.email,
        viewer.email,
        invitation.email,
        contact.name,
        upload.file_name,
        dealer.name,
    ]
    return objects, markers


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def test_every_dealer_page_keeps_outsiders_out(victim, owner, viewer, outsider, operator):
    objects, markers = victim
    routes = dealer_routes()
    finder = urlwalk.UrlFinder(_client(owner), objects)
    visitors = [
        urlwalk.Visitor(
            "another dealer's owner",
            _client(outsider),
            {
                "GET": urlwalk.expect_nothing_of(markers),
                "POST": urlwalk.expect_nothing_of(markers),
            },
        ),
        urlwalk.Visitor(
            "the dealer's viewer",
            _client(viewer),
            {"GET": urlwalk.expect_no_server_error(), "POST": urlwalk.expect_refused()},
            exempt=VIEWER_MAY_POST,
        ),
        urlwalk.Visitor(
            "an operator",
            _client(operator),
            {
                "GET": urlwalk.expect_not_found(containing='data-testid="start-page"'),
                "POST": urlwalk.expect_not_found(containing='data-testid="start-page"'),
            },
        ),
        urlwalk.Visitor(
            "signed out",
            _client(),
            {"GET": urlwalk.expect_login_redirect(), "POST": urlwalk.expect_login_redirect()},
        ),
        urlwalk.Visitor(
            "the dealer's owner",
            _client(owner),
            {"PUT": urlwalk.expect_status(405), "DELETE": urlwalk.expect_status(405)},
        ),
    ]
    problems = urlwalk.walk(routes, finder, visitors)
    assert not problems, "\n".join(problems)


@pytest.mark.urls("tests.portal.leaky_urls")
def test_the_walk_catches_pages_that_skip_the_checks(victim, owner, viewer, outsider):
    """The walker itself: a dealer page that shows any customer by code, whoever asks, and a
    view that is no dealer page and is claimed by no side, are both caught."""
    objects, markers = victim
    leaky = [r for r in dealer_routes() if r.name == "leaky"]
    finder = urlwalk.UrlFinder(_client(owner), objects)
    visitors = [
        urlwalk.Visitor(
            "another dealer's owner", _client(outsider), {"GET": urlwalk.expect_nothing_of(markers)}
        ),
        urlwalk.Visitor("the dealer's viewer", _client(viewer), {"POST": urlwalk.expect_refused()}),
    ]
    url = f"/leaky/{objects[0].code}/"
    assert urlwalk.walk(leaky, finder, visitors) == [
        f"another dealer's owner: GET {url} (leaky): expected 404, got 200",
        f"the dealer's viewer: POST {url} (leaky): expected 403 or 405, got 200",
    ]
    assert [r.name for r in unclaimed_routes()] == ["unguarded"]
