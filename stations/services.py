"""Writes for stations: dealers' station records and the passkey check that guards them."""

from __future__ import annotations

import math
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Min
from django.db.models.deletion import ProtectedError
from django.utils import timezone

from dealers.models import Dealer
from stations import selectors
from stations.models import DealerStation, MonitoringStation, PasskeyFailure, Receiver

# Wrong passkeys a dealer may enter within the window before guesses are refused.
PASSKEY_FAILURE_LIMIT = 5
PASSKEY_WINDOW = timedelta(minutes=15)


def passkey_lockout_remaining(*, dealer: Dealer) -> timedelta | None:
    """How long this dealer must wait before another passkey is checked, or None."""
    since = timezone.now() - PASSKEY_WINDOW
    stats = PasskeyFailure.objects.filter(dealer=dealer, created_at__gte=since).aggregate(
        failures=Count("id"), oldest=Min("created_at")
    )
    if stats["failures"] < PASSKEY_FAILURE_LIMIT:
        return None
    return stats["oldest"] + PASSKEY_WINDOW - timezone.now()


def passkey_verify(*, dealer: Dealer, receiver: Receiver, passkey: str) -> None:
    """Raise a ValidationError for the passkey field unless it opens this receiver.

    Counting the dealer's recent failures, checking the passkey and recording a failure are one
    step: the dealer's row is locked for it, so parallel guesses queue behind each other and
    no more than PASSKEY_FAILURE_LIMIT of them are ever checked (on SQLite the IMMEDIATE
    transaction takes the database's write lock instead). The failure commits with that step.
    """
    with transaction.atomic():
        Dealer.objects.select_for_update().filter(pk=dealer.pk).values_list("pk").first()
        remaining = passkey_lockout_remaining(dealer=dealer)
        if remaining is None:
            accepted = receiver.check_passkey(passkey)
            if not accepted:
                PasskeyFailure.objects.create(dealer=dealer, receiver=receiver)
    if remaining is not None:
        minutes = max(1, math.ceil(remaining.total_seconds() / 60))
        raise ValidationError(
            f"Too many wrong passkeys. Try again in {minutes} minute{'s' if minutes > 1 else ''}, "
            "or ask the station to confirm the passkey.",
            code="passkey_locked",
        )
    if not accepted:
        raise ValidationError(
            "This passkey does not match the receiver. Ask the monitoring station for it.",
            code="passkey_wrong",
        )


def _save(record: DealerStation, *, update_fields: list[str] | None = None) -> DealerStation:
    record.full_clean()
    try:
        with transaction.atomic():
            record.save(update_fields=update_fields)
    except IntegrityError as exc:
        # Two requests raced past full_clean(); the database decided. Say it like the form.
        raise ValidationError(
            {"name": "You already have a monitoring station record with this name."}
        ) from exc
    return record


def _check_receiver(station: MonitoringStation, receiver: Receiver | None) -> None:
    if receiver is not None and receiver.station_id != station.pk:
        raise ValidationError({"receiver": "This receiver belongs to another station."})


def station_record_create(
    *,
    dealer: Dealer,
    station: MonitoringStation,
    receiver: Receiver | None,
    passkey: str,
    name: str,
) -> DealerStation:
    """Create a dealer's station record; a receiver needs its passkey. The record takes the
    prefix the station gave the dealer (on its other records there), if any."""
    _check_receiver(station, receiver)
    if receiver is not None:
        try:
            passkey_verify(dealer=dealer, receiver=receiver, passkey=passkey)
        except ValidationError as exc:
            raise ValidationError({"passkey": exc.messages}) from exc
    record = DealerStation(
        dealer=dealer,
        station=station,
        receiver=receiver,
        name=name,
        account_prefix=selectors.station_prefix_for(dealer=dealer, station=station),
    )
    return _save(record)


def station_record_update(
    *,
    record: DealerStation,
    station: MonitoringStation,
    receiver: Receiver | None,
    passkey: str,
    name: str,
) -> DealerStation:
    """Change a record; choosing a different receiver needs that receiver's passkey. The
    prefix is the station's to set (station console), never the dealer's."""
    _check_receiver(station, receiver)
    # Compare with what is stored: a ModelForm may already have set the new values on the
    # instance it was given.
    stored_station_id, stored_receiver_id = (
        DealerStation.objects.filter(pk=record.pk).values_list("station_id", "receiver_id").get()
    )
    if station.pk != stored_station_id and selectors.record_blockers(record):
        # Accounts carry the record's station in their own row (for the database's
        # uniqueness rules); moving them is a per-customer decision, not a side effect.
        raise ValidationError(
            {
                "station": "Customers use this record, so its station cannot change. Add a "
                "new record for the other station and move the customers to it."
            }
        )
    if receiver is not None and receiver.pk != stored_receiver_id:
        try:
            passkey_verify(dealer=record.dealer, receiver=receiver, passkey=passkey)
        except ValidationError as exc:
            raise ValidationError({"passkey": exc.messages}) from exc
    record.station = station
    record.receiver = receiver
    record.name = name
    if station.pk != stored_station_id:
        record.account_prefix = selectors.station_prefix_for(
            dealer=record.dealer, station=station, exclude=record
        )
    return _save(
        record, update_fields=["station", "receiver", "name", "account_prefix", "updated_at"]
    )


def station_record_delete(*, record: DealerStation) -> list[str]:
    """Delete the record unless something uses it; returns what blocks it (empty if deleted)."""
    try:
        with transaction.atomic():
            record.delete()
    except ProtectedError as exc:
        return sorted(str(obj) for obj in exc.protected_objects)
    return []
