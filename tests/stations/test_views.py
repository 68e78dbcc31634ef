"""Dealer settings → monitoring stations: list, add, edit, delete, and the receiver field."""

from __future__ import annotations

import pytest
from django.urls import reverse

from stations.models import DealerStation, PasskeyFailure, Receiver
from tests.factories import (
    RECEIVER_PASSKEY,
    DealerStationFactory,
    MonitoringStationFactory,
    ReceiverFactory,
)

pytestmark = pytest.mark.django_db

LIST = reverse("stations:record-list")
CREATE = reverse("stations:record-create")
OPTIONS = reverse("stations:receiver-options")


def _form(station, receiver=None, passkey=RECEIVER_PASSKEY, name="Central (XML)", prefix=""):
    return {
        "name": name,
        "station": str(station.code),
        "receiver": str(receiver.code) if receiver else "",
        "passkey": passkey,
        "account_prefix": prefix,
    }


def _update(record):
    return reverse("stations:record-update", args=[record.code])


def _delete(record):
    return reverse("stations:record-delete", args=[record.code])


# --- access rules ---------------------------------------------------------------------------


def test_every_view_requires_sign_in(client, record):
    for url in (LIST, CREATE, OPTIONS, _update(record), _delete(record)):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("login")), url


def test_every_view_refuses_wrong_methods(owner_client, record):
    assert owner_client.post(LIST).status_code == 405
    assert owner_client.post(OPTIONS).status_code == 405
    for url in (CREATE, _update(record), _delete(record)):
        assert owner_client.put(url).status_code == 405, url
        assert owner_client.delete(url).status_code == 405, url


@pytest.mark.parametrize("persona", ["viewer_client", "technician_client"])
def test_viewer_and_technician_may_look_but_not_write(request, persona, record, station, receiver):
    client = request.getfixturevalue(persona)
    listing = client.get(LIST)
    assert listing.status_code == 200
    assert record.name in listing.text
    assert reverse("stations:record-create") not in listing.text  # no add button
    for url in (CREATE, OPTIONS, _update(record), _delete(record)):
        assert client.get(url).status_code == 403, url
    data = _form(station, receiver, name="Sneaky")
    assert client.post(CREATE, data).status_code == 403
    assert client.post(_update(record), data).status_code == 403
    assert client.post(_delete(record)).status_code == 403
    assert DealerStation.objects.filter(pk=record.pk, name="Central (XML)").exists()
    assert not DealerStation.objects.filter(name="Sneaky").exists()


def test_admin_member_may_write(request, admin_member, station, receiver, client):
    client.force_login(admin_member)
    assert client.post(CREATE, _form(station, receiver)).status_code == 302
    assert DealerStation.objects.filter(dealer__memberships__user=admin_member).count() == 1


def test_another_dealers_record_answers_404(owner_client, outsider_record, station, receiver):
    assert owner_client.get(_update(outsider_record)).status_code == 404
    assert owner_client.post(_update(outsider_record), _form(station, receiver)).status_code == 404
    assert owner_client.get(_delete(outsider_record)).status_code == 404
    assert owner_client.post(_delete(outsider_record)).status_code == 404
    assert DealerStation.objects.filter(pk=outsider_record.pk, name="Their record").exists()


def test_list_shows_only_this_dealers_records(owner_client, record, outsider_record):
    response = owner_client.get(LIST)
    assert list(response.context["records"]) == [record]
    assert "Their record" not in response.text


# --- adding with the passkey ----------------------------------------------------------------


def test_add_form_renders_stations_and_no_receivers_until_one_is_chosen(owner_client, receiver):
    response = owner_client.get(CREATE)
    assert response.status_code == 200
    form = response.context["form"]
    assert receiver.station in form.fields["station"].queryset
    assert list(form.fields["receiver"].queryset) == []


def test_wrong_passkey_is_a_field_error_and_saves_nothing(owner_client, dealer, station, receiver):
    response = owner_client.post(CREATE, _form(station, receiver, passkey="guess"))
    assert response.status_code == 200
    assert "does not match the receiver" in " ".join(response.context["form"].errors["passkey"])
    assert not DealerStation.objects.exists()
    assert PasskeyFailure.objects.filter(dealer=dealer, receiver=receiver).count() == 1


def test_missing_passkey_is_a_field_error(owner_client, station, receiver):
    response = owner_client.post(CREATE, _form(station, receiver, passkey=""))
    assert "passkey" in response.context["form"].errors
    assert not DealerStation.objects.exists()


def test_right_passkey_saves_the_record(owner_client, dealer, station, receiver):
    response = owner_client.post(CREATE, _form(station, receiver, prefix="XYZ"))
    assert response.status_code == 302
    assert response.url == LIST
    record = DealerStation.objects.get()
    assert (record.dealer, record.station, record.receiver) == (dealer, station, receiver)
    # The prefix is the station's to set: what the dealer posts is ignored.
    assert record.account_prefix == ""
    assert RECEIVER_PASSKEY not in str(DealerStation.objects.values().get())


def test_a_new_record_takes_the_prefix_the_station_gave_the_dealer(
    owner_client, dealer, station, receiver
):
    DealerStationFactory(dealer=dealer, receiver=receiver, name="First", account_prefix="NW")
    response = owner_client.post(CREATE, _form(station, receiver, name="Second", prefix="XYZ"))
    assert response.status_code == 302
    assert DealerStation.objects.get(name="Second").account_prefix == "NW"


def test_the_dealer_sees_the_prefix_but_cannot_change_it(owner_client, dealer, receiver):
    record = DealerStationFactory(dealer=dealer, receiver=receiver, account_prefix="NW")
    page = owner_client.get(_update(record))
    assert "account_prefix" not in page.context["form"].fields
    assert 'data-testid="record-prefix"' in page.content.decode()
    assert "<code>NW</code>" in page.content.decode()
    data = _form(record.station, receiver, name=record.name, prefix="ZZ")
    assert owner_client.post(_update(record), data).status_code == 302
    record.refresh_from_db()
    assert record.account_prefix == "NW"


def test_video_only_record_needs_no_passkey(owner_client, station):
    response = owner_client.post(CREATE, _form(station, None, passkey=""))
    assert response.status_code == 302
    assert DealerStation.objects.get().receiver is None


def test_repeated_wrong_passkeys_lock_the_dealer_for_a_while(owner_client, station, receiver):
    for _ in range(5):
        owner_client.post(CREATE, _form(station, receiver, passkey="guess"))
    response = owner_client.post(CREATE, _form(station, receiver))  # even the right one
    assert "Too many wrong passkeys" in " ".join(response.context["form"].errors["passkey"])
    assert not DealerStation.objects.exists()


def test_lockout_is_per_dealer(owner_client, outsider_client, station, receiver):
    for _ in range(5):
        outsider_client.post(CREATE, _form(station, receiver, passkey="guess"))
    assert owner_client.post(CREATE, _form(station, receiver)).status_code == 302


def test_duplicate_name_is_a_field_error(owner_client, record, station, receiver):
    response = owner_client.post(CREATE, _form(station, receiver, name="central (xml)"))
    assert response.status_code == 200
    assert "already have a monitoring station record" in str(response.context["form"].errors)
    assert DealerStation.objects.count() == 1


def test_receiver_of_another_station_is_refused(owner_client, station):
    elsewhere = ReceiverFactory()
    response = owner_client.post(CREATE, _form(station, elsewhere))
    assert "receiver" in response.context["form"].errors
    assert not DealerStation.objects.exists()


def test_listed_receiver_is_hidden_from_unlisted_dealers(owner_client, dealer, station):
    listed = ReceiverFactory(station=station, visibility=Receiver.Visibility.LISTED)
    options = owner_client.get(OPTIONS, {"station": str(station.code)})
    assert listed.name not in options.text
    response = owner_client.post(CREATE, _form(station, listed))
    assert "receiver" in response.context["form"].errors
    assert not DealerStation.objects.exists()
    station.listed_dealers.add(dealer)
    assert listed.name in owner_client.get(OPTIONS, {"station": str(station.code)}).text
    assert owner_client.post(CREATE, _form(station, listed)).status_code == 302


def test_receiver_options_list_only_the_chosen_stations_receivers(owner_client, station, receiver):
    other = ReceiverFactory(name="Somebody else's")
    response = owner_client.get(OPTIONS, {"station": str(station.code)})
    assert response.status_code == 200
    assert receiver.name in response.text
    assert other.name not in response.text
    assert "<html" not in response.text  # a fragment for htmx, not a page
    assert owner_client.get(OPTIONS, {"station": "not-a-uuid"}).status_code == 200


def test_form_wires_the_station_field_to_htmx(owner_client):
    text = owner_client.get(CREATE).text
    assert f'hx-get="{OPTIONS}"' in text
    assert 'hx-target="#receiver-field"' in text


def test_show_receivers_without_javascript_redraws_the_form(owner_client, station, receiver):
    data = {**_form(station, name="Draft"), "refresh": "1"}
    response = owner_client.post(CREATE, data)
    assert response.status_code == 200
    form = response.context["form"]
    assert not form.is_bound
    assert list(form.fields["receiver"].queryset) == [receiver]
    assert 'value="Draft"' in response.text
    assert not DealerStation.objects.exists()


# --- editing --------------------------------------------------------------------------------


def test_edit_without_changing_the_receiver_needs_no_passkey(
    owner_client, record, station, receiver
):
    response = owner_client.post(
        _update(record), _form(station, receiver, passkey="", name="Renamed")
    )
    assert response.status_code == 302
    record.refresh_from_db()
    assert record.name == "Renamed"


def test_changing_the_receiver_needs_its_passkey(owner_client, record, station):
    second = ReceiverFactory(station=station, name="Backup XML")
    response = owner_client.post(_update(record), _form(station, second, passkey="guess"))
    assert "passkey" in response.context["form"].errors
    record.refresh_from_db()
    assert record.receiver != second
    assert owner_client.post(_update(record), _form(station, second)).status_code == 302
    record.refresh_from_db()
    assert record.receiver == second


def test_edit_form_shows_the_record(owner_client, record):
    response = owner_client.get(_update(record))
    assert response.status_code == 200
    assert response.context["form"].initial["name"] == record.name
    assert record.receiver.name in response.text


# --- deleting -------------------------------------------------------------------------------


def test_delete_confirms_then_deletes(owner_client, record):
    confirm = owner_client.get(_delete(record))
    assert confirm.status_code == 200
    assert confirm.context["blockers"] == []
    response = owner_client.post(_delete(record))
    assert response.status_code == 302
    assert not DealerStation.objects.exists()


def test_nav_links_to_monitoring_stations(owner_client):
    assert LIST in owner_client.get(reverse("dealers:dashboard")).text


def test_stations_listed_include_every_active_station(owner_client, station):
    MonitoringStationFactory(name="Closed", is_active=False)
    other = MonitoringStationFactory(name="Other active")
    queryset = owner_client.get(CREATE).context["form"].fields["station"].queryset
    assert set(queryset) == {station, other}


def test_records_of_other_dealers_do_not_block_names(
    owner_client, outsider_record, station, receiver
):
    response = owner_client.post(CREATE, _form(station, receiver, name=outsider_record.name))
    assert response.status_code == 302
    assert DealerStationFactory._meta.model.objects.count() == 2
