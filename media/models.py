"""Media from bridges: event snapshots and clips, "last two minutes" requests, and what the
portal knows about each bridge's and camera's connection (heartbeats, lost cameras)."""

from __future__ import annotations

import uuid
from datetime import UTC

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from customers.models import Bridge, Camera, Customer
from dealers.models import DealerOwnedQuerySet
from media.storage import media_storage
from signals.models import CONTACT_ID_ZONE_MAX, AlarmEvent

SHA256_HEX = 64
UPLOAD_ID_MAX = 64
# "Request the last two minutes": how much a request may ask for.
REQUEST_SECONDS_DEFAULT = 120
REQUEST_SECONDS_MAX = 600


def media_upload_to(instance: MediaItem, filename: str) -> str:
    """``<site code>/<yyyy>/<mm>/<dd>/<media code>.<ext>``: nothing a device sent is in the
    name (the extension comes from the sniffed type), and one site's files sit together."""
    ext = MediaItem.EXTENSIONS.get(instance.content_type, "bin")
    day = (instance.captured_at or timezone.now()).astimezone(UTC)
    return f"{instance.customer.code}/{day:%Y/%m/%d}/{instance.code}.{ext}"


class MediaItemQuerySet(DealerOwnedQuerySet):
    dealer_path = "customer__dealer"


class MediaItem(models.Model):
    """One snapshot or clip a bridge uploaded, stored through the media storage."""

    class Kind(models.TextChoices):
        SNAPSHOT = "snapshot", "Snapshot"
        CLIP = "clip", "Clip"

    class Phase(models.TextChoices):
        NONE = "", "—"
        PRE = "pre", "Before the alarm"
        POST = "post", "After the alarm"

    class ContentType(models.TextChoices):
        """Decided by decoding the content (media.inspect), never by what the device said."""

        JPEG = "image/jpeg", "JPEG image"
        MP4 = "video/mp4", "MP4 video (H.264)"
        WEBM = "video/webm", "WebM video"

    EXTENSIONS = {ContentType.JPEG: "jpg", ContentType.MP4: "mp4", ContentType.WEBM: "webm"}
    KIND_TYPES = {
        Kind.SNAPSHOT: frozenset({ContentType.JPEG}),
        Kind.CLIP: frozenset({ContentType.MP4, ContentType.WEBM}),
    }

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Media is part of its site's history and goes with it (the file too: media.receivers).
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="media_items")
    # A replaced bridge or camera leaves its media until retention removes it.
    bridge = models.ForeignKey(
        Bridge, on_delete=models.SET_NULL, null=True, blank=True, related_name="media_items"
    )
    camera = models.ForeignKey(
        Camera, on_delete=models.SET_NULL, null=True, blank=True, related_name="media_items"
    )
    channel = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(16)]
    )
    # The alarm it shows; none for a "last two minutes" clip. Events only go with their site.
    event = models.ForeignKey(
        AlarmEvent, on_delete=models.CASCADE, null=True, blank=True, related_name="media_items"
    )
    # The request it answers, if any; the clip outlives the request's bookkeeping.
    request = models.ForeignKey(
        "MediaRequest",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="media_items",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    phase = models.CharField(max_length=4, choices=Phase.choices, blank=True, default="")
    file = models.FileField(storage=media_storage, upload_to=media_upload_to, max_length=200)
    content_type = models.CharField(max_length=20, choices=ContentType.choices)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=SHA256_HEX)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    captured_at = models.DateTimeField(help_text="When it was taken, by the bridge's clock.")
    created_at = models.DateTimeField(default=timezone.now)
    # The bridge's own id for the upload: the same id again is the same upload.
    upload_id = models.CharField(max_length=UPLOAD_ID_MAX, blank=True)

    objects = MediaItemQuerySet.as_manager()

    class Meta:
        ordering = ["-captured_at", "-id"]
        constraints = [
            # Per site, as a bridge's event ids are (signals.AlarmEvent).
            models.UniqueConstraint(
                fields=["bridge", "customer", "upload_id"],
                condition=~Q(upload_id=""),
                name="media_item_unique_bridge_site_upload",
                violation_error_message=(
                    "This bridge already uploaded media with this id at this site."
                ),
            ),
            models.CheckConstraint(
                condition=Q(kind="snapshot", content_type="image/jpeg")
                | Q(kind="clip", content_type__in=["video/mp4", "video/webm"]),
                name="media_item_kind_matches_type",
                violation_error_message="A snapshot is a JPEG image; a clip is MP4 or WebM.",
            ),
            models.CheckConstraint(
                condition=Q(phase__in=["", "pre", "post"]),
                name="media_item_phase_valid",
                violation_error_message="The phase is before or after the alarm.",
            ),
            models.CheckConstraint(
                condition=Q(channel__gte=1, channel__lte=16),
                name="media_item_channel_range",
                violation_error_message="The channel must be between 1 and 16.",
            ),
            models.CheckConstraint(
                condition=Q(size__gt=0),
                name="media_item_size_positive",
                violation_error_message="An empty file is not media.",
            ),
        ]
        indexes = [
            # The latest snapshot of each camera (operator's and dealer's site pages).
            models.Index(
                fields=["camera", "kind", "-captured_at"], name="media_item_camera_latest"
            ),
            # An event's media, in the order it was taken.
            models.Index(fields=["event", "captured_at"], name="media_item_event"),
            # A site's recent media (requests answered, the customer page).
            models.Index(fields=["customer", "-captured_at"], name="media_item_site_recent"),
            # Retention: the oldest stored media of a site first.
            models.Index(fields=["customer", "created_at"], name="media_item_site_age"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} channel {self.channel} ({self.captured_at})"

    @property
    def is_clip(self) -> bool:
        return self.kind == self.Kind.CLIP


class MediaRequestQuerySet(DealerOwnedQuerySet):
    dealer_path = "customer__dealer"

    def open(self) -> MediaRequestQuerySet:
        return self.filter(state__in=[MediaRequest.State.PENDING, MediaRequest.State.PICKED])


class MediaRequest(models.Model):
    """ "Send me the last two minutes": asked by an operator (or the dealer) for a camera, picked
    up by the bridge when it polls for commands (bridges sit behind NAT), answered by an
    upload that names the request."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for the bridge"
        PICKED = "picked", "The bridge is recording it"
        DONE = "done", "Uploaded"
        FAILED = "failed", "Failed"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Requests are part of the site's history and go with it.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="media_requests")
    # Asked of one bridge; a bridge that goes takes its unanswerable requests with it.
    bridge = models.ForeignKey(Bridge, on_delete=models.CASCADE, related_name="media_requests")
    # The camera may be removed later; the channel says what was asked.
    camera = models.ForeignKey(
        Camera, on_delete=models.SET_NULL, null=True, blank=True, related_name="media_requests"
    )
    channel = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(16)]
    )
    zone_number = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(CONTACT_ID_ZONE_MAX)]
    )
    # Who asked; kept if the user goes.
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    seconds = models.PositiveSmallIntegerField(
        default=REQUEST_SECONDS_DEFAULT,
        validators=[MinValueValidator(1), MaxValueValidator(REQUEST_SECONDS_MAX)],
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    requested_at = models.DateTimeField(default=timezone.now)
    picked_at = models.DateTimeField(null=True, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    failure_reason = models.CharField(max_length=200, blank=True)

    objects = MediaRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["pending", "picked", "done", "failed"]),
                name="media_request_state_valid",
                violation_error_message="Unknown request state.",
            ),
            models.CheckConstraint(
                condition=Q(seconds__gte=1, seconds__lte=REQUEST_SECONDS_MAX),
                name="media_request_seconds_range",
                violation_error_message=f"A request asks for 1 to {REQUEST_SECONDS_MAX} seconds.",
            ),
            models.CheckConstraint(
                condition=~Q(state="done") | Q(done_at__isnull=False),
                name="media_request_done_has_time",
                violation_error_message="A finished request records when.",
            ),
        ]
        indexes = [
            # Command polling: one bridge's open requests, oldest first. Partial, so it stays
            # as small as the open requests however long the history grows.
            models.Index(
                fields=["bridge", "requested_at"],
                condition=Q(state__in=["pending", "picked"]),
                name="media_request_open",
            ),
            # A site's recent requests (the operator's page).
            models.Index(fields=["customer", "-requested_at"], name="media_request_site_recent"),
        ]

    def __str__(self) -> str:
        return f"Last {self.seconds} s of channel {self.channel} ({self.get_state_display()})"

    @property
    def is_open(self) -> bool:
        return self.state in (self.State.PENDING, self.State.PICKED)


class BridgeStatusQuerySet(DealerOwnedQuerySet):
    dealer_path = "bridge__customer__dealer"


class BridgeStatus(models.Model):
    """What the portal knows about a bridge's connection: its last heartbeat, and whether it
    is online (the watchdog turns a silence longer than the dealer allows into offline)."""

    class State(models.TextChoices):
        ONLINE = "online", "Online"
        OFFLINE = "offline", "Offline"

    # The connection state is the bridge's and goes with it.
    bridge = models.OneToOneField(Bridge, on_delete=models.CASCADE, related_name="status")
    state = models.CharField(max_length=10, choices=State.choices, default=State.ONLINE)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When the state last changed: "offline since ..." on the pages.
    state_changed_at = models.DateTimeField(default=timezone.now)

    objects = BridgeStatusQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "bridge statuses"
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["online", "offline"]),
                name="media_bridge_status_state_valid",
                violation_error_message="A bridge is online or offline.",
            ),
        ]
        indexes = [
            # The watchdog: online bridges whose last heartbeat is older than allowed; and
            # the dashboard's offline count.
            models.Index(fields=["state", "last_heartbeat_at"], name="media_bridge_status_due"),
        ]

    def __str__(self) -> str:
        return f"{self.bridge}: {self.get_state_display()}"

    @property
    def is_online(self) -> bool:
        return self.state == self.State.ONLINE


class CameraStatus(models.Model):
    """A camera the bridge reported lost (and when), or back."""

    class State(models.TextChoices):
        OK = "ok", "Connected"
        LOST = "lost", "Connection lost"

    # The connection state is the camera's and goes with it.
    camera = models.OneToOneField(Camera, on_delete=models.CASCADE, related_name="status")
    state = models.CharField(max_length=10, choices=State.choices, default=State.OK)
    state_changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "camera statuses"
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=["ok", "lost"]),
                name="media_camera_status_state_valid",
                violation_error_message="A camera is connected or lost.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.camera}: {self.get_state_display()}"

    @property
    def is_lost(self) -> bool:
        return self.state == self.State.LOST
