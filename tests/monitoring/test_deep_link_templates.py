"""Each platform's deep-link template, end to end: paste it, let the platform fill in its
macros, follow the link as an operator, land on the site (and the zone's camera)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from stations import lib
from stations.models import MonitoringStation
from tests.factories import (
    CameraFactory,
    CustomerFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    MonitoringStationFactory,
    ReceiverFactory,
    StationMembershipFactory,
    UserFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

BASE = "https://portal.example.com"


def _station_with_account(platform: str, dealer):
    station = MonitoringStationFactory(platform=platform, requires_reference_id=True)
    record = DealerStationFactory(dealer=dealer, receiver=ReceiverFactory(station=station))
    customer = CustomerFactory(dealer=dealer, name=f"Site at {platform}")
    camera = CameraFactory(bridge__customer=customer, name="Back door camera")
    zone = ZoneFactory(customer=customer, number=17, name="Back door")
    zone.cameras.add(camera)
    MonitoringAccountFactory(
        customer=customer, station_record=record, account_number="5501", reference_id="U-778"
    )
    operator = StationMembershipFactory(station=station, user=UserFactory()).user
    return station, customer, operator


def _as_platform_fills(template: str, macros: tuple[str, str, str], zone: str) -> str:
    """What the automation software opens: its macros replaced by the alarm's values."""
    account_macro, reference_macro, zone_macro = macros
    return (
        template.replace(account_macro, "5501")
        .replace(reference_macro, "U-778")
        .replace(zone_macro, zone)
    )


@pytest.mark.parametrize("platform", MonitoringStation.Platform.values)
@pytest.mark.parametrize("zone", ["017", "17"])  # padded or not, as the platform gives it
def test_every_form_of_every_platform_lands_on_the_site_and_the_zone_camera(
    platform, zone, dealer, settings
):
    settings.PORTAL_BASE_URL = BASE
    station, customer, operator = _station_with_account(platform, dealer)
    guide = station.deep_link_guide(base_url=settings.PORTAL_BASE_URL, example=None)
    assert {form.key for form in guide.forms} == {"account", "reference"}
    client = Client()
    client.force_login(operator)
    for form in guide.forms:
        assert form.template.startswith(f"{BASE}/monitoring?{form.parameter}=")
        url = urlsplit(_as_platform_fills(form.template, station.macros, zone))
        assert url.netloc == "portal.example.com"
        response = client.get(f"{url.path}?{url.query}")
        assert response.status_code == 200, (platform, form.key, url.query)
        assert response.context["site"] == customer
        cameras = response.context["page"].cameras
        assert cameras[0].for_zone and cameras[0].camera.name == "Back door camera"


def test_sentinel_finds_the_site_by_its_user_reference(dealer, settings):
    settings.PORTAL_BASE_URL = BASE
    station, _, _ = _station_with_account("sentinel", dealer)
    guide = station.deep_link_guide(base_url=BASE, example=None)
    first = guide.forms[0]
    assert (first.key, first.recommended) == ("reference", True)
    assert first.title == "By User Reference"
    assert first.template == f"{BASE}/monitoring?uid={{UserReference}}&zone={{ZoneNumber}}"


def test_each_platform_uses_its_alias_and_its_macros():
    expected = {
        "mastermind": ("massite", "Site ID"),
        "bold_manitou": ("serial_no", "serial_no"),
        "sentinel": ("uid", "User Reference"),
        "generic": ("uid", "Reference ID"),
    }
    for key, (alias, label) in expected.items():
        profile = lib.platform(key)
        assert (profile.reference_alias, profile.reference_label) == (alias, label)
    assert lib.platform("patriot") is lib.PLATFORMS["generic"]
    assert lib.platform("bold_manitou").zone_macro == "{ZN}"


def test_a_station_can_set_its_own_tokens(dealer):
    station = MonitoringStationFactory(
        platform="mastermind", account_macro="%ACCT%", zone_macro="%ZONE%"
    )
    guide = station.deep_link_guide(base_url=BASE, example=None)
    account = next(form for form in guide.forms if form.key == "account")
    assert account.template == f"{BASE}/monitoring?act=%ACCT%&zone=%ZONE%"


def test_the_dealer_page_gives_templates_from_portal_base_url_not_the_host(
    owner_client, dealer, settings
):
    settings.PORTAL_BASE_URL = BASE
    _station_with_account("bold_manitou", dealer)
    response = owner_client.get(reverse("customers:deep-links"), HTTP_HOST="evil.example")
    # The request's host is not in ALLOWED_HOSTS: the page is never built from it.
    assert response.status_code == 400
    response = owner_client.get(reverse("customers:deep-links"))
    html = response.content.decode()
    assert f"{BASE}/monitoring?serial_no={{CN}}&amp;zone={{ZN}}" in html
    assert f"{BASE}/monitoring?act={{TX}}&amp;zone={{ZN}}" in html
    # The worked example is one of the dealer's real accounts, filled in.
    assert f"{BASE}/monitoring?serial_no=U-778&amp;zone=017" in html
    assert "testserver" not in html
    assert 'src="/static/js/copy.js"' in html


def test_the_customer_page_shows_the_address_signals_carry(owner_client, dealer, settings):
    settings.PORTAL_BASE_URL = BASE
    _, customer, _ = _station_with_account("mastermind", dealer)
    html = owner_client.get(reverse("customers:detail", args=[customer.code])).content.decode()
    assert f"{BASE}/monitoring?act=5501&amp;zone=" in html
    assert "http://testserver" not in html


def test_the_dealer_page_never_shows_another_dealers_account(owner_client, dealer, other_dealer):
    station, _, _ = _station_with_account("sentinel", other_dealer)
    DealerStationFactory(dealer=dealer, receiver=ReceiverFactory(station=station))
    html = owner_client.get(reverse("customers:deep-links")).content.decode()
    assert 'data-testid="deep-link-guide"' in html
    assert "U-778" not in html and "5501" not in html
