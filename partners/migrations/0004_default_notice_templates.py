from django.db import migrations


def forwards(apps, schema_editor):
    from partners.notices import load_notice_templates

    load_notice_templates(apps.get_model("partners", "NoticeTemplate"))


class Migration(migrations.Migration):
    dependencies = [("partners", "0003_constraint_messages")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
