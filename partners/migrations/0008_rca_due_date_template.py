from django.db import migrations


def forwards(apps, schema_editor):
    """The RCA request states its due date: an active RCA request template that does not name
    `rca.due` gets the shipped default as a new active version (earlier versions stay in the history)."""
    from partners.notices import LANGUAGES, read_default_template

    NoticeTemplate = apps.get_model("partners", "NoticeTemplate")
    for language in LANGUAGES:
        versions = NoticeTemplate.objects.select_for_update().filter(kind="rca_request", language=language)
        latest = versions.order_by("-version").first()
        active = versions.filter(active=True).first()
        if latest is None or (active is not None and "rca.due" in active.body):
            continue
        subject, body = read_default_template("rca_request", language)
        versions.filter(active=True).update(active=False)
        NoticeTemplate.objects.create(
            kind="rca_request", language=language, version=latest.version + 1, subject=subject, body=body, active=True
        )


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0007_notice_scope"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
