"""Re-apply the roles now that the partner-cost permissions exist."""

from django.db import migrations


def resync_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("costs")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None

    from accounts.roles import sync_roles

    sync_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("costs", "0001_initial"),
        ("accounts", "0002_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(resync_roles, migrations.RunPython.noop)]
