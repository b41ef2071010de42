"""Feed raw partner replies to PayHealth: `manage.py receive_mail reply.eml [more.eml …]` or `-` for stdin.

For a mail server's pipe (`| manage.py receive_mail -`), or to replay a reply by hand during a
demo: each message goes through the same `inbound_receive` service as the IMAP poller and the
gateway endpoint, so it is threaded, de-duplicated and acknowledged the same way.
"""

import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cases.correspondence.inbound.parse import InboundParseError
from cases.correspondence.inbound.store import InboundTooLargeError, inbound_receive


class Command(BaseCommand):
    help = "Store raw RFC 822 messages (files, or - for standard input) as partner replies."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", help="message files (.eml), or - for standard input")

    def handle(self, *args, paths, **options):
        failures = 0
        for path in paths:
            try:
                raw = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
            except OSError as exc:
                raise CommandError(f"{path}: cannot read ({exc.strerror})") from None
            try:
                result = inbound_receive(raw=raw, source="upload")
            except (InboundParseError, InboundTooLargeError) as exc:
                self.stderr.write(f"{path}: refused: {exc}")
                failures += 1
                continue
            row = result.correspondence
            where = row.incident.reference if row.incident_id else "the triage inbox"
            self.stdout.write(f"{path}: {result.how}: {row.subject!r} → {where}")
        if failures:
            raise CommandError(f"{failures} of {len(paths)} messages refused")
