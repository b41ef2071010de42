"""Desk roles are never staff: the admin is for superusers alone, so only they keep the flag."""

from django.conf import settings
from django.db import migrations


def staff_follows_superuser(apps, schema_editor):
    app_label, model_name = settings.AUTH_USER_MODEL.split(".")
    User = apps.get_model(app_label, model_name)
    User.objects.filter(is_staff=True, is_superuser=False).update(is_staff=False)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_api_tokens"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(staff_follows_superuser, migrations.RunPython.noop)]
