"""Data for the station console: a code for every membership, and the generic platform."""

import uuid

from django.db import migrations

KNOWN_PLATFORMS = ("mastermind", "bold_manitou", "sentinel")


def membership_codes(apps, schema_editor):
    StationMembership = apps.get_model("stations", "StationMembership")
    for membership in StationMembership.objects.filter(code__isnull=True).only("pk"):
        membership.code = uuid.uuid4()
        membership.save(update_fields=["code"])


def platforms_to_generic(apps, schema_editor):
    """Patriot, stages, Micro Key, SIMS, Immix and "other" become the generic choice; the
    reference ID keeps the name the station had for it."""
    MonitoringStation = apps.get_model("stations", "MonitoringStation")
    MonitoringStation.objects.exclude(platform__in=KNOWN_PLATFORMS).update(platform="generic")



class Migration(migrations.Migration):
    dependencies = [("stations", "0004_station_console")]

    operations = [
        migrations.RunPython(membership_codes, migrations.RunPython.noop),
        # Platforms other than the three the portal knows become "generic".
        migrations.RunPython(platforms_to_generic, migrations.RunPython.noop),
    ]
