"""What operators do in the portal: each time one opens a site from a deep link."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from customers.models import Customer
from stations.models import MonitoringStation


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
        ]

    def __str__(self) -> str:
        return f"{self.user} opened {self.customer} at {self.opened_at:%Y-%m-%d %H:%M}"
