"""A site's, zone's or camera's name that a receiver the site transmits to cannot carry is refused
when it is saved (the forms, the admin and the bulk import ask one check), and an account at a
station whose protocol cannot carry the site's existing names says which name and why.

SIA DC-09 carries the site's and zones' names as printable ASCII without [ ] | ^ (its [S] and [L]
blocks) and no camera name; SOS Access v4 carries all three in ISO-8859-1."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import tablib
from django.contrib.admin.sites import site as admin_site
from django.core.exceptions import ValidationError
from django.forms import modelform_factory
from django.urls import reverse

from customers import imports, services
from customers.admin import NameCheckedAdminForm
from customers.models import Camera, Customer, MonitoringAccount, Zone
from stations.models import Receiver
from tests.factories import (
    BridgeFactory,
    CameraFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    ReceiverFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db

DC09_RULE = "SIA DC-09 carries printable ASCII"
SOS_RULE = "SOS Access v4 carries only printable Western European (ISO-8859-1)"


@pytest.fixture
def dc09(dealer, station) -> SimpleNamespace:
    receiver = ReceiverFactory(
        station=station, protocol=Receiver.Protocol.SIA_DC09, protocol_settings={}
    )
    record = DealerStationFactory(dealer=dealer, receiver=receiver, name="Central DC-09")
    return SimpleNamespace(receiver=receiver, record=record)


@pytest.fixture
def sos(dealer) -> SimpleNamespace:
    receiver = ReceiverFactory(protocol=Receiver.Protocol.SOS_ACCESS_V4, protocol_settings={})
    record = DealerStationFactory(dealer=dealer, receiver=receiver, name="Nordic SOS")
    return SimpleNamespace(receiver=receiver, record=record)


@pytest.fixture
def site(customer) -> SimpleNamespace:
    """The customer with a bridge, a camera on channel 2 and zone 017."""
    bridge = BridgeFactory(customer=customer, serial="BR-0007")
    camera = CameraFactory(bridge=bridge, channel=2, name="Porch")
    zone = ZoneFactory(customer=customer, number=17, name="Front door")
    return SimpleNamespace(customer=customer, bridge=bridge, camera=camera, zone=zone)


def _transmits_to(site, record, number: str = "3444") -> MonitoringAccount:
    return MonitoringAccountFactory(
        customer=site.customer, station_record=record, account_number=number
    )


def _form_errors(response, field: str = "name") -> str:
    assert response.status_code == 200, "the form was accepted"
    return " ".join(response.context["form"].errors.get(field, []))


def _site_data(customer: Customer, **changes: str) -> dict[str, str]:
    data = {
        "name": customer.name,
        "address": customer.address,
        "city": customer.city,
        "region": "",
        "postal_code": "",
        "country": customer.country,
        "time_zone": customer.time_zone,
        "notes": "",
    }
    return {**data, **changes}


# --- the forms --------------------------------------------------------------------------------


def test_renaming_a_site_to_a_name_its_dc09_receiver_cannot_carry_is_a_field_error(
    owner_client, site, dc09
):
    _transmits_to(site, dc09.record)
    url = reverse("customers:update", args=[site.customer.code])
    error = _form_errors(owner_client.post(url, _site_data(site.customer, name="Café Zürich")))
    assert "Central DC-09 (SIA DC-09)" in error and DC09_RULE in error and "'é'" in error
    site.customer.refresh_from_db()
    assert site.customer.name == "Corner Store"

    response = owner_client.post(url, _site_data(site.customer, name="Cafe Zurich"))
    assert response.status_code == 302
    site.customer.refresh_from_db()
    assert site.customer.name == "Cafe Zurich"


def test_a_site_without_a_transmitting_receiver_takes_any_name(owner_client, site, dealer, station):
    video_only = DealerStationFactory(
        dealer=dealer, receiver=None, station=station, name="Video only"
    )
    _transmits_to(site, video_only)
    url = reverse("customers:update", args=[site.customer.code])
    assert owner_client.post(url, _site_data(site.customer, name="Łódź [1]")).status_code == 302


def test_a_zone_name_dc09_cannot_carry_is_refused_on_add_and_on_rename(owner_client, site, dc09):
    _transmits_to(site, dc09.record)
    add = reverse("customers:zone-create", args=[site.customer.code])
    data = {"number": "18", "name": "Tür [hinten]", "zone_type": Zone.Type.INSTANT}
    error = _form_errors(owner_client.post(add, data))
    assert DC09_RULE in error and "'['" in error and "'ü'" in error
    assert not Zone.objects.filter(number=18).exists()

    edit = reverse("customers:zone-update", args=[site.zone.code])
    data = {"number": "17", "name": "Entrée", "zone_type": Zone.Type.INSTANT}
    assert DC09_RULE in _form_errors(owner_client.post(edit, data))
    site.zone.refresh_from_db()
    assert site.zone.name == "Front door"
    data["name"] = "Entree"
    assert owner_client.post(edit, data).status_code == 302


def test_a_camera_name_sos_access_cannot_carry_is_refused(owner_client, site, sos):
    _transmits_to(site, sos.record, "5501")
    add = reverse("customers:camera-create", args=[site.bridge.code])
    error = _form_errors(owner_client.post(add, {"channel": "3", "name": "Łąka", "stream_url": ""}))
    assert "Nordic SOS (SOS Access v4)" in error and SOS_RULE in error and "'Ł'" in error
    assert not Camera.objects.filter(channel=3).exists()

    edit = reverse("customers:camera-update", args=[site.camera.code])
    data = {"channel": "2", "name": "Porch \u2013 left", "stream_url": ""}  # an en dash
    assert SOS_RULE in _form_errors(owner_client.post(edit, data))
    data["name"] = "Porche gauche à l'entrée"  # ISO-8859-1 carries it
    assert owner_client.post(edit, data).status_code == 302


def test_dc09_carries_no_camera_name_so_it_does_not_restrict_them(owner_client, site, dc09):
    _transmits_to(site, dc09.record)
    edit = reverse("customers:camera-update", args=[site.camera.code])
    response = owner_client.post(edit, {"channel": "2", "name": "Tür [1]", "stream_url": ""})
    assert response.status_code == 302
    # ...and an account at a DC-09 station does not stumble on it either.
    site.camera.refresh_from_db()
    assert site.camera.name == "Tür [1]"


def test_an_account_at_a_station_that_cannot_carry_a_name_says_which_and_why(
    owner_client, site, dc09, sos
):
    site.zone.name = "Tür"
    site.zone.save()
    site.camera.name = "Łąka"
    site.camera.save()
    url = reverse("customers:account-create", args=[site.customer.code])

    data = {"station_record": str(dc09.record.code), "account_number": "3444"}
    error = _form_errors(owner_client.post(url, data), "station_record")
    assert "Zone 017's name (“Tür”)" in error and DC09_RULE in error and "Rename it first" in error
    assert "camera" not in error  # DC-09 does not carry the camera's name

    data = {"station_record": str(sos.record.code), "account_number": "5501"}
    error = _form_errors(owner_client.post(url, data), "station_record")
    assert "The camera on channel 2 of bridge BR-0007's name (“Łąka”)" in error
    assert SOS_RULE in error and "Zone 017" not in error  # ISO-8859-1 carries "Tür"
    assert not MonitoringAccount.objects.exists()

    site.camera.name = "Laka"
    site.camera.save()
    assert owner_client.post(url, data).status_code == 302


def test_the_admin_holds_names_to_the_same_rule(site, dc09):
    _transmits_to(site, dc09.record)
    assert issubclass(admin_site._registry[Customer].form, NameCheckedAdminForm)
    form_class = modelform_factory(Zone, form=NameCheckedAdminForm, fields=["number", "name"])
    form = form_class(data={"number": "17", "name": "Tür"}, instance=site.zone)
    assert not form.is_valid()
    assert DC09_RULE in form.errors["name"][0]
    form = form_class(data={"number": "17", "name": "Tuer"}, instance=site.zone)
    assert form.is_valid()


# --- the bulk import --------------------------------------------------------------------------


def _csv(headers: list[str], *rows: list[str]) -> tablib.Dataset:
    dataset = tablib.Dataset(headers=headers)
    for row in rows:
        dataset.append(row)
    return imports.read_file(dataset.export("csv").encode(), "csv")


def _errors(plan: imports.ImportPlan) -> dict[int, list[tuple[str, str]]]:
    return {row.line: row.errors for row in plan.rows if row.errors}


def _service_error(call) -> str:
    with pytest.raises(ValidationError) as refused:
        call()
    errors = refused.value.message_dict
    return (errors.get("name") or errors["station_record"])[0]


def test_the_import_refuses_the_names_the_forms_refuse_with_the_same_words(
    dealer, owner, site, dc09
):
    _transmits_to(site, dc09.record)
    acct = "Central DC-09 account number"
    dataset = _csv(
        ["Portal site ID", "Name", "Time zone", acct, "Zones"],
        [site.customer.site_id, "Café", "UTC", "", "017 Entrée"],
        ["", "New site", "UTC", "ABC1", "001 Tür [Instant]; 002 Back door"],
        ["", "Neu | Süd", "UTC", "ABC2", ""],
    )
    errors = _errors(imports.plan_import(dealer, dataset))

    site_form = _service_error(
        lambda: services.customer_update(customer=site.customer, name="Café")
    )
    zone_form = _service_error(
        lambda: services.zone_save(zone=Zone(customer=site.customer, number=17, name="Entrée"))
    )
    assert errors[2] == [("Name", site_form), ("Zones", f"Zone 017: {zone_form}")]
    assert [c for c, _ in errors[3]] == ["Zones"] and errors[3][0][1].startswith("Zone 001: ")
    assert DC09_RULE in errors[3][0][1] and "'ü'" in errors[3][0][1]
    assert [c for c, _ in errors[4]] == ["Name"] and "'|'" in errors[4][0][1]
    with pytest.raises(imports.ImportRefused):
        imports.commit_import(dealer, dataset, actor=owner)
    site.customer.refresh_from_db()
    assert site.customer.name == "Corner Store"
    assert not Customer.objects.filter(name="New site").exists()


def test_an_imported_account_at_a_station_that_cannot_carry_a_name_says_which(
    dealer, owner, site, dc09, sos
):
    """The file gives a site accounts at a DC-09 and an SOS station; its stored zone and camera
    names are refused on the account's column, as the account form refuses them."""
    site.zone.name = "Tür"
    site.zone.save()
    site.camera.name = "Łąka"
    site.camera.save()
    columns = ["Portal site ID", "Name", "Time zone"]
    dataset = _csv(
        [*columns, "Central DC-09 account number", "Nordic SOS account number"],
        [site.customer.site_id, site.customer.name, "UTC", "3444", "5501"],
    )
    errors = _errors(imports.plan_import(dealer, dataset))
    dc09_form = _service_error(
        lambda: services.account_assign(
            customer=site.customer, station_record=dc09.record, account_number="3444"
        )
    )
    sos_form = _service_error(
        lambda: services.account_assign(
            customer=site.customer, station_record=sos.record, account_number="5501"
        )
    )
    assert errors[2] == [
        ("Central DC-09 account number", dc09_form),
        ("Nordic SOS account number", sos_form),
    ]
    assert "Zone 017's name (“Tür”)" in dc09_form
    assert "channel 2 of bridge BR-0007's name (“Łąka”)" in sos_form

    # Renamed in the same file, the zone no longer stops the DC-09 account.
    site.camera.name = "Laka"
    site.camera.save()
    dataset = _csv(
        [*columns, "Central DC-09 account number", "Nordic SOS account number", "Zones"],
        [site.customer.site_id, site.customer.name, "UTC", "3444", "5501", "017 Tuer"],
    )
    plan = imports.plan_import(dealer, dataset)
    assert plan.ok, _errors(plan)
    imports.commit_import(dealer, dataset, actor=owner)
    assert set(site.customer.accounts.values_list("account_number", flat=True)) == {
        "3444",
        "5501",
    }
