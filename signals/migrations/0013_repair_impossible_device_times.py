"""Events a bridge dated before the rule of signals.api.device_time (a time before 2020, or
more than a minute past their arrival) get the time they arrived, as new ones do: a year-1 or
year-9999 time stopped its site's pages from showing, and a future one kept the event at the
top of the operator's list. The description says what the bridge's clock said."""

from datetime import UTC, datetime, timedelta

from django.db import migrations
from django.db.models import F, Q

# As the rule stood when this was written (signals.api: DEVICE_TIME_EARLIEST and _AHEAD).
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
AHEAD = timedelta(minutes=1)
DESCRIPTION_MAX = 200


def repair(apps, schema_editor):
    AlarmEvent = apps.get_model("signals", "AlarmEvent")
    impossible = AlarmEvent.objects.filter(source="device").filter(
        Q(occurred_at__lt=EARLIEST) | Q(occurred_at__gt=F("received_at") + AHEAD)
    )
    for event in impossible.only("pk", "occurred_at", "received_at", "description").iterator():
        note = f"(bridge clock said {event.occurred_at.isoformat()})"
        text = f"{event.description[: DESCRIPTION_MAX - len(note) - 1]} {note}".lstrip()
        AlarmEvent.objects.filter(pk=event.pk).update(
            occurred_at=event.received_at, description=text[:DESCRIPTION_MAX]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("signals", "0012_event_id_unique_per_site"),
    ]

    operations = [
        # Nothing to undo: the times kept in the descriptions say what they were.
        migrations.RunPython(repair, migrations.RunPython.noop),
    ]
