from django.db import migrations


def forwards(apps, schema_editor):
    from partners.reference import load_holidays

    load_holidays(apps.get_model("partners", "BusinessCalendar"), apps.get_model("partners", "Holiday"))


class Migration(migrations.Migration):
    """Mexican bank holidays (standing rules, marked inferred) and US public holidays through 2035."""

    dependencies = [("partners", "0005_billing_discrepancy_notice")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
