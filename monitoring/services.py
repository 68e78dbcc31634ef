"""Writes on the operator side: the record that an operator opened a site."""

from __future__ import annotations

from customers.models import Customer
from monitoring.models import SiteOpening
from stations.models import MonitoringStation


def opening_record(
    *,
    user,
    customer: Customer,
    station: MonitoringStation,
    zone: int | None,
    parameters: dict[str, str],
) -> SiteOpening:
    """Remember who opened which site, when, and with which link (for "also opened by")."""
    return SiteOpening.objects.create(
        user=user, customer=customer, station=station, zone=zone, parameters=parameters
    )
