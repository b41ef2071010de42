from django.db import migrations


def forwards(apps, schema_editor):
    """The RCA request and the account team's update give dates in the reader's style and sign with
    the desk's 24×7 line, bridge and escalation manager: where the active version is still a shipped
    one (no person edited it), the new default becomes the next active version; edited templates
    are left as their authors wrote them."""
    from partners.notices import load_notice_templates

    load_notice_templates(apps.get_model("partners", "NoticeTemplate"), refresh="unedited")


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0009_account_update_notice"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
