"""The giros of the Mexican interchange tables, from the sample file (costs/data/)."""

from django.db import migrations


def load(apps, schema_editor):
    from costs.sample import giros_load

    giros_load(apps.get_model("costs", "Giro"))


class Migration(migrations.Migration):
    dependencies = [("costs", "0002_roles")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
