"""The default severity rules (see `alerts/reference.py` for the figures and why), and the roles
re-applied now that the alerts permissions exist (`accounts/0002_roles` runs before this app's
migrations on an empty database)."""

from django.db import migrations


def seed_rules(apps, schema_editor):
    from alerts.reference import load_default_severity_rules

    load_default_severity_rules(apps.get_model("alerts", "AlertSeverityRule"))


def resync_roles(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create ours now.
    from django.contrib.auth.management import create_permissions

    app_config = apps.get_app_config("alerts")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0)
    app_config.models_module = None

    from accounts.roles import sync_roles

    sync_roles(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_initial"),
        ("accounts", "0002_roles"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [
        migrations.RunPython(seed_rules, migrations.RunPython.noop),
        migrations.RunPython(resync_roles, migrations.RunPython.noop),
    ]
