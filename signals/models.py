"""Events at sites, the outbox of signals they produce, each delivery attempt, and the
dealer's alarm library (which Contact ID code each kind of event sends)."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from simple_history.models import HistoricalRecords

from customers.models import Bridge, Customer, MonitoringAccount, Zone
from dealers.models import Dealer, DealerOwnedQuerySet
from signals import codecs
from signals.codecs.base import Qualifier
from signals.lib import EventKind, Trigger, bytes_for_people, payload_for_people, text_safe
from stations.models import DealerStation, MonitoringStation, Receiver, ReceiverPath

CONTACT_ID_ZONE_MAX = 999
CONTACT_ID_PARTITION_MAX = 99
REFERENCE_MAX = 64
# What a reply or an error may take up in a DeliveryAttempt row.
REPLY_MAX = 2000
ERROR_MAX = 2000
# An event the portal received further than this from the time its device gave it (a wrong
# clock, or an event the device kept while it was offline) shows both times.
RECEIVED_APART = timedelta(minutes=5)

event_code_validator = RegexValidator(r"^[0-9]{3}$", "A Contact ID code has exactly 3 digits.")


class AlarmEventQuerySet(DealerOwnedQuerySet):
    dealer_path = "customer__dealer"


class AlarmEvent(models.Model):
    """Something that happened at a site: from its bridge, the test button, or the schedule."""

    Kind = EventKind

    class Source(models.TextChoices):
        DEVICE = "device", "Bridge"
        TEST_SIGNAL = "test_signal", "Test signal button"
        SCHEDULE = "schedule", "Periodic test schedule"
        OPERATOR = "operator", "Station operator"
        # The portal noticing a bridge gone silent, and back (media's bridge watchdog).
        SUPERVISION = "supervision", "Portal supervision"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Events are the site's history and go with it (sites are archived, not deleted).
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="alarm_events")
    # The history stays when a bridge is replaced; its idempotency key then no longer matters.
    bridge = models.ForeignKey(
        Bridge, on_delete=models.SET_NULL, null=True, blank=True, related_name="alarm_events"
    )
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    source = models.CharField(max_length=20, choices=Source.choices)
    # The Contact ID zone field: a zone number, kept even if the zone is later deleted.
    zone_number = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(CONTACT_ID_ZONE_MAX)]
    )
    channel = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="The bridge's camera channel the event is about."
    )
    # The device's own id for the event: the same id twice is the same event.
    device_event_id = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField(help_text="When it happened, by the device's clock.")
    # The time as the device sent it (a device event's; "" for others and for events stored
    # before it was kept): what tells the same event sent again from another one with its id
    # (signals.api.same_event), even when ``occurred_at`` is the time received instead.
    device_time_sent = models.CharField(max_length=64, blank=True, editable=False)
    # When the portal had it: the order events are listed in, since a device's clock can be
    # wrong (a bridge without a clock battery boots at its firmware's date).
    received_at = models.DateTimeField(default=timezone.now)
    description = models.CharField(max_length=200, blank=True)
    unsent_reason = models.CharField(
        max_length=500,
        blank=True,
        help_text="Why the event sent no signal (or none to some of its accounts).",
    )
    # Who pressed "send test signal" (or opened the cameras); kept if the user goes.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = AlarmEventQuerySet.as_manager()

    # True only on the instance ``services.event_record`` has just created; an answer to a
    # repeated device event id is the stored event, with this False.
    is_new: bool = False
    # On that new instance, and on a stored one the device API read with them
    # (``selectors.bridge_and_device_event``), its signals' references in id order (what the
    # device API answers with); None on any other: read them (``selectors.event_references``).
    references: list[str] | None = None

    class Meta:
        ordering = ["-received_at", "-id"]
        constraints = [
            # Per site: a bridge moved to another site keeps its old site's events, and the
            # ids it sends there (a bridge reset counts from 1 again) are new events.
            models.UniqueConstraint(
                fields=["bridge", "customer", "device_event_id"],
                condition=~Q(device_event_id=""),
                name="signals_event_unique_bridge_site_device_event",
                violation_error_message=(
                    "This bridge already reported an event with this id at this site."
                ),
            ),
            models.CheckConstraint(
                condition=Q(zone_number__isnull=True) | Q(zone_number__lte=CONTACT_ID_ZONE_MAX),
                name="signals_event_zone_range",
                violation_error_message=f"Zone numbers run up to {CONTACT_ID_ZONE_MAX}.",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=EventKind.values),
                name="signals_event_kind_valid",
                violation_error_message="Unknown event kind.",
            ),
        ]
        indexes = [
            # A site's recent events, latest received first: the deep-link site page and the
            # customer page's media panel.
            models.Index(fields=["customer", "-received_at", "-id"], name="signals_event_received"),
        ]

    def __str__(self) -> str:
        zone = f" zone {self.zone_number:03d}" if self.zone_number is not None else ""
        return f"{self.get_kind_display()}{zone} at {self.customer_id} ({self.occurred_at})"

    @property
    def received_apart(self) -> bool:
        """Received further than ``RECEIVED_APART`` from when its device says it happened:
        the pages then show when the portal received it as well."""
        return abs(self.received_at - self.occurred_at) > RECEIVED_APART


class SignalQuerySet(DealerOwnedQuerySet):
    def due(self, now) -> SignalQuerySet:
        """Pending signals whose time has come and that no live lease holds.

        The dispatcher adds its own ordering (priority, next_attempt_at, id), the per-account
        rule (no earlier pending signal of the same station and account number) and
        ``select_for_update(skip_locked=True)``.
        """
        return self.filter(state=Signal.State.PENDING, next_attempt_at__lte=now).filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
        )


class Signal(models.Model):
    """One alarm package for one station account: the outbox row.

    Written in the same transaction as its event, with the message in no protocol yet (the
    event, the account as transmitted, the site's texts, the deep link, a unique reference) and
    whatever the receiver's codec fixed then (``payload``: XML v1's exact package; empty for
    protocols whose bytes carry send-time sequence numbers, timestamps or credentials). If it
    committed, the dispatcher delivers it: it claims due rows with
    ``SELECT ... FOR UPDATE SKIP LOCKED``, sets ``lease_owner``/``lease_expires_at``, sends in
    the receiver's protocol, and records a ``DeliveryAttempt`` with the bytes sent. A worker that
    dies leaves a lease that expires; the next worker resends the same message (same
    reference).

    Ordering: ``services.event_record`` locks the site's account rows before inserting, so the
    ids of one account's signals follow the order their events were recorded and committed.

    Priority (1 = first; ``lib.priority_for``): 1 fire, 2 hold-up/panic, 3 burglary, 4 other
    alarms, 5 troubles and restores, 6 tests and system events (open/close, cameras viewed ...).
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A signal is part of its event's history.
    event = models.ForeignKey(AlarmEvent, on_delete=models.CASCADE, related_name="signals")
    # Tenancy. Dealers with customers cannot be deleted (customers.Customer.dealer PROTECTs).
    # No index of its own: signals_signal_dealer_recent starts with it (every index is one
    # more entry for the dispatcher to write per delivered signal).
    dealer = models.ForeignKey(
        Dealer, on_delete=models.PROTECT, related_name="signals", db_index=False
    )
    # The site's history; sites are archived, not deleted. Indexed by
    # signals_signal_customer_recent, which starts with it.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="signals", db_index=False
    )
    # Removing an account keeps its signals: the number they carried is copied below.
    account = models.ForeignKey(
        MonitoringAccount,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="signals",
    )
    account_number = models.CharField(
        max_length=20, help_text="The account number as it was when the signal was created."
    )
    # What the signal carries: without the dealer's prefix when the receiver adds it.
    transmitted_number = models.CharField(max_length=20, blank=True)
    # The dealer's record can go (when no account uses it); the list shows what it was.
    station_record = models.ForeignKey(
        DealerStation,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="signals",
    )
    # Account numbers are unique per station: the station is half of the ordering key, and
    # signals_signal_account_order, which starts with it, is its index.
    station = models.ForeignKey(
        MonitoringStation, on_delete=models.PROTECT, related_name="signals", db_index=False
    )
    # A receiver that still has signals to deliver (or a history of them) cannot disappear.
    receiver = models.ForeignKey(Receiver, on_delete=models.PROTECT, related_name="signals")
    protocol = models.CharField(
        max_length=20,
        choices=Receiver.Protocol.choices,
        help_text="The receiver's protocol: when the signal was written, then as last sent.",
    )
    qualifier = models.CharField(
        max_length=1, choices=[(q.value, q.name.title()) for q in Qualifier]
    )
    event_code = models.CharField(max_length=3, validators=[event_code_validator])
    partition = models.PositiveSmallIntegerField(
        default=1, validators=[MaxValueValidator(CONTACT_ID_PARTITION_MAX)]
    )
    zone = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(CONTACT_ID_ZONE_MAX)],
        help_text="Contact ID zone or user number; 0 when the event has none.",
    )
    priority = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(9)], help_text="1 goes first."
    )
    event_time = models.DateTimeField(help_text="When the event happened.")
    site_name = models.CharField(max_length=200)
    zone_description = models.CharField(max_length=200, blank=True)
    camera_description = models.CharField(max_length=200, blank=True)
    video_url = models.CharField(
        max_length=2000, blank=True, help_text="The deep link onto the site's cameras."
    )
    reference = models.CharField(max_length=REFERENCE_MAX)
    # What the codec fixed when the row was written (XML v1: the exact package, validated;
    # every resend sends it). Empty for protocols that build everything at send time.
    payload = models.BinaryField(blank=True, default=b"")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(help_text="Marked failed if not delivered by then.")
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    ack_status = models.CharField(
        max_length=20, blank=True, help_text="The receiver's last answer (accepted, rejected ...)."
    )
    ack_reason = models.CharField(max_length=500, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = SignalQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["reference"],
                name="signals_signal_unique_reference",
                violation_error_message="Another signal already has this reference.",
            ),
            models.CheckConstraint(
                condition=Q(reference__regex=rf"^[A-Za-z0-9-]{{1,{REFERENCE_MAX}}}$"),
                name="signals_signal_reference_format",
                violation_error_message="A reference has 1-64 letters, digits or '-'.",
            ),
            models.CheckConstraint(
                condition=Q(qualifier__in=[q.value for q in Qualifier]),
                name="signals_signal_qualifier_valid",
                violation_error_message="The qualifier is E, R or P.",
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=1, priority__lte=9),
                name="signals_signal_priority_range",
                violation_error_message="Priority runs from 1 (first) to 9.",
            ),
            models.CheckConstraint(
                condition=Q(event_code__regex=r"^[0-9]{3}$"),
                name="signals_signal_event_code_digits",
                violation_error_message="A Contact ID code has exactly 3 digits.",
            ),
            models.CheckConstraint(
                condition=Q(zone__lte=CONTACT_ID_ZONE_MAX, partition__lte=CONTACT_ID_PARTITION_MAX),
                name="signals_signal_zone_partition_range",
                violation_error_message="Zone runs to 999 and partition to 99.",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "delivered", "failed"]),
                name="signals_signal_state_valid",
                violation_error_message="Unknown signal state.",
            ),
            models.CheckConstraint(
                condition=~Q(state="delivered") | Q(delivered_at__isnull=False),
                name="signals_signal_delivered_has_time",
                violation_error_message="A delivered signal records when.",
            ),
        ]
        indexes = [
            # The dispatcher's due query: pending rows by priority, then by when they are due.
            # Partial, so it stays as small as the backlog however long the history grows.
            models.Index(
                fields=["priority", "next_attempt_at", "id"],
                condition=Q(state="pending"),
                name="signals_signal_due",
            ),
            # Per-account ordering: "is there an earlier pending signal for this station and
            # account number?" before claiming one; also one account's history in order.
            models.Index(
                fields=["station", "account_number", "id"], name="signals_signal_account_order"
            ),
            # The same question asked by every claim, answered from the pending rows only: it
            # stays as small as the backlog however long an account's history grows.
            models.Index(
                fields=["station", "account_number", "id"],
                condition=Q(state="pending"),
                name="signals_signal_pending_account",
            ),
            # The dealer-wide signal list, newest first.
            models.Index(fields=["dealer", "-created_at"], name="signals_signal_dealer_recent"),
            # The customer's signal list, newest first.
            models.Index(fields=["customer", "-created_at"], name="signals_signal_customer_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.qualifier}{self.event_code} for account {self.account_number} ({self.state})"

    @property
    def payload_text(self) -> str:
        """The payload as text, for people (PostgreSQL hands back a memoryview)."""
        return bytes_for_people(self.payload, text_encoding(self.protocol))[0]

    @property
    def payload_for_people(self) -> str:
        """The payload as the signal list shows it: XML indented, one element a line."""
        return payload_for_people(self.payload)

    @property
    def contact_id(self) -> str:
        """The Contact ID message, e.g. ``3444 18 1130 01 017``."""
        digit = Qualifier(self.qualifier).contact_id
        return (
            f"{self.account_number} 18 {digit}{self.event_code} {self.partition:02d} "
            f"{self.zone:03d}"
        )


class DeliveryAttemptQuerySet(DealerOwnedQuerySet):
    dealer_path = "signal__dealer"


class DeliveryAttempt(models.Model):
    """One try at delivering a signal: which path, how long, and what came back."""

    class Outcome(models.TextChoices):
        """The codecs' outcomes (``signals.codecs.base.Outcome``), and no answer at all."""

        DELIVERED = "delivered", "Delivered"
        DUPLICATE = "duplicate", "Duplicate (already delivered)"
        RETRY = "retry", "Not taken now: retry later"
        FAILOVER = "failover", "Receiver asked for the alternate path"
        RESYNC = "resync", "Receiver's clock differs: resent at once"
        REJECTED = "rejected", "Refused for good"
        TIMEOUT = "timeout", "No reply in time"
        ERROR = "error", "Error"

    # Attempts are part of their signal's record; signals_attempt_signal_time, which starts
    # with the signal, is its index.
    signal = models.ForeignKey(
        Signal, on_delete=models.CASCADE, related_name="delivery_attempts", db_index=False
    )
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    # The path may be reconfigured later; the role it had is copied.
    path = models.ForeignKey(
        ReceiverPath, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    path_role = models.CharField(max_length=10, blank=True)
    dispatcher_id = models.CharField(max_length=100, blank=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    protocol = models.CharField(max_length=20, blank=True)
    # The protocol message as sent (encrypted, if it was), and, when it was encrypted, the same
    # message decrypted for people: the key itself is never stored here. A message sent exactly
    # as the signal stores it (its payload, which never changes) is not copied into each of its
    # attempts: ``sent`` stays empty and ``sent_is_payload`` says so (``sent_message``).
    sent = models.BinaryField(blank=True, default=b"")
    sent_decrypted = models.BinaryField(blank=True, default=b"")
    sent_is_payload = models.BooleanField(
        default=False, help_text="What was sent is the signal's payload, byte for byte."
    )
    # Exactly what the receiver sent, whatever the bytes (a NUL, UTF-16, binary): a text
    # column would refuse some of them (PostgreSQL has no NUL in text) and lose the batch.
    reply = models.BinaryField(
        blank=True, default=b"", help_text=f"The reply's bytes as received, cut to {REPLY_MAX}."
    )
    error = models.TextField(blank=True)

    objects = DeliveryAttemptQuerySet.as_manager()

    class Meta:
        ordering = ["signal", "started_at", "id"]
        indexes = [
            # A signal's attempts in order (signal pages, admin inline).
            models.Index(fields=["signal", "started_at"], name="signals_attempt_signal_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} at {self.started_at}"

    def save(self, *args, **kwargs) -> None:
        # Replies are untrusted and unbounded: keep what a person needs to read.
        self.reply = bytes(self.reply)[:REPLY_MAX]
        self.error = text_safe(self.error, ERROR_MAX)
        super().save(*args, **kwargs)

    @property
    def reply_text(self) -> str:
        """The reply for people: as it is when it is plain UTF-8 text, else with its odd bytes
        shown as ``\\xNN`` (``reply_escaped`` says which)."""
        return bytes_for_people(self.reply, text_encoding(self.protocol))[0]

    @property
    def reply_escaped(self) -> bool:
        return bytes_for_people(self.reply, text_encoding(self.protocol))[1]

    @property
    def sent_message(self) -> bytes:
        """What was sent (encrypted, if it was): kept here, or the signal's payload. Reading an
        attempt's signal costs a query unless it came with it (``select_related``, or the
        signal's prefetched ``delivery_attempts``)."""
        return bytes(self.signal.payload) if self.sent_is_payload else bytes(self.sent)

    @property
    def sent_text(self) -> str:
        """What was sent, for people: decrypted when it went encrypted (``sent_was_encrypted``)."""
        sent = self.sent_decrypted or self.sent_message
        return bytes_for_people(sent, text_encoding(self.protocol))[0]

    @property
    def sent_was_encrypted(self) -> bool:
        return bool(self.sent_decrypted)


class EventCodeQuerySet(DealerOwnedQuerySet):
    pass


class EventCode(models.Model):
    """An entry of a dealer's alarm library: the Contact ID code one trigger sends, or none.

    Three levels: the dealer's library (no site, no zone), a site override (site), a zone
    override (zone, and its site). The most specific entry wins (``lib.code_resolve``); an
    entry switched off sends nothing. A zone entry names the zone type it overrides: if the
    zone's type changes, the new type's codes apply again.
    """

    class Level(models.TextChoices):
        DEALER = "dealer", "Dealer library"
        SITE = "site", "Site"
        ZONE = "zone", "Zone"

    Trigger = Trigger

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Library entries go with their dealer, site or zone.
    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="event_codes")
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="event_codes"
    )
    zone = models.ForeignKey(
        Zone, on_delete=models.CASCADE, null=True, blank=True, related_name="event_codes"
    )
    trigger = models.CharField(max_length=30, choices=Trigger.choices)
    event_code = models.CharField(
        "Contact ID code", max_length=3, validators=[event_code_validator]
    )
    enabled = models.BooleanField(
        default=True,
        help_text="Off: this trigger sends no signal (e.g. the alarm panel already reports "
        "this zone).",
    )
    updated_at = models.DateTimeField(auto_now=True)

    # Who changed the dealer's, a site's or a zone's codes, and when (the timelines).
    history = HistoricalRecords(excluded_fields=["updated_at"])
    objects = EventCodeQuerySet.as_manager()

    class Meta:
        ordering = ["dealer", "customer", "zone", "trigger"]
        constraints = [
            models.UniqueConstraint(
                fields=["dealer", "trigger"],
                condition=Q(customer__isnull=True, zone__isnull=True),
                name="signals_eventcode_unique_dealer_trigger",
                violation_error_message="Your library already has an entry for this trigger.",
            ),
            models.UniqueConstraint(
                fields=["customer", "trigger"],
                condition=Q(customer__isnull=False, zone__isnull=True),
                name="signals_eventcode_unique_site_trigger",
                violation_error_message="This site already overrides this trigger.",
            ),
            models.UniqueConstraint(
                fields=["zone", "trigger"],
                condition=Q(zone__isnull=False),
                name="signals_eventcode_unique_zone_trigger",
                violation_error_message="This zone already overrides this trigger.",
            ),
            models.CheckConstraint(
                condition=Q(zone__isnull=True) | Q(customer__isnull=False),
                name="signals_eventcode_zone_has_site",
                violation_error_message="A zone override also names the zone's site.",
            ),
            models.CheckConstraint(
                condition=Q(event_code__regex=r"^[0-9]{3}$"),
                name="signals_eventcode_code_digits",
                violation_error_message="A Contact ID code has exactly 3 digits.",
            ),
        ]

    def __str__(self) -> str:
        state = self.event_code if self.enabled else "off"
        return f"{self.get_trigger_display()}: {state} ({self.get_level_display()})"

    @property
    def level(self) -> str:
        if self.zone_id is not None:
            return self.Level.ZONE
        if self.customer_id is not None:
            return self.Level.SITE
        return self.Level.DEALER

    def get_level_display(self) -> str:
        return self.Level(self.level).label

    def clean(self) -> None:
        if self.zone_id is not None:
            # The site follows from the zone; nobody should have to pick it twice.
            self.customer_id = self.zone.customer_id
        if (
            self.customer_id is not None
            and self.dealer_id is not None
            and self.customer.dealer_id != self.dealer_id
        ):
            raise ValidationError({"customer": "Choose one of this dealer's sites."})


def text_encoding(protocol: str) -> str:
    """How a person reads a protocol's bytes (UTF-8 for a protocol the portal cannot speak)."""
    codec = codecs.codec_for(protocol)
    return codec.text_encoding if codec is not None else "utf-8"


class RequestCount(models.Model):
    """One of the device API's limits (``signals.limits``): the requests a bridge token or a
    client address sent in the current fixed window.

    One row per counter, not per window: a request in a later window starts the count again
    in the same row, so the table holds as many rows as there are tokens and addresses that
    sent something lately (``limits.purge`` deletes the rest)."""

    key = models.CharField(max_length=120, primary_key=True)
    # The end of the counted window, in whole seconds since the epoch (as the counters' clock,
    # ``time.time()``, counts; an integer compares alike on every engine).
    window_ends = models.BigIntegerField()
    count = models.PositiveIntegerField()

    def __str__(self) -> str:
        return f"{self.key}: {self.count}"
