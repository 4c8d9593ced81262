"""What earlier runs did, kept in SQL: row state on one side, run history and locks on the other."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.errors import KintoneSyncError, LockedError, LockLostError, StateError
from connector.source import create_engine_from_url
from connector.state.access import Access
from connector.state.history import Lock, Reject, RunLog
from connector.state.owned import OwnedItems
from connector.state.rows import Claim, Gone, RowState, RowStore, Scope, Written
from connector.state.schema import SCHEMA_VERSION, locks, migrate

DEFAULT_STATE = ".kintone-sync/state.db"

__all__ = [
    "DEFAULT_STATE",
    "SCHEMA_VERSION",
    "Claim",
    "Gone",
    "Lock",
    "OwnedItems",
    "LockLostError",
    "LockedError",
    "Reject",
    "RowState",
    "RowStore",
    "RunLog",
    "Scope",
    "StateError",
    "StateStore",
    "Written",
    "locks",
]


class StateStore:
    """The state of every job of a project, in any SQLAlchemy database (SQLite by default).

    `rows` holds what each source row became in Kintone; `log` holds runs, rejects, API usage
    and locks. Opening a store written by an earlier version migrates it first.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        access = Access(engine)
        try:
            with access.begin() as conn:
                self.migrated_from = migrate(conn)
        except ValueError as exc:
            raise StateError(str(exc)) from None
        self.rows = RowStore(access)
        self.access = access
        self.log = RunLog(access)

    def owned(self, scope: Scope) -> OwnedItems:
        """The entries a job set in USER lists at one target."""
        return OwnedItems(self.access, scope)

    @classmethod
    def open(cls, url: str | None, root: Path) -> StateStore:
        """The store at a SQLAlchemy URL, or the embedded default beside the project.

        Raises:
            StateError: the store cannot be opened, is damaged, or is newer than this version.
        """
        if url is None:
            path = root / DEFAULT_STATE
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StateError(
                    f"cannot create {path.parent} for the state store: {exc.strerror}; make the "
                    "project directory writable, or set state.url"
                ) from None
            url = f"sqlite:///{path}"
        try:
            engine = create_engine_from_url(url)
        except KintoneSyncError as exc:
            raise StateError(f"state store: {exc}") from None
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
