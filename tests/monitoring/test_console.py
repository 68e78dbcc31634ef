"""The station console: what a station admin can do, and that it is kept with who and when."""

from __future__ import annotations

import csv
import io

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from stations import protocols
from stations import services as station_services
from stations.models import (
    DealerStation,
    MonitoringStation,
    PathHealth,
    Receiver,
    ReceiverPath,
    StationMembership,
)
from tests.factories import (
    RECEIVER_PASSKEY,
    CustomerFactory,
    DealerFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    ReceiverPathFactory,
    StationMembershipFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db


def url(name, station, *args):
    return reverse(f"monitoring:{name}", args=[station.code, *args])


def _receiver_post(name="New DC-09", passkey="brand-new-passkey", alternate_host=""):
    return {
        "receiver-name": name,
        "receiver-description": "",
        "receiver-protocol": Receiver.Protocol.XML_V1,
        "receiver-visibility": Receiver.Visibility.LISTED,
        "receiver-adds_prefix": "on",
        "receiver-receiver_number": "3",
        "receiver-line_number": "1",
        "receiver-is_active": "on",
        "receiver-passkey": passkey,
        "primary-transport": "tcp",
        "primary-host": "receiver.example.net",
        "primary-port": "9100",
        "primary-use_tls": "on",
        "primary-url_path": "/",
        "primary-connect_timeout": "5",
        "primary-reply_timeout": "10",
        "alternate-transport": "tcp",
        "alternate-host": alternate_host,
        "alternate-port": "9101" if alternate_host else "",
        "alternate-use_tls": "on",
        "alternate-url_path": "/",
        "alternate-connect_timeout": "5" if alternate_host else "",
        "alternate-reply_timeout": "10" if alternate_host else "",
    }


def test_console_home_goes_to_the_admins_station(station_admin_client, station):
    response = station_admin_client.get(reverse("monitoring:console-home"))
    assert response.status_code == 302
    assert response.url == url("console", station)
    page = station_admin_client.get(response.url)
    assert page.status_code == 200
    assert "Central One" in page.content.decode()


def test_operator_home_links_the_console_for_admins_only(station_admin_client, client, operator):
    assert (
        'data-testid="console-links"'
        in station_admin_client.get(reverse("monitoring:home")).content.decode()
    )
    client.force_login(operator)
    assert (
        'data-testid="console-links"' not in client.get(reverse("monitoring:home")).content.decode()
    )


def test_a_station_admin_adds_a_receiver_with_both_paths(
    station_admin_client, station, station_admin
):
    response = station_admin_client.post(
        url("console-receiver-create", station),
        _receiver_post(alternate_host="backup.example.net"),
    )
    assert response.status_code == 302, response.context and response.context["form"].errors
    receiver = Receiver.objects.get(name="New DC-09")
    assert receiver.station == station and receiver.adds_prefix
    assert receiver.visibility == Receiver.Visibility.LISTED
    assert receiver.check_passkey("brand-new-passkey")
    assert "brand-new-passkey" not in str(Receiver.objects.filter(pk=receiver.pk).values().get())
    paths = {p.role: p for p in receiver.paths.all()}
    assert paths[ReceiverPath.Role.PRIMARY].host == "receiver.example.net"
    assert paths[ReceiverPath.Role.ALTERNATE].port == 9101
    created = receiver.history.get()
    assert (created.history_type, created.history_user) == ("+", station_admin)
    assert ReceiverPath.history.filter(history_user=station_admin).count() == 2


def test_a_receiver_needs_a_passkey_and_a_primary_path(station_admin_client, station):
    data = _receiver_post(passkey="short")
    data["primary-host"] = ""
    response = station_admin_client.post(url("console-receiver-create", station), data)
    assert response.status_code == 200
    assert "passkey" in response.context["form"].errors
    assert "host" in response.context["primary"].errors
    assert not Receiver.objects.filter(name="New DC-09").exists()


def test_an_incomplete_alternate_path_is_a_field_error(station_admin_client, station):
    data = _receiver_post(alternate_host="backup.example.net")
    data["alternate-port"] = ""
    response = station_admin_client.post(url("console-receiver-create", station), data)
    assert response.status_code == 200
    assert "port" in response.context["alternate"].errors


def test_a_duplicate_receiver_name_is_a_field_error(station_admin_client, station, receiver):
    response = station_admin_client.post(
        url("console-receiver-create", station), _receiver_post(name=receiver.name)
    )
    assert response.status_code == 200
    assert "already has a receiver with this name" in str(response.context["form"].errors)


def test_editing_a_receiver_can_drop_its_alternate_path(station_admin_client, station, receiver):
    ReceiverPathFactory(receiver=receiver, role=ReceiverPath.Role.PRIMARY)
    ReceiverPathFactory(receiver=receiver, role=ReceiverPath.Role.ALTERNATE, port=9101)
    data = _receiver_post(name="Main XML renamed")
    del data["receiver-passkey"]
    response = station_admin_client.post(
        url("console-receiver-update", station, receiver.code), data
    )
    assert response.status_code == 302
    receiver.refresh_from_db()
    assert receiver.name == "Main XML renamed"
    assert receiver.check_passkey(RECEIVER_PASSKEY)  # an edit never touches the passkey
    assert [p.role for p in receiver.paths.all()] == [ReceiverPath.Role.PRIMARY]


def test_rotating_the_passkey_binds_new_records_and_spares_existing_ones(
    station_admin_client, station, receiver, record, dealer, station_admin
):
    response = station_admin_client.post(
        url("console-receiver-passkey", station, receiver.code),
        {"passkey": "rotated-passkey-7", "confirm": "rotated-passkey-7"},
    )
    assert response.status_code == 302
    receiver.refresh_from_db()
    assert receiver.passkey_changed_at is not None
    assert receiver.history.latest().history_user == station_admin
    # The record made with the old passkey keeps its receiver (and its signals).
    record.refresh_from_db()
    assert record.receiver == receiver
    with pytest.raises(ValidationError) as old:
        station_services.station_record_create(
            dealer=dealer, station=station, receiver=receiver, passkey=RECEIVER_PASSKEY, name="B"
        )
    assert "passkey" in old.value.message_dict
    new = station_services.station_record_create(
        dealer=dealer, station=station, receiver=receiver, passkey="rotated-passkey-7", name="C"
    )
    assert new.receiver == receiver


def test_the_same_passkey_again_is_not_a_rotation(station_admin_client, station, receiver):
    response = station_admin_client.post(
        url("console-receiver-passkey", station, receiver.code),
        {"passkey": RECEIVER_PASSKEY, "confirm": RECEIVER_PASSKEY},
    )
    assert response.status_code == 200
    assert "current passkey" in str(response.context["form"].errors)


def test_settings_choose_the_platform_which_names_the_reference_id(
    station_admin_client, station, station_admin
):
    response = station_admin_client.post(
        url("console-settings", station),
        {
            "platform": MonitoringStation.Platform.SENTINEL,
            "requires_reference_id": "on",
            "reference_id_label": "ignored for sentinel",
            "account_macro": "",
            "reference_macro": "",
            "zone_macro": "{Zone}",
            "time_zone": "America/Chicago",
        },
    )
    assert response.status_code == 302
    station.refresh_from_db()
    assert station.reference_id_label == "User Reference"
    assert station.macros == ("{DeviceID}", "{UserReference}", "{Zone}")
    assert station.history.latest().history_user == station_admin


def test_a_token_that_would_break_the_url_is_refused(station_admin_client, station):
    response = station_admin_client.post(
        url("console-settings", station),
        {"platform": "generic", "zone_macro": "a&b", "time_zone": "UTC"},
    )
    assert response.status_code == 200
    assert "zone_macro" in response.context["form"].errors


# --- people -----------------------------------------------------------------------------------


def test_roles_change_and_the_last_admin_cannot_leave(
    station_admin_client, station, station_admin, operator
):
    op = StationMembership.objects.get(user=operator, station=station)
    me = StationMembership.objects.get(user=station_admin, station=station)
    station_admin_client.post(
        url("console-person-role", station, op.code), {"role": "station_admin"}
    )
    op.refresh_from_db()
    assert op.role == StationMembership.Role.STATION_ADMIN
    assert op.history.latest().history_user == station_admin
    station_admin_client.post(url("console-person-role", station, op.code), {"role": "operator"})
    op.refresh_from_db()
    assert op.role == StationMembership.Role.OPERATOR

    # Alone as admin: neither demoted nor removed.
    response = station_admin_client.post(
        url("console-person-role", station, me.code), {"role": "operator"}, follow=True
    )
    assert "needs a station admin" in response.content.decode()
    response = station_admin_client.post(
        url("console-person-remove", station, me.code), follow=True
    )
    assert "needs a station admin" in response.content.decode()
    me.refresh_from_db()
    assert me.role == StationMembership.Role.STATION_ADMIN


def test_an_admin_removes_an_operator_and_can_leave_when_another_admin_stays(
    station_admin_client, station, station_admin, operator
):
    op = StationMembership.objects.get(user=operator, station=station)
    assert (
        station_admin_client.get(url("console-person-remove", station, op.code)).status_code == 200
    )
    station_admin_client.post(url("console-person-remove", station, op.code))
    assert not StationMembership.objects.filter(pk=op.pk).exists()
    deleted = StationMembership.history.filter(id=op.pk, history_type="-").get()
    assert deleted.history_user == station_admin

    StationMembershipFactory(station=station, role=StationMembership.Role.STATION_ADMIN)
    me = StationMembership.objects.get(user=station_admin, station=station)
    response = station_admin_client.post(url("console-person-remove", station, me.code))
    assert response.status_code == 302 and response.url == reverse("home")
    assert not StationMembership.objects.filter(pk=me.pk).exists()


# --- dealers and prefixes -----------------------------------------------------------------------


def test_the_dealers_page_lists_records_prefixes_and_account_counts(
    station_admin_client, station, record, customer, django_assert_max_num_queries
):
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="4100")
    other = DealerStationFactory(receiver=record.receiver, account_prefix="ZZ")
    with django_assert_max_num_queries(12):
        response = station_admin_client.get(url("console-dealers", station))
    rows = {row.dealer: row for row in response.context["dealers"]}
    assert rows[record.dealer].accounts == 1
    assert rows[other.dealer].prefix == "ZZ"


def test_setting_a_prefix_changes_every_record_and_lists_the_accounts_left_behind(
    station_admin_client, station, record, dealer, customer, owner_client, station_admin
):
    second = DealerStationFactory(dealer=dealer, receiver=record.receiver, name="Second")
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="4100")
    response = station_admin_client.post(
        url("console-dealer-prefix", station, dealer.code), {"prefix": " nw "}, follow=True
    )
    assert "1 of its account no longer follows it" in response.content.decode()
    assert set(DealerStation.objects.values_list("account_prefix", flat=True)) == {"NW"}
    assert second.history.latest().history_user == station_admin

    accounts = station_admin_client.get(url("console-accounts", station) + "?rule=off")
    assert [a.account_number for a in accounts.context["accounts"]] == ["4100"]
    assert (
        'data-testid="off-rule-count">1<'
        in station_admin_client.get(url("console", station)).content.decode()
    )
    # The dealer sees the prefix (and cannot change it) and its account flagged.
    assert (
        'data-testid="account-off-prefix"'
        in owner_client.get(reverse("customers:list")).content.decode()
    )


def test_a_dealer_without_a_record_has_no_prefix_page(station_admin_client, station):
    stranger = DealerFactory()
    response = station_admin_client.get(url("console-dealer-prefix", station, stranger.code))
    assert response.status_code == 404


def test_listing_a_dealer_by_its_id_offers_it_the_listed_receivers(
    station_admin_client, station, dealer, station_admin
):
    listed = Receiver.objects.create(
        station=station, name="Listed", visibility=Receiver.Visibility.LISTED, passkey_hash="x"
    )
    assert not Receiver.objects.offered_to(dealer).filter(pk=listed.pk).exists()
    response = station_admin_client.post(
        url("console-dealer-list", station), {"dealer": dealer.code}
    )
    assert response.status_code == 302
    assert Receiver.objects.offered_to(dealer).filter(pk=listed.pk).exists()
    assert station.history.latest().history_user == station_admin
    station_admin_client.post(url("console-dealer-unlist", station, dealer.code))
    assert not Receiver.objects.offered_to(dealer).filter(pk=listed.pk).exists()


def test_an_unknown_dealer_id_is_a_field_error(station_admin_client, station):
    response = station_admin_client.post(
        url("console-dealer-list", station), {"dealer": "8b3c1f4e-0000-4000-8000-000000000000"}
    )
    assert response.status_code == 400
    assert "No dealer has this ID" in response.content.decode()


def test_a_receiver_visible_to_no_dealer_is_offered_to_none(dealer, station):
    hidden = Receiver.objects.create(
        station=station, name="Own", visibility=Receiver.Visibility.NONE, passkey_hash="x"
    )
    station.listed_dealers.add(dealer)
    assert not Receiver.objects.offered_to(dealer).filter(pk=hidden.pk).exists()


# --- accounts -----------------------------------------------------------------------------------


@pytest.fixture
def station_accounts(station, record, dealer):
    rows = []
    for n, (name, number, reference) in enumerate(
        [
            ("Corner Store", "3444", "S-1"),
            ("=cmd|' /C calc'!A0", "3445", ""),
            ("Bakery", "5000", ""),
        ]
    ):
        customer = CustomerFactory(dealer=dealer, name=name, address=f"{n} Elm Street")
        ZoneFactory(customer=customer, number=17, name="Back door")
        rows.append(
            MonitoringAccountFactory(
                customer=customer,
                station_record=record,
                account_number=number,
                reference_id=reference,
            )
        )
    elsewhere = MonitoringAccountFactory(account_number="3444")  # another station's
    return rows, elsewhere


def test_accounts_are_searchable_and_only_the_stations(
    station_admin_client, station, station_accounts, django_assert_num_queries
):
    rows, elsewhere = station_accounts
    page = station_admin_client.get(url("console-accounts", station))
    assert {a.pk for a in page.context["accounts"]} == {a.pk for a in rows}
    assert elsewhere.customer.name not in page.content.decode()
    found = station_admin_client.get(url("console-accounts", station) + "?q=344")
    assert [a.account_number for a in found.context["accounts"]] == ["3444", "3445"]
    by_name = station_admin_client.get(url("console-accounts", station) + "?q=bakery")
    assert [a.account_number for a in by_name.context["accounts"]] == ["5000"]
    by_reference = station_admin_client.get(url("console-accounts", station) + "?q=s-1")
    assert [a.account_number for a in by_reference.context["accounts"]] == ["3444"]
    # Session, user, the second factor's device (station admins must have one), station,
    # count, page, zones: whatever the number of accounts.
    with django_assert_num_queries(7):
        station_admin_client.get(url("console-accounts", station))


def test_the_csv_export_reconciles_with_the_automation_software(
    station_admin_client, station, station_accounts
):
    response = station_admin_client.get(url("console-accounts-csv", station))
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert [r["account_number"] for r in rows] == ["3444", "3445", "5000"]
    first = rows[0]
    assert (first["site"], first["reference_id"], first["zones"]) == (
        "Corner Store",
        "S-1",
        "017 Back door",
    )
    assert first["dealer"] == "Acme Alarms"
    # A cell that a spreadsheet would run as a formula stays text.
    assert rows[1]["site"].startswith("'=")
    filtered = station_admin_client.get(url("console-accounts-csv", station) + "?q=bakery")
    assert (
        len(list(csv.DictReader(io.StringIO(b"".join(filtered.streaming_content).decode())))) == 1
    )


# --- health and deep links ------------------------------------------------------------------------


def test_health_shows_each_paths_state_last_success_and_last_failure(
    station_admin_client, station, receiver
):
    primary = ReceiverPathFactory(receiver=receiver, role=ReceiverPath.Role.PRIMARY)
    alternate = ReceiverPathFactory(receiver=receiver, role=ReceiverPath.Role.ALTERNATE, port=9101)
    now = timezone.now()
    PathHealth.objects.create(
        path=primary,
        state="down",
        last_failure_at=now,
        last_error="connection refused",
        last_success_at=now,
    )
    html = station_admin_client.get(url("console-health", station)).content.decode()
    assert "connection refused" in html
    assert "Down" in html
    assert "not tried yet" in html  # the alternate has no health row yet
    assert alternate.url in html


def test_the_console_deep_link_page_uses_portal_base_url_and_a_real_account(
    station_admin_client, station, station_accounts, settings
):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    html = station_admin_client.get(url("console-deep-links", station)).content.decode()
    assert "https://portal.example.com/monitoring?massite={site_no}&amp;zone={zone}" in html
    assert "https://portal.example.com/monitoring?massite=S-1&amp;zone=017" in html
    assert "testserver" not in html


def test_the_activity_page_tells_who_changed_what(
    station_admin_client, station, receiver, record, dealer, operator, django_assert_max_num_queries
):
    station_admin_client.post(
        url("console-receiver-passkey", station, receiver.code),
        {"passkey": "rotated-passkey-7", "confirm": "rotated-passkey-7"},
    )
    station_admin_client.post(url("console-dealer-prefix", station, dealer.code), {"prefix": "QZ"})
    op = StationMembership.objects.get(user=operator, station=station)
    station_admin_client.post(
        url("console-person-role", station, op.code), {"role": "station_admin"}
    )
    with django_assert_max_num_queries(12):
        response = station_admin_client.get(url("console-activity", station))
    rows = [(c.user and c.user.username, c.subject, c.action) for c in response.context["changes"]]
    assert ("station-admin", "Receiver “Main XML”", "changed passkey") in rows
    assert ("station-admin", f"{dealer}'s record “{record.name}”", "changed prefix") in rows
    assert ("station-admin", "operator (station admin)", "changed role") in rows
    html = response.content.decode()
    assert "changed passkey" in html and "station-admin" in html


class _HeartbeatSettings(forms.Form):
    heartbeat_seconds = forms.IntegerField(min_value=10, initial=60)


@pytest.fixture
def settings_protocol(monkeypatch):
    """A protocol with its own settings and a required secret, as a codec registers it."""
    spec = protocols.ProtocolSpec(
        protocol=Receiver.Protocol.SOS_ACCESS_V4,
        label="Test protocol with settings",
        transports=frozenset({"tcp"}),
        settings_form=_HeartbeatSettings,
        secret=protocols.SecretSpec(
            label="Authentication", help_text="from the receiver", required=True
        ),
    )
    monkeypatch.setitem(protocols._SPECS, spec.protocol, spec)
    return spec


def test_the_receiver_form_takes_each_protocols_settings_from_the_registry(
    station_admin_client, station, settings_protocol
):
    page = station_admin_client.get(url("console-receiver-create", station)).content.decode()
    assert 'data-protocol-group="sos_access_v4"' in page
    assert "Test protocol with settings" in page
    data = _receiver_post()
    data["receiver-protocol"] = settings_protocol.protocol
    data["primary-use_tls"] = ""
    data["receiver-sos_access_v4-heartbeat_seconds"] = "5"
    refused = station_admin_client.post(url("console-receiver-create", station), data)
    assert refused.status_code == 200
    errors = refused.context["form"].errors
    assert "sos_access_v4-heartbeat_seconds" in errors
    assert "secret" in errors

    data["receiver-sos_access_v4-heartbeat_seconds"] = "90"
    data["receiver-secret"] = "auth-code-1234"
    saved = station_admin_client.post(url("console-receiver-create", station), data)
    assert saved.status_code == 302
    receiver = Receiver.objects.get(name="New DC-09")
    assert receiver.protocol_settings == {"heartbeat_seconds": 90}
    assert receiver.wire_credential == "auth-code-1234"
    edit = station_admin_client.get(url("console-receiver-update", station, receiver.code))
    assert "auth-code-1234" not in edit.content.decode()
