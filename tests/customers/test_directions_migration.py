"""The move to per-station approvals (customers 0006-0008) gives each past review to the station
that made it, with its who and when, and leaves the other stations' approval pending."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.migrations import migrate_app_to, migrate_to_latest

BEFORE = ("customers", "0005_list_search_indexes")
AFTER = ("customers", "0008_remove_sitedirections_review_fields")

CONTENT_1 = {"note": "Gate code 4411.", "cameras": []}


@pytest.mark.django_db(transaction=True)
def test_past_reviews_go_to_the_station_that_made_them():
    try:
        _check_the_move()
    finally:
        migrate_to_latest()


def _check_the_move():
    apps = migrate_app_to(BEFORE)
    User = apps.get_model("auth", "User")
    Dealer = apps.get_model("dealers", "Dealer")
    Station = apps.get_model("stations", "MonitoringStation")
    Customer = apps.get_model("customers", "Customer")
    SiteDirections = apps.get_model("customers", "SiteDirections")
    Historical = apps.get_model("customers", "HistoricalSiteDirections")

    owner, admin_a, admin_b = (User.objects.create(username=n) for n in ("o", "a", "b"))
    station_a = Station.objects.create(name="Central One", platform="mastermind")
    station_b = Station.objects.create(name="Rival Monitoring", platform="mastermind")
    site = Customer.objects.create(
        dealer=Dealer.objects.create(name="Dealer"), name="Corner Store", time_zone="UTC"
    )
    t0 = timezone.now() - timedelta(days=3)
    # As the single-approval model left it: A approved version 1, the dealer wrote version 2,
    # B sent version 2 back (A's approval was what every station's operators saw).
    states = [
        (t0, owner, "+", {"version": 1, "status": "pending"}),
        (
            t0 + timedelta(hours=1),
            admin_a,
            "~",
            {
                "version": 1,
                "status": "approved",
                "reviewed_by": admin_a,
                "reviewed_station": station_a,
                "reviewed_at": t0 + timedelta(hours=1),
                "approved": CONTENT_1,
                "approved_version": 1,
                "approved_at": t0 + timedelta(hours=1),
            },
        ),
        (
            t0 + timedelta(hours=2),
            owner,
            "~",
            {"version": 2, "status": "pending", "note": "New gate code 9900.", "review_note": ""},
        ),
        (
            t0 + timedelta(hours=3),
            admin_b,
            "~",
            {
                "version": 2,
                "status": "rejected",
                "reviewed_by": admin_b,
                "reviewed_station": station_b,
                "reviewed_at": t0 + timedelta(hours=3),
                "review_note": "Too vague.",
            },
        ),
    ]
    directions = SiteDirections(customer=site, note="Gate code 4411.")
    for at, user, kind, fields in states:
        for name, value in fields.items():
            setattr(directions, name, value)
        directions.save()
        row = {f.attname: getattr(directions, f.attname) for f in SiteDirections._meta.fields}
        Historical.objects.create(**row, history_date=at, history_user=user, history_type=kind)

    apps = migrate_app_to(AFTER)
    Approval = apps.get_model("customers", "DirectionsApproval")
    a = Approval.objects.get(station_id=station_a.pk)
    b = Approval.objects.get(station_id=station_b.pk)
    assert (a.version, a.decision, a.approved_version, a.approved) == (1, "approved", 1, CONTENT_1)
    assert a.reviewed_by_id == admin_a.pk
    # B never approved anything: its operators see no directions; its note reaches the dealer.
    assert (b.version, b.decision, b.approved_version, b.approved) == (2, "rejected", None, {})
    assert (b.note, b.reviewed_by_id) == ("Too vague.", admin_b.pk)
    history = apps.get_model("customers", "HistoricalDirectionsApproval").objects
    assert [
        (h.station_id, h.history_user_id, h.history_date, h.decision)
        for h in history.order_by("history_date")
    ] == [
        (station_a.pk, admin_a.pk, t0 + timedelta(hours=1), "approved"),
        (station_b.pk, admin_b.pk, t0 + timedelta(hours=3), "rejected"),
    ]
