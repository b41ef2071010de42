"""`manage.py pull_buckets [--start --end]`: pull buckets from the warehouse now (beat does it too).

Without a window it runs the scheduled pull (and moves the watermark); with --start and --end it
pulls that window only (a backfill; the watermark stays). Both go through `metrics_pull`.
"""

from datetime import UTC

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from monitoring.pull import metrics_pull
from monitoring.rows import bucket_floor


def _moment(value: str, name: str):
    moment = parse_datetime(value)
    if moment is None:
        raise CommandError(f"--{name} is not an ISO 8601 date and time (e.g. 2026-05-04T10:00:00Z)")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if bucket_floor(moment, settings.PAYHEALTH_METRICS_BUCKET_MINUTES) != moment:
        raise CommandError(
            f"--{name} is not on a bucket boundary ({settings.PAYHEALTH_METRICS_BUCKET_MINUTES} minutes)"
        )
    return moment


class Command(BaseCommand):
    help = "Pull buckets from PAYHEALTH_METRICS_SOURCE_URL: the next scheduled window, or --start/--end."

    def add_arguments(self, parser):
        parser.add_argument("--start", help="Window start, inclusive (ISO 8601, UTC if no offset).")
        parser.add_argument("--end", help="Window end, exclusive (ISO 8601, UTC if no offset).")

    def handle(self, *args, start=None, end=None, **options):
        if not settings.PAYHEALTH_METRICS_SOURCE_URL:
            raise CommandError("PAYHEALTH_METRICS_SOURCE_URL is not set: there is no source to pull from")
        if (start is None) != (end is None):
            raise CommandError("Give both --start and --end, or neither")
        window = {}
        if start is not None:
            window = {"start": _moment(start, "start"), "end": _moment(end, "end")}
            if window["start"] >= window["end"]:
                raise CommandError("--start must be before --end")
        pull = metrics_pull(**window)
        if pull is None:
            raise CommandError("Another pull is running; try again when it has finished")
        self.stdout.write(
            f"{pull.last_window_start:%Y-%m-%dT%H:%MZ} – {pull.last_window_end:%Y-%m-%dT%H:%MZ}: "
            f"{pull.rows_read} rows read, {pull.rows_inserted} inserted, {pull.rows_updated} updated, "
            f"{pull.rows_unchanged} unchanged"
        )
        if pull.last_error:
            raise CommandError(pull.last_error)
