"""The codec seam: a signal keeps its message in no protocol (the codec builds the bytes at send
time), each attempt keeps its protocol and the bytes sent, the outcomes are the codecs' set, an
event keeps why it sent nothing, and receiver path health moves down to stations."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery

# Old outcome -> new: "accepted" was delivery; XML v1's "rejected" meant "try again later".
OUTCOMES = {"accepted": "delivered", "rejected": "retry"}


def forward(apps, schema_editor):
    Signal = apps.get_model("signals", "Signal")
    AlarmEvent = apps.get_model("signals", "AlarmEvent")
    Customer = apps.get_model("customers", "Customer")
    DeliveryAttempt = apps.get_model("signals", "DeliveryAttempt")
    OldHealth = apps.get_model("signals", "PathHealth")
    NewHealth = apps.get_model("stations", "PathHealth")
    Signal.objects.filter(event_time__isnull=True).update(
        event_time=Subquery(AlarmEvent.objects.filter(pk=OuterRef("event_id")).values("occurred_at")[:1]),
        site_name=Subquery(Customer.objects.filter(pk=OuterRef("customer_id")).values("name")[:1]),
    )
    Signal.objects.filter(site_name="").update(site_name="-")
    for old, new in OUTCOMES.items():
        DeliveryAttempt.objects.filter(outcome=old).update(outcome=new)
    NewHealth.objects.bulk_create(
        [
            NewHealth(
                path_id=row.path_id,
                state=row.state,
                changed_at=row.changed_at,
                last_success_at=row.last_success_at,
                last_failure_at=row.last_failure_at,
                last_error=row.last_error,
                consecutive_failures=row.consecutive_failures,
            )
            for row in OldHealth.objects.all()
        ],
        ignore_conflicts=True,
    )


def backward(apps, schema_editor):
    DeliveryAttempt = apps.get_model("signals", "DeliveryAttempt")
    for old, new in OUTCOMES.items():
        DeliveryAttempt.objects.filter(outcome=new).update(outcome=old)


class Migration(migrations.Migration):

    dependencies = [
        ('signals', '0003_deliveryattempt_reply_bytes'),
        ('stations', '0008_protocol_settings_path_health'),
        ('customers', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='alarmevent',
            name='unsent_reason',
            field=models.CharField(blank=True, help_text='Why the event sent no signal (or none to some of its accounts).', max_length=500),
        ),
        migrations.AddField(
            model_name='deliveryattempt',
            name='protocol',
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.AddField(
            model_name='deliveryattempt',
            name='sent',
            field=models.BinaryField(blank=True, default=b''),
        ),
        migrations.AddField(
            model_name='deliveryattempt',
            name='sent_decrypted',
            field=models.BinaryField(blank=True, default=b''),
        ),
        migrations.AddField(
            model_name='signal',
            name='camera_description',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name='signal',
            name='event_time',
            field=models.DateTimeField(help_text='When the event happened.', null=True),
        ),
        migrations.AddField(
            model_name='signal',
            name='site_name',
            field=models.CharField(default='', max_length=200),
        ),
        migrations.AddField(
            model_name='signal',
            name='transmitted_number',
            field=models.CharField(blank=True, max_length=20),
        ),
        migrations.AddField(
            model_name='signal',
            name='video_url',
            field=models.CharField(blank=True, help_text="The deep link onto the site's cameras.", max_length=2000),
        ),
        migrations.AddField(
            model_name='signal',
            name='zone_description',
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AlterField(
            model_name='deliveryattempt',
            name='outcome',
            field=models.CharField(choices=[('delivered', 'Delivered'), ('duplicate', 'Duplicate (already delivered)'), ('retry', 'Not taken now: retry later'), ('failover', 'Receiver asked for the alternate path'), ('resync', "Receiver's clock differs: resent at once"), ('rejected', 'Refused for good'), ('timeout', 'No reply in time'), ('error', 'Error')], max_length=10),
        ),
        migrations.AlterField(
            model_name='signal',
            name='payload',
            field=models.BinaryField(blank=True, default=b''),
        ),
        migrations.AlterField(
            model_name='signal',
            name='protocol',
            field=models.CharField(choices=[('xml_v1', 'Portal XML v1'), ('sos_access_v4', 'SOS Access v4'), ('sia_dc09', 'SIA DC-09')], help_text="The receiver's protocol: when the signal was written, then as last sent.", max_length=20),
        ),
        migrations.RunPython(forward, backward, elidable=True),
        migrations.AlterField(
            model_name='signal',
            name='event_time',
            field=models.DateTimeField(help_text='When the event happened.'),
        ),
        migrations.AlterField(
            model_name='signal',
            name='site_name',
            field=models.CharField(max_length=200),
        ),
        migrations.DeleteModel(
            name='PathHealth',
        ),
    ]
