"""`manage.py detect`: one detection run now (beat runs it every PAYHEALTH_DETECTION_SECONDS);
`--replay START END` evaluates that stretch of history bucket by bucket; `--dispersion`
re-estimates the over-dispersion first (beat does it nightly)."""

from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from monitoring.detection.runner import detection_run, dispersion_estimate, replay


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CommandError(f"Not a date and time: {text!r} (e.g. 2026-05-04T00:00Z)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = "Run the detector now, or replay a stretch of history bucket by bucket."

    def add_arguments(self, parser):
        parser.add_argument(
            "--replay", nargs=2, metavar=("START", "END"), help="evaluate [START, END) bucket by bucket"
        )
        parser.add_argument("--dispersion", action="store_true", help="re-estimate the over-dispersion first")

    def handle(self, *args, **options):
        if options["dispersion"]:
            self.stdout.write(f"over-dispersion estimated for {dispersion_estimate()} segments")
        if options["replay"]:
            start, end = (_moment(text) for text in options["replay"])
            if end <= start:
                raise CommandError("END must be after START.")
            runs = replay(start, end)
            self.stdout.write(
                f"{len(runs)} buckets replayed: {sum(r.tests for r in runs)} tests, "
                f"{sum(r.findings_opened for r in runs)} findings opened, "
                f"{sum(r.findings_recovered for r in runs)} recovered"
            )
            return
        run = detection_run()
        if run is None:
            self.stdout.write("another run holds the lock: skipped")
            return
        self.stdout.write(
            f"{run.buckets} buckets of {run.segments} segments, {run.tests} tests, {run.rejected} rejected; "
            f"findings: {run.findings_opened} opened, {run.findings_updated} updated, "
            f"{run.findings_recovered} recovered"
        )
