"""The rules the database keeps for customers, whatever writes to it."""

from __future__ import annotations

import pytest
from django.db import DataError, IntegrityError, transaction

from customers.models import MonitoringAccount
from tests.factories import (
    BridgeFactory,
    CameraFactory,
    CustomerFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    ZoneFactory,
)

pytestmark = pytest.mark.django_db


def _integrity_error(create, error=IntegrityError) -> None:
    with pytest.raises(error), transaction.atomic():
        create()


def test_account_number_is_unique_per_station_across_dealers(record, outsider_record):
    assert record.station == outsider_record.station
    MonitoringAccountFactory(
        customer=CustomerFactory(dealer=record.dealer), station_record=record, account_number="1234"
    )
    _integrity_error(
        lambda: MonitoringAccountFactory(
            customer=CustomerFactory(dealer=outsider_record.dealer),
            station_record=outsider_record,
            account_number="1234",
        )
    )


def test_padded_lower_case_number_is_the_same_number(record, dealer):
    first = MonitoringAccountFactory(
        customer=CustomerFactory(dealer=dealer), station_record=record, account_number="abc1234 "
    )
    first.refresh_from_db()
    assert first.account_number == "ABC1234"
    _integrity_error(
        lambda: MonitoringAccountFactory(
            customer=CustomerFactory(dealer=dealer), station_record=record, account_number="ABC1234"
        )
    )


def test_same_number_at_another_station_is_fine(record, dealer):
    MonitoringAccountFactory(
        customer=CustomerFactory(dealer=dealer), station_record=record, account_number="1234"
    )
    elsewhere = DealerStationFactory(dealer=dealer)
    MonitoringAccountFactory(
        customer=CustomerFactory(dealer=dealer), station_record=elsewhere, account_number="1234"
    )
    assert MonitoringAccount.objects.filter(account_number="1234").count() == 2


def test_one_account_per_customer_and_station(record, customer, dealer):
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="1")
    second_record = DealerStationFactory(dealer=dealer, receiver=record.receiver)
    _integrity_error(
        lambda: MonitoringAccountFactory(
            customer=customer, station_record=second_record, account_number="2"
        )
    )


def test_reference_id_unique_per_station_when_present(record, dealer):
    make = lambda number, ref: MonitoringAccountFactory(  # noqa: E731
        customer=CustomerFactory(dealer=dealer),
        station_record=record,
        account_number=number,
        reference_id=ref,
    )
    make("1", "")
    make("2", "")  # many accounts without a reference ID
    make("3", "site-77")
    _integrity_error(lambda: make("4", "SITE-77"))


@pytest.mark.parametrize("bad", ["", "AB CD", "ab", "A" * 21, "ÄBC", "12/34"])
def test_database_refuses_unnormalised_account_numbers(record, customer, bad):
    account = MonitoringAccountFactory(customer=customer, station_record=record)
    # Too long is PostgreSQL's DataError (varchar(20)); the rest break the CheckConstraint.
    _integrity_error(
        lambda: MonitoringAccount.objects.filter(pk=account.pk).update(account_number=bad),
        error=(IntegrityError, DataError),
    )


def test_station_is_copied_from_the_record(record, customer):
    account = MonitoringAccountFactory(customer=customer, station_record=record)
    assert account.station_id == record.station_id


def test_bridge_serial_unique_platform_wide_and_normalised(customer, outsider_customer):
    bridge = BridgeFactory(customer=customer, serial=" br-0001 ")
    bridge.refresh_from_db()
    assert bridge.serial == "BR-0001"
    _integrity_error(lambda: BridgeFactory(customer=outsider_customer, serial="BR-0001"))


def test_camera_channel_unique_per_bridge(customer):
    bridge = BridgeFactory(customer=customer)
    CameraFactory(bridge=bridge, channel=1)
    CameraFactory(bridge=BridgeFactory(customer=customer), channel=1)
    _integrity_error(lambda: CameraFactory(bridge=bridge, channel=1))
    _integrity_error(lambda: CameraFactory(bridge=bridge, channel=17))


def test_zone_numbers_unique_per_customer_and_in_range(customer, outsider_customer):
    ZoneFactory(customer=customer, number=17)
    ZoneFactory(customer=outsider_customer, number=17)
    _integrity_error(lambda: ZoneFactory(customer=customer, number=17))
    _integrity_error(lambda: ZoneFactory(customer=customer, number=0))
    _integrity_error(lambda: ZoneFactory(customer=customer, number=1000))


def test_record_in_use_cannot_be_deleted(record, customer):
    from django.db.models import ProtectedError

    MonitoringAccountFactory(customer=customer, station_record=record)
    with pytest.raises(ProtectedError):
        record.delete()
