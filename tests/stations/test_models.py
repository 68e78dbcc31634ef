"""Station models: hashed passkeys, receiver visibility, and the rules the database keeps."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from stations.models import MonitoringStation, Receiver
from tests.factories import (
    RECEIVER_PASSKEY,
    DealerStationFactory,
    MonitoringStationFactory,
    ReceiverFactory,
)

pytestmark = pytest.mark.django_db


def test_passkey_is_stored_only_as_a_salted_hash(station):
    one = Receiver(station=station, name="A")
    one.set_passkey("same-passkey")
    two = Receiver(station=station, name="B")
    two.set_passkey("same-passkey")
    assert "same-passkey" not in one.passkey_hash
    assert one.passkey_hash != two.passkey_hash  # salted
    assert one.check_passkey("same-passkey")
    assert not one.check_passkey("other")
    assert not one.check_passkey("")


def test_offered_receivers_respect_visibility(dealer, other_dealer):
    station = MonitoringStationFactory()
    public = ReceiverFactory(station=station, name="public")
    listed = ReceiverFactory(station=station, name="listed", visibility=Receiver.Visibility.LISTED)
    ReceiverFactory(station=station, name="off", is_active=False)
    station.listed_dealers.add(dealer)
    assert set(Receiver.objects.offered_to(dealer)) == {public, listed}
    assert set(Receiver.objects.offered_to(other_dealer)) == {public}


def test_inactive_station_offers_nothing(dealer, receiver, station):
    station.is_active = False
    station.save()
    assert not Receiver.objects.offered_to(dealer).exists()


def test_the_platform_names_the_reference_id_and_only_a_generic_station_names_its_own():
    bold = MonitoringStationFactory(platform=MonitoringStation.Platform.BOLD_MANITOU)
    sentinel = MonitoringStationFactory(platform=MonitoringStation.Platform.SENTINEL)
    mastermind = MonitoringStationFactory(reference_id_label="Account ref")
    generic = MonitoringStationFactory(
        platform=MonitoringStation.Platform.GENERIC, reference_id_label="Account ref"
    )
    unnamed = MonitoringStationFactory(platform=MonitoringStation.Platform.GENERIC)
    assert bold.reference_id_label == "serial_no"
    assert sentinel.reference_id_label == "User Reference"
    assert mastermind.reference_id_label == "Site ID"
    assert generic.reference_id_label == "Account ref"
    assert unnamed.reference_id_label == "Reference ID"


def test_record_names_are_unique_per_dealer_ignoring_case(dealer, other_dealer, receiver):
    DealerStationFactory(dealer=dealer, receiver=receiver, name="Central")
    DealerStationFactory(dealer=other_dealer, receiver=receiver, name="Central")  # fine
    with pytest.raises(IntegrityError), transaction.atomic():
        DealerStationFactory(dealer=dealer, receiver=receiver, name="CENTRAL")


def test_prefix_is_stored_normalised(dealer, receiver):
    record = DealerStationFactory(dealer=dealer, receiver=receiver, account_prefix=" abc ")
    record.refresh_from_db()
    assert record.account_prefix == "ABC"


def test_database_refuses_an_unnormalised_prefix(dealer, receiver):
    record = DealerStationFactory(dealer=dealer, receiver=receiver)
    with pytest.raises(IntegrityError), transaction.atomic():
        type(record).objects.filter(pk=record.pk).update(account_prefix="ab c")


def test_receiver_in_use_cannot_be_deleted(record, receiver):
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        receiver.delete()


def test_factory_passkey_matches(receiver):
    assert receiver.check_passkey(RECEIVER_PASSKEY)


def test_the_data_migration_makes_other_platforms_generic():
    from importlib import import_module

    from django.apps import apps

    migration = import_module("stations.migrations.0005_station_console_data")
    kept = MonitoringStationFactory(platform=MonitoringStation.Platform.SENTINEL)
    others = [MonitoringStationFactory() for _ in ("patriot", "stages", "immix")]
    for station, old in zip(others, ("patriot", "stages", "immix"), strict=True):
        MonitoringStation.objects.filter(pk=station.pk).update(platform=old)
    migration.platforms_to_generic(apps, None)
    assert set(
        MonitoringStation.objects.filter(pk__in=[s.pk for s in others]).values_list(
            "platform", flat=True
        )
    ) == {"generic"}
    kept.refresh_from_db()
    assert kept.platform == "sentinel"
