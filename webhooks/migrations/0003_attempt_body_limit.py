"""Attempts keep at most 512 bytes of an answer, and nothing of a redirect's or of an answer from
a host webhooks may no longer reach: cut what earlier versions kept (4 KB of anything).

Hosts are judged by what can be told without DNS (local names, literal addresses), with the
allow-list in force when the migration runs; a name that resolved to an internal address is
refused at its next attempt."""

from django.db import migrations, models
from django.db.models.functions import Left, Length

BODY_LIMIT = 512


def cut_kept_answers(apps, schema_editor):
    from webhooks.targets import url_refused_without_lookup

    attempts = apps.get_model("webhooks", "WebhookAttempt").objects.exclude(response_body="")
    subscriptions = apps.get_model("webhooks", "WebhookSubscription").objects.only("pk", "url")
    refused = [row.pk for row in subscriptions.iterator() if url_refused_without_lookup(row.url)]
    attempts.filter(delivery__subscription__in=refused).update(response_body="")
    attempts.filter(response_status__gte=300, response_status__lt=400).update(response_body="")
    attempts.annotate(length=Length("response_body")).filter(length__gt=BODY_LIMIT).update(
        response_body=Left("response_body", BODY_LIMIT)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_roles"),
    ]

    operations = [
        migrations.AlterField(
            model_name="webhookattempt",
            name="response_body",
            field=models.TextField(
                blank=True, help_text="The first 512 bytes; nothing of a redirect.", verbose_name="response body"
            ),
        ),
        migrations.RunPython(cut_kept_answers, migrations.RunPython.noop),
    ]
