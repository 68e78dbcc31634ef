"""Create the database cache table the device API's limits count in (settings.CACHES).

Django makes cache tables with `createcachetable`; running it from a migration means
`migrate` is the one command a deployment needs. It does nothing for caches that are not in
the database (Redis) or whose table exists.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_tables(apps, schema_editor):
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = []

    operations = [migrations.RunPython(create_cache_tables, migrations.RunPython.noop)]
