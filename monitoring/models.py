"""What operators do in the portal: each time one opens a site from a deep link, and the
verdicts they record on events. Both are signalled to the operator's own station, outside the
request, by ``monitoring.tasks.report_operator_actions``."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from customers.models import Customer
from signals.models import AlarmEvent
from stations.models import MonitoringStation

NOTE_MAX = 2000


class SiteOpening(models.Model):
    """An operator opened a site (from a deep link or the chooser): who, where, when, how."""

    # Kept with the site; an operator's openings stay after their account is removed.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="openings")
    # The station the operator works for; openings outlive nothing they describe.
    station = models.ForeignKey(MonitoringStation, on_delete=models.CASCADE, related_name="+")
    opened_at = models.DateTimeField(auto_now_add=True)
    zone = models.PositiveSmallIntegerField(null=True, blank=True)
    parameters = models.JSONField(default=dict, help_text="The deep link's query parameters.")
    # Set when a "cameras viewed" event has been created from this opening (signals issue).
    reported_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        indexes = [
            # Serves "also opened by": a site's latest openings.
            models.Index(fields=["customer", "-opened_at"], name="monitoring_opening_recent"),
            # Serves the reporting task's "openings not yet signalled", oldest first; partial,
            # so it holds only the few rows waiting for the next run.
            models.Index(
                fields=["id"],
                condition=Q(reported_at__isnull=True),
                name="monitoring_opening_unreported",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} opened {self.customer} at {self.opened_at:%Y-%m-%d %H:%M}"


class Verdict(models.Model):
    """An operator's decision about an event: verified real, false alarm, or unable to verify."""

    class Outcome(models.TextChoices):
        REAL = "real", "Verified real"
        FALSE_ALARM = "false_alarm", "False alarm"
        UNVERIFIED = "unverified", "Unable to verify"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # A verdict is part of the event's history and goes with it.
    event = models.ForeignKey(AlarmEvent, on_delete=models.CASCADE, related_name="+")
    # Copied from the event: the site page lists a site's verdicts without a join.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    # The station the operator decided for; its receiver alone hears of the verdict.
    station = models.ForeignKey(MonitoringStation, on_delete=models.CASCADE, related_name="+")
    # Kept when the operator's account is removed: the verdict stays part of the history.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    note = models.TextField(max_length=NOTE_MAX, blank=True)
    recorded_at = models.DateTimeField(auto_now_add=True)
    # Set, with ``signal_event``, once the verdict has been turned into its own event.
    reported_at = models.DateTimeField(null=True, blank=True)
    # The event that signalled this verdict to the station; kept if that event goes.
    signal_event = models.ForeignKey(
        AlarmEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-recorded_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(outcome__in=["real", "false_alarm", "unverified"]),
                name="monitoring_verdict_outcome_valid",
                violation_error_message="Choose verified real, false alarm or unable to verify.",
            ),
        ]
        indexes = [
            # The site page's verdicts for the events it shows: a site's latest verdicts.
            models.Index(fields=["customer", "-recorded_at"], name="monitoring_verdict_recent"),
            # The reporting task's "verdicts not yet signalled" (partial: only those waiting).
            models.Index(
                fields=["id"],
                condition=Q(reported_at__isnull=True),
                name="monitoring_verdict_unreported",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_outcome_display()} on event {self.event_id} by {self.user}"
