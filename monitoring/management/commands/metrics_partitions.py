"""`manage.py metrics_partitions`: create the bucket table's monthly partitions ahead (beat does it too)."""

from django.core.management.base import BaseCommand

from monitoring.partitions import partitions_create_ahead, partitions_existing


class Command(BaseCommand):
    help = "Create the payment data partitions for this month, the next two, and the late-row window."

    def handle(self, *args, **options):
        created = partitions_create_ahead()
        for name in created:
            self.stdout.write(f"created {name}")
        self.stdout.write(f"{len(created)} created, {len(partitions_existing())} partitions in all")
