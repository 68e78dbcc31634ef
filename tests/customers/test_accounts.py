"""Account numbers through the dealer's form: rules, errors a dealer can act on, history."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers.models import MonitoringAccount
from stations.models import DealerStation
from tests.factories import (
    CustomerFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    MonitoringStationFactory,
    ReceiverFactory,
)

pytestmark = pytest.mark.django_db


def _create(customer):
    return reverse("customers:account-create", args=[customer.code])


def _update(account):
    return reverse("customers:account-update", args=[account.code])


def _delete(account):
    return reverse("customers:account-delete", args=[account.code])


def _data(record, number="1234", reference=""):
    return {
        "station_record": str(record.code),
        "account_number": number,
        "reference_id": reference,
    }


@pytest.fixture
def account(customer, record):
    return MonitoringAccountFactory(customer=customer, station_record=record, account_number="555")


@pytest.fixture
def outsider_account(outsider_customer, outsider_record):
    return MonitoringAccountFactory(
        customer=outsider_customer, station_record=outsider_record, account_number="999"
    )


# --- access ---------------------------------------------------------------------------------


def test_account_views_require_sign_in(client, customer, account):
    for url in (_create(customer), _update(account), _delete(account)):
        assert client.get(url).status_code == 302
        assert client.post(url).status_code == 302
    assert MonitoringAccount.objects.get(pk=account.pk).account_number == "555"


def test_account_views_refuse_wrong_methods(owner_client, customer, account):
    for url in (_create(customer), _update(account), _delete(account)):
        assert owner_client.put(url).status_code == 405
        assert owner_client.delete(url).status_code == 405


def test_viewer_gets_403_on_every_account_write(viewer_client, customer, account, record):
    for url in (_create(customer), _update(account), _delete(account)):
        assert viewer_client.get(url).status_code == 403
        assert viewer_client.post(url, _data(record, "777")).status_code == 403
    assert list(MonitoringAccount.objects.values_list("account_number", flat=True)) == ["555"]


def test_technician_may_assign_numbers(technician_client, customer, record):
    assert technician_client.post(_create(customer), _data(record)).status_code == 302
    assert customer.accounts.get().account_number == "1234"


def test_outsider_gets_404_on_our_customers_and_accounts(
    outsider_client, customer, account, outsider_record
):
    assert outsider_client.get(_create(customer)).status_code == 404
    assert outsider_client.post(_create(customer), _data(outsider_record)).status_code == 404
    for url in (_update(account), _delete(account)):
        assert outsider_client.get(url).status_code == 404
        assert outsider_client.post(url, _data(outsider_record, "777")).status_code == 404
    assert MonitoringAccount.objects.get(pk=account.pk).account_number == "555"


def test_another_dealers_station_record_is_not_a_choice(
    owner_client, customer, record, outsider_record
):
    form = owner_client.get(_create(customer)).context["form"]
    assert list(form.fields["station_record"].queryset) == [record]
    response = owner_client.post(_create(customer), _data(outsider_record))
    assert "station_record" in response.context["form"].errors
    assert not customer.accounts.exists()


# --- the rules ------------------------------------------------------------------------------


def test_assigning_a_number_normalises_it(owner_client, customer, record):
    response = owner_client.post(_create(customer), _data(record, " abc-1234 "))
    assert response.status_code == 302
    assert response.url.endswith("#monitoring")
    account = customer.accounts.get()
    assert (account.account_number, account.station) == ("ABC-1234", record.station)


@pytest.mark.parametrize("bad", ["12 34", "12/34", "A" * 21, "ÅÄÖ"])
def test_malformed_number_is_a_field_error(owner_client, customer, record, bad):
    response = owner_client.post(_create(customer), _data(record, bad))
    assert response.status_code == 200
    assert "account_number" in response.context["form"].errors
    assert not customer.accounts.exists()


def test_duplicate_at_the_station_is_a_field_error_that_names_nobody(
    owner_client, customer, record, outsider_account
):
    response = owner_client.post(_create(customer), _data(record, "999"))
    assert response.status_code == 200
    errors = response.context["form"].errors["account_number"]
    assert errors == [MonitoringAccount.DUPLICATE_NUMBER]
    assert "already uses this account number" in response.text
    for secret in ("Their Warehouse", "9 Oak Road", "Rival Security", "Their record"):
        assert secret not in response.text
    assert not customer.accounts.exists()


def test_same_number_at_a_different_station_is_fine(
    owner_client, dealer, customer, outsider_account
):
    other_record = DealerStationFactory(dealer=dealer)
    assert owner_client.post(_create(customer), _data(other_record, "999")).status_code == 302


def test_second_account_at_the_same_station_is_refused(owner_client, dealer, customer, account):
    second = DealerStationFactory(dealer=dealer, receiver=account.station_record.receiver)
    response = owner_client.post(_create(customer), _data(second, "556"))
    assert response.context["form"].errors["station_record"] == [
        MonitoringAccount.DUPLICATE_STATION
    ]


def test_prefix_rule_names_the_prefix(owner_client, customer, record):
    DealerStation.objects.filter(pk=record.pk).update(account_prefix="ABC")
    response = owner_client.post(_create(customer), _data(record, "1234"))
    error = response.context["form"].errors["account_number"][0]
    assert "prefix ABC" in error
    assert not customer.accounts.exists()
    assert owner_client.post(_create(customer), _data(record, "abc1234")).status_code == 302


def test_reference_id_required_where_the_station_requires_it(owner_client, dealer, customer):
    sentinel = MonitoringStationFactory(platform="sentinel", requires_reference_id=True)
    record = DealerStationFactory(dealer=dealer, receiver=ReceiverFactory(station=sentinel))
    form = owner_client.get(_create(customer)).context["form"]
    assert form.fields["reference_id"].label == "User Reference"
    response = owner_client.post(_create(customer), _data(record, "1234"))
    error = response.context["form"].errors["reference_id"][0]
    assert "User Reference" in error
    assert owner_client.post(_create(customer), _data(record, "1234", "ur-9")).status_code == 302
    assert customer.accounts.get().reference_id == "UR-9"


def test_duplicate_reference_id_is_a_field_error(owner_client, dealer, record, account):
    MonitoringAccount.objects.filter(pk=account.pk).update(reference_id="77812")
    other = CustomerFactory(dealer=dealer)
    response = owner_client.post(_create(other), _data(record, "1", "77812"))
    assert response.context["form"].errors["reference_id"] == [
        MonitoringAccount.DUPLICATE_REFERENCE
    ]


def test_changing_a_number_keeps_history_with_who_and_when(owner_client, owner, account, record):
    response = owner_client.post(_update(account), _data(record, "556", "ref-1"))
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.account_number, account.reference_id) == ("556", "REF-1")
    history = list(account.history.order_by("history_date"))
    assert [h.account_number for h in history] == ["555", "556"]
    assert history[-1].history_user == owner
    page = owner_client.get(reverse("customers:history", args=[account.customer.code]))
    timeline = page.text.split('data-testid="timeline"')[1]
    assert "account number 555 → 556" in timeline and "owner" in timeline


def test_editing_to_a_taken_number_is_refused(owner_client, dealer, record, account):
    other = MonitoringAccountFactory(
        customer=CustomerFactory(dealer=dealer), station_record=record, account_number="600"
    )
    response = owner_client.post(_update(other), _data(record, "555"))
    assert response.context["form"].errors["account_number"] == [MonitoringAccount.DUPLICATE_NUMBER]
    other.refresh_from_db()
    assert other.account_number == "600"


def test_edit_form_is_prefilled(owner_client, account):
    form = owner_client.get(_update(account)).context["form"]
    assert form.initial["account_number"] == "555"


def test_removing_an_account(owner_client, account):
    assert owner_client.get(_delete(account)).status_code == 200
    response = owner_client.post(_delete(account))
    assert response.status_code == 302
    assert not MonitoringAccount.objects.filter(pk=account.pk).exists()
    assert account.history.filter(history_type="-").exists()


def test_record_in_use_cannot_be_deleted_and_the_page_says_by_whom(owner_client, account, record):
    url = reverse("stations:record-delete", args=[record.code])
    confirm = owner_client.get(url)
    assert "Corner Store (account 555)" in confirm.text
    response = owner_client.post(url)
    assert response.status_code == 409
    assert "Corner Store (account 555)" in response.text
    assert DealerStation.objects.filter(pk=record.pk).exists()


def test_record_in_use_cannot_move_to_another_station(owner_client, account, record):
    other = ReceiverFactory()
    response = owner_client.post(
        reverse("stations:record-update", args=[record.code]),
        {
            "name": record.name,
            "station": str(other.station.code),
            "receiver": "",
            "passkey": "",
            "account_prefix": "",
        },
    )
    assert "station" in response.context["form"].errors
    record.refresh_from_db()
    assert record.station == account.station
