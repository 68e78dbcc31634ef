"""Deep links from automation software: resolution inside the operator's stations only."""

from __future__ import annotations

import re
from urllib.parse import quote

import lxml.html
import pytest
from django.db import connection
from django.urls import reverse

from customers.models import Customer
from monitoring.models import SiteOpening
from stations.models import StationMembership
from tests.factories import (
    PASSWORD,
    AlarmEventFactory,
    BridgeFactory,
    CameraFactory,
    CustomerFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    ReceiverFactory,
    StationMembershipFactory,
    UserFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

URL = "/monitoring"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


@pytest.fixture
def site(customer, record):
    """Corner Store: account 3444 (reference M-77) at the operator's station, 4 cameras."""
    bridge = BridgeFactory(customer=customer, name="Shop bridge")
    cameras = [
        CameraFactory(bridge=bridge, channel=n, name=name)
        for n, name in enumerate(["Door", "Till", "Stock room", "Yard"], start=1)
    ]
    ZoneFactory(customer=customer, number=1, name="Door contact").cameras.add(cameras[0])
    ZoneFactory(customer=customer, number=17, name="Stock motion").cameras.add(cameras[2])
    MonitoringAccountFactory(
        customer=customer, station_record=record, account_number="3444", reference_id="M-77"
    )
    return customer


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


def _cameras(response) -> list[str]:
    return [view.camera.name for view in response.context["page"].cameras]


# --- the aliases ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["act", "csid", "txid", "ACT", "Csid", "TxId"])
def test_every_account_alias_in_any_case(operator_client, site, name):
    response = operator_client.get(URL, {name: "3444", "zone": "017"})
    assert response.status_code == 200
    assert response.context["site"] == site


@pytest.mark.parametrize("name", ["uid", "massite", "serialno", "serial_no", "UID", "MasSite"])
def test_every_reference_alias_in_any_case(operator_client, site, name):
    response = operator_client.get(URL, {name: "m-77"})
    assert response.status_code == 200
    assert response.context["site"] == site


def test_site_id(operator_client, site):
    response = operator_client.get(URL, {"SITE": site.site_id.lower(), "zone": "17"})
    assert response.status_code == 200
    assert response.context["site"] == site


def test_values_are_normalised_like_stored_numbers(operator_client, site, record):
    MonitoringAccountFactory(
        customer=CustomerFactory(dealer=site.dealer), station_record=record, account_number="ABC-9"
    )
    assert operator_client.get(URL, {"act": "  abc-9 "}).status_code == 200


def test_unknown_parameters_are_ignored(operator_client, site):
    response = operator_client.get(URL, {"act": "3444", "operator": "x", "event": "<b>"})
    assert response.status_code == 200


def test_several_identifiers_for_the_same_site(operator_client, site):
    params = {"act": "3444", "uid": "M-77", "site": site.site_id, "csid": "3444"}
    assert operator_client.get(URL, params).status_code == 200


def test_prefixed_account_numbers(operator_client, dealer, operator, station):
    prefixed = DealerStationFactory(
        dealer=dealer, receiver=ReceiverFactory(station=station), account_prefix="NW"
    )
    # Same station as the other record: one account per customer and station, so a new site.
    shop = CustomerFactory(dealer=dealer, name="Prefixed shop")
    MonitoringAccountFactory(customer=shop, station_record=prefixed, account_number="NW1234")
    assert operator_client.get(URL, {"act": "nw1234"}).context["site"] == shop
    assert operator_client.get(URL, {"act": "1234"}).status_code == 404


# --- zones ----------------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["017", "17", "0017"])
def test_zone_camera_comes_first_and_is_marked(operator_client, site, zone):
    response = operator_client.get(URL, {"act": "3444", "zone": zone})
    assert _cameras(response) == ["Stock room", "Door", "Till", "Yard"]
    first = response.context["page"].cameras[0]
    assert first.for_zone and first.zone_numbers == [17]
    assert 'data-zone-camera="true"' in response.text
    assert "zone-notice" not in response.text


def test_every_other_camera_shows_its_zone_numbers(operator_client, site):
    page = operator_client.get(URL, {"act": "3444", "zone": "17"}).context["page"]
    assert {v.camera.name: v.zone_numbers for v in page.cameras} == {
        "Stock room": [17],
        "Door": [1],
        "Till": [],
        "Yard": [],
    }
    assert [z.number for z in page.zones] == [1, 17]


@pytest.mark.parametrize("zone", ["5", "000"])
def test_zone_the_site_lacks_shows_all_cameras_with_a_notice(operator_client, site, zone):
    response = operator_client.get(URL, {"act": "3444", "zone": zone})
    assert response.status_code == 200
    assert _cameras(response) == ["Door", "Till", "Stock room", "Yard"]
    assert f"no zone {int(zone):03d}" in response.text


def test_no_zone_shows_all_cameras_with_a_notice(operator_client, site):
    response = operator_client.get(URL, {"act": "3444"})
    assert _cameras(response) == ["Door", "Till", "Stock room", "Yard"]
    assert "names no zone" in response.text


# --- resolution only inside the operator's stations -----------------------------------------


def test_account_at_another_station_answers_404_like_a_missing_one(client, site, other_operator):
    client.force_login(other_operator)
    existing = client.get(URL, {"act": "3444"})
    missing = client.get(URL, {"act": "9999999"})
    assert existing.status_code == missing.status_code == 404

    def page(response, number: str) -> str:
        return CSRF.sub("", response.text.replace(number, "N"))

    assert page(existing, "3444") == page(missing, "9999999")
    assert "Corner Store" not in existing.text
    assert not SiteOpening.objects.exists()


def test_operator_of_several_stations_chooses_when_both_match(client, site, operator, dealer):
    other_record = DealerStationFactory(dealer=dealer)
    StationMembershipFactory(user=operator, station=other_record.station)
    elsewhere = CustomerFactory(dealer=dealer, name="Other branch")
    MonitoringAccountFactory(customer=elsewhere, station_record=other_record, account_number="3444")
    client.force_login(operator)
    response = client.get(URL, {"act": "3444", "zone": "17"})
    assert response.status_code == 200
    assert {m.customer for m in response.context["matches"]} == {site, elsewhere}
    choice = f"{URL}?site={site.site_id}&amp;zone=017"
    assert choice in response.text
    assert not SiteOpening.objects.exists()  # nothing opened yet
    chosen = client.get(URL, {"site": site.site_id, "zone": "017"})
    assert chosen.context["site"] == site


def test_inactive_station_membership_finds_nothing(operator_client, site, station):
    station.is_active = False
    station.save()
    assert operator_client.get(URL, {"act": "3444"}).status_code == 403


def test_archived_site_is_not_found(operator_client, site):
    Customer.objects.filter(pk=site.pk).update(status=Customer.Status.ARCHIVED)
    assert operator_client.get(URL, {"act": "3444"}).status_code == 404


# --- clear answers for everything else ------------------------------------------------------


def test_no_identifier_is_400(operator_client, site):
    for params in ({}, {"zone": "17"}, {"act": ""}, {"foo": "bar"}):
        response = operator_client.get(URL, params)
        assert response.status_code == 400
        assert "No account in this link" in response.text


@pytest.mark.parametrize(
    "params",
    [
        {"act": "34 44"},
        {"act": "A" * 21},
        {"act": "3444", "zone": "abc"},
        {"act": "3444", "zone": "1000"},
        {"act": "3444", "zone": "-1"},
        {"uid": "m/77"},
        {"site": "not-a-site-id!"},
        {"act": ["3444", "3445"]},
    ],
)
def test_malformed_values_are_400(operator_client, site, params):
    response = operator_client.get(URL, params)
    assert response.status_code == 400
    assert "cannot be read" in response.text


def test_identifiers_that_disagree_are_409(operator_client, site, dealer, record):
    other = CustomerFactory(dealer=dealer)
    MonitoringAccountFactory(customer=other, station_record=record, account_number="5555")
    response = operator_client.get(URL, {"act": "5555", "uid": "M-77"})
    assert response.status_code == 409
    assert "different sites" in response.text


def test_identifier_partly_unknown_is_404(operator_client, site):
    assert operator_client.get(URL, {"act": "3444", "uid": "NOPE"}).status_code == 404


def test_wrong_method_is_405(operator_client, site):
    assert operator_client.post(URL, {"act": "3444"}).status_code == 405
    assert operator_client.head(URL, {"act": "3444"}).status_code == 200


# --- who may use it -------------------------------------------------------------------------


def test_dealer_people_who_are_not_operators_get_403(owner_client, site):
    response = owner_client.get(URL, {"act": "3444"})
    assert response.status_code == 403
    assert "operators of a monitoring station" in response.text


def test_operators_get_404_on_dealer_pages(operator_client, site):
    for url in (
        reverse("dealers:dashboard"),
        reverse("customers:list"),
        reverse("customers:detail", args=[site.code]),
        reverse("stations:record-list"),
    ):
        assert operator_client.get(url).status_code == 404, url


def test_signed_out_operator_signs_in_and_comes_back_to_the_same_link(client, site, operator):
    link = f"{URL}?act=3444&zone=017&Extra=Kept"
    response = client.get(link)
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={quote(link, safe='/')}"
    login = client.post(response.url, {"username": "operator", "password": PASSWORD, "next": link})
    assert login.status_code == 302
    assert login.url == link
    landed = client.get(login.url)
    assert landed.status_code == 200
    assert _cameras(landed)[0] == "Stock room"


def test_next_never_leaves_the_portal(client, operator):
    response = client.post(
        reverse("login"),
        {"username": "operator", "password": PASSWORD, "next": "https://evil.example.com/x"},
    )
    assert response.status_code == 302
    assert response.url == reverse("home")


def test_operator_home(client, operator, site):
    client.force_login(operator)
    assert client.get(reverse("home")).url == reverse("monitoring:home")
    page = client.get(reverse("monitoring:home"))
    assert page.status_code == 200
    assert "Central One" in page.text


# --- recording ------------------------------------------------------------------------------


def test_opening_is_recorded_and_shown_to_the_next_operator(client, site, operator, station):
    client.force_login(operator)
    client.get(URL, {"CSID": "3444", "zone": "017", "junk": "x"})
    opening = SiteOpening.objects.get()
    assert (opening.user, opening.customer, opening.station) == (operator, site, station)
    assert opening.zone == 17
    assert opening.parameters == {"csid": "3444", "zone": "017"}

    colleague = StationMembershipFactory(station=station, user__username="colleague").user
    client.force_login(colleague)
    response = client.get(URL, {"act": "3444"})
    assert "Also opened by operator" in response.text


def test_openings_at_another_station_are_not_shown(client, site, operator, dealer):
    """A site monitored by two stations: station Two's operator never sees station One's."""
    two = ReceiverFactory(station__name="Station Two").station
    record_two = DealerStationFactory(dealer=dealer, receiver=ReceiverFactory(station=two))
    MonitoringAccountFactory(customer=site, station_record=record_two, account_number="5555")
    operator_two = StationMembershipFactory(station=two, user__username="op-two").user

    client.force_login(operator)
    client.get(URL, {"act": "3444"})
    client.force_login(operator_two)
    response = client.get(URL, {"act": "5555"})
    assert response.status_code == 200
    assert response.context["page"].also_opened == []
    assert "Also opened by" not in response.text

    colleague = StationMembershipFactory(station=two, user__username="colleague-two").user
    client.force_login(colleague)
    response = client.get(URL, {"act": "5555"})
    assert [o.user for o in response.context["page"].also_opened] == [operator_two]


def test_deep_link_changes_nothing_but_the_opening(operator_client, site):
    before = (Customer.objects.get(pk=site.pk).updated_at, StationMembership.objects.count())
    operator_client.get(URL, {"act": "3444", "zone": "17"})
    assert (
        Customer.objects.get(pk=site.pk).updated_at,
        StationMembership.objects.count(),
    ) == before
    assert SiteOpening.objects.count() == 1


# --- speed ----------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 12])
def test_query_count_is_fixed_whatever_the_size(
    client, operator, record, size, django_assert_num_queries
):
    dealer = record.dealer
    customer = CustomerFactory(dealer=dealer)
    for b in range(size):
        bridge = BridgeFactory(customer=customer)
        for channel in range(1, 5):
            camera = CameraFactory(bridge=bridge, channel=channel)
            ZoneFactory(customer=customer, number=b * 4 + channel).cameras.add(camera)
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="777")
    for n in range(size * 10):
        MonitoringAccountFactory(
            customer=CustomerFactory(dealer=dealer), station_record=record, account_number=f"9{n}"
        )
    client.force_login(operator)
    # session, user, resolve; the site page's cameras (with their latest snapshot's code), zones
    # with their cameras, also-opened, events with their verdicts and media, approved
    # directions and call list (one round trip on PostgreSQL); the opening (on the request's
    # connection inside a test). Events add none (tests/monitoring/test_site_media.py).
    page_reads = 1 if connection.vendor == "postgresql" else 8
    with django_assert_num_queries(3 + page_reads + 1):
        response = client.get(URL, {"act": "777", "zone": "3"})
    assert response.status_code == 200
    assert len(response.context["page"].cameras) == size * 4


def test_site_page_shows_recent_events_in_the_sites_time_zone(operator_client, site):
    from datetime import UTC, datetime

    from signals.lib import EventKind
    from signals.models import AlarmEvent

    AlarmEvent.objects.create(
        customer=site,
        kind=EventKind.ALARM,
        source=AlarmEvent.Source.DEVICE,
        zone_number=17,
        occurred_at=datetime(2026, 11, 26, 15, 4, 5, tzinfo=UTC),
    )
    response = operator_client.get(URL, {"act": "3444", "zone": "17"})
    events = response.context["page"].events
    assert [e.zone_number for e in events] == [17]
    table = response.text.split('data-testid="events"')[1]
    assert "2026-11-26 10:04:05" in table  # America/New_York
    assert "017" in table
    assert "<td>Alarm" in table and "<td>Bridge</td>" in table  # kind and source, by label


def test_the_events_of_the_links_zone_stand_out(operator_client, site):
    for zone in (17, 3, None):
        AlarmEventFactory(
            customer=site, kind="trouble" if zone is None else "alarm", zone_number=zone
        )

    def highlighted(**params) -> list[int | None]:
        response = operator_client.get(URL, {"act": "3444", **params})
        page = lxml.html.fromstring(response.content)
        rows = page.xpath('//table[@data-testid="events"]//tr[@data-testid="event"]')
        views = response.context["events"]
        assert len(rows) == len(views) == 3
        return [
            view.event.zone_number
            for view, row in zip(views, rows, strict=True)
            if "table-danger" in (row.get("class") or "")
        ]

    assert highlighted(zone="17") == [17]
    assert highlighted(zone="3") == [3]
    assert highlighted() == []  # a link without a zone singles out none


def test_text_from_dealers_and_devices_is_escaped_on_the_site_page(operator_client, site):
    """The cameras, zones and events are rendered by Jinja2 (docs/deep-links.md): every name a
    dealer typed and every description a device sent reaches the page as text, never as markup."""
    hostile = '<img src=x onerror="alert(1)">'
    camera = site.bridges.get().cameras.get(name="Stock room")
    camera.name = f"Stock {hostile}"
    camera.save()
    site.zones.filter(number=17).update(name=f"Motion {hostile}")
    AlarmEventFactory(customer=site, kind="alarm", zone_number=17, description=f"PIR {hostile}")

    response = operator_client.get(URL, {"act": "3444", "zone": "17"})
    assert response.status_code == 200
    assert hostile not in response.text
    page = lxml.html.fromstring(response.content)
    assert not page.xpath("//img[@onerror]")
    cameras = page.xpath('//*[@data-testid="cameras"]')[0].text_content()
    zones = page.xpath('//table[@data-testid="zones"]')[0].text_content()
    events = page.xpath('//table[@data-testid="events"]')[0].text_content()
    assert f"Stock {hostile}" in cameras
    assert f"Motion {hostile}" in zones
    assert f"PIR {hostile}" in events


def test_the_rest_of_the_page_is_escaped_too(operator_client, site, station, operator):
    """The site, its directions and call list, the alarm's verdicts and who else opened it are
    Jinja2 too (monitoring/_site.jinja): text, never markup; a note's lines stay lines."""
    from django.utils import timezone

    from customers.models import Contact, DirectionsApproval, SiteDirections
    from monitoring import services

    hostile = '<img src=x onerror="alert(1)">'
    Customer.objects.filter(pk=site.pk).update(name=f"Corner {hostile}")
    directions = SiteDirections.objects.create(customer=site, note="unused here")
    DirectionsApproval.objects.create(
        directions=directions,
        station=station,
        version=1,
        decision="approved",
        reviewed_at=timezone.now(),
        approved={"note": f"Gate {hostile}\nDog on site", "cameras": []},
        approved_version=1,
        approved_at=timezone.now(),
    )
    Contact.objects.create(customer=site, name=f"Pat {hostile}", phone="+1 555 0100", position=1)
    alarm = AlarmEventFactory(customer=site, kind="alarm", zone_number=17)
    services.verdict_record(
        event=alarm, station=station, user=operator, outcome="real", note=f"Saw {hostile}"
    )
    other = StationMembershipFactory(station=station, user=UserFactory(username=f"op{hostile}"))
    SiteOpening.objects.create(user=other.user, customer=site, station=station, parameters={})

    response = operator_client.get(URL, {"act": "3444", "zone": "17"})
    assert response.status_code == 200
    assert hostile not in response.text
    page = lxml.html.fromstring(response.content)
    assert not page.xpath("//img[@onerror]")

    def text(testid: str) -> str:
        return page.xpath(f'//*[@data-testid="{testid}"]')[0].text_content()

    assert text("site-name") == f"Corner {hostile}"
    note = page.xpath('//*[@data-testid="directions-note"]')[0]
    assert note.text_content() == f"Gate {hostile}Dog on site"
    assert len(note.xpath("br")) == 1
    assert f"Pat {hostile}" in text("call-list")
    assert f"Saw {hostile}" in text("verdict")
    assert f"op{hostile}" in text("also-opened")


def test_the_cameras_csrf_token_lets_htmx_request_the_last_two_minutes(client, site, operator):
    """The cameras' box carries the token htmx sends with "Request the last two minutes"
    (rendered by Jinja2): with CSRF checks on, as in production, the request goes through with
    it and is refused without it."""
    import json

    client = type(client)(enforce_csrf_checks=True)
    client.force_login(operator)
    page = lxml.html.fromstring(client.get(URL, {"act": "3444"}).content)
    box = page.xpath('//*[@data-testid="cameras"]')[0]
    token = json.loads(box.get("hx-headers"))["X-CSRFToken"]
    button = box.xpath('.//*[@data-testid="request-recent"]')[0]
    url, values = button.get("hx-post"), json.loads(button.get("hx-vals"))

    refused = client.post(url, values, headers={"HX-Request": "true"})
    assert refused.status_code == 403
    sent = client.post(url, values, headers={"HX-Request": "true", "X-CSRFToken": token})
    assert sent.status_code == 200
    assert site.media_requests.count() == 1


def test_the_site_page_masks_its_csrf_token_once_and_every_form_takes_it(
    client, site, operator, monkeypatch
):
    """The page (a Jinja2 page inside a Django layout) asked Django for its token five times,
    each a fresh mask of 32 random reads (portal/csrf.py): it now masks once, writes that one
    token everywhere, and the verdict form posts with it under real CSRF checks."""
    import json

    from django.middleware import csrf

    AlarmEventFactory(customer=site, kind="alarm", zone_number=17)
    masks = []
    mask = csrf._mask_cipher_secret
    monkeypatch.setattr(csrf, "_mask_cipher_secret", lambda s: masks.append(s) or mask(s))
    client = type(client)(enforce_csrf_checks=True)
    client.force_login(operator)
    page = lxml.html.fromstring(client.get(URL, {"act": "3444", "zone": "017"}).content)

    assert len(masks) == 1
    tokens = set(page.xpath('//input[@name="csrfmiddlewaretoken"]/@value'))
    header = json.loads(page.xpath('//*[@data-testid="cameras"]/@hx-headers')[0])
    assert tokens == {header["X-CSRFToken"]}
    # Not the secret itself, and a different mask on the next page (BREACH).
    (token,) = tokens
    assert csrf._unmask_cipher_token(token) == masks[0] != token
    again = lxml.html.fromstring(client.get(URL, {"act": "3444"}).content)
    assert set(again.xpath('//input[@name="csrfmiddlewaretoken"]/@value')).isdisjoint(tokens)

    (form,) = page.xpath('//form[@data-testid="verdict-form"]')
    (station,) = form.xpath('.//input[@name="station"]/@value')
    values = {"outcome": "real", "station": station}
    assert client.post(form.get("action"), values).status_code == 403
    sent = client.post(form.get("action"), {**values, "csrfmiddlewaretoken": token})
    assert sent.status_code == 302
