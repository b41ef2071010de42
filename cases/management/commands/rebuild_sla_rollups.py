"""Re-compute the SLA reports' rollups from the clocks: `manage.py rebuild_sla_rollups [--start D] [--end D] [--check]`.

The rollups are kept up to date by the clocks' own transactions (docs/performance.md, "SLA report
rollups"); rebuild them after a change of PAYHEALTH_TIME_ZONE, after deleting incidents or
engagements outright, or to fill them after an upgrade at once rather than a day per minute.
Dates are desk days (YYYY-MM-DD, both included); without them every day that has clocks.
`--check` changes nothing and exits with status 1 when a rollup differs from its clocks.
"""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from cases.sla.rollups import sla_rollup_differences, sla_rollup_rebuild, sla_rollup_span


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date (YYYY-MM-DD)") from None


class Command(BaseCommand):
    help = "Re-compute the SLA report rollups from the clocks (--check: compare only, exit 1 on a difference)."

    def add_arguments(self, parser):
        parser.add_argument("--start", type=_date, help="first desk day (YYYY-MM-DD); default: the first with clocks")
        parser.add_argument("--end", type=_date, help="last desk day (YYYY-MM-DD); default: the last with clocks")
        parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a rollup differs")

    def handle(self, *args, start, end, check, **options):
        if start and end and start > end:
            raise CommandError("--start is after --end")
        if check:
            first, last = sla_rollup_span(first=start, last=end)
            if first is None:
                self.stdout.write("no clocks: nothing to check")
                return
            differences = sla_rollup_differences(first=first, last=last)
            if differences:
                raise CommandError(f"{len(differences)} rollup rows differ from the clocks from {first} to {last}")
            self.stdout.write(f"the rollups from {first} to {last} match the clocks")
            return
        rows = sla_rollup_rebuild(first=start, last=end)
        self.stdout.write(f"{rows} rollup rows written")
