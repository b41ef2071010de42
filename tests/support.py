"""Helpers for tests that run real processes: free ports, a clean environment, Celery workers,
a scripted SMTP server and a private Redis server."""

from __future__ import annotations

import contextlib
import email
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from urllib.parse import quote

from aiosmtpd.controller import Controller
from kombu import Exchange, Queue

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def subprocess_env(**extra: str) -> dict[str, str]:
    """This process's environment without pytest's variables, plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(extra)
    return env


def wait_for(predicate: Callable[[], object], *, timeout: float, interval: float = 0.05, what: str = "") -> object:
    """Poll until `predicate()` is truthy and return it; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(interval)


def database_url_for_workers() -> str:
    """A URL to the test database, for worker processes (pytest-django renamed the database)."""
    from django.db import connection

    database = connection.settings_dict
    credentials = quote(database["USER"] or "", safe="")
    if database.get("PASSWORD"):
        credentials += f":{quote(database['PASSWORD'], safe='')}"
    host = database["HOST"] or "localhost"
    port = f":{database['PORT']}" if database.get("PORT") else ""
    return f"postgresql://{credentials}{'@' if credentials else ''}{host}{port}/{database['NAME']}"


# --- Celery workers ---------------------------------------------------------------------------


def start_celery_worker(*, queue: str, log_path: Path, env: dict[str, str] | None = None, concurrency: int = 1):
    """A `celery worker` consuming only `queue`, in its own process group, logging to `log_path`."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "payhealth",
        "worker",
        "-l",
        "info",
        "--concurrency",
        str(concurrency),
    ]
    argv += ["-Q", queue, "-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    env = {**(env or subprocess_env()), "PAYHEALTH_TEST_WORKER_QUEUE": queue}  # what it publishes stays with it
    with log_path.open("ab") as output:
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_celery_worker(worker: subprocess.Popen, *, timeout: float = 30) -> int:
    """Warm shutdown (SIGTERM), SIGKILL if it hangs; also kills pool processes left behind."""
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_process_group(worker)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    return worker.returncode


def kill_process_group(process: subprocess.Popen) -> None:
    """SIGKILL a process started with start_new_session=True and all its children, at once."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def worker_is_ready(log_path: Path) -> bool:
    return log_path.exists() and b" ready." in log_path.read_bytes()


def delete_queue(app, name: str) -> None:
    """Leave no queue or binding behind on a shared broker: declared on this channel, the binding
    is known to it, so delete() removes the binding too (kombu deletes only bindings it knows)."""
    with app.connection_for_write() as connection:
        bound = Queue(name, Exchange(name, type="direct"), routing_key=name)(connection.default_channel)
        bound.declare()
        bound.delete()


def forget_unacked(app, queue: str) -> None:
    """Drop what a killed worker left unacknowledged for `queue` on Redis: after the visibility
    timeout Redis would hand it back to a queue nobody consumes any more."""
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        if not hasattr(channel, "unacked_key"):  # not Redis: nothing is held back
            return
        client = channel.client
        for tag, payload in client.hgetall(channel.unacked_key).items():
            _message, _exchange, routing_key = json.loads(payload)
            if routing_key == queue:
                client.hdel(channel.unacked_key, tag)
                client.zrem(channel.unacked_index_key, tag)


@contextlib.contextmanager
def celery_routes(app, task_names: list[str], queue: str) -> Iterator[None]:
    """Route `task_names` to `queue` in this process (a test worker consumes only that queue)."""
    saved = dict(app.conf.task_routes or {})
    app.conf.update(task_routes={**saved, **{name: {"queue": queue} for name in task_names}})
    try:
        yield
    finally:
        app.conf.update(task_routes=saved)


@contextlib.contextmanager
def celery_broker(app, url: str) -> Iterator[None]:
    """Publish from this process to another broker. Celery reads CELERY_BROKER_URL from the
    environment before its configuration, and keeps connection pools; both are swapped and the
    pools dropped (what Celery itself does after a fork)."""
    saved_env = os.environ.get("CELERY_BROKER_URL")
    saved_url, saved_options = app.conf.broker_url, dict(app.conf.broker_transport_options or {})

    def repoint(broker_url: str | None, options: dict) -> None:
        if broker_url is None:
            os.environ.pop("CELERY_BROKER_URL", None)
        else:
            os.environ["CELERY_BROKER_URL"] = broker_url
        app.conf.update(broker_url=broker_url or saved_url, broker_transport_options=options)
        app._pool = None
        app.amqp._producer_pool = None

    repoint(url, {})
    try:
        yield
    finally:
        repoint(saved_env, saved_options)


# --- SMTP -------------------------------------------------------------------------------------


class ScriptedSMTPHandler:
    """An SMTP server's DATA answers, from a script: each queued answer once ("451 4.3.0 Try
    later", "550 5.7.1 Rejected"), then "250 OK". Every message it saw is kept, with the ones
    it accepted. `before_answer(message)` runs before answering (to pause or observe);
    `refuse` maps a recipient to the answer its RCPT TO gets ("550 5.1.1 No such user");
    `sessions` counts the SMTP sessions clients opened (one greeting each)."""

    def __init__(self) -> None:
        self.script: deque[str] = deque()
        self.refuse: dict[str, str] = {}
        self.seen: list[EmailMessage] = []
        self.accepted: list[EmailMessage] = []
        self.before_answer: Callable[[EmailMessage], None] | None = None
        self.sessions = 0
        self._lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses) -> list[str]:  # noqa: N802
        with self._lock:
            self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_HELO(self, server, session, envelope, hostname) -> str:  # noqa: N802 - aiosmtpd's hook
        with self._lock:
            self.sessions += 1
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_RCPT(self, server, session, envelope, address, options) -> str:  # noqa: N802 - aiosmtpd's hook
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.original_content, policy=default_policy)
        message["X-RcptTo"] = ", ".join(envelope.rcpt_tos)
        with self._lock:
            self.seen.append(message)
            answer = self.script.popleft() if self.script else "250 OK"
        if self.before_answer is not None:
            self.before_answer(message)
        if answer.startswith("2"):
            with self._lock:
                self.accepted.append(message)
        return answer

    def reset(self) -> None:
        with self._lock:
            self.script.clear()
            self.refuse.clear()
            self.seen.clear()
            self.accepted.clear()
            self.before_answer = None
            self.sessions = 0


@contextlib.contextmanager
def scripted_smtp_server() -> Iterator[tuple[int, ScriptedSMTPHandler]]:
    """A scripted SMTP server on a free loopback port, in a thread of this process."""
    handler = ScriptedSMTPHandler()
    port = free_port()
    controller = Controller(handler, hostname=LOOPBACK, port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def smtp_settings(settings, port: int) -> None:
    """Point Django's mail settings (pytest-django `settings`) at an SMTP server on loopback."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = LOOPBACK
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 10


# --- a private Redis --------------------------------------------------------------------------


class RedisServer:
    """A throwaway `redis-server` on a free loopback port (no persistence), to stop and start."""

    def __init__(self, workdir: Path) -> None:
        executable = shutil.which("redis-server")
        if executable is None:
            raise AssertionError("this test needs redis-server (Debian/Ubuntu: apt-get install redis-server)")
        self.executable = executable
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def answers(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        argv = [self.executable, "--port", str(self.port), "--bind", LOOPBACK, "--save", "", "--appendonly", "no"]
        argv += ["--dir", str(self.workdir)]
        with (self.workdir / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        wait_for(self.answers, timeout=10, what=f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


# --- work published to Celery -----------------------------------------------------------------


def published(callbacks, task_name: str) -> list[list[int]]:
    """The id lists that on-commit callbacks publish as `task_name` (payhealth.outbox)."""
    from payhealth.outbox import publish

    return [list(c.args[1]) for c in callbacks if getattr(c, "func", None) is publish and c.args[0] == task_name]


# --- a private PostgreSQL ---------------------------------------------------------------------


class PostgresServer:
    """A throwaway PostgreSQL cluster (initdb, trust on loopback, no fsync) on a free port, to
    stop and start under a worker's feet. PostgreSQL refuses to run as root: then it runs as the
    `postgres` user of the Debian packages, in a directory of its own."""

    def __init__(self) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        pg_ctl = str(found[-1]) if found else shutil.which("pg_ctl")  # the packaged tools, all of one version
        if pg_ctl is None:
            raise AssertionError("this test needs PostgreSQL's server binaries (apt-get install postgresql)")
        self.bin = Path(pg_ctl).parent
        self.port = free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="payhealth-pg-"))
        self.data = self.workdir / "data"
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.workdir, "postgres", "postgres")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/{database}"

    def _run(self, *argv: str) -> None:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60, cwd=self.workdir)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.workdir} -c listen_addresses={LOOPBACK} -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.workdir / "server.log"), "-w", "start")

    def stop(self) -> None:
        """Fast shutdown: every session is cut, as when a database server goes away."""
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def copy_database(self, source_url: str, name: str) -> str:
        """A copy of the database at `source_url` (schema and rows) as `name` here; returns its URL."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        dump = subprocess.run(
            [str(self.bin / "pg_dump"), "--no-owner", "--no-privileges", "-d", source_url],
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [str(self.bin / "psql"), "-q", "-v", "ON_ERROR_STOP=1", "-d", self.url(name)],
            input=dump.stdout,
            check=True,
            capture_output=True,
            timeout=120,
        )
        return self.url(name)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
