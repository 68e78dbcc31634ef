"""A site's devices: bridges, cameras and zones, with their access rules and data rules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db.models import Prefetch
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

from customers.forms.devices import ZoneForm
from customers.models import Bridge, Camera, Zone
from dealers.models import Membership
from tests.factories import BridgeFactory, CameraFactory, CustomerFactory, ZoneFactory

pytestmark = pytest.mark.django_db


def _site(customer, serial: str) -> SimpleNamespace:
    """A customer with one 4-channel bridge, a camera on channel 1, and zone 017 showing it."""
    bridge = BridgeFactory(customer=customer, serial=serial, name="Office")
    camera = CameraFactory(bridge=bridge, channel=1, name="Front door")
    zone = ZoneFactory(customer=customer, number=17, name="Front door")
    zone.cameras.add(camera)
    return SimpleNamespace(customer=customer, bridge=bridge, camera=camera, zone=zone)


@pytest.fixture
def site(customer) -> SimpleNamespace:
    return _site(customer, "BR-0001")


@pytest.fixture
def outsider_site(outsider_customer) -> SimpleNamespace:
    return _site(outsider_customer, "BR-9999")


def _devices_url(customer) -> str:
    return reverse("customers:detail", args=[customer.code]) + "#devices"


def _errors(response, field: str) -> str:
    return " ".join(response.context["form"].errors.get(field, []))


# --- every view, table-driven ---------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One device view: the object its URL names, a valid POST, and whether it took effect."""

    name: str
    target: str  # the attribute of the site whose code the URL carries
    data: Callable[[SimpleNamespace], dict[str, Any]]
    done: Callable[[SimpleNamespace], bool]

    def url(self, site: SimpleNamespace) -> str:
        return reverse(f"customers:{self.name}", args=[getattr(site, self.target).code])


CASES = [
    Case(
        "bridge-create",
        "customer",
        lambda s: {"serial": "br-0042", "model": Bridge.Model.CH8, "name": "Garage"},
        lambda s: Bridge.objects.filter(customer=s.customer, serial="BR-0042").exists(),
    ),
    Case(
        "bridge-update",
        "bridge",
        lambda s: {"serial": s.bridge.serial, "model": Bridge.Model.CH8, "name": "Renamed"},
        lambda s: Bridge.objects.filter(pk=s.bridge.pk, name="Renamed", model="bridge-8").exists(),
    ),
    Case(
        "bridge-delete",
        "bridge",
        lambda s: {},
        lambda s: not Bridge.objects.filter(pk=s.bridge.pk).exists(),
    ),
    Case(
        "camera-create",
        "bridge",
        lambda s: {"channel": "3", "name": "Yard", "stream_url": "rtsp://192.0.2.10/yard"},
        lambda s: Camera.objects.filter(bridge=s.bridge, channel=3, name="Yard").exists(),
    ),
    Case(
        "camera-update",
        "camera",
        lambda s: {"channel": "2", "name": "Renamed", "stream_url": ""},
        lambda s: Camera.objects.filter(pk=s.camera.pk, channel=2, name="Renamed").exists(),
    ),
    Case(
        "camera-delete",
        "camera",
        lambda s: {},
        lambda s: not Camera.objects.filter(pk=s.camera.pk).exists(),
    ),
    Case(
        "zone-create",
        "customer",
        lambda s: {
            "number": "18",
            "name": "Back door",
            "zone_type": Zone.Type.ENTRY_EXIT,
            "cameras": [str(s.camera.code)],
        },
        lambda s: Zone.objects.filter(customer=s.customer, number=18, cameras=s.camera).exists(),
    ),
    Case(
        "zone-update",
        "zone",
        lambda s: {"number": "19", "name": "Renamed", "zone_type": Zone.Type.INSTANT},
        lambda s: Zone.objects.filter(pk=s.zone.pk, number=19, cameras=None).exists(),
    ),
    Case(
        "zone-delete",
        "zone",
        lambda s: {},
        lambda s: not Zone.objects.filter(pk=s.zone.pk).exists(),
    ),
]

each_view = pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])


@pytest.fixture(params=["owner", "admin_member", "technician"])
def editor_client(request, client: Client) -> Client:
    """Every role that edits sites."""
    client.force_login(request.getfixturevalue(request.param))
    return client


@each_view
def test_owner_opens_the_page_and_saves(owner_client, site, case):
    assert owner_client.get(case.url(site)).status_code == 200
    assert not case.done(site)
    response = owner_client.post(case.url(site), case.data(site))
    assert response.status_code == 302
    assert response.url == _devices_url(site.customer)
    assert case.done(site)
    assert len(list(get_messages(response.wsgi_request))) == 1


@each_view
def test_every_editing_role_may_write(editor_client, site, case):
    assert editor_client.post(case.url(site), case.data(site)).status_code == 302
    assert case.done(site)


@each_view
def test_sign_in_is_required(client, site, case):
    for response in (client.get(case.url(site)), client.post(case.url(site), case.data(site))):
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    assert not case.done(site)


@each_view
def test_outsider_gets_404_on_our_devices(outsider_client, site, case):
    assert outsider_client.get(case.url(site)).status_code == 404
    assert outsider_client.post(case.url(site), case.data(site)).status_code == 404
    assert not case.done(site)


@each_view
def test_another_dealers_devices_answer_404(owner_client, outsider_site, case):
    assert owner_client.get(case.url(outsider_site)).status_code == 404
    assert owner_client.post(case.url(outsider_site), case.data(outsider_site)).status_code == 404
    assert not case.done(outsider_site)


@each_view
def test_viewer_gets_403(viewer_client, site, case):
    assert viewer_client.get(case.url(site)).status_code == 403
    assert viewer_client.post(case.url(site), case.data(site)).status_code == 403
    assert not case.done(site)


@each_view
def test_wrong_methods_get_405(owner_client, site, case):
    for method in (owner_client.put, owner_client.patch, owner_client.delete):
        assert method(case.url(site)).status_code == 405
    assert not case.done(site)


# --- bridges --------------------------------------------------------------------------------


def _add_bridge(client: Client, customer, serial: str, model: str = Bridge.Model.CH4):
    url = reverse("customers:bridge-create", args=[customer.code])
    return client.post(url, {"serial": serial, "model": model, "name": ""})


def test_serial_is_trimmed_and_upper_cased(owner_client, customer):
    assert _add_bridge(owner_client, customer, " br-0001 ").status_code == 302
    assert Bridge.objects.get(customer=customer).serial == "BR-0001"


@pytest.mark.parametrize("serial", ["BR 1", "br_0001", "AB", "X" * 33, ""])
def test_invalid_serial_is_a_field_error(owner_client, customer, serial):
    response = _add_bridge(owner_client, customer, serial)
    assert response.status_code == 200
    assert "serial" in response.context["form"].errors
    assert not Bridge.objects.exists()


def test_duplicate_serial_of_another_dealer_does_not_say_whose(owner_client, customer, site):
    theirs = BridgeFactory(customer=CustomerFactory(dealer__name="Rival Security", name="Vault"))
    response = _add_bridge(owner_client, customer, f" {theirs.serial.lower()} ")
    assert response.status_code == 200
    assert "already registered" in _errors(response, "serial")
    for secret in ("Rival Security", "Vault", str(theirs.customer.code)):
        assert secret not in response.text
    assert Bridge.objects.count() == 2


def test_duplicate_serial_lost_in_a_race_is_a_field_error(owner_client, customer, monkeypatch):
    """The database says no after every check passed: a field error, never a 500."""
    theirs = BridgeFactory(serial="BR-7777")
    monkeypatch.setattr(Bridge, "validate_unique", lambda self, exclude=None: None)
    response = _add_bridge(owner_client, customer, "BR-7777")
    assert response.status_code == 200
    assert "already registered" in _errors(response, "serial")
    assert theirs.customer.name not in response.text
    assert list(Bridge.objects.all()) == [theirs]


def test_bridge_keeps_its_own_serial_on_edit(owner_client, site):
    url = reverse("customers:bridge-update", args=[site.bridge.code])
    data = {"serial": "br-0001", "model": Bridge.Model.CH4, "name": "Back office"}
    assert owner_client.post(url, data).status_code == 302
    site.bridge.refresh_from_db()
    assert (site.bridge.serial, site.bridge.name) == ("BR-0001", "Back office")


def test_smaller_model_is_refused_while_cameras_use_its_missing_channels(owner_client, customer):
    bridge = BridgeFactory(customer=customer, model=Bridge.Model.CH8)
    CameraFactory(bridge=bridge, channel=7)
    url = reverse("customers:bridge-update", args=[bridge.code])
    response = owner_client.post(url, {"serial": bridge.serial, "model": Bridge.Model.CH4})
    assert response.status_code == 200
    assert "channel 7" in _errors(response, "model")
    bridge.refresh_from_db()
    assert bridge.model == Bridge.Model.CH8


def test_deleting_a_bridge_removes_its_cameras_and_their_zone_links(owner_client, site):
    CameraFactory(bridge=site.bridge, channel=2)
    url = reverse("customers:bridge-delete", args=[site.bridge.code])
    confirm = owner_client.get(url)
    assert "Its 2 cameras will be deleted too" in confirm.text
    assert owner_client.post(url).status_code == 302
    assert not Bridge.objects.exists()
    assert not Camera.objects.exists()
    assert list(Zone.objects.get(pk=site.zone.pk).cameras.all()) == []


# --- cameras --------------------------------------------------------------------------------


def _add_camera(client: Client, bridge, channel: str | int):
    url = reverse("customers:camera-create", args=[bridge.code])
    return client.post(url, {"channel": str(channel), "name": "Yard", "stream_url": ""})


def test_camera_form_offers_only_free_channels(owner_client, site):
    response = owner_client.get(reverse("customers:camera-create", args=[site.bridge.code]))
    channels = [value for value, _ in response.context["form"].fields["channel"].choices]
    assert channels == [2, 3, 4]


@pytest.mark.parametrize("channel", [5, 16, 17, 0])
def test_channel_beyond_the_bridge_model_is_refused(owner_client, site, channel):
    response = _add_camera(owner_client, site.bridge, channel)
    assert response.status_code == 200
    assert "channels 1 to 4" in _errors(response, "channel")
    assert Camera.objects.count() == 1


def test_duplicate_channel_is_a_field_error(owner_client, site):
    response = _add_camera(owner_client, site.bridge, 1)
    assert response.status_code == 200
    assert "Channel 1 is not free" in _errors(response, "channel")
    assert Camera.objects.count() == 1


def test_camera_keeps_its_own_channel_on_edit(owner_client, site):
    url = reverse("customers:camera-update", args=[site.camera.code])
    data = {"channel": "1", "name": "Front gate", "stream_url": "rtsp://192.0.2.10/gate"}
    assert owner_client.post(url, data).status_code == 302
    site.camera.refresh_from_db()
    assert (site.camera.channel, site.camera.name) == (1, "Front gate")


def test_bad_stream_url_is_a_field_error(owner_client, site):
    url = reverse("customers:camera-create", args=[site.bridge.code])
    response = owner_client.post(url, {"channel": "2", "name": "Yard", "stream_url": "ftp://x"})
    assert "stream_url" in response.context["form"].errors
    assert Camera.objects.count() == 1


# --- zones ----------------------------------------------------------------------------------


def _add_zone(client: Client, customer, number: str | int, cameras=()):
    url = reverse("customers:zone-create", args=[customer.code])
    data = {
        "number": str(number),
        "name": "Back door",
        "zone_type": Zone.Type.INSTANT,
        "cameras": [str(camera.code) for camera in cameras],
    }
    return client.post(url, data)


@pytest.mark.parametrize("number", [0, 1000, -1])
def test_zone_number_out_of_range_is_refused(owner_client, customer, number):
    response = _add_zone(owner_client, customer, number)
    assert response.status_code == 200
    assert "number" in response.context["form"].errors
    assert not Zone.objects.exists()


@pytest.mark.parametrize("number", [1, 999])
def test_zone_number_range_ends_are_accepted(owner_client, customer, number):
    assert _add_zone(owner_client, customer, number).status_code == 302
    assert Zone.objects.get(customer=customer).number == number


def test_duplicate_zone_number_on_the_site_is_a_field_error(owner_client, site):
    response = _add_zone(owner_client, site.customer, "017")
    assert response.status_code == 200
    assert "already has a zone 017" in _errors(response, "number")
    assert Zone.objects.count() == 1


def test_same_zone_number_on_another_site_is_fine(owner_client, site, dealer):
    elsewhere = CustomerFactory(dealer=dealer)
    assert _add_zone(owner_client, elsewhere, 17).status_code == 302
    assert Zone.objects.filter(number=17).count() == 2


def test_duplicate_zone_number_lost_in_a_race_is_a_field_error(owner_client, site, monkeypatch):
    """Both checks pass, then the database refuses: the form says so on the number."""
    monkeypatch.setattr(ZoneForm, "clean_number", lambda form: form.cleaned_data["number"])
    monkeypatch.setattr(Zone, "validate_constraints", lambda self, exclude=None: None)
    response = _add_zone(owner_client, site.customer, 17)
    assert response.status_code == 200
    assert "already has a zone" in _errors(response, "number")
    assert Zone.objects.count() == 1


def test_zone_keeps_its_own_number_on_edit(owner_client, site):
    url = reverse("customers:zone-update", args=[site.zone.code])
    data = {"number": "17", "name": "Front entrance", "zone_type": Zone.Type.ENTRY_EXIT}
    assert owner_client.post(url, data).status_code == 302
    site.zone.refresh_from_db()
    assert (site.zone.number, site.zone.name) == (17, "Front entrance")


def test_zone_form_lists_only_this_sites_cameras(owner_client, site, dealer):
    other_camera = CameraFactory(bridge__customer=CustomerFactory(dealer=dealer), channel=1)
    response = owner_client.get(reverse("customers:zone-create", args=[site.customer.code]))
    field = response.context["form"].fields["cameras"]
    assert list(field.queryset) == [site.camera]
    assert field.label_from_instance(site.camera) == "Office / channel 1: Front door"
    assert other_camera.name not in response.text


def test_zone_edit_form_checks_its_cameras(owner_client, site):
    response = owner_client.get(reverse("customers:zone-update", args=[site.zone.code]))
    checkbox = re.search(rf'<input[^>]*value="{site.camera.code}"[^>]*>', response.text)
    assert checkbox is not None
    assert "checked" in checkbox.group()


@pytest.mark.parametrize("whose", ["same dealer", "other dealer"])
def test_another_sites_camera_is_refused(owner_client, site, outsider_site, dealer, whose):
    if whose == "same dealer":
        foreign = CameraFactory(bridge__customer=CustomerFactory(dealer=dealer), channel=1)
    else:
        foreign = outsider_site.camera
    response = _add_zone(owner_client, site.customer, 18, cameras=[site.camera, foreign])
    assert response.status_code == 200
    assert "cameras" in response.context["form"].errors
    assert not Zone.objects.filter(customer=site.customer, number=18).exists()
    # Not by its database id either.
    url = reverse("customers:zone-update", args=[site.zone.code])
    data = {"number": "17", "name": "Front door", "zone_type": "instant", "cameras": [foreign.pk]}
    assert "cameras" in owner_client.post(url, data).context["form"].errors
    assert list(site.zone.cameras.all()) == [site.camera]


def test_deleting_a_camera_keeps_its_zones(owner_client, site):
    assert (
        owner_client.post(reverse("customers:camera-delete", args=[site.camera.code])).status_code
        == 302
    )
    assert Zone.objects.filter(pk=site.zone.pk, cameras=None).exists()


# --- the devices section of the customer page -----------------------------------------------


def _devices_context(customer, user) -> dict[str, Any]:
    """What the customer page hands the section: bridges, cameras and zones all prefetched."""
    cameras = Camera.objects.prefetch_related("zones")
    return {
        "customer": customer,
        "membership": Membership.objects.get(user=user, dealer=customer.dealer),
        "bridges": list(customer.bridges.prefetch_related(Prefetch("cameras", cameras))),
        "zones": list(customer.zones.prefetch_related("cameras")),
    }


def _render_devices(customer, user) -> str:
    return render_to_string("customers/_devices.html", _devices_context(customer, user))


def test_devices_section_shows_padded_zones_and_edit_links_to_editors(site, owner):
    html = _render_devices(site.customer, owner)
    assert '<section id="devices"' in html
    assert ">017<" in html
    assert "Front door" in html
    assert site.bridge.get_model_display() in html
    for name, target in [
        ("bridge-create", site.customer),
        ("bridge-update", site.bridge),
        ("camera-create", site.bridge),
        ("camera-delete", site.camera),
        ("zone-create", site.customer),
        ("zone-update", site.zone),
    ]:
        assert reverse(f"customers:{name}", args=[target.code]) in html


def test_devices_section_has_no_edit_links_for_viewers(site, viewer):
    html = _render_devices(site.customer, viewer)
    assert ">017<" in html
    assert "/edit/" not in html
    assert "/delete/" not in html
    assert "/add/" not in html


def test_devices_section_runs_no_queries_of_its_own(site, owner, django_assert_num_queries):
    CameraFactory(bridge=site.bridge, channel=2)
    ZoneFactory(customer=site.customer, number=3).cameras.add(site.camera)
    BridgeFactory(customer=site.customer)
    context = _devices_context(site.customer, owner)
    with django_assert_num_queries(0):
        html = render_to_string("customers/_devices.html", context)
    assert "003, 017" in html
