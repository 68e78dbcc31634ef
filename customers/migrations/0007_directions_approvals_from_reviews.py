# Hand-written: moves each site's directions reviews into one DirectionsApproval per station.
#
# Until now one approval, by an admin of any station of the site, reached the operators of
# every station. From now on a station's operators see only what their own station approved,
# so each past review is given to the station that made it (replayed from the directions'
# history, with its who and when), and stations that never reviewed the directions have them
# pending. The historical rows of the approvals are written from the same history, so the
# station console's activity page keeps every past review.

from django.db import migrations

REVIEWED = ("approved", "rejected")


def _reviews(directions, historical):
    """The review events of one site's directions, oldest first, as historical rows."""
    events, seen = [], None
    rows = historical.objects.filter(id=directions.pk).order_by("history_date", "history_id")
    for row in rows:
        if (
            row.reviewed_at is not None
            and row.reviewed_at != seen
            and row.status in REVIEWED
            and row.reviewed_station_id is not None
        ):
            events.append(row)
        seen = row.reviewed_at
    return events


def _from_live_row(directions):
    """A site reviewed before its directions had history: its last review as an event."""
    if directions.status in REVIEWED:
        version, decision = directions.version, directions.status
    elif directions.approved_version is not None:
        version, decision = directions.approved_version, "approved"
    else:
        version, decision = max(directions.version - 1, 1), "rejected"
    return {
        "station_id": directions.reviewed_station_id,
        "version": version,
        "decision": decision,
        "note": directions.review_note,
        "reviewed_by_id": directions.reviewed_by_id,
        "reviewed_at": directions.reviewed_at,
        "approved": directions.approved if decision == "approved" else {},
        "approved_version": version if decision == "approved" else None,
        "approved_at": directions.approved_at if decision == "approved" else None,
        "history_date": directions.reviewed_at,
        "history_user_id": directions.reviewed_by_id,
    }


def forwards(apps, schema_editor):
    SiteDirections = apps.get_model("customers", "SiteDirections")
    HistoricalSiteDirections = apps.get_model("customers", "HistoricalSiteDirections")
    DirectionsApproval = apps.get_model("customers", "DirectionsApproval")
    HistoricalDirectionsApproval = apps.get_model("customers", "HistoricalDirectionsApproval")
    reviewed = SiteDirections.objects.filter(
        reviewed_at__isnull=False, reviewed_station__isnull=False
    )
    for directions in reviewed.order_by("pk").iterator():
        events = [
            {
                "station_id": row.reviewed_station_id,
                "version": row.version,
                "decision": row.status,
                "note": row.review_note,
                "reviewed_by_id": row.reviewed_by_id,
                "reviewed_at": row.reviewed_at,
                # A sending-back keeps what the station approved before (below).
                "approved": row.approved if row.status == "approved" else None,
                "approved_version": row.version if row.status == "approved" else None,
                "approved_at": row.reviewed_at if row.status == "approved" else None,
                "history_date": row.history_date,
                "history_user_id": row.history_user_id,
            }
            for row in _reviews(directions, HistoricalSiteDirections)
        ] or [_from_live_row(directions)]
        # Each station's states, one per review it made, oldest first.
        states: dict[int, list[dict]] = {}
        for event in events:
            earlier = states.setdefault(event["station_id"], [])
            if event["decision"] != "approved":
                last = earlier[-1] if earlier else None
                event["approved"] = last["approved"] if last else {}
                event["approved_version"] = last["approved_version"] if last else None
                event["approved_at"] = last["approved_at"] if last else None
            earlier.append(event)
        for station_id, station_events in states.items():
            fields = ("version", "decision", "note", "reviewed_by_id", "reviewed_at")
            fields += ("approved", "approved_version", "approved_at")
            final = station_events[-1]
            approval = DirectionsApproval.objects.create(
                directions_id=directions.pk,
                station_id=station_id,
                **{name: final[name] for name in fields},
            )
            for number, event in enumerate(station_events):
                HistoricalDirectionsApproval.objects.create(
                    id=approval.pk,
                    directions_id=directions.pk,
                    station_id=station_id,
                    history_date=event["history_date"],
                    history_user_id=event["history_user_id"],
                    history_type="+" if number == 0 else "~",
                    **{name: event[name] for name in fields},
                )


def backwards(apps, schema_editor):
    """Back to one review per site: the latest review of any station, and the newest version
    any station approved (what every station's operators saw before)."""
    SiteDirections = apps.get_model("customers", "SiteDirections")
    DirectionsApproval = apps.get_model("customers", "DirectionsApproval")
    for directions in SiteDirections.objects.order_by("pk").iterator():
        approvals = list(DirectionsApproval.objects.filter(directions_id=directions.pk))
        if not approvals:
            continue
        latest = max(approvals, key=lambda a: a.reviewed_at)
        approved = [a for a in approvals if a.approved_version is not None]
        newest = max(approved, key=lambda a: a.approved_version) if approved else None
        directions.status = latest.decision if latest.version == directions.version else "pending"
        directions.reviewed_by_id = latest.reviewed_by_id
        directions.reviewed_station_id = latest.station_id
        directions.reviewed_at = latest.reviewed_at
        directions.review_note = latest.note
        if newest is not None:
            directions.approved = newest.approved
            directions.approved_version = newest.approved_version
            directions.approved_at = newest.approved_at
        directions.save()


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0006_directions_approval_per_station"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards),
    ]
