"""`manage.py runstack [--port 8000]`: the whole development stack in one terminal (`make run`).

Starts the web server, a Celery worker, Celery beat (database scheduler) and the SMTP sink as
child processes, prefixes their output with their name, and treats them as one: Ctrl-C or
SIGTERM stops them all, and when one dies the others are stopped and the command fails, so a
broken stack never looks alive. Each child runs in its own process group: the terminal's Ctrl-C
reaches only this command, which then stops the children in order (a Celery worker that got
SIGINT from the terminal and SIGTERM from us would skip its warm shutdown).

The terminal stays quiet: Celery starts without its banners at PAYHEALTH_WORKER_LOG_LEVEL,
requests are logged at PAYHEALTH_REQUEST_LOG_LEVEL (refusals and errors only, by default), and
the banner with the address, the demo logins and the mail folder is printed once every process
answers (the web server over HTTP, the sink over SMTP, worker and beat by creating their ready
file), then once more when start-up has settled if anything was printed after it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.shortcuts import resolve_url

from payhealth.celery import READY_FILE_VARIABLE

LOOPBACK = "127.0.0.1"
# The demo desk's logins (demo/management/commands/seed_demo.py) and what each may do.
DEMO_USERS = (
    ("analyst", "analyst"),
    ("partner_manager", "partner manager"),
    ("lead", "lead"),
    ("admin", "superuser, Django admin"),
)
DEMO_PASSWORD = "payhealth"
STOP_TIMEOUT = 15.0
# Start-up has settled when no process printed for this long (or this long after the banner at
# most); the banner is then printed again if anything came after it.
SETTLED_AFTER = 3.0
SETTLE_AT_MOST = 60.0
WAIT_HINT_AFTER = 60.0  # a process that has not answered by then is named, once
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


def http_answers(port: int, host: str = LOOPBACK) -> bool:
    """The web server answers HTTP (any status: a page that fails still proves it serves)."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{resolve_url(settings.LOGIN_URL)}", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def smtp_answers(port: int, host: str = LOOPBACK) -> bool:
    """The SMTP server greets a new connection and answers NOOP."""
    try:
        with smtplib.SMTP(host, port, timeout=2) as smtp:
            return smtp.noop()[0] == 250
    except (OSError, smtplib.SMTPException):
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
        parser.add_argument(
            "--settle",
            type=float,
            default=SETTLED_AFTER,
            help="seconds without output after which start-up counts as over (default %(default)s)",
        )

    def handle(self, *args, port, settle=SETTLED_AFTER, **options):
        self._out_lock = threading.Lock()
        self._last_output = time.monotonic()
        self._banner_printed = False
        self._lines_after_banner = 0
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

        env = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_RUNSERVER_HIDE_WARNING": "true"}
        for child in children:
            child_env = env
            if "ready_file" in child.extra:
                child.extra["ready_file"].unlink(missing_ok=True)
                child_env = {**env, READY_FILE_VARIABLE: str(child.extra["ready_file"])}
            child.process = subprocess.Popen(
                child.argv,
                cwd=settings.BASE_DIR,
                env=child_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            child.reader = threading.Thread(target=self.relay, args=(child,), daemon=True)
            child.reader.start()
        self.say(f"starting {', '.join(c.name for c in children)}; the address follows once they all answer")

        failed = None
        waiting = {c.name for c in children}
        banner_at = None  # when the banner was printed
        started, hinted = time.monotonic(), False
        settled = False
        while not stop_requested.wait(0.2):
            failed = next((c for c in children if c.process.poll() is not None), None)
            if failed:
                break
            if waiting:
                waiting -= {c.name for c in children if c.name in waiting and self.answers(c)}
                if waiting and not hinted and time.monotonic() - started >= WAIT_HINT_AFTER:
                    hinted = True
                    self.say(
                        f"still waiting for {', '.join(sorted(waiting))} to answer (their lines above may say why)"
                    )
                if not waiting:
                    self.banner(port)
                    banner_at = time.monotonic()
            elif not settled:
                now = time.monotonic()
                with self._out_lock:
                    quiet_since, printed_after = self._last_output, self._lines_after_banner
                if now - quiet_since >= settle or now - banner_at >= max(settle, SETTLE_AT_MOST):
                    settled = True
                    if printed_after:
                        self.banner(port)

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
        celery = [*celery, "--quiet"]  # no banners
        level = settings.PAYHEALTH_WORKER_LOG_LEVEL
        children = [
            Child("web", [*manage, "runserver", f"{LOOPBACK}:{port}", "--noreload"], extra={"port": port}),
            Child(
                "worker",
                [*celery, "worker", "-l", level, "--concurrency", "2", "-Q", ",".join(WORKER_QUEUES)],
                extra={"ready_file": run_dir / "worker.ready"},
            ),
            Child(
                "beat",
                [
                    *celery,
                    "beat",
                    "-l",
                    level,
                    "--scheduler",
                    "django_celery_beat.schedulers:DatabaseScheduler",
                    "--pidfile",
                    str(run_dir / "celerybeat.pid"),
                    "--schedule",
                    str(run_dir / "celerybeat-schedule"),
                ],
                extra={"ready_file": run_dir / "beat.ready"},
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

    @staticmethod
    def answers(child: Child) -> bool:
        """The child is ready: it answers on its port, or it created its ready file."""
        if child.name == "web":
            return http_answers(child.extra["port"])
        if child.name == "mailsink":
            return smtp_answers(child.extra["port"])
        return Path(child.extra["ready_file"]).exists()

    def relay(self, child: Child) -> None:
        prefix = f"{child.name:<8}| "
        if self._colour:
            prefix = f"\033[{COLOURS.get(child.name, '0')}m{prefix}\033[0m"
        for raw in iter(child.process.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._out_lock:
                sys.stdout.write(f"{prefix}{line}\n")
                sys.stdout.flush()
                self._last_output = time.monotonic()
                if self._banner_printed:
                    self._lines_after_banner += 1
        child.process.stdout.close()

    def say(self, message: str) -> None:
        with self._out_lock:
            sys.stdout.write(f"{'runstack':<8}| {message}\n")
            sys.stdout.flush()

    def banner_lines(self, port: int) -> list[str]:
        width = max(len(name) for name, _ in DEMO_USERS)
        lines = [
            "=" * 72,
            f"PayHealth is running at http://{LOOPBACK}:{port}/",
            f"Log in with password {DEMO_PASSWORD!r} as:",
            *(f"  {name:<{width}}  {role}" for name, role in DEMO_USERS),
        ]
        if self.mail_goes_to_sink():
            lines.append(
                f"Mail sent by PayHealth lands as .eml files in {settings.PAYHEALTH_MAIL_DIR}"
                f" (mail sink at smtp://{LOOPBACK}:{settings.PAYHEALTH_SMTP_SINK_PORT})"
            )
        else:
            lines.append(f"Mail goes to {settings.EMAIL_HOST}:{settings.EMAIL_PORT} (EMAIL_URL)")
        lines += ["Press Ctrl-C to stop everything.", "=" * 72]
        return lines

    def banner(self, port: int) -> None:
        with self._out_lock:
            sys.stdout.write("\n" + "\n".join(self.banner_lines(port)) + "\n\n")
            sys.stdout.flush()
            self._banner_printed = True
            self._lines_after_banner = 0
            self._last_output = time.monotonic()

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
