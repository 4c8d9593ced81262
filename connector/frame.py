"""A pandas DataFrame synced as the mapping's table: loaded into in-memory DuckDB, then `sync`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.config import ProjectConfig
from connector.errors import ConfigError, SourceError
from connector.report import SyncReport
from connector.runner import sync
from connector.state import StateStore

if TYPE_CHECKING:
    import pandas as pd

PLAIN_KINDS = frozenset(
    {
        "string",
        "empty",
        "integer",
        "floating",
        "mixed-integer-float",
        "decimal",
        "boolean",
        "datetime",
        "datetime64",
        "date",
        "time",
        "bytes",
    }
)
"""What pandas may infer for an object column whose values DuckDB keeps as they are. Anything
else ("mixed": numbers and text, dicts, lists) DuckDB would quietly turn into text or structs."""


def sync_frame(
    project: ProjectConfig,
    name: str,
    frame: pd.DataFrame,
    *,
    tables: Mapping[str, pd.DataFrame] | None = None,
    dry_run: bool = False,
    full_refresh: bool = False,
    force: bool = False,
    http: httpx.Client | None = None,
    env: Mapping[str, str] | None = None,
    state: StateStore | None = None,
    progress: Callable[[SyncReport], None] | None = None,
) -> SyncReport:
    """Sync `frame` as job `name`'s source table: the same mapping, diff, writer and state as a
    run over the warehouse (the frame is the table `source.table` names; `tables` holds more
    frames by table name, such as a subtable's child rows). The other arguments are `sync`'s.

    Raises:
        ConfigError: the mapping reads a query rather than a table.
        SourceError: a column holds values DuckDB would change (numbers mixed with text,
            dicts, lists, complex numbers), or its name is not text; names the column and the fix.
        KintoneSyncError: whatever `sync` raises.
    """
    table = project.mapping(name).source.table
    if table is None:
        raise ConfigError(
            "sync_frame loads the frame as the mapping's source table, and this mapping reads "
            "a query; give the mapping a source table instead",
            file=f"mappings/{name}.yaml",
            key="source.query",
        )
    frames = {table: frame, **(tables or {})}
    for table_name, each in frames.items():
        check_frame(table_name, each)
    with frames_engine(frames) as engine:
        return sync(
            project,
            name,
            dry_run=dry_run,
            full_refresh=full_refresh,
            force=force,
            http=http,
            engine=engine,
            env=env,
            state=state,
            progress=progress,
        )


def check_frame(table: str, frame: pd.DataFrame) -> None:
    """Refuse the columns DuckDB would load as something else than their values.

    Raises:
        SourceError: the first such column, with what it holds and the fix.
    """
    import pandas as pd

    names = list(frame.columns)
    odd = next((c for c in names if not isinstance(c, str)), None)
    if odd is not None:
        raise SourceError(
            f"frame {table}: column name {odd!r} is a {type(odd).__name__}, and mappings name "
            "columns by text; rename it (frame.columns = frame.columns.map(str))"
        )
    twice = sorted({c for c in names if names.count(c) > 1})
    if twice:
        raise SourceError(f"frame {table}: column {twice[0]!r} appears twice; rename one")
    for column in names:
        values = frame[column]
        if pd.api.types.is_complex_dtype(values.dtype):
            raise SourceError(
                f"frame {table}: column {column!r} holds complex numbers ({values.dtype}), "
                "which no Kintone field takes; convert it to text or leave it out"
            )
        if values.dtype != object:
            continue
        kind = pd.api.types.infer_dtype(values, skipna=True)
        if kind not in PLAIN_KINDS:
            found = sorted({type(v).__name__ for v in values.dropna()})
            raise SourceError(
                f"frame {table}: column {column!r} (dtype object) holds {kind} values "
                f"({', '.join(found[:5])}), which DuckDB would turn into text or structs; "
                f"convert it first, e.g. frame[{column!r}] = frame[{column!r}].astype(str) "
                "for text, or pandas.to_numeric for numbers"
            )


@contextmanager
def frames_engine(frames: Mapping[str, pd.DataFrame]) -> Iterator[Engine]:
    """An in-memory DuckDB database holding each frame as a table, as a SQLAlchemy engine."""
    import duckdb
    from duckdb_engine import ConnectionWrapper

    database = duckdb.connect(":memory:")
    try:
        for table, frame in frames.items():
            _load(database, table, frame)
        # Each pooled connection is a cursor on the same database, so the parent and child
        # reads can stream at once, as they do from a warehouse.
        engine = sa.create_engine("duckdb://", creator=lambda: ConnectionWrapper(database.cursor()))
        try:
            yield engine
        finally:
            engine.dispose()
    finally:
        database.close()


def _load(database: Any, table: str, frame: pd.DataFrame) -> None:
    schema, _, name = table.rpartition(".")
    target = _quoted(name) if not schema else f"{_quoted(schema)}.{_quoted(name)}"
    if schema:
        database.execute(f"CREATE SCHEMA IF NOT EXISTS {_quoted(schema)}")
    database.register("_kintone_sync_frame", frame)
    try:
        database.execute(f"CREATE TABLE {target} AS SELECT * FROM _kintone_sync_frame")
    finally:
        database.unregister("_kintone_sync_frame")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
