"""Re-compute the overview's counters from the incidents and clocks: `manage.py rebuild_overview_counters [--check]`.

Triggers keep the counters exact in every transaction that writes an incident or a clock
(docs/performance.md, "The overview"); rebuild them after restoring a dump without them or after
a TRUNCATE. `--check` changes nothing and exits with status 1 when a counter differs.
"""

from django.core.management.base import BaseCommand, CommandError

from cases.overview import overview_counters_differences, overview_counters_rebuild


class Command(BaseCommand):
    help = "Re-compute the overview's counters (--check: compare only, exit 1 on a difference)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when a counter differs")

    def handle(self, *args, check, **options):
        if check:
            differences = overview_counters_differences()
            if differences:
                raise CommandError(f"{len(differences)} overview counters differ from the incidents and clocks")
            self.stdout.write("the overview counters match the incidents and clocks")
            return
        overview_counters_rebuild()
        self.stdout.write("overview counters rebuilt")
