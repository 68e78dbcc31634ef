"""The tenant: a dealer (alarm-installing company) and the people who work for it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core import signing
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from simple_history.models import HistoricalRecords

from dealers.lib import validate_time_zone

BRIDGE_OFFLINE_MINUTES_DEFAULT = 10
BRIDGE_OFFLINE_MINUTES_MIN, BRIDGE_OFFLINE_MINUTES_MAX = 2, 1440
MEDIA_RETENTION_DAYS_DEFAULT = 30
MEDIA_RETENTION_DAYS_MIN, MEDIA_RETENTION_DAYS_MAX = 1, 3650


class DealerOwnedQuerySet(models.QuerySet):
    """Base queryset for models that belong to a dealer; set ``dealer_path`` if indirect."""

    dealer_path = "dealer"

    def for_dealer(self, dealer: Dealer) -> DealerOwnedQuerySet:
        return self.filter(**{self.dealer_path: dealer})


class Dealer(models.Model):
    """An alarm-installing company; every customer, record and signal belongs to one."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    # Set by the dealer's owner: everyone at the dealer signs in with a second factor.
    two_factor_required = models.BooleanField(
        default=False,
        help_text="Everyone at this dealer must sign in with an authenticator app as well.",
    )
    # The dealer's pages show times in it (a site's pages in the site's own).
    time_zone = models.CharField(
        max_length=64,
        default="America/New_York",
        validators=[validate_time_zone],
        help_text="Times on your pages are shown in it; a site's pages use the site's own.",
    )
    # Bridges send a heartbeat every minute or so; a silence this long is a trouble signal
    # ("bridge offline") to the site's stations (media.tasks, the bridge watchdog).
    bridge_offline_minutes = models.PositiveSmallIntegerField(
        "bridge offline after (minutes)",
        default=BRIDGE_OFFLINE_MINUTES_DEFAULT,
        validators=[
            MinValueValidator(BRIDGE_OFFLINE_MINUTES_MIN),
            MaxValueValidator(BRIDGE_OFFLINE_MINUTES_MAX),
        ],
        help_text="A bridge silent this long is reported offline to the monitoring stations.",
    )
    # Snapshots and clips older than this are deleted with their files (media retention).
    media_retention_days = models.PositiveSmallIntegerField(
        "keep snapshots and clips (days)",
        default=MEDIA_RETENTION_DAYS_DEFAULT,
        validators=[
            MinValueValidator(MEDIA_RETENTION_DAYS_MIN),
            MaxValueValidator(MEDIA_RETENTION_DAYS_MAX),
        ],
        help_text="Older event snapshots and clips are deleted.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    bridge_offline_minutes__gte=BRIDGE_OFFLINE_MINUTES_MIN,
                    bridge_offline_minutes__lte=BRIDGE_OFFLINE_MINUTES_MAX,
                ),
                name="dealers_dealer_bridge_offline_range",
                violation_error_message=(
                    f"A bridge counts as offline after {BRIDGE_OFFLINE_MINUTES_MIN} to "
                    f"{BRIDGE_OFFLINE_MINUTES_MAX} minutes."
                ),
            ),
            models.CheckConstraint(
                condition=Q(
                    media_retention_days__gte=MEDIA_RETENTION_DAYS_MIN,
                    media_retention_days__lte=MEDIA_RETENTION_DAYS_MAX,
                ),
                name="dealers_dealer_media_retention_range",
                violation_error_message=(
                    f"Media is kept {MEDIA_RETENTION_DAYS_MIN} to {MEDIA_RETENTION_DAYS_MAX} days."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class MembershipQuerySet(DealerOwnedQuerySet):
    def for_user(self, user) -> MembershipQuerySet:
        """The memberships a signed-in user may act through (active dealers only)."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(user=user, dealer__is_active=True).select_related("dealer")


class Membership(models.Model):
    """A user's place at a dealer, with the role that decides what they may change."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        ADMIN = "admin", "Admin"
        TECHNICIAN = "technician", "Technician"
        VIEWER = "viewer", "Viewer"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # Deleting a user or a dealer removes the link, never the other side.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dealer_memberships"
    )
    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    # Who joined, changed role or was removed, by whom and when (the team's history).
    history = HistoricalRecords()
    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["dealer__name", "user__username"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "dealer"],
                name="dealers_membership_unique_user_dealer",
                violation_error_message="This user is already a member of this dealer.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} at {self.dealer} ({self.get_role_display()})"

    # Roles that may change a dealer's settings (station records, members).
    MANAGE_ROLES = frozenset({Role.OWNER, Role.ADMIN})
    # Roles that may change sites: customers, devices, account numbers.
    EDIT_ROLES = frozenset({Role.OWNER, Role.ADMIN, Role.TECHNICIAN})

    @property
    def can_manage(self) -> bool:
        return self.role in self.MANAGE_ROLES

    @property
    def can_edit(self) -> bool:
        return self.role in self.EDIT_ROLES


class NotificationRecipientQuerySet(DealerOwnedQuerySet):
    def subscribed_to(self, kind: str) -> NotificationRecipientQuerySet:
        """The recipients who asked for this kind of notification (a ``Kind`` value)."""
        return self.filter(**{NotificationRecipient.KIND_FIELDS[kind]: True})


class NotificationRecipient(models.Model):
    """Someone a dealer wants told when its signals are in trouble (dealer settings)."""

    class Kind(models.TextChoices):
        RECEIVER_STATUS = "receiver_status", "A receiver path goes down or comes back"
        SIGNAL_FAILED = "signal_failed", "A signal could not be delivered in time"
        DIRECTIONS_STATUS = "directions_status", "A site's operator directions change status"

    # Which boolean field subscribes a recipient to each kind.
    KIND_FIELDS = {
        Kind.RECEIVER_STATUS: "receiver_notifications",
        Kind.SIGNAL_FAILED: "signal_failure_notifications",
        Kind.DIRECTIONS_STATUS: "directions_notifications",
    }

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A dealer's subscribers go with the dealer.
    dealer = models.ForeignKey(
        Dealer, on_delete=models.CASCADE, related_name="notification_recipients"
    )
    email = models.EmailField()
    name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=30, blank=True)
    receiver_notifications = models.BooleanField(
        default=True, help_text="E-mail when a receiver path goes down or comes back."
    )
    signal_failure_notifications = models.BooleanField(
        default=True, help_text="E-mail when a signal could not be delivered before its deadline."
    )
    directions_notifications = models.BooleanField(
        default=True,
        help_text="E-mail when a site's directions for operators are approved, sent back, or "
        "wait for the station's approval.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = NotificationRecipientQuerySet.as_manager()

    class Meta:
        ordering = ["dealer", "email"]
        constraints = [
            models.UniqueConstraint(
                Lower("email"),
                "dealer",
                name="dealers_recipient_unique_dealer_email",
                violation_error_message="This address already receives this dealer's "
                "notifications.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email

    def save(self, *args, **kwargs) -> None:
        self.email = self.email.strip()
        super().save(*args, **kwargs)


# --- invitations ----------------------------------------------------------------------------


class InvitationQuerySet(models.QuerySet):
    def pending(self) -> InvitationQuerySet:
        """Neither accepted nor withdrawn, and not expired yet."""
        return self.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )


class Invitation(models.Model):
    """An invitation by e-mail to join something (a dealer, a station) with a role: abstract.

    The e-mailed link carries ``token()``: the invitation's model and code, signed with the
    portal's secret key, so nothing secret is stored (nor queued for the mailer). It works
    until ``expires_at``, once (``accepted_at``), unless withdrawn (``revoked_at``). A
    concrete invitation adds what one joins (a foreign key named by ``target_field``), narrows
    ``role`` to its choices and names itself for people (``kind``); it is registered with what
    accepting creates in ``dealers.invitations``, so that the one accept page
    (``invitations:accept``) and the services in ``dealers.services`` work for it.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Withdrawn"

    TOKEN_SALT = "portal.invitation"
    target_field = ""  # the foreign key to what one joins, e.g. "dealer"
    kind = ""  # what one joins, for people: "dealer", "monitoring station"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = models.EmailField()
    role = models.CharField(max_length=20)
    # The people involved are kept as history: a deleted user leaves the row.
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = InvitationQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(accepted_at__isnull=True) | Q(revoked_at__isnull=True),
                name="%(app_label)s_%(class)s_accepted_or_revoked",
                violation_error_message="An invitation is either accepted or withdrawn.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.target} as {self.get_role_display()}"

    def save(self, *args, **kwargs) -> None:
        self.email = self.email.strip()
        super().save(*args, **kwargs)

    @property
    def target(self) -> models.Model:
        """What accepting joins (the dealer, the station)."""
        return getattr(self, self.target_field)

    @property
    def state(self) -> str:
        if self.accepted_at is not None:
            return self.State.ACCEPTED
        if self.revoked_at is not None:
            # Replaced by a new invitation after it had expired: it expired.
            expired_first = self.expires_at <= self.revoked_at
            return self.State.EXPIRED if expired_first else self.State.REVOKED
        if self.expires_at <= timezone.now():
            return self.State.EXPIRED
        return self.State.PENDING

    def get_state_display(self) -> str:
        return self.State(self.state).label

    @property
    def is_pending(self) -> bool:
        return self.state == self.State.PENDING

    def token(self) -> str:
        """What the e-mailed link carries: this invitation, signed (``dealers.invitations``)."""
        return signing.dumps([self._meta.label_lower, str(self.code)], salt=self.TOKEN_SALT)

    def siblings(self) -> models.QuerySet:
        """Invitations of the same address to the same target (a new one replaces them)."""
        return (
            type(self)
            .objects.filter(
                **{self.target_field: getattr(self, f"{self.target_field}_id")},
                email__iexact=self.email,
            )
            .exclude(pk=self.pk)
        )


class DealerInvitationQuerySet(InvitationQuerySet, DealerOwnedQuerySet):
    pass


class DealerInvitation(Invitation):
    """An invitation to join a dealer's team with a role."""

    target_field = "dealer"
    kind = "dealer"

    # Invitations go with their dealer.
    dealer = models.ForeignKey(Dealer, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=20, choices=Membership.Role.choices)

    objects = DealerInvitationQuerySet.as_manager()

    class Meta(Invitation.Meta):
        constraints = [
            *Invitation.Meta.constraints,
            models.UniqueConstraint(
                Lower("email"),
                "dealer",
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="dealers_invitation_one_open_per_email",
                violation_error_message="This address already has an open invitation.",
            ),
        ]
        indexes = [
            # The team page: a dealer's invitations, newest first.
            models.Index(fields=["dealer", "-created_at"], name="dealers_invitation_recent"),
        ]


class SignInEvent(models.Model):
    """A sign-in, a failed one, a lockout or a two-factor change: who, when, from where."""

    class Kind(models.TextChoices):
        SIGNED_IN = "signed_in", "Signed in with password"
        FAILED = "failed", "Wrong password"
        LOCKED_OUT = "locked_out", "Locked out"
        TWO_FACTOR_PASSED = "2fa_passed", "Second factor accepted"
        TWO_FACTOR_FAILED = "2fa_failed", "Wrong second-factor code"
        RECOVERY_CODE_USED = "recovery_used", "Signed in with a recovery code"
        TWO_FACTOR_ENABLED = "2fa_enabled", "Two-factor sign-in turned on"
        TWO_FACTOR_DISABLED = "2fa_disabled", "Two-factor sign-in turned off"
        RECOVERY_CODES_RENEWED = "codes_renewed", "New recovery codes made"

    # Kept after the account is removed; a failed attempt may name no account at all.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    username = models.CharField(max_length=150, blank=True, help_text="As typed, cut to 150.")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # Serves a dealer owner's "recent sign-ins of my people" (user IN ..., newest first).
            models.Index(fields=["user", "-created_at"], name="dealers_signin_user_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.username} at {self.created_at:%Y-%m-%d %H:%M}"
