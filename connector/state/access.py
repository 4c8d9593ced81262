"""One way into the state's database: connections whose errors become one-line StateErrors."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from connector.errors import StateError
from connector.source import mask_password

T = TypeVar("T")
IN_LIST = 500
"""Keys in one `IN (...)`: small enough for every database's parameter limit."""


class Access:
    """The engine, and the one place where the database's exceptions are translated."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A transaction; any database error leaves it rolled back and raises StateError."""
        with self._translated(), self.engine.begin() as conn:
            yield conn

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        with self._translated(), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise StateError(describe(self.engine, exc)) from None


def describe(engine: Engine, exc: SQLAlchemyError) -> str:
    """One line about a database error: where the store is, what went wrong, what to do. The
    statement and its parameters (row keys, hundreds of them) are left out."""
    where = mask_password(engine.url.render_as_string(hide_password=True))
    first = str(getattr(exc, "orig", None) or exc).splitlines()[0] or type(exc).__name__
    first = mask_password(first)
    hint = ""
    lowered = first.lower()
    if "readonly" in lowered or "read-only" in lowered or "permission denied" in lowered:
        hint = "; the state store must be writable by this user (check the file's permissions)"
    elif "locked" in lowered:
        hint = "; another process holds the database: wait for it, or check for a stuck process"
    elif "no such column" in lowered or "no such table" in lowered or "does not exist" in lowered:
        hint = (
            "; the store's tables were changed by hand: restore them, or point state.url "
            "at a fresh store (its next run starts cold)"
        )
    elif isinstance(exc, OperationalError):
        hint = "; check that the state database is reachable"
    return f"state store {where}: {first}{hint}"


def chunks(keys: Iterable[T], size: int = IN_LIST) -> Iterator[list[T]]:
    """Keys in slices small enough for one `IN (...)` on every database."""
    wanted = list(keys)
    for start in range(0, len(wanted), size):
        yield wanted[start : start + size]
