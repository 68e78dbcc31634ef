"""Customers (protected sites), their devices, and their accounts at monitoring stations."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, URLValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from simple_history.models import HistoricalRecords

from customers import lib
from customers.lib import (
    ACCOUNT_NUMBER_MAX,
    IDENTIFIER_CHARS,
    REFERENCE_ID_MAX,
    SERIAL_RE,
    generate_site_id,
    normalise_identifier,
)
from dealers.models import Dealer, DealerOwnedQuerySet
from stations.models import DealerStation, MonitoringStation, validate_time_zone

ZONE_MIN, ZONE_MAX = 1, 999  # what a Contact ID zone field (3 digits) can carry


class CustomerQuerySet(DealerOwnedQuerySet):
    def search(self, term: str, *, dealer: Dealer) -> CustomerQuerySet:
        """Name, address or city contains the term, the site ID is the term, or one of the
        dealer's account numbers starts with it.

        Each way of matching is its own small query, scoped to the dealer and served by its
        own index (on PostgreSQL the trigram index for "contains", the account prefix index
        for account numbers), and the list keeps the union of their ids. One OR across them
        would make PostgreSQL read every one of the dealer's sites instead.
        """
        # Control characters match nothing, and PostgreSQL refuses NUL bytes outright.
        term = "".join(ch for ch in term if ch.isprintable()).strip()
        if not term:
            return self
        own = Customer.objects.for_dealer(dealer).order_by()
        matches = own.filter(
            Q(name__icontains=term) | Q(address__icontains=term) | Q(city__icontains=term)
        ).values("pk")
        number = normalise_identifier(term)
        # Site IDs (12) and account numbers (20) hold only A-Z, 0-9 and '-': a term that
        # could be neither skips those two queries.
        if lib.ACCOUNT_NUMBER_RE.fullmatch(number):
            by_account = (
                MonitoringAccount.objects.filter(
                    station_record__dealer=dealer, account_number__startswith=number
                )
                .order_by()
                .values("customer_id")
            )
            matches = matches.union(own.filter(site_id=number).values("pk"), by_account, all=True)
        return self.filter(pk__in=matches)


class Customer(models.Model):
    """A protected site of a dealer's customer."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    site_id = models.CharField(
        "site ID", max_length=12, unique=True, default=generate_site_id, editable=False
    )
    # A dealer with customers cannot be deleted by accident: archive the customers first.
    dealer = models.ForeignKey(Dealer, on_delete=models.PROTECT, related_name="customers")
    name = models.CharField(max_length=200)
    address = models.CharField("street address", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    region = models.CharField("state / region", max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=100, blank=True, default="United States")
    time_zone = models.CharField(
        max_length=64, default="America/New_York", validators=[validate_time_zone]
    )
    notes = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Who changed the site and when (the customer page's timeline, the admin).
    history = HistoricalRecords(excluded_fields=["updated_at"])
    objects = CustomerQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            # The customer list: one dealer's sites by name, page after page.
            models.Index(fields=["dealer", "name", "id"], name="customers_dealer_name"),
            # The customer list filtered by status (active by default), in the list's order:
            # a page from either end reads only its own rows (dealers.generic.ListPaginator).
            models.Index(
                fields=["dealer", "status", "name", "id"], name="customers_dealer_status_name"
            ),
            # Search by name, address or city ("contains") uses a trigram index that only
            # PostgreSQL has: customers_search_trgm, made by migration 0005.
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        self.name = self.name.strip()
        super().save(*args, **kwargs)

    @property
    def full_address(self) -> str:
        line = " ".join(part for part in (self.region, self.postal_code) if part)
        return ", ".join(part for part in (self.address, self.city, line) if part)

    @property
    def is_archived(self) -> bool:
        return self.status == self.Status.ARCHIVED


class BridgeQuerySet(DealerOwnedQuerySet):
    dealer_path = "customer__dealer"


class Bridge(models.Model):
    """The on-site video box: camera channels and alarm inputs."""

    class Model(models.TextChoices):
        CH4 = "bridge-4", "Bridge 4 (4 channels, 4 alarm inputs)"
        CH8 = "bridge-8", "Bridge 8 (8 channels)"
        CH12 = "bridge-12", "Bridge 12 (12 channels)"
        CH16 = "bridge-16", "Bridge 16 (16 channels)"

    CHANNELS = {Model.CH4: 4, Model.CH8: 8, Model.CH12: 12, Model.CH16: 16}

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Devices belong to their site and go with it.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="bridges")
    serial = models.CharField(
        max_length=32,
        unique=True,
        # Never says whose bridge it is: the serial may belong to another dealer's site.
        error_messages={"unique": "A bridge with this serial is already registered."},
    )
    model = models.CharField(max_length=12, choices=Model.choices, default=Model.CH4)
    name = models.CharField(max_length=100, blank=True)
    # The device API token, hashed (SHA-256: the token is random, not a password); empty until
    # the dealer issues one. The token itself is shown once and never stored.
    token_hash = models.CharField(max_length=64, blank=True, editable=False)
    # Live view: the bridge pushes its cameras to a media relay (an HLS server) and the portal
    # fetches them from there for the browser (media.hls). Set by staff in the admin, never by
    # a dealer's form: the portal makes requests to this address.
    relay_url = models.URLField(
        "media relay URL",
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["http", "https"])],
        help_text="Where the bridge's media relay serves live HLS: camera channel N is "
        "<relay URL>/N/index.m3u8. Empty: no live view.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # The token's hash stays out of the history (a new token is not a change of the site).
    history = HistoricalRecords(excluded_fields=["token_hash"])
    objects = BridgeQuerySet.as_manager()

    class Meta:
        ordering = ["customer", "serial"]
        constraints = [
            models.CheckConstraint(
                condition=Q(serial__regex=SERIAL_RE.pattern),
                name="customers_bridge_serial_normalised",
                violation_error_message=f"A serial has 4-32 characters: {lib.ALLOWED_CHARACTERS}.",
            ),
        ]

    def __str__(self) -> str:
        return self.name or f"Bridge {self.serial}"

    def save(self, *args, **kwargs) -> None:
        self.serial = normalise_identifier(self.serial)
        super().save(*args, **kwargs)

    @property
    def channel_count(self) -> int:
        return self.CHANNELS[self.Model(self.model)]

    @property
    def has_free_channel(self) -> bool:
        """A channel without a camera is left (reads the prefetched cameras when there are)."""
        return len(self.cameras.all()) < self.channel_count


class CameraQuerySet(DealerOwnedQuerySet):
    dealer_path = "bridge__customer__dealer"


class Camera(models.Model):
    """A camera on one channel of one bridge."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A camera exists only on its bridge.
    bridge = models.ForeignKey(Bridge, on_delete=models.CASCADE, related_name="cameras")
    channel = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(16)]
    )
    name = models.CharField(max_length=100)
    stream_url = models.CharField(
        max_length=500,
        blank=True,
        validators=[URLValidator(schemes=["rtsp", "rtsps", "http", "https"])],
    )

    history = HistoricalRecords()
    objects = CameraQuerySet.as_manager()

    class Meta:
        ordering = ["bridge", "channel"]
        constraints = [
            models.UniqueConstraint(
                fields=["bridge", "channel"],
                name="customers_camera_unique_bridge_channel",
                violation_error_message="This bridge already has a camera on that channel.",
            ),
            models.CheckConstraint(
                condition=Q(channel__gte=1, channel__lte=16),
                name="customers_camera_channel_range",
                violation_error_message="The channel must be between 1 and 16.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (channel {self.channel})"

    def clean(self) -> None:
        if self.bridge_id and self.channel and self.channel > self.bridge.channel_count:
            raise ValidationError(
                {"channel": f"This bridge has channels 1 to {self.bridge.channel_count}."}
            )


class ZoneQuerySet(DealerOwnedQuerySet):
    dealer_path = "customer__dealer"


class Zone(models.Model):
    """An alarm input or camera trigger; its number is what signals and deep links carry."""

    class Type(models.TextChoices):
        INSTANT = "instant", "Instant"
        FOLLOWER = "follower", "Follower"
        TWENTY_FOUR_HOUR = "24h", "24-hour"
        ENTRY_EXIT = "entry_exit", "Entry/Exit"
        EXTERIOR_ENTRY_EXIT = "ext_entry_exit", "Exterior Entry/Exit"
        EXTERIOR_INSTANT = "ext_instant", "Exterior Instant"
        INTERCOM_ARMED = "intercom_armed", "Intercom Armed"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Zones belong to their site and go with it.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="zones")
    number = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(ZONE_MIN), MaxValueValidator(ZONE_MAX)]
    )
    name = models.CharField(max_length=100)
    zone_type = models.CharField(max_length=20, choices=Type.choices, default=Type.INSTANT)
    cameras = models.ManyToManyField(Camera, blank=True, related_name="zones")

    history = HistoricalRecords()
    objects = ZoneQuerySet.as_manager()

    class Meta:
        ordering = ["customer", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "number"],
                name="customers_zone_unique_customer_number",
                violation_error_message="This site already has a zone with this number.",
            ),
            models.CheckConstraint(
                condition=Q(number__gte=ZONE_MIN, number__lte=ZONE_MAX),
                name="customers_zone_number_range",
                violation_error_message=f"Zone numbers run from {ZONE_MIN} to {ZONE_MAX}.",
            ),
        ]

    def __str__(self) -> str:
        return f"Zone {self.number:03d} {self.name}"


class MonitoringAccountQuerySet(DealerOwnedQuerySet):
    dealer_path = "customer__dealer"

    def off_prefix_rule(self) -> MonitoringAccountQuerySet:
        """Accounts whose number does not start with (and go beyond) the prefix the station
        gave their dealer: left behind when the station changed the prefix."""
        prefix = F("station_record__account_prefix")
        return self.exclude(station_record__account_prefix="").filter(
            ~Q(account_number__startswith=prefix) | Q(account_number=prefix)
        )


class MonitoringAccount(models.Model):
    """A customer's account at a monitoring station: the number every signal carries."""

    DUPLICATE_NUMBER = (
        "The monitoring station already uses this account number. Confirm the number with "
        "the monitoring station."
    )
    DUPLICATE_REFERENCE = (
        "The monitoring station already uses this reference ID. Confirm it with the "
        "monitoring station."
    )
    DUPLICATE_STATION = "This customer already has an account at this monitoring station."

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Accounts go with their site (sites are archived, not deleted, while monitored).
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="accounts")
    # A station record that accounts use cannot be deleted (the dealer is told which).
    station_record = models.ForeignKey(
        DealerStation, on_delete=models.PROTECT, related_name="accounts"
    )
    # Copied from the record so the database can hold numbers unique per station.
    station = models.ForeignKey(
        MonitoringStation, on_delete=models.PROTECT, related_name="accounts", editable=False
    )
    account_number = models.CharField(max_length=ACCOUNT_NUMBER_MAX)
    reference_id = models.CharField("reference ID", max_length=REFERENCE_ID_MAX, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(excluded_fields=["updated_at"])
    objects = MonitoringAccountQuerySet.as_manager()

    class Meta:
        ordering = ["station_record__name"]
        indexes = [
            # The customer list's search by account number: one dealer's records, numbers
            # starting with the term (LIKE 'N%'). The pattern operator class serves LIKE on
            # PostgreSQL whatever the database's collation; other databases ignore it.
            models.Index(
                fields=["station_record", "account_number"],
                opclasses=["int8_ops", "varchar_pattern_ops"],
                name="customers_account_prefix",
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "account_number"],
                name="customers_account_unique_station_number",
                violation_error_message=(
                    "The monitoring station already uses this account number. Confirm the "
                    "number with the monitoring station."
                ),
            ),
            models.UniqueConstraint(
                fields=["customer", "station"],
                name="customers_account_unique_customer_station",
                violation_error_message=(
                    "This customer already has an account at this monitoring station."
                ),
            ),
            models.UniqueConstraint(
                fields=["station", "reference_id"],
                condition=~Q(reference_id=""),
                name="customers_account_unique_station_reference",
                violation_error_message=(
                    "The monitoring station already uses this reference ID. Confirm it with "
                    "the monitoring station."
                ),
            ),
            models.CheckConstraint(
                condition=Q(
                    account_number__regex=rf"^{IDENTIFIER_CHARS}{{1,{ACCOUNT_NUMBER_MAX}}}$"
                ),
                name="customers_account_number_normalised",
                violation_error_message=(
                    f"An account number has 1-{ACCOUNT_NUMBER_MAX} characters: "
                    f"{lib.ALLOWED_CHARACTERS}."
                ),
            ),
            models.CheckConstraint(
                condition=Q(reference_id__regex=rf"^{IDENTIFIER_CHARS}{{0,{REFERENCE_ID_MAX}}}$"),
                name="customers_account_reference_normalised",
                violation_error_message=(
                    f"A reference ID has up to {REFERENCE_ID_MAX} characters: "
                    f"{lib.ALLOWED_CHARACTERS}."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} (account {self.account_number})"

    def save(self, *args, **kwargs) -> None:
        self.account_number = normalise_identifier(self.account_number)
        self.reference_id = normalise_identifier(self.reference_id)
        if self.station_record_id is not None:
            # Derived, never chosen: the station is always the record's station.
            self.station_id = self.station_record.station_id
            update_fields = kwargs.get("update_fields")
            if update_fields is not None and "station_record" in update_fields:
                kwargs["update_fields"] = {*update_fields, "station"}
        super().save(*args, **kwargs)

    def clean(self) -> None:
        self.account_number = normalise_identifier(self.account_number)
        self.reference_id = normalise_identifier(self.reference_id)
        if self.station_record_id is not None:
            self.station_id = self.station_record.station_id
            if self.customer_id and self.station_record.dealer_id != self.customer.dealer_id:
                raise ValidationError(
                    {"station_record": "Choose one of your own monitoring station records."}
                )

    # The account number is stored as the station's software knows it: with the prefix the
    # station gave the dealer. These need ``station_record`` (and its receiver) selected.

    @property
    def follows_prefix(self) -> bool:
        """False when the station's prefix for the dealer changed and this number did not."""
        return lib.follows_prefix(self.account_number, self.station_record.account_prefix)

    @property
    def transmitted_number(self) -> str:
        """What signals carry: without the prefix when the receiver adds it itself."""
        record = self.station_record
        if record.receiver_adds_prefix and self.follows_prefix:
            return self.account_number[len(record.account_prefix) :]
        return self.account_number

    @property
    def entered_number(self) -> str:
        """What the dealer types in the account form (the transmitted number)."""
        return self.transmitted_number


# --- directions and contacts for operators ----------------------------------------------------


class SiteDirections(models.Model):
    """A site's directions for operators as the dealer wrote them. Each monitoring station of
    the site approves them for its own operators (``DirectionsApproval``); operators only ever
    see the version their station approved."""

    class Status(models.TextChoices):
        """Where the current version stands at one station."""

        PENDING = "pending", "Waiting for the station's approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Sent back by the station"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Directions are part of their site.
    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="directions")
    note = models.TextField("site-wide note", blank=True)
    # Each change by the dealer is a new version; an approval names the version it read, so a
    # change is pending again at every station without touching their approvals.
    version = models.PositiveIntegerField(default=1)
    # Kept when users go: the history says who they were.
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        verbose_name_plural = "site directions"

    def __str__(self) -> str:
        return f"Directions for {self.customer}"


class DirectionsApproval(models.Model):
    """One station's review of a site's directions: its decision on the version it last read,
    and the version its operators see (kept when a later version is sent back)."""

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Sent back"

    # A review belongs to its directions and to the station whose operators it is for: it
    # goes with either.
    directions = models.ForeignKey(
        SiteDirections, on_delete=models.CASCADE, related_name="approvals"
    )
    station = models.ForeignKey(
        MonitoringStation, on_delete=models.CASCADE, related_name="directions_approvals"
    )
    version = models.PositiveIntegerField("version reviewed")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    note = models.TextField("note to the dealer", blank=True)
    # Kept when users go: the history says who they were.
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField()
    # What this station's operators see: {"note": ..., "cameras": [{"camera": id, "name",
    # "channel", "note", "threat_level", "threat_label"}]}, copied from the dealer's version
    # when this station approved it.
    approved = models.JSONField(default=dict, blank=True)
    approved_version = models.PositiveIntegerField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["directions", "station"],
                name="customers_directions_approval_unique_station",
                violation_error_message="This station has already reviewed these directions.",
            ),
            models.CheckConstraint(
                condition=Q(decision__in=["approved", "rejected"]),
                name="customers_directions_approval_decision_valid",
                violation_error_message="A review approves or sends back.",
            ),
            models.CheckConstraint(
                condition=Q(approved_version__isnull=True) | Q(approved_version__lte=F("version")),
                name="customers_directions_approval_approved_read",
                violation_error_message="A station approves only a version it has read.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.station} on {self.directions}"

    @property
    def has_approved(self) -> bool:
        return self.approved_version is not None

    def status_of(self, version: int) -> str:
        """The station's status for ``version`` of the directions: a review of an older
        version leaves the current one pending."""
        if self.version != version:
            return SiteDirections.Status.PENDING
        return SiteDirections.Status(self.decision)


class CameraDirection(models.Model):
    """The dealer's note for operators about one camera, with how seriously to take it."""

    class ThreatLevel(models.TextChoices):
        LOW = "low", "Low: observe"
        MEDIUM = "medium", "Medium: verify and call the list"
        HIGH = "high", "High: dispatch on any person seen"

    # A camera's note goes with the camera.
    camera = models.OneToOneField(Camera, on_delete=models.CASCADE, related_name="direction")
    note = models.TextField(blank=True)
    threat_level = models.CharField(
        max_length=10, choices=ThreatLevel.choices, default=ThreatLevel.MEDIUM
    )

    history = HistoricalRecords()

    def __str__(self) -> str:
        return f"Direction for {self.camera}"


class ContactQuerySet(DealerOwnedQuerySet):
    dealer_path = "customer__dealer"


class Contact(models.Model):
    """Someone on a site's call list: called in order by the station's operators."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The call list is part of its site.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=100)
    phone = models.CharField(max_length=30)
    phone_alt = models.CharField("other phone", max_length=30, blank=True)
    position = models.PositiveSmallIntegerField(
        "call order", default=1, validators=[MinValueValidator(1)]
    )
    # The verbal passcode operators ask for on the phone. Shown to operators only; never on a
    # dealer page, never in the history.
    passcode = models.CharField(max_length=50, blank=True)
    notes = models.CharField(max_length=200, blank=True)

    history = HistoricalRecords(excluded_fields=["passcode"])
    objects = ContactQuerySet.as_manager()

    class Meta:
        ordering = ["customer", "position", "name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(position__gte=1),
                name="customers_contact_position_positive",
                violation_error_message="The call order starts at 1.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"


class CustomerImportQuerySet(DealerOwnedQuerySet):
    pass


class CustomerImport(models.Model):
    """A file of customers a dealer uploaded: checked (the preview), then imported, all rows
    or none (``customers.imports``). The file is kept as it came, so the import reads exactly
    what the preview read."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "Excel (.xlsx)"

    class State(models.TextChoices):
        CHECKING = "checking", "Checking the file"
        CHECKED = "checked", "Checked"
        IMPORTING = "importing", "Importing"
        IMPORTED = "imported", "Imported"
        REFUSED = "refused", "Not imported"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Uploads go with their dealer.
    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="customer_imports")
    # Who uploaded it; the upload stays if the user goes.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    file_name = models.CharField(max_length=200)
    file_format = models.CharField(max_length=4, choices=Format.choices)
    content = models.BinaryField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.CHECKING)
    # What the preview found (``imports.ImportPlan.summary``), or why the file is no table.
    result = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    imported_at = models.DateTimeField(null=True, blank=True)

    objects = CustomerImportQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The import page: a dealer's latest uploads.
            models.Index(fields=["dealer", "-created_at"], name="customers_import_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.file_name} ({self.get_state_display()})"

    def get_absolute_url(self) -> str:
        return reverse("customers:import-detail", args=[self.code])

    @property
    def is_busy(self) -> bool:
        """The task engine is still at it (the page refreshes itself)."""
        return self.state in (self.State.CHECKING, self.State.IMPORTING)

    @property
    def counts(self) -> dict[str, int]:
        return self.result.get("counts", {})

    @property
    def has_errors(self) -> bool:
        return bool(
            self.result.get("file_error")
            or self.result.get("header_errors")
            or self.counts.get("error")
        )
