"""Re-apply the roles now that the monitoring permissions exist (`accounts/0002_roles` runs before
this app's migrations on an empty database)."""

from django.db import migrations


def resync_roles(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create ours now.
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("monitoring")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None

    from accounts.roles import sync_roles

    sync_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_initial"),
        ("accounts", "0002_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(resync_roles, migrations.RunPython.noop)]
