"""Writes for signals: record an event with its outbox rows, test signals, periodic tests,
device tokens, the alarm library (its defaults, and the dealer's and sites' pages), and the
e-mails dealers get when a signal could not be delivered. (Receiver path health, which the
dispatchers also write, belongs to the path: ``stations.services``.)"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from customers.models import Bridge, Camera, Customer, MonitoringAccount, Zone
from dealers.generic import RowsInsert
from dealers.models import Dealer
from signals import builders, codecs, lib, selectors, wakeup
from signals.codecs.base import ProtocolError
from signals.lib import EventKind
from signals.models import AlarmEvent, DeliveryAttempt, EventCode, Signal
from signals.sending import receiver_config
from stations.models import MonitoringStation, Receiver

logger = logging.getLogger(__name__)

UNSENT_REASON_MAX = 500


def event_record(
    *,
    customer: Customer,
    kind: str,
    zone: Zone | int | None = None,
    bridge: Bridge | None = None,
    channel: int | None = None,
    occurred_at: datetime,
    source: str,
    device_event_id: str = "",
    device_time_sent: str = "",
    description: str = "",
    actor: AbstractBaseUser | None = None,
    only_station: MonitoringStation | None = None,
    device_event_checked: bool = False,
    site_codes: selectors.SiteCodes | None = None,
    supersedes: AlarmEvent | None = None,
) -> AlarmEvent:
    """Store an event and, in the same transaction, one Signal per transmitting account.

    ``only_station`` limits the signals to that station's account(s) of the site: what an
    operator does (opening the cameras, a verdict) is for the operator's own station, never for
    the other stations that monitor the site.

    ``zone`` is a Zone of the site or a bare zone number (one the portal may not know);
    ``channel`` is the bridge's camera channel the event is about (a camera trouble, or an
    alarm from a camera: its zone is then the lowest-numbered zone showing that camera). A
    switched-off code, or a site with no account that has a receiver, records the event and
    sends nothing.

    Idempotent on (bridge, its site, device_event_id): a repeated id returns the stored event
    (with ``is_new`` False) and creates nothing, also when two requests race (the database's
    unique constraint decides). ``device_event_checked``: the caller has just looked that id
    up and found nothing, or ``supersedes`` (the device API does, to answer a repeat before
    reading the rest), so it is not looked up again; a request racing this one is still
    settled by the constraint.
    ``site_codes``: the site's zone and library as the caller read them with the bridge
    (``selectors.bridge_and_device_event``), used instead of reading them again where they
    answer the same question.

    ``supersedes``: the stored event with this ``device_event_id`` when the caller found the
    request to be another event (``api.same_event``: a bridge reset counts its ids from 1
    again). In the same transaction that event's id is retired (``lib.retired_device_id``),
    so the id is the new event's from then on: its repeats, and media naming it, find it.
    """
    event = _event_record(
        customer=customer,
        kind=kind,
        zone=zone,
        bridge=bridge,
        channel=channel,
        occurred_at=occurred_at,
        source=source,
        device_event_id=device_event_id,
        device_time_sent=device_time_sent,
        description=description,
        actor=actor,
        only_station=only_station,
        device_event_checked=device_event_checked,
        site_codes=site_codes,
        supersedes=supersedes,
    )
    assert event is not None  # only silent periodic tests return None
    return event


def _event_record(
    *,
    customer: Customer,
    kind: str,
    zone: Zone | int | None,
    bridge: Bridge | None,
    channel: int | None,
    occurred_at: datetime,
    source: str,
    device_event_id: str,
    description: str,
    actor: AbstractBaseUser | None,
    device_time_sent: str = "",
    only_account: MonitoringAccount | None = None,
    only_station: MonitoringStation | None = None,
    now: datetime | None = None,
    record_if_silent: bool = True,
    device_event_checked: bool = False,
    site_codes: selectors.SiteCodes | None = None,
    supersedes: AlarmEvent | None = None,
) -> AlarmEvent | None:
    kind = EventKind(kind)
    if occurred_at.utcoffset() is None:
        raise ValueError("occurred_at must be timezone-aware")
    now = now or timezone.now()
    if bridge is not None and device_event_id and not device_event_checked:
        existing = selectors.device_event(bridge, device_event_id)
        if existing is not None:
            return existing

    if channel is not None and bridge is None:
        raise ValueError("a channel belongs to a bridge: pass the bridge too")
    camera = selectors.camera_on_channel(bridge, channel) if channel is not None else None
    # Fetched again by number: with its cameras, and only if it is this site's.
    number = zone.number if isinstance(zone, Zone) else zone
    rules = None
    if site_codes is not None and site_codes.customer_id != customer.pk:
        raise ValueError("site_codes were read for another site")
    if supersedes is not None and supersedes.customer_id != customer.pk:
        raise ValueError("an event of another site cannot give up its device id here")
    if (
        site_codes is not None
        and site_codes.number == number
        and (number is not None or camera is None)
    ):
        # The same zone and library the reads below would find, read with the bridge.
        zone_row, zone_cameras, rules = site_codes.zone, site_codes.cameras, site_codes.rules
    else:
        zone_row, zone_cameras = selectors.zone_for_event(customer, number=number, camera=camera)
    zone_number = number if number is not None else (zone_row.number if zone_row else None)
    if channel is not None and kind in lib.CAMERA_KINDS and zone_number is None:
        # A camera trouble names the device: its channel is the Contact ID zone field.
        zone_number = channel

    event = AlarmEvent(
        customer=customer,
        bridge=bridge,
        kind=kind,
        source=source,
        zone_number=zone_number,
        channel=channel,
        device_event_id=device_event_id,
        device_time_sent=device_time_sent,
        occurred_at=occurred_at,
        received_at=now,
        description=description[:200],
        actor=actor,
    )
    # The foreign keys are rows the caller holds; the unique rules are the database's to judge
    # (a fresh code, and the bridge's event id, already looked up above: a query each to ask
    # again would only lengthen the alarm's path).
    event.full_clean(
        exclude=["customer", "bridge", "actor"], validate_unique=False, validate_constraints=False
    )

    trigger = lib.trigger_for(kind, zone_row.zone_type if zone_row is not None else None)
    if rules is None:
        rules = selectors.code_rules(customer, trigger, zone_row)
    code = lib.code_resolve(
        trigger,
        rules,
        customer_id=customer.pk,
        zone_id=zone_row.pk if zone_row is not None else None,
    )
    try:
        with transaction.atomic():
            # Locks the site's accounts first: one site's events are written one at a time.
            accounts = selectors.transmitting_accounts(customer, lock=True)
            if only_account is not None:
                accounts = [a for a in accounts if a.pk == only_account.pk]
            if only_station is not None:
                accounts = [a for a in accounts if a.station_id == only_station.pk]
            if not record_if_silent and (code is None or not accounts):
                return None
            # Why the event sends nothing (or less than it has accounts): kept on the event, so
            # a signal that never arrived can be explained from the portal alone.
            if code is None:
                event.unsent_reason = "Its code is switched off in the alarm library."
            elif not accounts and only_station is not None:
                event.unsent_reason = (
                    f"The site has no account with a receiver at {only_station.name}."
                )[:UNSENT_REASON_MAX]
            elif not accounts:
                event.unsent_reason = "The site has no monitoring account with a receiver."
            created: list[Signal] = []
            if code is not None and accounts:
                created, refused = _signals_build(
                    event=event,
                    customer=customer,
                    accounts=accounts,
                    zone=zone_row,
                    zone_cameras=zone_cameras,
                    camera=camera,
                    code=code,
                    now=now,
                )
                if refused:
                    event.unsent_reason = "; ".join(refused)[:UNSENT_REASON_MAX]
            if supersedes is not None:
                _device_event_id_retire(supersedes)
            _event_and_signals_insert(event, created)
            # In id order: one INSERT numbers its rows in the order given.
            event.references = [signal.reference for signal in created]
    except IntegrityError:
        if bridge is None or not device_event_id:
            raise
        existing = selectors.device_event(bridge, device_event_id)
        if existing is None:
            raise
        return existing
    event.is_new = True
    if supersedes is not None:
        _log_superseded(supersedes, event)
    return event


def _device_event_id_retire(stored: AlarmEvent) -> None:
    """Free the device id ``stored`` has at its site for the event inserted next (in the
    caller's transaction). If another request did so first, nothing changes here and that
    insert is refused by the unique rule: the caller then answers with that request's event."""
    AlarmEvent.objects.filter(
        pk=stored.pk, customer_id=stored.customer_id, device_event_id=stored.device_event_id
    ).update(device_event_id=lib.retired_device_id(stored, "device_event_id"))


def _log_superseded(stored: AlarmEvent, event: AlarmEvent) -> None:
    logger.warning(
        "bridge %s used event id %r again at site %s for another event (%s, zone %s, at %s; "
        "the first was %s, zone %s, at %s): recorded as a new event, the first one's id is now "
        "%r",
        event.bridge.serial if event.bridge else "",
        stored.device_event_id,
        event.customer.site_id,
        event.kind,
        event.zone_number,
        event.occurred_at.isoformat(),
        stored.kind,
        stored.zone_number,
        stored.occurred_at.isoformat(),
        lib.retired_device_id(stored, "device_event_id"),
    )


# The event, its signals and the dispatchers' wake-up in one round trip (PostgreSQL): the
# signals' event is the row the statement before inserted, in this session.
_EVENT_INSERT = RowsInsert(AlarmEvent)
_SIGNALS_INSERT = RowsInsert(
    Signal,
    computed={
        "event": (
            f"currval(pg_get_serial_sequence('{AlarmEvent._meta.db_table}', "
            f"'{AlarmEvent._meta.pk.column}'))"
        )
    },
)


def _event_and_signals_insert(event: AlarmEvent, signals: list[Signal]) -> None:
    """Insert the event and its signals (in this order, in the caller's transaction), and wake
    the dispatchers when it commits if there are signals."""
    if connection.vendor != "postgresql":
        event.save()
        Signal.objects.bulk_create(signals)
        return
    statements = [_EVENT_INSERT.statement([event], connection)]
    if signals:
        statements.append(_SIGNALS_INSERT.statement(signals, connection))
        statements.append(wakeup.NOTIFY)
    with connection.cursor() as cursor:
        cursor.execute(
            ";\n".join(sql for sql, _ in statements),
            [param for _, params in statements for param in params],
        )
        RowsInsert.inserted([event], cursor.fetchall(), connection.alias)
        if signals:
            cursor.nextset()
            RowsInsert.inserted(signals, cursor.fetchall(), connection.alias)
    for signal in signals:
        signal.event_id = event.pk


def _signals_build(
    *,
    event: AlarmEvent,
    customer: Customer,
    accounts: list[MonitoringAccount],
    zone: Zone | None,
    zone_cameras: list[Camera],
    camera: Camera | None,
    code: str,
    now: datetime,
) -> tuple[list[Signal], list[str]]:
    """One outbox row per account, each prepared by its receiver's codec, not yet written;
    returns the rows and why an account got none (its receiver's protocol refused the
    message), one line each."""
    qualifier = lib.qualifier_for(event.kind)
    priority = lib.priority_for(code, qualifier=qualifier, is_alarm=event.kind in lib.ZONE_KINDS)
    deadline = now + settings.SIGNAL_DELIVERY_DEADLINE
    rows = []
    refused = []
    for account in accounts:
        receiver = account.station_record.receiver
        message = builders.message_build(
            event=event,
            customer=customer,
            account=account,
            zone=zone,
            zone_cameras=zone_cameras,
            camera=camera,
            qualifier=qualifier,
            code=code,
            priority=priority,
            reference=lib.reference_new(),
            base_url=settings.PORTAL_BASE_URL,
        )
        codec = codecs.codec_for(receiver.protocol)
        try:
            if codec is None:
                raise ProtocolError(f"the portal cannot send {receiver.get_protocol_display()}")
            # The codec checks the message (XML v1 validates its package against the XSD) and
            # returns what must stay fixed for every send.
            payload = codec.prepare(message, receiver_config(receiver))
        except ProtocolError as exc:
            logger.warning(
                "no signal for account %s at %s: %s", account.account_number, receiver, exc.reason
            )
            refused.append(
                f"Account {account.account_number} at {account.station}: the receiver's "
                f"protocol ({receiver.get_protocol_display()}) refused it: {exc.reason}"
            )
            continue
        rows.append(
            Signal(
                event=event,
                dealer_id=customer.dealer_id,
                customer=customer,
                account=account,
                account_number=account.account_number,
                transmitted_number=message.account,
                station_record=account.station_record,
                station_id=account.station_id,
                receiver=receiver,
                protocol=receiver.protocol,
                qualifier=qualifier.value,
                event_code=code,
                partition=message.partition,
                zone=message.zone,
                priority=priority,
                event_time=message.event_time,
                site_name=message.site_name[:200],
                zone_description=message.zone_description[:200],
                camera_description=message.camera_description[:200],
                video_url=message.video_url,
                reference=message.reference,
                payload=payload,
                next_attempt_at=now,
                deadline_at=deadline,
                created_at=now,
            )
        )
    return rows, refused


def test_signal_send(*, customer: Customer, actor: AbstractBaseUser) -> AlarmEvent:
    """The dealer's "send test signal": a test event, one signal per transmitting account."""
    return event_record(
        customer=customer,
        kind=EventKind.TEST,
        occurred_at=timezone.now(),
        source=AlarmEvent.Source.TEST_SIGNAL,
        description=f"Test signal sent by {actor.get_username()}",
        actor=actor,
    )


test_signal_send.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def periodic_tests_create(now: datetime) -> list[AlarmEvent]:
    """A periodic test for every account whose station's interval has come round.

    Idempotent per interval: an account that already has a periodic-test signal in the
    current slot (``lib.periodic_slot_start``) gets none, so the schedule may run this as often
    as it likes, and two runs at once create one test (the account row is locked, then
    re-checked).
    """
    created = []
    for account in selectors.periodic_test_candidates():
        slot = lib.periodic_slot_start(now, account.station.periodic_test_interval, seed=account.pk)
        if account.last_test_at is not None and account.last_test_at >= slot:
            continue
        event = _periodic_test_create(account=account, slot=slot, now=now)
        if event is not None:
            created.append(event)
    return created


def _periodic_test_create(
    *, account: MonitoringAccount, slot: datetime, now: datetime
) -> AlarmEvent | None:
    with transaction.atomic():
        # The site's accounts, locked in id order as every event of the site locks them
        # (``_event_record``): locking this account alone first, then the site's, deadlocked
        # with an alarm of the same site that held a lower-numbered account.
        locked = selectors.transmitting_accounts(account.customer, lock=True)
        if not any(row.pk == account.pk for row in locked):
            return None  # gone, or it sends nothing any more
        already = Signal.objects.filter(
            account=account, event__kind=EventKind.PERIODIC_TEST, created_at__gte=slot
        )
        if already.exists():
            return None
        return _event_record(
            customer=account.customer,
            kind=EventKind.PERIODIC_TEST,
            zone=None,
            bridge=None,
            channel=None,
            occurred_at=now,
            source=AlarmEvent.Source.SCHEDULE,
            device_event_id="",
            description="Periodic test",
            actor=None,
            only_account=account,
            now=now,
            # A switched-off periodic test records nothing, or every run would add an event.
            record_if_silent=False,
        )


def bridge_token_issue(*, bridge: Bridge) -> str:
    """Give the bridge a new device API token and return it; the old one stops working.

    Only its hash is stored: show the token to the dealer once, now.
    """
    token = lib.device_token_new()
    bridge.token_hash = lib.device_token_hash(token)
    bridge.save(update_fields=["token_hash"])
    return token


def library_defaults_create(*, dealer: Dealer) -> list[EventCode]:
    """Write the built-in codes into the dealer's library (entries it has are left alone)."""
    existing = set(
        EventCode.objects.for_dealer(dealer)
        .filter(customer__isnull=True, zone__isnull=True)
        .values_list("trigger", flat=True)
    )
    rows = [
        EventCode(dealer=dealer, trigger=trigger, event_code=code)
        for trigger, code in lib.DEFAULT_CODES.items()
        if trigger not in existing
    ]
    return EventCode.objects.bulk_create(rows)


# --- signals that could not be delivered ----------------------------------------------------


def signal_failure_notify(*, signal_ids: Iterable[int]) -> int:
    """E-mail each dealer's signal-failure subscribers the signals of theirs that failed (one
    message per recipient); returns how many messages went out."""
    signals = list(
        Signal.objects.filter(pk__in=list(signal_ids), state=Signal.State.FAILED)
        .select_related("customer", "station", "event")
        .order_by("dealer_id", "id")
    )
    by_dealer: dict[int, list[Signal]] = {}
    for signal in signals:
        by_dealer.setdefault(signal.dealer_id, []).append(signal)
    messages = []
    for recipient in selectors.signal_failure_recipients(by_dealer):
        failed = by_dealer[recipient.dealer_id]
        if len(failed) == 1:
            subject = (
                f"Signal not delivered: {failed[0].customer.name}, "
                f"account {failed[0].account_number}"
            )
        else:
            subject = f"{len(failed)} signals not delivered"
        messages.append(EmailMessage(subject, _failure_body(failed), to=[recipient.email]))
    return _send_all(messages)


def _failure_body(signals: list[Signal]) -> str:
    seconds = int(settings.SIGNAL_DELIVERY_DEADLINE.total_seconds())
    deadline = f"{seconds // 60} minutes" if seconds >= 120 else f"{seconds} seconds"
    these = "This alarm signal" if len(signals) == 1 else f"These {len(signals)} alarm signals"
    lines = [
        f"{these} could not be delivered to the monitoring station (refused for good by its "
        f"receiver, or not acknowledged within {deadline}) and "
        f"{'was' if len(signals) == 1 else 'were'} marked failed. Call the station to pass "
        "the event on.",
        "",
    ]
    for signal in signals:
        lines += [
            f"- {signal.customer.name}: account {signal.account_number} at {signal.station}, "
            f"{signal.qualifier}{signal.event_code} ({signal.event.get_kind_display()}), "
            f"happened {signal.event.occurred_at:%Y-%m-%d %H:%M:%S %Z}",
            f"  reference {signal.reference}; {signal.attempts} attempt(s); "
            f"last error: {signal.last_error or signal.ack_reason or 'none'}",
        ]
    url = f"{settings.PORTAL_BASE_URL}{reverse('signals:list')}?state={Signal.State.FAILED}"
    lines += ["", f"Failed signals: {url}"]
    return "\n".join(lines)


def _send_all(messages: list[EmailMessage]) -> int:
    """Send over one connection. A mail server that is down must never stop alarms: log it."""
    if not messages:
        return 0
    try:
        return get_connection().send_messages(messages) or 0
    except Exception:
        logger.exception("could not send %d notification e-mail(s)", len(messages))
        return 0


# --- the alarm library pages ----------------------------------------------------------------

# A library entry as the pages set it: (Contact ID code, switched on). A site or zone entry
# switched off may leave the code empty: it sends nothing, so any valid code will do.
CodeEntry = tuple[str, bool]


def code_library_save(*, dealer: Dealer, entries: Mapping[str, CodeEntry]) -> list[EventCode]:
    """Set the dealer's library (dealer-level entries only); returns the entries it wrote.

    A trigger without an entry that is given its built-in code, switched on, gets none: it
    keeps following the built-in table. Unchanged entries are not written.
    """
    written = []
    with transaction.atomic():
        # Locked, so two owners saving at once take turns instead of racing on inserts.
        existing = {
            entry.trigger: entry
            for entry in EventCode.objects.for_dealer(dealer)
            .filter(customer__isnull=True, zone__isnull=True)
            # Only this table's rows: PostgreSQL cannot lock the nullable side of a join.
            .select_for_update(of=("self",))
        }
        for trigger, (event_code, enabled) in entries.items():
            entry = existing.get(trigger)
            if entry is None and enabled and event_code == lib.DEFAULT_CODES.get(trigger):
                continue
            if entry is None:
                entry = EventCode(dealer=dealer, trigger=trigger)
            saved = _code_entry_write(entry, event_code=event_code, enabled=enabled)
            if saved is not None:
                written.append(saved)
    return written


def site_codes_save(
    *,
    customer: Customer,
    site: Mapping[str, CodeEntry | None],
    zones: Mapping[Zone, CodeEntry | None],
) -> list[EventCode]:
    """Set a site's overrides of the library, by trigger, and its zones' (each zone's alarm
    trigger for its current type); None clears an override. Returns the entries it wrote."""
    written = []
    with transaction.atomic():
        entries = list(
            EventCode.objects.filter(dealer_id=customer.dealer_id, customer=customer)
            .select_related("customer", "zone")
            .select_for_update(of=("self",))
        )
        site_entries = {e.trigger: e for e in entries if e.zone_id is None}
        zone_entries = {(e.zone_id, e.trigger): e for e in entries if e.zone_id is not None}
        changes: list[tuple[EventCode, CodeEntry | None]] = []
        for trigger, value in site.items():
            entry = site_entries.get(trigger) or EventCode(
                dealer_id=customer.dealer_id, customer=customer, trigger=trigger
            )
            changes.append((entry, value))
        for zone, value in zones.items():
            if zone.customer_id != customer.pk:
                raise ValidationError({"zone": "Choose one of this site's zones."})
            trigger = lib.zone_trigger(zone.zone_type)
            entry = zone_entries.get((zone.pk, trigger)) or EventCode(
                dealer_id=customer.dealer_id, customer=customer, zone=zone, trigger=trigger
            )
            changes.append((entry, value))
        for entry, value in changes:
            if value is None:
                if entry.pk is not None:
                    entry.delete()
                continue
            event_code, enabled = value
            # An override switched off without a code keeps the one it had, else the default.
            event_code = event_code or entry.event_code or lib.DEFAULT_CODES[entry.trigger]
            saved = _code_entry_write(entry, event_code=event_code, enabled=enabled)
            if saved is not None:
                written.append(saved)
    return written


def _code_entry_write(entry: EventCode, *, event_code: str, enabled: bool) -> EventCode | None:
    """Create or update one library entry; None when it already says this."""
    if entry.pk is not None and (entry.event_code, entry.enabled) == (event_code, enabled):
        return None
    entry.event_code, entry.enabled = event_code, enabled
    entry.full_clean()
    if entry.pk is None:
        entry.save()
    else:
        entry.save(update_fields=["event_code", "enabled", "updated_at"])
    return entry


# --- the protocol's secret ----------------------------------------------------------------


@dataclass(frozen=True)
class SecretRotation:
    """What asking a receiver for a new protocol secret did."""

    rotated: bool
    message: str  # for the station admin (never the secret)


def receiver_secret_rotate(*, receiver: Receiver, actor: Any = None) -> SecretRotation:
    """Ask the receiver for a new protocol secret (SOS Access ``requestnewauthentication``)
    over its paths; the exchange stores it only once the receiver confirmed it.

    Anything short of a confirmed, well-formed new secret (no connection, no reply, a refusal,
    a connection lost mid-exchange) keeps the stored one: the protocol keeps the old one valid
    at the receiver until the new one is first used. Storing is a compare-and-swap on the old
    secret (``signals.sending``), so two rotations at once cannot both win. The secret is never
    logged or returned.
    """
    from signals.dispatcher import tls_context  # the dispatcher imports this module
    from signals.sending import Sender

    codec = codecs.codec_for(receiver.protocol)
    if codec is None or not codec.rotates_secret:
        return SecretRotation(False, f"{receiver.get_protocol_display()} has no secret to rotate.")
    old = Receiver.objects.filter(pk=receiver.pk).values_list("wire_credential", flat=True).get()
    sender = Sender(ssl_context=tls_context(), stop=threading.Event())
    try:
        attempts = sender.rotate_secret(receiver.pk)
    finally:
        sender.close()
    if not attempts:
        return SecretRotation(False, "The receiver has no path to ask it over.")
    last = attempts[-1]
    now = Receiver.objects.filter(pk=receiver.pk).values_list("wire_credential", flat=True).get()
    if last.outcome != DeliveryAttempt.Outcome.DELIVERED or now == old:
        said = "; ".join(
            f"{a.role or 'no path'}: {a.reason or a.error or a.status}" for a in attempts
        )
        logger.warning("receiver %s: secret not rotated (%s)", receiver.pk, lib.text_safe(said))
        return SecretRotation(False, f"Not rotated; the stored secret stays in use. {said}")
    logger.info("receiver %s: protocol secret rotated by %s", receiver.pk, actor or "the portal")
    return SecretRotation(True, "The receiver confirmed a new secret; it is stored and in use.")
