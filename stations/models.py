"""Central stations, the receivers they publish, and each dealer's record of a station."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.models import HistoricalRecords

from dealers.lib import validate_time_zone
from dealers.models import Dealer, DealerOwnedQuerySet, Invitation
from stations import lib, protocols


class MonitoringStation(models.Model):
    """A central station that watches alarms with its automation software."""

    class Platform(models.TextChoices):
        MASTERMIND = "mastermind", "MASterMind"
        BOLD_MANITOU = "bold_manitou", "Bold Manitou"
        SENTINEL = "sentinel", "Sentinel"
        GENERIC = "generic", "Other (generic)"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200, unique=True)
    platform = models.CharField(max_length=20, choices=Platform.choices)
    requires_reference_id = models.BooleanField(
        default=False, help_text="Dealers must enter a reference ID on every account."
    )
    reference_id_label = models.CharField(
        max_length=50,
        blank=True,
        help_text="What the station's software calls the reference ID. Set from the platform; "
        "only a generic platform's station names it.",
    )
    # The tokens the station's software replaces in a deep-link URL; blank: the platform's
    # (stations.lib.PLATFORMS). Public material does not document every platform's syntax.
    account_macro = models.CharField(
        max_length=50, blank=True, help_text="Token for the account number; blank: default."
    )
    reference_macro = models.CharField(
        max_length=50, blank=True, help_text="Token for the reference ID; blank: default."
    )
    zone_macro = models.CharField(
        max_length=50, blank=True, help_text="Token for the zone; blank: default."
    )
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    # Off when empty. The task engine (signals.tasks) queues one test per account per interval.
    periodic_test_interval = models.DurationField(
        null=True,
        blank=True,
        validators=[MinValueValidator(timedelta(minutes=1))],
        help_text="How often every account at this station sends a periodic test (e.g. "
        "24:00:00 for daily). Empty: no periodic tests.",
    )
    listed_dealers = models.ManyToManyField(
        Dealer,
        blank=True,
        related_name="listed_by_stations",
        help_text="Dealers offered this station's receivers that are visible to listed dealers.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # Who changed the station's settings and when (station admins, platform staff).
    history = HistoricalRecords(m2m_fields=[listed_dealers])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # The platform names the reference ID; a generic station names it itself.
        if self.platform != self.Platform.GENERIC or not self.reference_id_label.strip():
            self.reference_id_label = self.profile.reference_label
        super().save(*args, **kwargs)

    @property
    def profile(self) -> lib.Platform:
        """The automation platform's profile: reference ID name, alias, URL macros."""
        return lib.platform(self.platform)

    def deep_link_guide(self, *, base_url: str, example: lib.LinkExample | None):
        """The URL templates to paste into this station's automation software."""
        return lib.deep_link_guide(
            profile=self.profile,
            macros=self.macros,
            reference_label=self.reference_id_label,
            reference_required=self.requires_reference_id,
            base_url=base_url,
            example=example,
        )

    @property
    def macros(self) -> tuple[str, str, str]:
        """The account, reference and zone tokens of the station's deep-link templates."""
        profile = self.profile
        return (
            self.account_macro or profile.account_macro,
            self.reference_macro or profile.reference_macro,
            self.zone_macro or profile.zone_macro,
        )


class ReceiverQuerySet(models.QuerySet["Receiver"]):
    def offered_to(self, dealer: Dealer) -> ReceiverQuerySet:
        """Active receivers a dealer may choose: public ones, and listed ones if listed."""
        listed = MonitoringStation.listed_dealers.through.objects.filter(
            monitoringstation_id=OuterRef("station_id"), dealer_id=dealer.pk
        )
        return self.filter(is_active=True, station__is_active=True).filter(
            Q(visibility=Receiver.Visibility.PUBLIC)
            | Q(Exists(listed), visibility=Receiver.Visibility.LISTED)
        )


class Receiver(models.Model):
    """A network endpoint of a station that accepts alarm signals in one protocol."""

    class Protocol(models.TextChoices):
        XML_V1 = "xml_v1", "Portal XML v1"
        SOS_ACCESS_V4 = "sos_access_v4", "SOS Access v4"
        SIA_DC09 = "sia_dc09", "SIA DC-09"

    class Visibility(models.TextChoices):
        PUBLIC = "public", "Every dealer who has the passkey"
        LISTED = "listed", "Only dealers the station lists"
        NONE = "none", "No dealer (existing records keep working)"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A receiver only exists as part of its station.
    station = models.ForeignKey(
        MonitoringStation, on_delete=models.CASCADE, related_name="receivers"
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    protocol = models.CharField(max_length=20, choices=Protocol.choices, default=Protocol.XML_V1)
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    receiver_number = models.CharField(
        max_length=20, blank=True, help_text="Receiver number, where the protocol carries one."
    )
    line_number = models.CharField(
        max_length=20, blank=True, help_text="Line number, where the protocol carries one."
    )
    # Only a salted hash: the station hands the passkey to dealers; the portal never shows it.
    passkey_hash = models.CharField(max_length=256, editable=False)
    # Rotating the passkey changes what new dealer records must give; records already made
    # keep working (the passkey is checked when a record chooses the receiver, never after).
    passkey_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    adds_prefix = models.BooleanField(
        "receiver adds the prefix",
        default=False,
        help_text="The receiver puts the dealer's account prefix in front of every account "
        "number itself: dealers enter numbers without the prefix and signals carry them "
        "without it.",
    )
    # The protocol's own settings, as its settings form (stations.protocols) cleaned them.
    protocol_settings = models.JSONField(default=dict, blank=True)
    # A secret the protocol itself carries (a DC-09 key, an SOS Access authentication): used to
    # send, never shown again nor logged, kept out of the history.
    wire_credential = models.CharField(
        max_length=100,
        blank=True,
        help_text="A credential the protocol itself sends (e.g. a DC-09 key, an SOS Access "
        "authentication). Not the passkey.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # The hash and the protocol's secret stay out of the history; passkey_changed_at says when
    # the passkey was rotated.
    history = HistoricalRecords(excluded_fields=["passkey_hash", "wire_credential"])
    objects = ReceiverQuerySet.as_manager()

    class Meta:
        ordering = ["station__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "name"],
                name="stations_receiver_unique_station_name",
                violation_error_message="This station already has a receiver with this name.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.station} · {self.name}"

    def set_passkey(self, raw_passkey: str) -> None:
        self.passkey_hash = make_password(raw_passkey)
        self.passkey_changed_at = timezone.now()

    def check_passkey(self, raw_passkey: str) -> bool:
        return bool(raw_passkey) and check_password(raw_passkey, self.passkey_hash)


class ReceiverPath(models.Model):
    """One way to reach a receiver: the primary path, or the alternate used for failover."""

    class Role(models.TextChoices):
        PRIMARY = "primary", "Primary"
        ALTERNATE = "alternate", "Alternate"

    class Transport(models.TextChoices):
        TCP = "tcp", "TCP (TLS when use_tls)"
        UDP = "udp", "UDP"
        HTTPS = "https", "HTTPS POST"

    # A path only exists as part of its receiver.
    receiver = models.ForeignKey(Receiver, on_delete=models.CASCADE, related_name="paths")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.PRIMARY)
    transport = models.CharField(max_length=10, choices=Transport.choices, default=Transport.TCP)
    host = models.CharField(max_length=253)
    port = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(65535)])
    use_tls = models.BooleanField(default=True)
    url_path = models.CharField(
        "URL path",
        max_length=200,
        default="/",
        help_text="HTTPS only: the path the station gave, e.g. /alarm-receiver/signals.",
    )
    connect_timeout = models.FloatField(
        default=5.0, validators=[MinValueValidator(0.1)], help_text="Seconds."
    )
    reply_timeout = models.FloatField(
        default=10.0, validators=[MinValueValidator(0.1)], help_text="Seconds."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["receiver", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["receiver", "role"],
                name="stations_receiverpath_unique_receiver_role",
                violation_error_message="A receiver has one primary and one alternate path.",
            ),
            models.CheckConstraint(
                condition=Q(port__gte=1, port__lte=65535),
                name="stations_receiverpath_port_range",
                violation_error_message="The port must be between 1 and 65535.",
            ),
            # Alarm packages never cross the network in clear text over HTTP.
            models.CheckConstraint(
                condition=~Q(transport="https") | Q(use_tls=True),
                name="stations_receiverpath_https_uses_tls",
                violation_error_message="An HTTPS path always uses TLS.",
            ),
            models.CheckConstraint(
                condition=Q(url_path__startswith="/"),
                name="stations_receiverpath_url_path_absolute",
                violation_error_message="The URL path starts with '/'.",
            ),
            # Datagrams have no TLS: protocols that use UDP encrypt their messages themselves.
            models.CheckConstraint(
                condition=~Q(transport="udp") | Q(use_tls=False),
                name="stations_receiverpath_udp_without_tls",
                violation_error_message="A UDP path cannot use TLS (the protocol encrypts).",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_role_display()} {self.url}"

    def clean(self) -> None:
        receiver = getattr(self, "receiver", None) if self.receiver_id else None
        if receiver is not None:
            allowed = protocols.spec_for(receiver.protocol).transports
            if allowed and self.transport not in allowed:
                names = " or ".join(
                    str(label) for value, label in self.Transport.choices if value in allowed
                )
                raise ValidationError(
                    {"transport": f"{receiver.get_protocol_display()} goes over {names}."}
                )

    @property
    def url(self) -> str:
        """Where the path leads, e.g. ``tls://receiver.example:9100`` or an https URL."""
        if self.transport == self.Transport.HTTPS:
            return f"https://{self.host}:{self.port}{self.url_path}"
        if self.transport == self.Transport.UDP:
            return f"udp://{self.host}:{self.port}"
        scheme = "tls" if self.use_tls else "tcp"
        return f"{scheme}://{self.host}:{self.port}"


class PathHealth(models.Model):
    """How one receiver path has been answering, and what the protocol keeps per path: written
    by the dispatchers (through ``stations.services``) after each batch and heartbeat.

    A path is up after a reply (any but ``failover``: a refusal still proves the receiver is
    listening) and down after ``SIGNAL_PATH_DOWN_AFTER`` consecutive failures (no connection, no
    reply in time, a reply that is not one, or ``failover``). Each change of state is e-mailed
    once to the receiver-notification subscribers of every dealer whose station records use
    the receiver.
    """

    class State(models.TextChoices):
        UNKNOWN = lib.UNKNOWN, "Unknown"
        UP = lib.UP, "Up"
        DOWN = lib.DOWN, "Down"

    # Health is a property of the path and goes with it.
    path = models.OneToOneField(ReceiverPath, on_delete=models.CASCADE, related_name="health")
    state = models.CharField(max_length=10, choices=State.choices, default=State.UNKNOWN)
    changed_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    # The last sequence number handed out for this path (protocols that number messages).
    sequence = models.PositiveIntegerField(default=0)
    # Supervision: when the next heartbeat is due, at what interval (a receiver may ask for
    # fewer), and what the last one got.
    heartbeat_due_at = models.DateTimeField(null=True, blank=True)
    heartbeat_seconds = models.FloatField(null=True, blank=True)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    last_heartbeat_answer = models.CharField(max_length=100, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "receiver path health"
        verbose_name_plural = "receiver path health"
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["unknown", "up", "down"]),
                name="stations_pathhealth_state_valid",
                violation_error_message="Unknown path state.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.path_id}: {self.get_state_display()}"


class StationMembershipQuerySet(models.QuerySet["StationMembership"]):
    def admins(self) -> StationMembershipQuerySet:
        return self.filter(role=StationMembership.Role.STATION_ADMIN)


class StationMembership(models.Model):
    """A user working at a station: an operator, or a station admin."""

    class Role(models.TextChoices):
        OPERATOR = "operator", "Operator"
        STATION_ADMIN = "station_admin", "Station admin"

    # Deleting a user or a station removes the link, never the other side.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="station_memberships"
    )
    station = models.ForeignKey(
        MonitoringStation, on_delete=models.CASCADE, related_name="memberships"
    )
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.OPERATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()
    objects = StationMembershipQuerySet.as_manager()

    class Meta:
        ordering = ["station__name", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "station"],
                name="stations_membership_unique_user_station",
                violation_error_message="This user already belongs to this station.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} at {self.station} ({self.get_role_display()})"


class DealerStationQuerySet(DealerOwnedQuerySet):
    pass


class DealerStation(models.Model):
    """A dealer's monitoring station record: which station and receiver its sites report to."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A dealer's records go with the dealer.
    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="station_records")
    # A station that dealers still use cannot disappear under them.
    station = models.ForeignKey(
        MonitoringStation, on_delete=models.PROTECT, related_name="dealer_records"
    )
    # Nor can a receiver that still carries their signals; none means video only.
    receiver = models.ForeignKey(
        Receiver,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="dealer_records",
    )
    name = models.CharField(max_length=100)
    # Set by the station (its console), never by the dealer: every record of a dealer at a
    # station carries the same prefix.
    account_prefix = models.CharField(
        max_length=10,
        blank=True,
        help_text="The prefix the station assigned to your account numbers, if any.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])
    objects = DealerStationQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "dealer",
                name="stations_dealerstation_unique_dealer_name",
                violation_error_message="You already have a monitoring station record with "
                "this name.",
            ),
            models.CheckConstraint(
                condition=Q(account_prefix__regex=r"^[A-Z0-9-]*$"),
                name="stations_dealerstation_prefix_normalised",
                violation_error_message="The prefix may hold only letters, digits and '-'.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.name = self.name.strip()
        # ASCII upper-casing only: Unicode's would turn "ß" into "SS" (see customers.lib).
        self.account_prefix = "".join(
            ch.upper() if ch.isascii() else ch for ch in self.account_prefix.strip()
        )
        super().save(*args, **kwargs)

    @property
    def receiver_adds_prefix(self) -> bool:
        """The dealer enters account numbers without the prefix: the receiver adds it."""
        return bool(self.account_prefix) and self.receiver is not None and self.receiver.adds_prefix

    @property
    def transmits(self) -> bool:
        """False for a video-only record: nothing is sent to the station."""
        return self.receiver_id is not None


class PasskeyFailure(models.Model):
    """A wrong receiver passkey entered by a dealer; recent ones slow further guesses."""

    # Throttle bookkeeping goes with the dealer and the receiver.
    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="+")
    receiver = models.ForeignKey(Receiver, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # Serves the throttle's "failures of this dealer in the last N minutes".
            models.Index(fields=["dealer", "created_at"], name="stations_passkeyfail_recent"),
        ]

    def __str__(self) -> str:
        return f"Wrong passkey from {self.dealer} for {self.receiver} at {self.created_at}"


class StationInvitation(Invitation):
    """An invitation by e-mail to work at a station, as an operator or a station admin."""

    target_field = "station"
    kind = "monitoring station"

    # Invitations go with their station.
    station = models.ForeignKey(
        MonitoringStation, on_delete=models.CASCADE, related_name="invitations"
    )
    role = models.CharField(max_length=20, choices=StationMembership.Role.choices)

    class Meta(Invitation.Meta):
        constraints = [
            *Invitation.Meta.constraints,
            models.UniqueConstraint(
                Lower("email"),
                "station",
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="stations_invitation_one_open_per_email",
                violation_error_message="This address already has an open invitation.",
            ),
        ]
        indexes = [
            # The console's people page: a station's invitations, newest first.
            models.Index(fields=["station", "-created_at"], name="stations_invitation_recent"),
        ]
