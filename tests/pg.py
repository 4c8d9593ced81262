"""A fresh database on the local PostgreSQL server for one test, or a skip saying why."""

from __future__ import annotations

import getpass
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

HOST = "127.0.0.1:5432"


@contextmanager
def fresh_database() -> Iterator[str]:
    """Yield `postgresql://user@host/db` for a new database, dropped afterwards."""
    admin: sa.Engine | None = None
    for user in dict.fromkeys(("postgres", getpass.getuser())):
        engine = sa.create_engine(
            f"postgresql+psycopg://{user}@{HOST}/postgres", isolation_level="AUTOCOMMIT"
        )
        try:
            with engine.connect():
                admin = engine
                break
        except sa.exc.OperationalError:
            engine.dispose()
    if admin is None:
        pytest.skip(
            f"no PostgreSQL server with trust auth at {HOST} (users postgres, current user)"
        )
    database = f"kintone_sync_{secrets.token_hex(6)}"
    with admin.connect() as con:
        con.exec_driver_sql(f"CREATE DATABASE {database}")
    try:
        yield f"postgresql://{admin.url.username}@{HOST}/{database}"
    finally:
        with admin.connect() as con:
            con.exec_driver_sql(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.dispose()
