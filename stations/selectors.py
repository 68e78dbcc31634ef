"""Reads for stations that span models."""

from __future__ import annotations

from django.db import router
from django.db.models.deletion import Collector, ProtectedError

from dealers.models import Dealer
from stations.models import DealerStation, MonitoringStation, Receiver


def station_choices() -> list[MonitoringStation]:
    """Stations a dealer may pick: every active station on the platform."""
    return list(MonitoringStation.objects.filter(is_active=True).order_by("name"))


def receivers_for(*, dealer: Dealer, station: MonitoringStation | None):
    """The chosen station's active receivers that this dealer may see."""
    if station is None:
        return Receiver.objects.none()
    return Receiver.objects.offered_to(dealer).filter(station=station).order_by("name")


def station_records_for(dealer: Dealer):
    return DealerStation.objects.for_dealer(dealer).select_related("station", "receiver")


def record_blockers(record: DealerStation) -> list[str]:
    """What uses this record and so stops its deletion (shown before the dealer tries)."""
    collector = Collector(using=router.db_for_write(DealerStation))
    try:
        collector.collect([record])
    except ProtectedError as exc:
        return sorted(str(obj) for obj in exc.protected_objects)
    return []
