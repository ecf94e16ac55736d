"""Fresh databases for tests: a SQLite file always, a PostgreSQL database when TEST_DATABASE_URL is set."""

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import make_url

POSTGRES = os.environ.get("TEST_DATABASE_URL")
KINDS = ["sqlite", "postgresql"] if POSTGRES else ["sqlite"]


@contextmanager
def fresh_database(kind: str, folder: Path, server: str | None = POSTGRES) -> Iterator[str]:
    """The DATABASE_URL of an empty database (on PostgreSQL, made on `server`), dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{folder}/bot-{secrets.token_hex(4)}.sqlite3"
        return
    assert server, "TEST_DATABASE_URL is not set"
    name = f"bot_test_{secrets.token_hex(6)}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
