import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("stations", "0005_station_console_data")]

    operations = [
        migrations.AlterField(
            model_name="stationmembership",
            name="code",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
