"""Re-apply the roles now that the detector's permissions exist (findings, suppressions, settings)."""

from django.db import migrations


def resync_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("monitoring")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None

    from accounts.roles import sync_roles

    sync_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0004_detection")]
    operations = [migrations.RunPython(resync_roles, migrations.RunPython.noop)]
