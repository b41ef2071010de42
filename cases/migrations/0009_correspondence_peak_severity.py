from django.db import migrations, models

SEVERITIES = ["sev1", "sev2", "sev3", "sev4"]


def record_peak_severity(apps, schema_editor):
    """Each notice still waiting to be sent gets the most severe its incident was since it was drafted.

    The timeline holds every severity change: the first change after the draft starts from the
    severity it was drafted at, and the incident's severity now closes the range.
    """
    Correspondence = apps.get_model("cases", "Correspondence")
    CaseEvent = apps.get_model("cases", "CaseEvent")
    waiting = Correspondence.objects.filter(direction="out", status__in=["draft", "pending_approval"])
    for notice in waiting.select_related("incident").iterator():
        seen = {notice.incident.severity}
        changes = CaseEvent.objects.filter(
            incident_id=notice.incident_id, kind="severity_changed", created_at__gte=notice.created_at
        )
        for data in changes.values_list("data", flat=True):
            seen.update((data.get("from"), data.get("to")))
        notice.peak_severity = min((value for value in seen if value in SEVERITIES), key=SEVERITIES.index)
        notice.save(update_fields=["peak_severity"])


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0008_caseevent_notice_edited_submitted"),
    ]

    operations = [
        migrations.AddField(
            model_name="correspondence",
            name="peak_severity",
            field=models.CharField(
                blank=True,
                choices=[
                    ("sev1", "SEV1 – critical"),
                    ("sev2", "SEV2 – major"),
                    ("sev3", "SEV3 – moderate"),
                    ("sev4", "SEV4 – minor"),
                ],
                help_text="The most severe the incident was since the notice was drafted; empty for received mail.",
                max_length=4,
                verbose_name="highest severity since drafted",
            ),
        ),
        migrations.RunPython(record_peak_severity, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="correspondence",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("direction", "in"),
                    models.Q(("status__in", ["draft", "pending_approval"]), _negated=True),
                    models.Q(("peak_severity", ""), _negated=True),
                    _connector="OR",
                ),
                name="corr_unsent_notice_has_peak_severity",
                violation_error_message="A notice waiting to be sent records the highest severity since drafted.",
            ),
        ),
    ]
