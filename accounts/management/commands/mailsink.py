"""`manage.py mailsink [--port N]`: the local SMTP sink (see payhealth/mailsink.py)."""

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from payhealth.mailsink import LOOPBACK, PortInUseError, mailsink_start


class Command(BaseCommand):
    help = "Accept mail on loopback and keep every message as an .eml file in PAYHEALTH_MAIL_DIR."
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=settings.PAYHEALTH_SMTP_SINK_PORT, help="loopback port (default %(default)s)"
        )

    def handle(self, *args, port, **options):
        mail_dir = settings.PAYHEALTH_MAIL_DIR
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())

        def report(line: str) -> None:
            self.stdout.write(line)
            self.stdout.flush()

        try:
            controller = mailsink_start(mail_dir=mail_dir, port=port, report=report)
        except PortInUseError as exc:
            raise CommandError(f"mailsink: {exc.strerror}; stop the other program or pass --port") from None
        report(f"mailsink: listening on smtp://{LOOPBACK}:{port}, keeping messages in {mail_dir}")
        try:
            while not stop.wait(0.5):
                pass
        finally:
            controller.stop()
        report("mailsink: stopped")
