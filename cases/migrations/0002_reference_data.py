from django.db import migrations


def forwards(apps, schema_editor):
    from cases.reference_data import load_response_codes
    from cases.sla.policies import load_default_sla_policies

    load_response_codes(apps.get_model("cases", "ResponseCode"))
    load_default_sla_policies(apps.get_model("cases", "SlaPolicy"), apps.get_model("partners", "BusinessCalendar"))


class Migration(migrations.Migration):
    dependencies = [("cases", "0001_initial"), ("partners", "0002_reference_calendars")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
