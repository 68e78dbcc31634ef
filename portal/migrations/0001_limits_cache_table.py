"""Create the database cache tables in settings.CACHES (Django's `createcachetable`).

Until signals 0009 the device API's limits counted in a database cache, and this made its
table (`portal_cache_limits`) from `migrate`, the one command a deployment needs. They count in
`signals.RequestCount` now, and no cache in the settings lives in the database: on a new
database this creates nothing. Where the table existed it stayed, unused, for the web workers
of the release before that while a deployment migrated; 0002 drops it.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = []

    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop)]
