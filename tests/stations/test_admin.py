"""The Django admin for stations, receivers (passkey field) and dealers' records."""

from __future__ import annotations

import pytest
from django.urls import reverse

from stations.models import Receiver, ReceiverPath

pytestmark = pytest.mark.django_db


def _receiver_data(station, passkey: str, **extra) -> dict:
    data = {
        "station": station.pk,
        "name": "Admin-made",
        "description": "",
        "protocol": "xml_v1",
        "visibility": "public",
        "receiver_number": "3",
        "line_number": "1",
        "wire_credential": "",
        "is_active": "on",
        "passkey": passkey,
        "paths-TOTAL_FORMS": "1",
        "paths-INITIAL_FORMS": "0",
        "paths-MIN_NUM_FORMS": "0",
        "paths-MAX_NUM_FORMS": "2",
        "paths-0-role": "primary",
        "paths-0-host": "127.0.0.1",
        "paths-0-port": "9100",
        "paths-0-connect_timeout": "5",
        "paths-0-reply_timeout": "10",
    }
    data.update(extra)
    return data


def test_admin_sets_the_passkey_as_a_hash(admin_client, station):
    response = admin_client.post(
        reverse("admin:stations_receiver_add"), _receiver_data(station, "brand-new-passkey")
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    receiver = Receiver.objects.get(name="Admin-made")
    assert receiver.check_passkey("brand-new-passkey")
    assert "brand-new-passkey" not in receiver.passkey_hash
    assert ReceiverPath.objects.get(receiver=receiver).port == 9100


def test_new_receiver_needs_a_passkey(admin_client, station):
    response = admin_client.post(
        reverse("admin:stations_receiver_add"), _receiver_data(station, "")
    )
    assert response.status_code == 200
    assert "passkey" in response.context["adminform"].form.errors
    assert not Receiver.objects.filter(name="Admin-made").exists()


def test_empty_passkey_on_change_keeps_the_old_one(admin_client, receiver, station):
    before = receiver.passkey_hash
    url = reverse("admin:stations_receiver_change", args=[receiver.pk])
    data = _receiver_data(station, "", name=receiver.name, **{"paths-TOTAL_FORMS": "0"})
    assert admin_client.post(url, data).status_code == 302
    receiver.refresh_from_db()
    assert receiver.passkey_hash == before


def test_admin_pages_render(admin_client, record, operator):
    for name in ("monitoringstation", "receiver", "stationmembership", "dealerstation"):
        assert admin_client.get(reverse(f"admin:stations_{name}_changelist")).status_code == 200
    change = admin_client.get(reverse("admin:stations_dealerstation_change", args=[record.pk]))
    assert change.status_code == 200


def test_dealer_records_are_searchable_by_dealer_station_and_receiver(
    admin_client, record, outsider_record
):
    url = reverse("admin:stations_dealerstation_changelist")
    for term in ("Acme", "Rival"):
        found = list(admin_client.get(url, {"q": term}).context["cl"].queryset)
        assert found == [record if term == "Acme" else outsider_record]
    by_receiver = admin_client.get(url, {"q": "Main XML"}).context["cl"].queryset
    assert set(by_receiver) == {record, outsider_record}


def test_dealer_records_cannot_be_added_in_the_admin(admin_client):
    assert admin_client.get(reverse("admin:stations_dealerstation_add")).status_code == 403
