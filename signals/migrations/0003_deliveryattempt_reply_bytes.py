"""Keep each reply as the bytes the receiver sent: a text column refuses some of them (PostgreSQL
has no NUL in text), which used to make a whole batch fail to record."""

from django.db import migrations, models


def copy_replies(apps, schema_editor):
    DeliveryAttempt = apps.get_model("signals", "DeliveryAttempt")
    for attempt in DeliveryAttempt.objects.exclude(reply="").only("pk", "reply").iterator():
        DeliveryAttempt.objects.filter(pk=attempt.pk).update(
            reply_bytes=attempt.reply.encode("utf-8", "surrogatepass")
        )


def copy_back(apps, schema_editor):
    DeliveryAttempt = apps.get_model("signals", "DeliveryAttempt")
    for attempt in DeliveryAttempt.objects.only("pk", "reply_bytes").iterator():
        text = bytes(attempt.reply_bytes).decode("utf-8", "replace").replace("\x00", "\ufffd")
        DeliveryAttempt.objects.filter(pk=attempt.pk).update(reply=text)


class Migration(migrations.Migration):
    dependencies = [
        ("signals", "0002_pathhealth_pending_account_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="deliveryattempt",
            name="reply_bytes",
            field=models.BinaryField(blank=True, default=b""),
        ),
        migrations.RunPython(copy_replies, copy_back, elidable=True),
        migrations.RemoveField(model_name="deliveryattempt", name="reply"),
        migrations.RenameField(
            model_name="deliveryattempt", old_name="reply_bytes", new_name="reply"
        ),
        migrations.AlterField(
            model_name="deliveryattempt",
            name="reply",
            field=models.BinaryField(
                blank=True,
                default=b"",
                help_text="The reply's bytes as received, cut to 2000.",
            ),
        ),
    ]
