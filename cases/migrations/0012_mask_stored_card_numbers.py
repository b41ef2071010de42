"""Mask the card numbers a database of an earlier release may hold, once, on upgrade
(the same service as `manage.py mask_card_numbers`)."""

from django.db import migrations


def mask(apps, schema_editor):
    from cases.services.card_data import card_numbers_scrub

    done = card_numbers_scrub(apps=apps)
    if done.total:
        print(f"\n  masked {done.total} stored card numbers: " + "; ".join(done.lines()))


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0011_reliable_delivery"),
        ("accounts", "0004_desk_roles_not_staff"),
        ("partners", "0004_default_notice_templates"),
        ("alerts", "0002_default_rules"),
        ("webhooks", "0003_attempt_body_limit"),
    ]

    operations = [migrations.RunPython(mask, migrations.RunPython.noop, elidable=True)]
