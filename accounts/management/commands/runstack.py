"""`manage.py runstack [--port 8000]`: the whole development stack in one terminal (`make run`).

Starts the web server, a Celery worker, Celery beat (database scheduler) and the SMTP sink as
child processes, prefixes their output with their name, and treats them as one: Ctrl-C or
SIGTERM stops them all, and when one dies the others are stopped and the command fails, so a
broken stack never looks alive. Each child runs in its own process group: the terminal's Ctrl-C
reaches only this command, which then stops the children in order (a Celery worker that got
SIGINT from the terminal and SIGTERM from us would skip its warm shutdown).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

LOOPBACK = "127.0.0.1"
DEMO_USERS = ("analyst", "partner_manager", "lead", "admin")
DEMO_PASSWORD = "payhealth"
STOP_TIMEOUT = 15.0
# The queues of the development worker; every task route must name one of them (a test checks).
WORKER_QUEUES = ("default",)
COLOURS = {"web": "32", "worker": "36", "beat": "35", "mailsink": "33"}


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    reader: threading.Thread | None = None
    extra: dict = field(default_factory=dict)


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    # SO_REUSEADDR as the servers set it, so a port in TIME_WAIT after a restart counts as free.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_answers(port: int, host: str = LOOPBACK) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def exit_description(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


class Command(BaseCommand):
    help = "Run the web server, a Celery worker, Celery beat and the SMTP sink together; Ctrl-C stops all."
    requires_system_checks = []  # runserver runs them
    requires_migrations_checks = False

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="web port on 127.0.0.1 (default %(default)s)")

    def handle(self, *args, port, **options):
        self._out_lock = threading.Lock()
        self._colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        children = self.children(port)

        busy = [(c.name, c.extra["port"]) for c in children if "port" in c.extra and not port_is_free(c.extra["port"])]
        if busy:
            name, taken = busy[0]
            option = "--port" if name == "web" else "PAYHEALTH_SMTP_SINK_PORT"
            raise CommandError(
                f"runstack: port {taken} for {name} is already in use (stop the other program or set {option})"
            )

        stop_requested = threading.Event()
        signals_seen = []

        def on_signal(signum, frame):
            signals_seen.append(signum)
            stop_requested.set()

        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, on_signal)

        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for child in children:
            child.process = subprocess.Popen(
                child.argv,
                cwd=settings.BASE_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            child.reader = threading.Thread(target=self.relay, args=(child,), daemon=True)
            child.reader.start()
            self.say(f"started {child.name} (pid {child.process.pid}): {' '.join(child.argv[1:])}")

        failed = None
        announced = False
        while not stop_requested.wait(0.2):
            failed = next((c for c in children if c.process.poll() is not None), None)
            if failed:
                break
            if not announced and port_answers(port):
                announced = True
                self.banner(port, any(c.name == "mailsink" for c in children))

        if failed:
            self.say(f"{failed.name} {exit_description(failed.process.returncode)}; stopping the others")
        else:
            self.say(f"got {signal.Signals(signals_seen[0]).name}; stopping everything")
        # A second Ctrl-C while stopping: do not wait any longer.
        signal.signal(signal.SIGINT, lambda *_: self.kill_all(children))
        self.stop_all(children)
        if failed:
            raise CommandError(
                f"runstack: {failed.name} {exit_description(failed.process.returncode)} (its output is above, "
                f"prefixed '{failed.name}'); the other processes were stopped"
            )
        self.say("all stopped")

    def children(self, port: int) -> list[Child]:
        run_dir = settings.VAR_DIR / "run"
        run_dir.mkdir(parents=True, exist_ok=True)
        manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
        celery = [sys.executable, "-m", "celery", "-A", "payhealth"]
        children = [
            Child("web", [*manage, "runserver", f"{LOOPBACK}:{port}", "--noreload"], extra={"port": port}),
            Child("worker", [*celery, "worker", "-l", "info", "--concurrency", "2", "-Q", ",".join(WORKER_QUEUES)]),
            Child(
                "beat",
                [
                    *celery,
                    "beat",
                    "-l",
                    "info",
                    "--scheduler",
                    "django_celery_beat.schedulers:DatabaseScheduler",
                    "--pidfile",
                    str(run_dir / "celerybeat.pid"),
                    "--schedule",
                    str(run_dir / "celerybeat-schedule"),
                ],
            ),
        ]
        if self.mail_goes_to_sink():
            sink_port = settings.PAYHEALTH_SMTP_SINK_PORT
            sink_argv = [*manage, "mailsink", "--port", str(sink_port)]
            children.append(Child("mailsink", sink_argv, extra={"port": sink_port}))
        else:
            self.say(f"mail goes to {settings.EMAIL_HOST}:{settings.EMAIL_PORT} (EMAIL_URL); no local sink started")
        return children

    @staticmethod
    def mail_goes_to_sink() -> bool:
        return (
            settings.EMAIL_BACKEND == "django.core.mail.backends.smtp.EmailBackend"
            and settings.EMAIL_HOST in {"127.0.0.1", "localhost", "::1"}
            and settings.EMAIL_PORT == settings.PAYHEALTH_SMTP_SINK_PORT
        )

    def relay(self, child: Child) -> None:
        prefix = f"{child.name:<8}| "
        if self._colour:
            prefix = f"\033[{COLOURS.get(child.name, '0')}m{prefix}\033[0m"
        for raw in iter(child.process.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._out_lock:
                sys.stdout.write(f"{prefix}{line}\n")
                sys.stdout.flush()
        child.process.stdout.close()

    def say(self, message: str) -> None:
        with self._out_lock:
            sys.stdout.write(f"{'runstack':<8}| {message}\n")
            sys.stdout.flush()

    def banner(self, port: int, with_sink: bool) -> None:
        lines = [
            "",
            f"PayHealth is running at http://{LOOPBACK}:{port}/",
            f"Log in as {', '.join(DEMO_USERS)} (password: {DEMO_PASSWORD})",
        ]
        if with_sink:
            lines.append(f"Mail sent by PayHealth is kept as .eml files in {settings.PAYHEALTH_MAIL_DIR}")
        lines += ["Press Ctrl-C to stop everything.", ""]
        with self._out_lock:
            sys.stdout.write("\n".join(lines) + "\n")
            sys.stdout.flush()

    def stop_all(self, children: list[Child]) -> None:
        for child in children:
            if child.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in children:
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop within {STOP_TIMEOUT:.0f}s; killing it")
        # Also whatever a child left behind in its group (Celery's pool processes, for one).
        self.kill_all(children)
        for child in children:
            child.process.wait()
            child.reader.join(timeout=2)

    @staticmethod
    def kill_all(children: list[Child]) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.process.pid, signal.SIGKILL)
