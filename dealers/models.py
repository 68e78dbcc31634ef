"""The tenant: a dealer (alarm-installing company) and the people who work for it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

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

    # Which boolean field subscribes a recipient to each kind.
    KIND_FIELDS = {
        Kind.RECEIVER_STATUS: "receiver_notifications",
        Kind.SIGNAL_FAILED: "signal_failure_notifications",
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
