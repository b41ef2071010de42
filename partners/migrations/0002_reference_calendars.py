from django.db import migrations


def forwards(apps, schema_editor):
    from partners.reference import load_calendars

    load_calendars(
        apps.get_model("partners", "BusinessCalendar"),
        apps.get_model("partners", "WorkingHours"),
        apps.get_model("partners", "Holiday"),
    )


class Migration(migrations.Migration):
    dependencies = [("partners", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
