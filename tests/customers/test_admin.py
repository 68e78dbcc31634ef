"""The Django admin for customers: inlines, search across stations, the same account rules."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers.models import MonitoringAccount
from tests.factories import CustomerFactory, MonitoringAccountFactory

pytestmark = pytest.mark.django_db


def test_customer_admin_searches_account_numbers_and_reference_ids(
    admin_client, customer, record, outsider_customer, outsider_record
):
    MonitoringAccountFactory(
        customer=customer, station_record=record, account_number="3444", reference_id="M-1"
    )
    MonitoringAccountFactory(
        customer=outsider_customer, station_record=outsider_record, account_number="9000"
    )
    url = reverse("admin:customers_customer_changelist")
    assert list(admin_client.get(url, {"q": "3444"}).context["cl"].queryset) == [customer]
    assert list(admin_client.get(url, {"q": "M-1"}).context["cl"].queryset) == [customer]
    assert list(admin_client.get(url, {"q": "9000"}).context["cl"].queryset) == [outsider_customer]


def test_customer_admin_shows_devices_and_accounts_inline(admin_client, customer, record):
    MonitoringAccountFactory(customer=customer, station_record=record)
    response = admin_client.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    assert response.status_code == 200
    for prefix in ("accounts-0-account_number", "bridges-TOTAL_FORMS", "zones-TOTAL_FORMS"):
        assert prefix in response.text


def _account_data(account, number):
    return {
        "customer": account.customer.pk,
        "station_record": account.station_record.pk,
        "account_number": number,
        "reference_id": "",
    }


def test_admin_change_is_kept_in_history_with_the_staff_user(admin_client, admin, customer, record):
    account = MonitoringAccountFactory(customer=customer, station_record=record, account_number="1")
    url = reverse("admin:customers_monitoringaccount_change", args=[account.pk])
    assert admin_client.post(url, _account_data(account, "2")).status_code == 302
    latest = account.history.latest("history_date")
    assert (latest.account_number, latest.history_user) == ("2", admin)


def test_admin_cannot_create_a_duplicate_number(admin_client, dealer, record):
    MonitoringAccountFactory(
        customer=CustomerFactory(dealer=dealer), station_record=record, account_number="77"
    )
    account = MonitoringAccountFactory(
        customer=CustomerFactory(dealer=dealer), station_record=record, account_number="78"
    )
    url = reverse("admin:customers_monitoringaccount_change", args=[account.pk])
    response = admin_client.post(url, _account_data(account, "77"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["account_number"] == [MonitoringAccount.DUPLICATE_NUMBER]
    account.refresh_from_db()
    assert account.account_number == "78"
