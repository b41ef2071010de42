"""Mask the card numbers a database already holds: `manage.py mask_card_numbers [--check]`.

PayHealth refuses or masks card numbers as text enters; this command finds any stored before
that (a database of an earlier release, a hand edit) in every text, JSON and text-array column
and masks them (`411111******1111`), keeping the first 6 and last 4 digits. The migration that
upgrades a database runs it once; run it again at any time, it changes nothing the second time.
`--check` masks nothing and exits with status 1 when a card number is stored, for monitoring.
"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cases.services.card_data import card_numbers_scrub


class _DryRun(Exception):
    pass


class Command(BaseCommand):
    help = "Mask every card number stored in the database (--check: report only, exit 1 if any)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="change nothing; exit 1 when card numbers are found")

    def handle(self, *args, check, **options):
        try:
            with transaction.atomic():
                done = card_numbers_scrub()
                if check:
                    raise _DryRun
        except _DryRun:
            pass
        for line in done.lines():
            self.stdout.write(line)
        rows = sum(len(pks) for pks in done.rows.values())
        if check and done.total:
            raise CommandError(f"{done.total} card numbers stored in {rows} rows; run mask_card_numbers to mask them")
        verb = "found" if check else "masked"
        self.stdout.write(f"{done.total} card numbers {verb} in {rows} rows")
