"""Media a bridge dated before the rule of signals.api.device_time (a time before 2020, or more
than a minute past their arrival) get the time they arrived, as new uploads do."""

from datetime import UTC, datetime, timedelta

from django.db import migrations
from django.db.models import F, Q

# As the rule stood when this was written (signals.api: DEVICE_TIME_EARLIEST and _AHEAD).
EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
AHEAD = timedelta(minutes=1)


def repair(apps, schema_editor):
    MediaItem = apps.get_model("media", "MediaItem")
    MediaItem.objects.filter(
        Q(captured_at__lt=EARLIEST) | Q(captured_at__gt=F("created_at") + AHEAD)
    ).update(captured_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("media", "0002_upload_id_unique_per_site"),
    ]

    operations = [
        migrations.RunPython(repair, migrations.RunPython.noop),
    ]
