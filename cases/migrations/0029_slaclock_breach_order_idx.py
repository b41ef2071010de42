"""The breach CSV's order as an index over breached clocks (docs/performance.md, "Breach CSV").

Built CONCURRENTLY: the clock table is written by every incident change and the sweep, and a
plain CREATE INDEX would block those writes while it reads a million clocks.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models
from django.db.models.functions import Coalesce


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("cases", "0028_decline_code_corrections"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="slaclock",
            index=models.Index(
                models.OrderBy(Coalesce("breached_at", "stopped_at"), descending=True, nulls_last=True),
                models.OrderBy(models.F("id"), descending=True),
                models.F("started_at"),
                condition=models.Q(("breached_at__isnull", False), ("state", "breached"), _connector="OR"),
                name="slaclock_breach_order_idx",
            ),
        ),
    ]
