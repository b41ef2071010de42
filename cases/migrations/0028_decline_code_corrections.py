from django.db import migrations


def reference_rows(apps, schema_editor):
    """Mastercard's own 79, 82 and 83 (life cycle, policy, fraud/security: its merchant advice code
    decides the retry) and Visa's category-2 codes 5C and 9G; the loader updates by scheme and code."""
    from cases.reference_data import load_response_codes

    load_response_codes(apps.get_model("cases", "ResponseCode"))


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0027_search_unaccent"),
    ]

    operations = [migrations.RunPython(reference_rows, migrations.RunPython.noop)]
