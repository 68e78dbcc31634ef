"""signals 0013 and media 0003: times a bridge's clock made impossible, stored before the
device API's rule, give way to the time they arrived; the rest stay as they were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from media.models import MediaItem
from signals import services
from signals.models import AlarmEvent
from tests.factories import BridgeFactory, CameraFactory, MediaItemFactory
from tests.migrations import migrate_to_latest

BEFORE = {"signals": "0012_event_id_unique_per_site", "media": "0002_upload_id_unique_per_site"}


def _event(bridge, number: int, occurred_at: datetime, source=AlarmEvent.Source.DEVICE):
    return services.event_record(
        customer=bridge.customer,
        kind="alarm",
        zone=5,
        bridge=bridge,
        occurred_at=occurred_at,
        source=source,
        device_event_id=f"ev-{number}" if source == AlarmEvent.Source.DEVICE else "",
        description="Back door",
    )


@pytest.mark.django_db(transaction=True)
def test_impossible_times_stored_before_the_rule_get_the_time_they_arrived():
    bridge = BridgeFactory()
    now = timezone.now()
    year_1 = _event(bridge, 1, datetime(1, 1, 1, tzinfo=UTC))
    ahead = _event(bridge, 2, now + timedelta(days=3))
    kept = [
        _event(bridge, 3, datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)),
        _event(bridge, 4, datetime(2019, 1, 1, tzinfo=UTC), source=AlarmEvent.Source.TEST_SIGNAL),
    ]
    camera = CameraFactory(bridge=bridge)
    old_photo = MediaItemFactory(camera=camera, captured_at=datetime(9999, 1, 1, tzinfo=UTC))
    photo = MediaItemFactory(camera=camera, captured_at=now - timedelta(hours=1))
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(list(BEFORE.items()))
    finally:
        migrate_to_latest()

    for event in (year_1, ahead):
        event.refresh_from_db()
        assert event.occurred_at == event.received_at
    assert year_1.description == "Back door (bridge clock said 0001-01-01T00:00:00+00:00)"
    assert ahead.description.startswith("Back door (bridge clock said ")
    for event in kept:
        assert AlarmEvent.objects.get(pk=event.pk).occurred_at == event.occurred_at
    old_photo.refresh_from_db()
    assert old_photo.captured_at == old_photo.created_at
    assert MediaItem.objects.get(pk=photo.pk).captured_at == photo.captured_at
