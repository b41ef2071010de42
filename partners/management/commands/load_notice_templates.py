"""`manage.py load_notice_templates [--refresh]`: the shipped notice templates into the database."""

from django.core.management.base import BaseCommand

from partners.models import NoticeTemplate
from partners.notices import load_notice_templates


class Command(BaseCommand):
    help = (
        "Create version 1 of every default notice template (templates/notices/<language>/<kind>.txt) "
        "that has none yet; with --refresh, a default whose text changed becomes a new active version."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--refresh",
            action="store_true",
            help="make the shipped text the active version where it differs (edits stay in the history)",
        )

    def handle(self, *args, refresh, **options):
        changed = load_notice_templates(NoticeTemplate, refresh=refresh)
        for line in changed:
            self.stdout.write(f"loaded {line}")
        self.stdout.write(
            f"{len(changed)} notice template version(s) created" if changed else "notice templates up to date"
        )
