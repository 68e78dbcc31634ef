"""Drop `portal_cache_limits`, the database cache table 0001 made for the device API's limits.

They have counted in `signals.RequestCount` since signals 0009, and the releases since then
never read the table: it only took space. A new database never had it.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("portal", "0001_limits_cache_table")]

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS portal_cache_limits", migrations.RunSQL.noop)
    ]
