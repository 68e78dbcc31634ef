"""The alarm library pages: the dealer's codes, and a site's and its zones' overrides."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from customers.models import Zone
from signals import services
from signals.lib import DEFAULT_CODES, EventKind, Trigger
from signals.models import AlarmEvent, EventCode
from tests.factories import CustomerFactory, EventCodeFactory, ZoneFactory

pytestmark = pytest.mark.django_db

LIBRARY = reverse("signals:code-library")
ENTRY_EXIT = Trigger.ZONE_ENTRY_EXIT


def _site_url(customer) -> str:
    return reverse("signals:site-codes", args=[customer.code])


def _library_data(**changes: tuple[str, bool]) -> dict[str, str]:
    """The library form as it comes with the built-in codes, all on, with ``changes``
    (trigger with "." spelled "__" -> (code, on))."""
    data = {}
    for trigger in Trigger.values:
        code, enabled = changes.get(trigger.replace(".", "__"), (DEFAULT_CODES[trigger], True))
        data[f"{trigger}-code"] = code
        if enabled:
            data[f"{trigger}-enabled"] = "on"
    return data


def _site_data(customer, *, site=None, zones=None) -> dict[str, str]:
    """The site form with nothing overridden but ``site`` (trigger -> (state, code)) and
    ``zones`` (zone number -> (state, code))."""
    site, zones = site or {}, zones or {}
    data = {}
    for trigger in Trigger.values:
        data[f"{trigger}-state"], data[f"{trigger}-code"] = site.get(trigger, ("", ""))
    for zone in customer.zones.all():
        key = f"zone-{zone.number:03d}"
        data[f"{key}-state"], data[f"{key}-code"] = zones.get(zone.number, ("", ""))
    return data


def _alarm_code(customer, zone) -> str | None:
    """Record an alarm on the zone; the code of its one signal, or None when none was sent."""
    event = services.event_record(
        customer=customer,
        kind=EventKind.ALARM,
        zone=zone,
        occurred_at=datetime(2025, 1, 1, tzinfo=UTC),
        source=AlarmEvent.Source.DEVICE,
    )
    signals = list(event.signals.all())
    assert len(signals) <= 1
    return signals[0].event_code if signals else None


def _dealer_entries(dealer) -> dict[str, tuple[str, bool]]:
    rows = EventCode.objects.filter(dealer=dealer, customer__isnull=True)
    return {row.trigger: (row.event_code, row.enabled) for row in rows}


# --- the dealer's library -------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner_client", "technician_client", "viewer_client"])
def test_members_see_the_library_with_its_sources(request, persona, dealer):
    EventCodeFactory(dealer=dealer, trigger=Trigger.TEST, event_code="609", enabled=False)
    response = request.getfixturevalue(persona).get(LIBRARY)
    assert response.status_code == 200
    rows = {row.trigger: row for row, _, _ in response.context["rows"]}
    assert set(rows) == set(Trigger.values)
    assert rows[Trigger.TEST].effective.event_code == "609"
    assert rows[Trigger.TEST].effective.enabled is False
    assert rows[Trigger.TEST].effective.source == "Dealer library"
    assert rows[Trigger.CANCEL].effective.source == "Built-in default"
    assert rows[Trigger.CANCEL].effective.event_code == "406"
    content = response.content.decode()
    assert 'value="609"' in content
    assert ('data-testid="save-codes"' in content) is (persona == "owner_client")


@pytest.mark.parametrize("role", ["owner", "admin_member"])
def test_owners_and_admins_save_the_library(request, role, dealer):
    client = Client()
    client.force_login(request.getfixturevalue(role))
    EventCodeFactory(dealer=dealer, trigger=Trigger.CANCEL, event_code="406")
    data = _library_data(zone__instant=("131", True), test=("601", False), cancel=("407", True))
    response = client.post(LIBRARY, data)
    assert response.status_code == 302
    assert response.url == LIBRARY
    # Only what differs from the built-in table gets an entry; existing entries are updated.
    assert _dealer_entries(dealer) == {
        Trigger.ZONE_INSTANT: ("131", True),
        Trigger.TEST: ("601", False),
        Trigger.CANCEL: ("407", True),
    }
    assert not EventCode.objects.filter(customer__isnull=False).exists()


@pytest.mark.parametrize("code", ["12", "1234", "abc", "", " 1 "])
def test_an_invalid_library_code_is_a_field_error_and_saves_nothing(owner_client, dealer, code):
    data = _library_data(zone__instant=("131", True), test=(code, True))
    response = owner_client.post(LIBRARY, data)
    assert response.status_code == 200
    assert response.context["form"].errors[f"{Trigger.TEST}-code"]
    assert "invalid-feedback" in response.content.decode()
    assert not EventCode.objects.exists()


@pytest.mark.parametrize("persona", ["technician_client", "viewer_client"])
def test_technicians_and_viewers_may_not_change_the_library(request, persona, dealer):
    response = request.getfixturevalue(persona).post(LIBRARY, _library_data(test=("609", True)))
    assert response.status_code == 403
    assert not EventCode.objects.exists()


def test_the_library_needs_a_login(client):
    response = client.get(LIBRARY)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_the_library_answers_405_to_other_methods(owner_client, method):
    assert getattr(owner_client, method)(LIBRARY).status_code == 405


def test_the_library_is_the_dealers_own(outsider_client, dealer, other_dealer):
    EventCodeFactory(dealer=dealer, trigger=Trigger.TEST, event_code="609")
    response = outsider_client.get(LIBRARY)
    rows = {row.trigger: row for row, _, _ in response.context["rows"]}
    assert rows[Trigger.TEST].effective.event_code == "601"
    outsider_client.post(LIBRARY, _library_data(test=("611", True)))
    assert _dealer_entries(dealer) == {Trigger.TEST: ("609", True)}
    assert _dealer_entries(other_dealer) == {Trigger.TEST: ("611", True)}


# --- a site's codes -------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["owner_client", "technician_client", "viewer_client"])
def test_members_see_a_sites_codes(request, persona, dealer, customer, zone):
    EventCodeFactory(dealer=dealer, trigger=ENTRY_EXIT, event_code="131")
    EventCodeFactory(dealer=dealer, customer=customer, trigger=Trigger.TEST, enabled=False)
    response = request.getfixturevalue(persona).get(_site_url(customer))
    assert response.status_code == 200
    site = {row.trigger: row for row, _, _ in response.context["site_rows"]}
    assert site[Trigger.TEST].effective.enabled is False
    assert site[Trigger.TEST].effective.source == "Site"
    assert site[ENTRY_EXIT].effective.event_code == "131"
    [(zone_row, _, _)] = response.context["zone_rows"]
    assert (zone_row.zone, zone_row.trigger) == (zone, ENTRY_EXIT)
    assert zone_row.inherited.event_code == "131"
    assert zone_row.inherited.source == "Dealer library"
    content = response.content.decode()
    assert ('data-testid="save-codes"' in content) is (persona != "viewer_client")


def test_the_customer_page_links_to_its_codes(owner_client, customer):
    response = owner_client.get(reverse("customers:detail", args=[customer.code]))
    assert _site_url(customer) in response.content.decode()
    assert LIBRARY in response.content.decode()  # the navigation bar


@pytest.mark.parametrize("persona", ["owner_client", "technician_client"])
def test_editors_set_and_clear_site_and_zone_overrides(request, persona, customer, zone):
    client = request.getfixturevalue(persona)
    data = _site_data(
        customer,
        site={Trigger.TEST: ("off", ""), Trigger.CANCEL: ("on", "409")},
        zones={17: ("on", "137")},
    )
    response = client.post(_site_url(customer), data)
    assert response.status_code == 302
    assert response.url == _site_url(customer)
    entries = {
        (e.trigger, e.zone_id): (e.event_code, e.enabled)
        for e in EventCode.objects.filter(customer=customer)
    }
    assert entries == {
        (Trigger.TEST, None): (DEFAULT_CODES[Trigger.TEST], False),
        (Trigger.CANCEL, None): ("409", True),
        (ENTRY_EXIT, zone.pk): ("137", True),
    }
    data = _site_data(customer, site={Trigger.CANCEL: ("on", "409")})
    assert client.post(_site_url(customer), data).status_code == 302
    assert list(EventCode.objects.values_list("trigger", "event_code")) == [(Trigger.CANCEL, "409")]


@pytest.mark.parametrize(
    ("state", "code"), [("on", ""), ("on", "12"), ("off", "1x3"), ("on", "1234")]
)
def test_an_invalid_site_code_is_a_field_error_and_saves_nothing(
    owner_client, customer, zone, state, code
):
    data = _site_data(customer, site={Trigger.CANCEL: ("on", "409")}, zones={17: (state, code)})
    response = owner_client.post(_site_url(customer), data)
    assert response.status_code == 200
    assert response.context["form"].errors["zone-017-code"]
    assert not EventCode.objects.exists()


def test_viewers_may_not_change_a_sites_codes(viewer_client, customer, zone):
    data = _site_data(customer, site={Trigger.TEST: ("off", "")})
    assert viewer_client.post(_site_url(customer), data).status_code == 403
    assert not EventCode.objects.exists()


def test_a_sites_codes_need_a_login(client, customer):
    response = client.get(_site_url(customer))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


@pytest.mark.parametrize("method", ["put", "delete", "patch"])
def test_a_sites_codes_answer_405_to_other_methods(owner_client, customer, method):
    assert getattr(owner_client, method)(_site_url(customer)).status_code == 405


def test_another_dealers_site_is_not_found(owner_client, outsider_customer):
    assert owner_client.get(_site_url(outsider_customer)).status_code == 404
    data = _site_data(outsider_customer, site={Trigger.TEST: ("off", "")})
    assert owner_client.post(_site_url(outsider_customer), data).status_code == 404
    assert not EventCode.objects.exists()


# --- end to end: the most specific entry wins -----------------------------------------------


def test_the_pages_set_what_an_alarm_sends(owner_client, dealer, customer, zone, account):
    other_zone = ZoneFactory(customer=customer, number=18, zone_type=Zone.Type.ENTRY_EXIT)
    assert _alarm_code(customer, zone) == "134"  # built-in

    owner_client.post(LIBRARY, _library_data(zone__entry_exit=("131", True)))
    assert _alarm_code(customer, zone) == "131"

    site = {ENTRY_EXIT: ("on", "135")}
    assert (
        owner_client.post(_site_url(customer), _site_data(customer, site=site)).status_code == 302
    )
    assert _alarm_code(customer, zone) == "135"

    zones = {17: ("on", "137")}
    owner_client.post(_site_url(customer), _site_data(customer, site=site, zones=zones))
    assert _alarm_code(customer, zone) == "137"
    assert _alarm_code(customer, other_zone) == "135"

    zones = {17: ("off", "")}
    owner_client.post(_site_url(customer), _site_data(customer, site=site, zones=zones))
    assert _alarm_code(customer, zone) is None
    assert _alarm_code(customer, other_zone) == "135"
    page = owner_client.get(_site_url(customer))
    effective = {row.zone.number: row.effective for row, _, _ in page.context["zone_rows"]}
    assert effective[17].enabled is False
    assert (effective[18].event_code, effective[18].source) == ("135", "Site")

    # Cleared at the zone and the site: the dealer's library again.
    owner_client.post(_site_url(customer), _site_data(customer))
    assert _alarm_code(customer, zone) == "131"
    # Another site of the dealer never saw the overrides.
    elsewhere = CustomerFactory(dealer=dealer)
    owner_client.post(_site_url(customer), _site_data(customer, site=site))
    rows = owner_client.get(_site_url(elsewhere)).context["site_rows"]
    effective = {row.trigger: row.effective for row, _, _ in rows}[ENTRY_EXIT]
    assert (effective.event_code, effective.source) == ("131", "Dealer library")


# --- query counts ---------------------------------------------------------------------------


@pytest.mark.parametrize("zones", [2, 10])
def test_the_pages_take_a_fixed_number_of_queries(
    owner, dealer, customer, zones, django_assert_num_queries
):
    for number in range(1, zones + 1):
        ZoneFactory(customer=customer, number=number)
    EventCodeFactory(dealer=dealer, trigger=Trigger.TEST, event_code="609")
    EventCodeFactory(dealer=dealer, customer=customer, trigger=Trigger.CANCEL, event_code="409")
    client = Client()
    client.force_login(owner)
    # Session, user, membership (with its dealer), then the library entries.
    with django_assert_num_queries(4):
        assert client.get(LIBRARY).status_code == 200
    # The same three, the customer, the entries that decide its codes, its zones.
    with django_assert_num_queries(6):
        assert client.get(_site_url(customer)).status_code == 200


def test_a_site_cannot_override_another_sites_zone(dealer, customer):
    other_zone = ZoneFactory(customer=CustomerFactory(dealer=dealer), number=5)
    with pytest.raises(ValidationError):
        services.site_codes_save(customer=customer, site={}, zones={other_zone: ("137", True)})
    assert not EventCode.objects.exists()
