"""Reads for stations that span models."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import router
from django.db.models.deletion import Collector, ProtectedError

from dealers.models import Dealer, NotificationRecipient
from stations import lib
from stations.models import (
    DealerStation,
    MonitoringStation,
    Receiver,
    ReceiverPath,
    StationMembership,
)


def station_choices() -> list[MonitoringStation]:
    """Stations a dealer may pick: every active station on the platform."""
    return list(MonitoringStation.objects.filter(is_active=True).order_by("name"))


def receivers_for(*, dealer: Dealer, station: MonitoringStation | None):
    """The chosen station's active receivers that this dealer may see."""
    if station is None:
        return Receiver.objects.none()
    return Receiver.objects.offered_to(dealer).filter(station=station).order_by("name")


def station_prefix_for(
    *, dealer: Dealer, station: MonitoringStation, exclude: DealerStation | None = None
) -> str:
    """The prefix the station gave this dealer ('' if none): every record of the dealer at
    the station carries it (the station console sets them all at once)."""
    records = DealerStation.objects.filter(dealer=dealer, station=station).exclude(
        account_prefix=""
    )
    if exclude is not None:
        records = records.exclude(pk=exclude.pk)
    return records.values_list("account_prefix", flat=True).first() or ""


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


def records_with_receiver_health(records: Iterable[DealerStation]) -> list[DealerStation]:
    """The records, each with ``receiver_health`` (a ``lib.ReceiverHealth``, None when video
    only) for its badge: one query for all the records' receivers' paths and their health.

    The health rows are this app's own (``PathHealth``), written by the dispatchers through
    ``stations.services``.
    """
    records = list(records)
    receiver_ids = {r.receiver_id for r in records if r.receiver_id is not None}
    paths_by_receiver: dict[int, list[ReceiverPath]] = {}
    if receiver_ids:
        paths = (
            ReceiverPath.objects.filter(receiver_id__in=receiver_ids)
            .select_related("health")
            .order_by("receiver_id", "-role")  # primary before alternate
        )
        for path in paths:
            paths_by_receiver.setdefault(path.receiver_id, []).append(path)
    for record in records:
        if record.receiver_id is None:
            record.receiver_health = None
            continue
        record.receiver_health = lib.receiver_health_summary(
            (path.get_role_display(), _path_state(path), path.url)
            for path in paths_by_receiver.get(record.receiver_id, [])
        )
    return records


def _path_state(path: ReceiverPath) -> str:
    health = getattr(path, "health", None)  # no row until a dispatcher first tries the path
    return health.state if health is not None else lib.UNKNOWN


# --- the station console ------------------------------------------------------------------


def station_receivers(station: MonitoringStation) -> list[Receiver]:
    """The station's receivers, each with ``path_list`` (primary first) and each path's
    ``health`` (None before a dispatcher first tried it): two queries."""
    receivers = list(Receiver.objects.filter(station=station).order_by("name"))
    paths = (
        ReceiverPath.objects.filter(receiver__station=station)
        .select_related("health")
        .order_by("receiver_id", "-role")  # primary before alternate
    )
    by_receiver: dict[int, list[ReceiverPath]] = {}
    for path in paths:
        path.health_row = getattr(path, "health", None)
        by_receiver.setdefault(path.receiver_id, []).append(path)
    for receiver in receivers:
        receiver.path_list = by_receiver.get(receiver.pk, [])
        receiver.health = lib.receiver_health_summary(
            (path.get_role_display(), _path_state(path), path.url) for path in receiver.path_list
        )
    return receivers


def station_people(station: MonitoringStation):
    return (
        StationMembership.objects.filter(station=station)
        .select_related("user")
        .order_by("role", "user__username")
    )


def station_activity(station: MonitoringStation, *, limit: int = 100) -> list[lib.Change]:
    """Who changed what at the station, newest first: its settings, receivers and their paths,
    its people, and the dealers' records there (prefixes). Five queries."""

    def latest(queryset):
        return list(queryset.select_related("history_user").order_by("-history_date")[:limit])

    def labels(model, names):
        return {name: str(model._meta.get_field(name).verbose_name) for name in names}

    receivers = latest(Receiver.history.filter(station_id=station.pk))
    receiver_names = {row.id: row.name for row in reversed(receivers)}
    changes = [
        *lib.history_changes(
            latest(MonitoringStation.history.filter(id=station.pk)),
            subject=lambda row: "Station settings",
            fields=labels(
                MonitoringStation,
                [
                    "name",
                    "platform",
                    "requires_reference_id",
                    "reference_id_label",
                    "account_macro",
                    "reference_macro",
                    "zone_macro",
                    "time_zone",
                    "periodic_test_interval",
                    "is_active",
                ],
            ),
        ),
        *lib.history_changes(
            receivers,
            subject=lambda row: f"Receiver “{row.name}”",
            fields={
                **labels(
                    Receiver,
                    [
                        "name",
                        "description",
                        "protocol",
                        "visibility",
                        "receiver_number",
                        "line_number",
                        "adds_prefix",
                        "is_active",
                    ],
                ),
                "passkey_changed_at": "passkey",
            },
        ),
        *lib.history_changes(
            latest(ReceiverPath.history.filter(receiver_id__in=list(receiver_names))),
            subject=lambda row: (
                f"{row.get_role_display()} path of "
                f"“{receiver_names.get(row.receiver_id, 'a receiver')}”"
            ),
            fields=labels(
                ReceiverPath,
                [
                    "transport",
                    "host",
                    "port",
                    "use_tls",
                    "url_path",
                    "connect_timeout",
                    "reply_timeout",
                ],
            ),
        ),
        *lib.history_changes(
            latest(StationMembership.history.filter(station_id=station.pk).select_related("user")),
            subject=lambda row: (
                f"{row.user.get_username() if row.user else 'A former user'} "
                f"({row.get_role_display().lower()})"
            ),
            fields={"role": "role"},
        ),
        *lib.history_changes(
            latest(DealerStation.history.filter(station_id=station.pk).select_related("dealer")),
            subject=lambda row: f"{row.dealer}'s record “{row.name}”",
            fields={"name": "name", "receiver_id": "receiver", "account_prefix": "prefix"},
        ),
    ]
    changes.sort(key=lambda change: change.at, reverse=True)
    return changes[:limit]


def receiver_status_recipients(receiver_id: int) -> list[NotificationRecipient]:
    """Who hears that a path of this receiver went down or came back: the receiver-notification
    subscribers of every active dealer with a station record on it."""
    return list(
        NotificationRecipient.objects.subscribed_to(NotificationRecipient.Kind.RECEIVER_STATUS)
        .filter(dealer__is_active=True, dealer__station_records__receiver_id=receiver_id)
        .select_related("dealer")
        .distinct()
        .order_by("dealer__name", "email")
    )


# --- the dealer dashboard's panel -----------------------------------------------------------


def receiver_troubled(record: DealerStation) -> bool:
    """Whether the record's receiver is down or has a path down (``receiver_health`` set)."""
    health = getattr(record, "receiver_health", None)
    return bool(health and health.state in ("down", "degraded"))


def dashboard_receivers(dealer: Dealer, membership: Any = None) -> dict[str, Any]:
    """The dealer's station records whose receiver is down or has a path down: two queries."""
    records = records_with_receiver_health(station_records_for(dealer).order_by("name"))
    troubled = [r for r in records if receiver_troubled(r)]
    return {
        "receivers_down": [r for r in troubled if r.receiver_health.state == "down"],
        "receivers_troubled": troubled,
        "receivers_total": sum(1 for r in records if r.receiver_id is not None),
    }
