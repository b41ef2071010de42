"""`manage.py metrics_retention`: drop the monthly partitions older than PAYHEALTH_METRICS_RETENTION_DAYS."""

from django.conf import settings
from django.core.management.base import BaseCommand

from monitoring.partitions import partitions_drop_expired
from monitoring.services import metrics_receipts_purge


class Command(BaseCommand):
    help = "Drop payment data partitions whose whole month is older than the retention, and expired Idempotency-Keys."

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            default=settings.PAYHEALTH_METRICS_RETENTION_DAYS,
            help="Keep this many days (default PAYHEALTH_METRICS_RETENTION_DAYS).",
        )

    def handle(self, *args, days, **options):
        if days < settings.PAYHEALTH_METRICS_LATE_DAYS + 31:
            self.stderr.write("Keep at least a month more than PAYHEALTH_METRICS_LATE_DAYS.")
            raise SystemExit(2)
        dropped = partitions_drop_expired(days=days)
        for name in dropped:
            self.stdout.write(f"dropped {name}")
        purged = metrics_receipts_purge()
        self.stdout.write(f"{len(dropped)} partitions dropped, {purged} expired Idempotency-Keys forgotten")
