"""Writes for stations: dealers' station records and the passkey check that guards them, the
station console's changes, and what the dispatchers keep per receiver path (its health, its
sequence numbers, its heartbeats) with the e-mails dealers get when a path goes down or comes
back."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.db.models import Count, Min
from django.db.models.deletion import ProtectedError
from django.urls import reverse
from django.utils import timezone

from dealers.models import Dealer
from dealers.services import invitation_send
from stations import lib, selectors
from stations.lib import PathObservation
from stations.models import (
    DealerStation,
    MonitoringStation,
    PasskeyFailure,
    PathHealth,
    Receiver,
    ReceiverPath,
    StationInvitation,
    StationMembership,
)

logger = logging.getLogger(__name__)

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


# --- the station console: settings, receivers, dealers' prefixes, people --------------------
# Every write takes the acting user: django-simple-history keeps who and when on each model.

STATION_SETTINGS_FIELDS = (
    "platform",
    "requires_reference_id",
    "reference_id_label",
    "account_macro",
    "reference_macro",
    "zone_macro",
    "time_zone",
)
RECEIVER_FIELDS = (
    "name",
    "description",
    "protocol",
    "visibility",
    "receiver_number",
    "line_number",
    "adds_prefix",
    "is_active",
)
PATH_FIELDS = (
    "transport",
    "host",
    "port",
    "use_tls",
    "url_path",
    "connect_timeout",
    "reply_timeout",
)
PASSKEY_MIN_LENGTH = 8


def _audited(obj: Any, actor: Any) -> Any:
    obj._history_user = actor  # who made the change, for django-simple-history
    return obj


def station_settings_update(*, station: MonitoringStation, actor: Any, **fields: Any):
    """The station's platform, its reference ID rule and its deep-link tokens."""
    for name, value in fields.items():
        setattr(station, name, value)
    station.full_clean()
    _audited(station, actor).save(update_fields=list(fields))
    return station


def _check_passkey(passkey: str) -> None:
    if len(passkey) < PASSKEY_MIN_LENGTH:
        raise ValidationError(
            {"passkey": f"Use at least {PASSKEY_MIN_LENGTH} characters for the passkey."}
        )


def _paths_save(receiver: Receiver, paths: dict[str, dict[str, Any] | None], actor: Any) -> None:
    """Create, change or remove the primary and alternate paths (None: no such path)."""
    existing = {path.role: path for path in receiver.paths.all()}
    if paths.get(ReceiverPath.Role.PRIMARY) is None:
        raise ValidationError({"host": "A receiver needs a primary path."})
    for role in (ReceiverPath.Role.PRIMARY, ReceiverPath.Role.ALTERNATE):
        values = paths.get(role)
        path = existing.get(role)
        if values is None:
            if path is not None:
                _audited(path, actor).delete()
            continue
        path = path or ReceiverPath(receiver=receiver, role=role)
        for name, value in values.items():
            setattr(path, name, value)
        path.full_clean()
        _audited(path, actor).save()


def _receiver_save(receiver: Receiver, actor: Any) -> None:
    try:
        receiver.full_clean()
    except ValidationError as exc:
        if "__all__" in getattr(exc, "error_dict", {}):
            # The station-and-name rule speaks through full_clean's unique checks.
            raise ValidationError({"name": exc.error_dict["__all__"]}) from exc
        raise
    try:
        with transaction.atomic():
            _audited(receiver, actor).save()
    except IntegrityError as exc:
        raise ValidationError(
            {"name": "This station already has a receiver with this name."}
        ) from exc


def receiver_create(
    *,
    station: MonitoringStation,
    passkey: str,
    paths: dict[str, dict[str, Any] | None],
    actor: Any,
    **fields: Any,
) -> Receiver:
    """A new receiver of the station with its passkey and its paths."""
    _check_passkey(passkey)
    receiver = Receiver(station=station, **fields)
    receiver.set_passkey(passkey)
    with transaction.atomic():
        _receiver_save(receiver, actor)
        _paths_save(receiver, paths, actor)
    return receiver


def receiver_update(
    *, receiver: Receiver, paths: dict[str, dict[str, Any] | None], actor: Any, **fields: Any
) -> Receiver:
    """Change a receiver and its paths; the passkey is rotated on its own."""
    for name, value in fields.items():
        setattr(receiver, name, value)
    with transaction.atomic():
        _receiver_save(receiver, actor)
        _paths_save(receiver, paths, actor)
        # New settings start supervision afresh: a slow-down the receiver asked for under the
        # old ones ends, and the next heartbeat, at the new interval, goes now.
        PathHealth.objects.filter(path__receiver=receiver, heartbeat_seconds__isnull=False).update(
            heartbeat_seconds=None, heartbeat_due_at=None
        )
    return receiver


def receiver_passkey_rotate(*, receiver: Receiver, passkey: str, actor: Any) -> Receiver:
    """A new passkey: dealer records made from now on must give it; records already made keep
    working (the passkey is only checked when a record chooses the receiver)."""
    _check_passkey(passkey)
    if receiver.check_passkey(passkey):
        raise ValidationError({"passkey": "That is the current passkey: choose a new one."})
    receiver.set_passkey(passkey)
    _audited(receiver, actor).save(update_fields=["passkey_hash", "passkey_changed_at"])
    return receiver


def dealer_prefix_set(
    *, station: MonitoringStation, dealer: Dealer, prefix: str, actor: Any
) -> list[DealerStation]:
    """Give a dealer its account prefix at this station: every record of the dealer here.

    Account numbers are not rewritten: the dealer's software and the station's must agree on
    each one, so those that no longer follow the prefix are listed (console) and flagged
    (dealer's customer list) until the dealer changes them.
    """
    prefix = prefix.strip().upper()
    changed = []
    with transaction.atomic():
        records = DealerStation.objects.select_for_update().filter(station=station, dealer=dealer)
        for record in records.order_by("pk"):
            if record.account_prefix == prefix:
                continue
            record.account_prefix = prefix
            record.full_clean()
            _audited(record, actor).save(update_fields=["account_prefix", "updated_at"])
            changed.append(record)
    return changed


def station_dealer_list(*, station: MonitoringStation, dealer: Dealer, actor: Any) -> None:
    """Offer the station's "listed dealers" receivers to this dealer."""
    _audited(station, actor)
    station.listed_dealers.add(dealer)


def station_dealer_unlist(*, station: MonitoringStation, dealer: Dealer, actor: Any) -> None:
    """Stop offering them; the dealer's existing records keep working."""
    _audited(station, actor)
    station.listed_dealers.remove(dealer)


def _station_admins_locked(station: MonitoringStation) -> list[StationMembership]:
    """The station's admins, locked, so that two admins acting at once cannot both leave."""
    return list(
        StationMembership.objects.select_for_update()
        .filter(station=station, role=StationMembership.Role.STATION_ADMIN)
        .order_by("pk")
    )


LAST_ADMIN = "A station needs a station admin: make someone else station admin first."


def membership_role_set(*, membership: StationMembership, role: str, actor: Any):
    if role not in StationMembership.Role.values:
        raise ValidationError({"role": "Choose operator or station admin."})
    with transaction.atomic():
        admins = _station_admins_locked(membership.station)
        membership.refresh_from_db(fields=["role"])
        leaving = (
            membership.role == StationMembership.Role.STATION_ADMIN and role != membership.role
        )
        if leaving and len(admins) <= 1:
            raise ValidationError({"role": LAST_ADMIN})
        membership.role = role
        _audited(membership, actor).save(update_fields=["role"])
    return membership


def membership_remove(*, membership: StationMembership, actor: Any) -> None:
    """Take someone off the station; the last station admin cannot leave it without one."""
    with transaction.atomic():
        admins = _station_admins_locked(membership.station)
        membership.refresh_from_db(fields=["role"])
        if membership.role == StationMembership.Role.STATION_ADMIN and len(admins) <= 1:
            raise ValidationError(LAST_ADMIN)
        _audited(membership, actor).delete()


def staff_invite(
    *, station: MonitoringStation, email: str, role: str, actor: Any
) -> StationInvitation:
    """Invite someone by e-mail to work at the station; the link expires and works once."""
    email = email.strip()
    if StationMembership.objects.filter(station=station, user__email__iexact=email).exists():
        raise ValidationError({"email": f"Someone with this address already works at {station}."})
    return invitation_send(
        invitation=StationInvitation(station=station, email=email, role=role), actor=actor
    )


def staff_add(*, station: MonitoringStation, user: Any, role: str, actor: Any):
    """Give a user a role at the station (accepting an invitation does this)."""
    if StationMembership.objects.filter(station=station, user=user).exists():
        raise ValidationError(f"{user.get_username()} already works at {station}.")
    membership = StationMembership(station=station, user=user, role=role)
    membership.full_clean()
    _audited(membership, actor).save()
    return membership


# --- receiver paths: health, sequence numbers, heartbeats ---------------------------------------

LAST_ERROR_MAX = 500
SEQUENCE_MAX = 9999


@dataclass(frozen=True)
class PathStateChange:
    path_id: int
    old: str
    new: str
    at: datetime
    error: str


def path_health_record(
    *, observations: Sequence[PathObservation], down_after: int | None = None
) -> list[PathStateChange]:
    """Apply delivery attempts and heartbeats, in the order they happened, to their paths'
    health.

    Each path's row is locked while it changes, so dispatchers that report at the same time
    take turns and a change of state happens (and is e-mailed, after commit) exactly once. Up
    and down are e-mailed; the first success of a path never tried before is not news.
    """
    if not observations:
        return []
    down_after = settings.SIGNAL_PATH_DOWN_AFTER if down_after is None else down_after
    path_ids = sorted({o.path_id for o in observations})
    changes: list[PathStateChange] = []
    # Locked in path order, so two dispatchers reporting the same paths cannot deadlock.
    locked = PathHealth.objects.select_for_update().order_by("path_id")
    with transaction.atomic():
        rows = {row.path_id: row for row in locked.filter(path_id__in=path_ids)}
        missing = [path_id for path_id in path_ids if path_id not in rows]
        if missing:
            _health_rows_create(missing)
            rows.update({row.path_id: row for row in locked.filter(path_id__in=missing)})
        for path_id in path_ids:
            row = rows.get(path_id)
            if row is None:  # the path was deleted meanwhile
                continue
            for observation in (o for o in observations if o.path_id == path_id):
                state, row.consecutive_failures = lib.path_state_next(
                    row.state, row.consecutive_failures, ok=observation.ok, down_after=down_after
                )
                if observation.ok:
                    row.last_success_at = observation.at
                else:
                    row.last_failure_at = observation.at
                    row.last_error = observation.error[:LAST_ERROR_MAX]
                if state != row.state:
                    changes.append(
                        PathStateChange(path_id, row.state, state, observation.at, row.last_error)
                    )
                    row.state = state
                    row.changed_at = observation.at
            row.save(
                update_fields=[
                    "state",
                    "changed_at",
                    "last_success_at",
                    "last_failure_at",
                    "last_error",
                    "consecutive_failures",
                    "updated_at",
                ]
            )
        for change in changes:
            if lib.DOWN in (change.new, change.old):
                transaction.on_commit(partial(path_change_notify, change=change))
    return changes


def _health_rows_create(path_ids: Sequence[int]) -> None:
    # A row per path, made by whoever needs it first (a racing insert loses quietly), and only
    # for paths that still exist.
    existing = ReceiverPath.objects.filter(pk__in=path_ids).values_list("pk", flat=True)
    PathHealth.objects.bulk_create(
        [PathHealth(path_id=path_id) for path_id in existing], ignore_conflicts=True
    )


def path_sequence_reserve(*, path_id: int, count: int) -> range:
    """Hand out the path's next ``count`` sequence numbers (1-9999, wrapping): a dispatcher
    numbers the messages it sends over the path from them, and no two dispatchers get the same
    number until the counter has gone round."""
    with transaction.atomic():
        row = PathHealth.objects.select_for_update().filter(path_id=path_id).first()
        if row is None:
            _health_rows_create([path_id])
            row = PathHealth.objects.select_for_update().get(path_id=path_id)
        first = row.sequence % SEQUENCE_MAX + 1
        last = min(first + count - 1, SEQUENCE_MAX)
        row.sequence = last
        row.save(update_fields=["sequence", "updated_at"])
    return range(first, last + 1)


@dataclass(frozen=True)
class HeartbeatClaim:
    send: bool  # this dispatcher sends the path's heartbeat now
    wait_seconds: float  # until the path's next heartbeat is due


def path_heartbeat_claim(
    *, path_id: int, interval_seconds: float, now: datetime, idle_only: bool
) -> HeartbeatClaim:
    """Take the path's heartbeat if it is due, moving it on by one interval in one conditional
    UPDATE, so that however many dispatchers ask, one heartbeat goes per interval. With
    ``idle_only`` a path that answered within the interval needs none (its traffic supervised
    it). The interval is the receiver's, or longer when the receiver asked for fewer."""
    row = PathHealth.objects.filter(path_id=path_id).first()
    if row is None:
        _health_rows_create([path_id])
        row = PathHealth.objects.filter(path_id=path_id).first()
        if row is None:
            return HeartbeatClaim(False, interval_seconds)
    interval = max(interval_seconds, row.heartbeat_seconds or 0.0)
    if row.heartbeat_due_at is not None and row.heartbeat_due_at > now:
        return HeartbeatClaim(False, (row.heartbeat_due_at - now).total_seconds())
    next_due = now + timedelta(seconds=interval)
    if idle_only and row.last_success_at is not None:
        next_due = max(next_due, row.last_success_at + timedelta(seconds=interval))
    claimed = PathHealth.objects.filter(pk=row.pk, heartbeat_due_at=row.heartbeat_due_at).update(
        heartbeat_due_at=next_due
    )
    idle = not (
        idle_only
        and row.last_success_at is not None
        and row.last_success_at > now - timedelta(seconds=interval)
    )
    return HeartbeatClaim(bool(claimed) and idle, (next_due - now).total_seconds())


def path_heartbeat_record(
    *,
    path_id: int,
    at: datetime,
    answer: str,
    slower_seconds: float | None = None,
    configured_seconds: float | None = None,
) -> None:
    """What the path's last heartbeat got. ``slower_seconds``: the receiver asked for fewer
    heartbeats, at least this far apart. ``configured_seconds``: the receiver answered as it
    should (it has recovered), so a slow-down it asked for earlier ends and heartbeats go at
    the receiver's configured interval again."""
    fields: dict[str, Any] = {"last_heartbeat_at": at, "last_heartbeat_answer": answer[:100]}
    if slower_seconds is not None:
        fields["heartbeat_seconds"] = slower_seconds
    elif configured_seconds is not None:
        fields["heartbeat_seconds"] = None
    PathHealth.objects.filter(path_id=path_id).update(**fields)
    if slower_seconds is not None:
        # The next heartbeat, already scheduled at the old rate, moves out too.
        due = at + timedelta(seconds=slower_seconds)
        PathHealth.objects.filter(path_id=path_id, heartbeat_due_at__lt=due).update(
            heartbeat_due_at=due
        )
    elif configured_seconds is not None:
        # ... and one scheduled at the slow rate comes back in (usually nothing matches).
        due = at + timedelta(seconds=configured_seconds)
        PathHealth.objects.filter(path_id=path_id, heartbeat_due_at__gt=due).update(
            heartbeat_due_at=due
        )


def receiver_secret_replace(*, receiver_id: int, old: str, new: str) -> bool:
    """Store a credential the receiver has confirmed (a rotated SOS Access authentication), only
    if the stored one is still ``old``: two dispatchers rotating at once cannot both win."""
    return bool(
        Receiver.objects.filter(pk=receiver_id, wire_credential=old).update(wire_credential=new)
    )


def path_change_notify(*, change: PathStateChange) -> int:
    """E-mail a path's change of state to the subscribers of every dealer using its receiver;
    returns how many messages went out."""
    path = (
        ReceiverPath.objects.select_related("receiver__station").filter(pk=change.path_id).first()
    )
    if path is None:
        return 0
    receiver = path.receiver
    going = "down" if change.new == lib.DOWN else "back up"
    subject = f"Receiver path {going}: {receiver} ({path.get_role_display().lower()})"
    lines = [
        f"The {path.get_role_display().lower()} path of the alarm receiver “{receiver.name}” at "
        f"{receiver.station} is {going} since {change.at:%Y-%m-%d %H:%M:%S %Z}.",
        "",
        f"Path: {path.url}",
    ]
    if change.new == lib.DOWN:
        if change.error:
            lines.append(f"Last error: {change.error}")
        lines += [
            "",
            "Signals keep being retried (on the alternate path when the receiver has one) "
            "until they are delivered or their deadline passes.",
        ]
    else:
        lines += ["", "Signals are being delivered over this path again."]
    lines += [
        "",
        f"Your monitoring stations: {settings.PORTAL_BASE_URL}{reverse('stations:record-list')}",
    ]
    messages = [
        EmailMessage(subject, "\n".join(lines), to=[recipient.email])
        for recipient in selectors.receiver_status_recipients(receiver.pk)
    ]
    if not messages:
        return 0
    try:
        return get_connection().send_messages(messages) or 0
    except Exception:  # a mail server that is down must never stop alarms
        logger.exception("could not send %d notification e-mail(s)", len(messages))
        return 0
