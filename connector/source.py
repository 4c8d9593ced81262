"""Warehouse rows through SQLAlchemy: a table or a query, streamed in primary-key order."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from connector.errors import ConfigError, SourceError

Row = dict[str, Any]
Key = tuple[Any, ...]

DIGEST = "_ks_digest"
"""The column a digest-reading source adds to each row (see `TableSpec.digest`)."""
_ROW = "_ks_row"
# A digest of every column of a row, as JSON text (NULL and the text 'NULL' differ; types keep
# their own text), computed where the rows are: only DuckDB and PostgreSQL are known to
# answer these; other warehouses read every row (connector/skim.py).
_ROW_DIGESTS = {
    "duckdb": f"md5(CAST(to_json({_ROW}) AS VARCHAR))",
    "postgresql": f"md5(CAST(row_to_json({_ROW}) AS text))",
}
# A child row's digest as a number (its first 15 hex digits), so that a parent's child rows
# add up to a sum in any order: `skim` sums them in the warehouse, `child_sum` in Python.
_DIGEST_NUMBERS = {
    "duckdb": "CAST(('0x' || substr({digest}, 1, 15)) AS BIGINT)",
    "postgresql": (
        "CAST(CAST(('x' || lpad(substr({digest}, 1, 15), 16, '0')) AS bit(64)) AS bigint)"
    ),
}

_ENV_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
# The password of a URL's userinfo runs to the LAST "@" before a space or quote: an unencoded
# "@" in it (`postgresql://etl:p@ss@host/db`) must not leave its tail readable.
_URL_PASSWORD = re.compile(r"""([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s'"]*:)[^\s'"]*@""")
# `password=...` as a URL query parameter (SQLAlchemy hands it to the driver), a libpq
# key/value DSN (`host=db password='a b'`, https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-KEYWORD-VALUE)
# or an ODBC string (`PWD=...;`), plain or percent-encoded inside `odbc_connect=`.
_PASSWORD_KEYS = r"(?:password|passwd|pwd|sslpassword)"
_KEY_PASSWORD = re.compile(
    rf"""(?i)(?<![A-Za-z0-9_])({_PASSWORD_KEYS}\s*=\s*)"""
    r"""('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|\{[^}]*\}?|[^\s&;'"]*)"""
)
_ENCODED_PASSWORD = re.compile(
    rf"(?i)((?:(?<![A-Za-z0-9_])|(?<=%3B)|(?<=%20)){_PASSWORD_KEYS}%3D)"
    r"(%7B.*?(?:%7D|(?=&|\s|$))|.*?(?=%3B|&|\s|$))"
)
_FIX_KEYS = "fix the source or declare the right primary_key"


def expand_env(text: str, env: Mapping[str, str] = os.environ) -> str:
    """Replace ``${VAR}`` and ``${VAR:-default}`` with values from ``env``.

    As in the shell, the default also applies when the variable is set but empty.
    Values are inserted verbatim: percent-encode special characters of a URL password.

    Raises:
        ConfigError: a variable without default is not set; the message names it.
    """

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        found = env.get(name)
        if found:
            return found
        if default is not None:
            return default
        if found is not None:
            return found
        raise ConfigError(
            f"environment variable {name} is not set; export it or write ${{{name}:-default}}"
        )

    return _ENV_VAR.sub(value, text)


def create_engine_from_url(url: str) -> Engine:
    """An engine for an env-expanded SQLAlchemy URL; ``postgresql://`` uses psycopg 3.

    ``duckdb:///relative/path.duckdb`` opens a path relative to the working directory. With
    ``?access_mode=read_only`` (how the project opens its warehouse) the file must exist:
    DuckDB would otherwise create an empty one.

    Raises:
        ConfigError: the URL names an environment variable that is not set.
        SourceError: the URL is malformed, its driver is not installed, or its DuckDB file
            does not exist (password masked).
    """
    expanded = expand_env(url)
    masked = mask_password(expanded)
    try:
        parsed = sa.make_url(expanded)
    except (ArgumentError, ValueError) as exc:
        # ValueError: a port that is not a number; its message would repeat the URL.
        why = "its port is not a number; " if "int()" in str(exc) else ""
        raise SourceError(
            f"cannot parse database URL {masked!r}; {why}"
            "write it as dialect[+driver]://user:password@host:port/database"
        ) from None
    if parsed.host is not None and "@" in parsed.host:
        raise SourceError(
            f"database URL {masked!r}: the user or password holds an unencoded '@'; "
            "percent-encode it as %40"
        )
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    shown = _show(parsed)
    _check_duckdb_file(parsed, shown)
    parsed = _duckdb_defaults(parsed)
    try:
        engine = sa.create_engine(parsed)
    except NoSuchModuleError:
        raise SourceError(
            f"database URL {shown}: unknown dialect or driver {parsed.drivername!r}; "
            "use duckdb:///path or postgresql://user@host/db"
        ) from None
    except ImportError as exc:
        raise SourceError(
            f"database URL {shown}: the driver for {parsed.drivername!r} is not installed "
            f"({exc.name or exc}); install it in this environment"
        ) from None
    if parsed.get_backend_name() == "duckdb":
        sa.event.listen(engine, "connect", _quiet_duckdb)
    return engine


def _quiet_duckdb(connection: Any, _record: Any) -> None:
    """DuckDB draws a progress bar on stdout for a query past 2 s, which would break
    `--output json` and the logs."""
    cursor = connection.cursor()
    cursor.execute("SET enable_progress_bar = false")
    cursor.close()


def _check_duckdb_file(url: URL, shown: str) -> None:
    """A DuckDB file opened read-only must exist: say so, rather than "unknown table" later."""
    if url.get_backend_name() != "duckdb":
        return
    mode = url.query.get("access_mode")
    database = url.database or ""
    if not isinstance(mode, str) or mode.lower() != "read_only":
        return
    if database in ("", ":memory:") or database.startswith(("md:", "motherduck:")):
        return
    if not Path(database).is_file():
        raise SourceError(
            f"the DuckDB file {database} does not exist ({shown}); check source.url in the "
            "project file (a relative path is relative to the project file's directory)"
        )


def _duckdb_defaults(url: URL) -> URL:
    """A DuckDB file opened with a memory limit and one thread, unless the URL says.

    DuckDB runs in this process and keeps every block it has read cached up to its memory
    limit (80% of RAM by default), and sorts a whole read in memory: reading 1,000,000 rows
    in key order with their child rows peaked at 724 MiB. At 128 MB it evicts instead, and a
    sort, join or aggregate past it spills to its temporary directory (next to the file
    unless `temp_directory` says): 309 MiB. 64 MB ran out on that read (a parent's and its
    children's sorts open at once); one thread, because each thread needs its own sort
    memory. duckdb-engine hands URL query parameters to DuckDB as settings, so
    ``?memory_limit=1GB&threads=4`` gives a heavy query more.
    """
    database = url.database or ""
    if url.get_backend_name() != "duckdb" or database in ("", ":memory:"):
        return url  # an in-memory database holds its tables in that memory
    if database.startswith(("md:", "motherduck:")):
        return url
    wanted = {k: v for k, v in _DUCKDB_SETTINGS.items() if k not in url.query}
    return url.update_query_dict(wanted)


_DUCKDB_SETTINGS = {"memory_limit": "128MB", "threads": "1"}


@dataclass(frozen=True)
class TableSpec:
    """Where rows come from: a table (``schema.table`` allowed) or a query, and its key.

    ``key`` is the primary key of a parent, or for a child the columns that join to the
    parent key, in the same order; reading needs it, listing the columns does not.
    ``order_by`` orders a child's rows within one parent.
    Keys must be of types whose SQL order matches Python order (integers, text; text keys
    are ordered with the "C" collation on PostgreSQL, DuckDB's default is already binary).
    """

    table: str | None = None
    query: str | None = None
    key: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    since: tuple[str, Any] | None = None
    """(column, value): only rows whose column is greater, for incremental reads."""
    also: tuple[tuple[Any, ...], ...] = ()
    """Keys read as well as the rows past `since`: rows refused last time, tried again."""
    keys: tuple[tuple[Any, ...], ...] | None = None
    """Only the rows whose key columns hold one of these values (the rows a skim found
    changed), and with `null_keys` the rows with a NULL key column (which the caller refuses)."""
    null_keys: bool = False
    digest: bool = False
    """Each row also carries `DIGEST`, a digest of all its columns computed in the warehouse."""

    def __post_init__(self) -> None:
        if (self.table is None) == (self.query is None):
            raise ConfigError("give exactly one of table or query", key="source")


class SqlSource:
    """Rows of one table or query, read in chunks ordered by key."""

    def __init__(self, engine: Engine, spec: TableSpec, *, chunk_size: int = 5000) -> None:
        if chunk_size < 1:
            raise ConfigError(f"chunk_size must be at least 1, not {chunk_size}")
        self.engine = engine
        self.spec = spec
        self.chunk_size = chunk_size
        self.orphans: dict[str, int] = {}
        self._described: list[tuple[str, Any]] | None = None
        self._collated: frozenset[str] | None = None

    @property
    def name(self) -> str:
        """The table name, or ``query`` for a query source: how messages name this source."""
        return self.spec.table or "query"

    @property
    def digests(self) -> bool:
        """Whether the warehouse computes row digests (`TableSpec.digest`)."""
        return self.engine.dialect.name in _ROW_DIGESTS

    def columns(self) -> list[str]:
        """Column names, from a query that returns no rows.

        Raises:
            SourceError: the table does not exist or the query fails.
        """
        return [name for name, _ in self._describe()]

    def count(self) -> int:
        """Number of rows."""
        stmt = sa.select(sa.func.count()).select_from(self._from())
        with self._translated(), self.engine.connect() as conn:
            return int(conn.execute(stmt).scalar_one())

    def verify_keys(self, limit: int = 10) -> None:
        """Check that key values are unique and never NULL; list up to ``limit`` offenders.

        Raises:
            SourceError: duplicate keys or NULL key columns, with the offending keys.
        """
        self._check_columns(self.spec.key, "primary_key")
        cols: list[sa.ColumnClause[Any]] = [sa.column(k) for k in self.spec.key]
        dupes = (
            sa.select(*cols, sa.func.count(), sa.func.count().over())
            .select_from(self._from())
            .where(*(c.is_not(None) for c in cols))
            .group_by(*cols)
            .having(sa.func.count() > 1)
            .order_by(*self._key_order(self.spec.key))
            .limit(limit)
        )
        nulls = sa.select(
            sa.func.count(), *(sa.func.count().filter(c.is_(None)) for c in cols)
        ).where(sa.or_(*(c.is_(None) for c in cols)))
        with self._translated(), self.engine.connect() as conn:
            dupe_rows = conn.execute(dupes).all()
            null_row = conn.execute(nulls.select_from(self._from())).one()
        problems = []
        if dupe_rows:
            total = int(dupe_rows[0][-1])
            shown = [f"{_format_key(self.spec.key, r[:-2])} ×{r[-2]}" for r in dupe_rows]
            if total > len(shown):
                shown.append(f"and {total - len(shown)} more")
            noun = "primary key" if total == 1 else "primary keys"
            problems.append(f"{total} duplicate {noun} ({', '.join(shown)})")
        null_total = int(null_row[0])
        if null_total:
            per_column = [
                (k, int(n)) for k, n in zip(self.spec.key, null_row[1:], strict=True) if n
            ]
            noun = "row" if null_total == 1 else "rows"
            if len(per_column) == 1:
                where = per_column[0][0]
            else:
                where = "(" + ", ".join(f"{k} ×{n}" for k, n in per_column) + ")"
            problems.append(f"{null_total} {noun} with a NULL key column {where}")
        if problems:
            raise SourceError(f"{self.name}: {' and '.join(problems)}; {_FIX_KEYS}")

    def duplicate_keys(self) -> set[Key]:
        """Every key value more than one row holds (NULLs aside): those rows are refused.

        Raises:
            SourceError: the table or query cannot be read.
        """
        self._check_columns(self.spec.key, "primary_key")
        cols: list[sa.ColumnClause[Any]] = [sa.column(k) for k in self.spec.key]
        stmt = (
            sa.select(*cols)
            .select_from(self._from())
            .where(*(c.is_not(None) for c in cols))
            .group_by(*cols)
            .having(sa.func.count() > 1)
        )
        with self._translated(), self.engine.connect() as conn:
            return {tuple(r) for r in conn.execute(stmt)}

    def read(self) -> Generator[list[Row], None, None]:
        """Chunks of at most ``chunk_size`` rows, ordered by key, streamed from the server.

        Raises:
            SourceError: an unknown table or column, or the warehouse fails mid-read.
        """
        self._check_columns(self.spec.key, "primary_key")
        return self._stream(self._key_order(self.spec.key))

    def read_with_children(
        self, children: Mapping[str, SqlSource]
    ) -> Iterator[list[tuple[Row, dict[str, list[Row]]]]]:
        """Parent chunks, each parent with its child rows per child name: a streaming merge join.

        Parents are read ordered by key, each child ordered by its key then its ``order_by``,
        and each child advances in step with the parents, so memory holds one chunk of each.
        Child rows whose key matches no parent are skipped and counted in ``self.orphans``
        (complete once the iterator is exhausted).

        A parent whose key is NULL, or repeats the one before it, comes with no child rows:
        the caller refuses such rows (see ``duplicate_keys``). Child rows with a NULL key are
        orphans.

        Raises:
            SourceError: as ``read``, or keys out of Python order (a collation or type whose
                SQL order differs from Python's).
        """
        self.orphans = {name: 0 for name in children}
        for name, child in children.items():
            if len(child.spec.key) != len(self.spec.key):
                raise ConfigError(
                    f"child {name} joins on {len(child.spec.key)} column(s) "
                    f"{', '.join(child.spec.key)} but {self.name} has {len(self.spec.key)} "
                    f"key column(s) {', '.join(self.spec.key)}; list one per parent key column"
                )
        cursors: dict[str, _ChildCursor] = {}
        try:
            for name, child in children.items():
                cursors[name] = _ChildCursor(name, child)
            previous: Key | None = None
            for chunk in self.read():
                joined: list[tuple[Row, dict[str, list[Row]]]] = []
                for row in chunk:
                    key = tuple(row[k] for k in self.spec.key)
                    if any(v is None for v in key) or key == previous:
                        joined.append((row, {n: [] for n in cursors}))
                        continue
                    if previous is not None and not _less(previous, key, self.name):
                        raise SourceError(
                            f"{self.name}: key {_format_key(self.spec.key, key)} arrives after "
                            f"{_format_key(self.spec.key, previous)}; keys must be unique and "
                            "their SQL order must match Python order; "
                            "run verify_keys or use integer or text keys"
                        )
                    previous = key
                    joined.append((row, {n: c.take(key) for n, c in cursors.items()}))
                yield joined
            for cursor in cursors.values():
                cursor.drain()
        finally:
            for name, cursor in cursors.items():
                self.orphans[name] = cursor.orphans
                cursor.close()

    def skim(
        self, children: Mapping[str, SqlSource], cursor: str | None = None
    ) -> Generator[list[tuple[Key, Any, str]], None, None]:
        """Chunks of (key, cursor value, digest) for each row, the cursor value None without
        a `cursor` column: one digest of each row with its child rows, computed in the
        warehouse, in no order.

        The digest is the MD5 of the row's own digest and, per child in name order, the count
        and sum (`child_sum`) of its child rows' digests, as `combined` computes it from the
        rows a digest-reading source gives.

        Raises:
            SourceError: as `read`, or the warehouse computes no digests.
        """
        self._check_columns(self.spec.key, "primary_key")
        digest = self._row_digest()
        number = _DIGEST_NUMBERS[self.engine.dialect.name].format(digest=digest)
        key = list(self.spec.key)
        mark = sa.column(cursor) if cursor is not None else sa.null()
        parent = (
            sa.select(
                *(sa.column(c) for c in key),
                mark.label("_ks_cursor"),
                sa.literal_column(digest).label("_ks_d"),
            )
            .select_from(sa.select(sa.literal_column("*")).select_from(self._from()).subquery(_ROW))
            .subquery("_ks_p")
        )
        joined: sa.FromClause = parent
        parts: list[Any] = [parent.c._ks_d]
        for i, name in enumerate(sorted(children)):
            child = children[name]
            child._check_columns(child.spec.key, f"child {name} key")
            rows = sa.select(sa.literal_column("*")).select_from(child._from()).subquery(_ROW)
            cols: list[sa.ColumnClause[Any]] = [sa.column(k) for k in child.spec.key]
            agg = (
                sa.select(
                    *(c.label(f"_ks_k{j}") for j, c in enumerate(cols)),
                    sa.func.count().label("n"),
                    sa.func.sum(sa.literal_column(number)).label("s"),
                )
                .select_from(rows)
                .where(*(c.is_not(None) for c in cols))
                .group_by(*cols)
                .subquery(f"_ks_c{i}")
            )
            on = [agg.c[f"_ks_k{j}"] == parent.c[k] for j, k in enumerate(self.spec.key)]
            joined = joined.outerjoin(agg, sa.and_(*on))
            zero = sa.literal(0)
            parts += ["|", sa.func.coalesce(agg.c.n, zero), ":", sa.func.coalesce(agg.c.s, zero)]
        combined = sa.func.md5(sa.func.concat(*parts)) if children else parent.c._ks_d
        stmt = sa.select(
            *(parent.c[c] for c in key), parent.c._ks_cursor, combined.label(DIGEST)
        ).select_from(joined)
        with self._translated(), self.engine.connect() as conn:
            options = conn.execution_options(stream_results=True, yield_per=self.chunk_size)
            result = options.execute(stmt)
            width = len(key)
            for part in result.partitions():
                yield [(tuple(values[:width]), values[-2], values[-1]) for values in part]

    def _stream(self, order: Sequence[sa.ColumnElement[Any]]) -> Generator[list[Row], None, None]:
        stmt = self._select().order_by(*order)
        # PostgreSQL streams through a named server-side cursor; DuckDB's dialect has none, so
        # yield_per falls back to DBAPI fetchmany, which DuckDB answers lazily from its result.
        with self._translated(), self.engine.connect() as conn:
            options = conn.execution_options(stream_results=True, yield_per=self.chunk_size)
            result = options.execute(stmt)
            names = list(result.keys())
            for part in result.partitions():
                yield [dict(zip(names, values, strict=True)) for values in part]

    def _select(self) -> sa.Select[Any]:
        """Every column of the rows, and with `digest` the digest of each."""
        if not self.spec.digest:
            return sa.select(sa.literal_column("*")).select_from(self._from())
        rows = sa.select(sa.literal_column("*")).select_from(self._from()).subquery(_ROW)
        digest: sa.Label[Any] = sa.literal_column(self._row_digest()).label(DIGEST)
        return sa.select(sa.literal_column(f"{_ROW}.*"), digest).select_from(rows)

    def _row_digest(self) -> str:
        """The SQL of a row's digest, over the subquery named `_ROW`.

        Raises:
            SourceError: the warehouse computes no digests.
        """
        if not self.digests:
            raise SourceError(f"{self.name}: {self.engine.dialect.name} computes no row digests")
        return _ROW_DIGESTS[self.engine.dialect.name]

    def _from(self) -> sa.FromClause:
        base = self._base()
        spec = self.spec
        cols: list[sa.ColumnClause[Any]] = [sa.column(k) for k in spec.key]
        conditions: list[sa.ColumnElement[bool]] = []
        if spec.since is not None:
            column, value = spec.since
            since: sa.ColumnElement[bool] = sa.column(column) > sa.bindparam("since_value", value)
            if spec.also:
                wanted = sa.tuple_(*cols).in_([sa.tuple_(*key) for key in spec.also])
                since = sa.or_(since, wanted)
            conditions.append(since)
        if spec.keys is not None:
            if len(cols) == 1:
                listed = cols[0].in_([key[0] for key in spec.keys])
            else:
                listed = sa.tuple_(*cols).in_([sa.tuple_(*key) for key in spec.keys])
            nulls = [c.is_(None) for c in cols] if spec.null_keys else []
            conditions.append(sa.or_(listed, *nulls))
        if not conditions:
            return base
        return (
            sa.select(sa.literal_column("*")).select_from(base).where(*conditions).subquery("since")
        )

    def _base(self) -> sa.FromClause:
        if self.spec.table is not None:
            schema, _, name = self.spec.table.rpartition(".")
            return sa.table(name, schema=schema or None)
        query = (self.spec.query or "").strip().rstrip(";")
        # Escape colons so that text() does not take '10:30' or ::casts for bind parameters.
        return sa.text(query.replace(":", r"\:")).columns().subquery("src")

    def _describe(self) -> list[tuple[str, Any]]:
        if self._described is None:
            stmt: sa.Select[Any] = (
                sa.select(sa.literal_column("*")).select_from(self._from()).limit(0)
            )
            with self._translated(), self.engine.connect() as conn:
                result = conn.execute(stmt)
                description = result.cursor.description if result.cursor else None
                self._described = [(d[0], d[1]) for d in description or ()]
                result.close()
        return self._described

    def _check_columns(self, names: Sequence[str], setting: str) -> None:
        if setting == "primary_key" and not names:
            raise ConfigError("a source needs its key columns (primary_key)", key="source")
        known = self.columns()
        for name in names:
            if name not in known:
                raise SourceError(
                    f"{self.name}: unknown column {name!r} in {setting}; "
                    f"the columns are {', '.join(known)}; fix {setting} in the mapping"
                )

    def _key_order(self, key: Sequence[str]) -> list[sa.ColumnElement[Any]]:
        """ORDER BY terms for key columns, with text ordered by code point as Python does."""
        if self.engine.dialect.name != "postgresql":
            return [sa.column(k) for k in key]
        collated = self._collatable_columns()
        return [sa.column(k).collate("C") if k in collated else sa.column(k) for k in key]

    def _collatable_columns(self) -> frozenset[str]:
        if self._collated is None:
            types = {name: oid for name, oid in self._describe()}
            stmt = sa.text("SELECT oid FROM pg_type WHERE typcollation <> 0 AND oid = ANY(:oids)")
            with self._translated(), self.engine.connect() as conn:
                oids = set(conn.execute(stmt, {"oids": list(set(types.values()))}).scalars())
            self._collated = frozenset(name for name, oid in types.items() if oid in oids)
        return self._collated

    def _translated(self) -> _Translate:
        return _Translate(self)


class _Translate:
    """The one boundary where SQLAlchemy and driver errors become a SourceError."""

    def __init__(self, source: SqlSource) -> None:
        self.source = source

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        if exc is None or not isinstance(exc, SQLAlchemyError):
            return
        source = self.source
        url = source.engine.url
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        for password in _passwords(url):
            detail = detail.replace(password, "***")
        detail = mask_password(detail)
        if isinstance(exc, sa.exc.OperationalError) and _cannot_connect(source.engine):
            raise SourceError(
                f"cannot connect to {_show(url)}: {detail}; "
                "check the host, port, user and that the server is running"
            ) from None
        if source.spec.table is not None and not _table_exists(source.engine, source.spec.table):
            # A configuration problem (exit 2): the mapping names a table the warehouse lacks.
            raise ConfigError(
                f"unknown table {source.spec.table!r} in {_show(url)}; "
                "fix source.table in the mapping (schema.table when not in the default schema)"
            ) from None
        if source.engine.dialect.name == "duckdb" and "out of memory" in detail.lower():
            limit = source.engine.url.query.get("memory_limit")
            raise SourceError(
                f"{source.name}: DuckDB needed more memory than its limit ({limit}) and could "
                f"not spill to disk: {detail}; raise it in source.url (?memory_limit=1GB), or "
                "give it a writable ?temp_directory=/path to spill to"
            ) from None
        what = f"table {source.spec.table!r}" if source.spec.table else "the source query"
        raise SourceError(
            f"{source.name}: reading {what} failed: {detail}; "
            "check the column names and the query in the mapping"
        ) from None


class _ChildCursor:
    """One child's rows in key order, advanced in step with the parents."""

    def __init__(self, name: str, source: SqlSource) -> None:
        self.name = name
        self.source = source
        self.orphans = 0
        source._check_columns(source.spec.key, f"child {name} key")
        source._check_columns(source.spec.order_by, f"child {name} order_by")
        order = source._key_order(source.spec.key) + [sa.column(c) for c in source.spec.order_by]
        self._chunks = source._stream(order)
        self._rows: Iterator[Row] = iter(())
        self._row: Row | None = None
        self._key: Key | None = None
        self._advance()

    def take(self, parent_key: Key) -> list[Row]:
        """Skip rows before ``parent_key`` as orphans; return the rows that match it."""
        while self._key is not None and _less(self._key, parent_key, self.name):
            self.orphans += 1
            self._advance()
        matched = []
        while self._row is not None and self._key == parent_key:
            matched.append(self._row)
            self._advance()
        return matched

    def drain(self) -> None:
        """Count the rows after the last parent as orphans."""
        while self._row is not None:
            self.orphans += 1
            self._advance()

    def close(self) -> None:
        self._chunks.close()

    def _advance(self) -> None:
        while True:
            row = next(self._rows, None)
            if row is None:
                chunk = next(self._chunks, None)
                if chunk is None:
                    self._row = self._key = None
                    return
                self._rows = iter(chunk)
                continue
            if any(row[k] is None for k in self.source.spec.key):
                self.orphans += 1  # a child row that names no parent
                continue
            break
        key = tuple(row[k] for k in self.source.spec.key)
        if self._key is not None and _less(key, self._key, self.name):
            raise SourceError(
                f"child {self.name}: key {_format_key(self.source.spec.key, key)} arrives after "
                f"{_format_key(self.source.spec.key, self._key)}; their SQL order must match "
                "Python order; use integer or text keys"
            )
        self._row, self._key = row, key


def child_sum(digests: Sequence[str]) -> str:
    """What `SqlSource.skim` adds up for a parent's child rows: their count and the sum of
    their digests' first 15 hex digits."""
    return f"{len(digests)}:{sum(int(d[:15], 16) for d in digests)}"


def combined(row: Row, children: Mapping[str, Sequence[Row]]) -> str:
    """A row's digest with its child rows, as `SqlSource.skim` computes it, from the rows of
    digest-reading sources; takes the digest columns out of the rows."""
    own = str(row.pop(DIGEST))
    if not children:
        return own
    text = own + "".join(
        f"|{child_sum([str(c.pop(DIGEST)) for c in children[name]])}" for name in sorted(children)
    )
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _less(left: Key, right: Key, name: str) -> bool:
    try:
        return left < right
    except TypeError:
        raise SourceError(
            f"{name}: keys {left!r} and {right!r} cannot be compared; "
            "parent and child key columns must have the same types"
        ) from None


def _format_key(key: Sequence[str], values: Sequence[Any]) -> str:
    shown = ["NULL" if v is None else str(v) for v in values]
    if len(key) == 1:
        return f"{key[0]}={shown[0]}"
    return f"({', '.join(key)})=({', '.join(shown)})"


def mask_password(text: str) -> str:
    """Text with every password SQLAlchemy or libpq would take replaced by ***: a URL's
    userinfo password (an unencoded "@" in it included), `password=` query parameters, libpq
    key/value and ODBC `PWD=` settings."""
    text = _URL_PASSWORD.sub(r"\1***@", text)
    text = _KEY_PASSWORD.sub(r"\1***", text)
    return _ENCODED_PASSWORD.sub(r"\1***", text)


def _passwords(url: URL) -> list[str]:
    """The passwords a URL holds: its userinfo password and password query parameters."""
    found = [str(url.password)] if url.password else []
    for key, value in url.query.items():
        if re.fullmatch(_PASSWORD_KEYS, key, re.IGNORECASE):
            found += [value] if isinstance(value, str) else list(value)
    return [p for p in found if p]


def _show(url: URL) -> str:
    return mask_password(url.render_as_string(hide_password=False))


def _cannot_connect(engine: Engine) -> bool:
    try:
        engine.connect().close()
    except SQLAlchemyError:
        return True
    return False


def _table_exists(engine: Engine, table: str) -> bool:
    schema, _, name = table.rpartition(".")
    try:
        return sa.inspect(engine).has_table(name, schema=schema or None)
    except SQLAlchemyError:
        return True  # cannot tell; let the general message speak


def declared_primary_key(engine: Engine, table: str) -> list[str]:
    """The primary key the warehouse declares for a table, in key order; empty when it declares
    none (a view, a table created without one) or cannot say."""
    schema, _, name = table.rpartition(".")
    try:
        if engine.dialect.name == "duckdb":
            # duckdb-engine reflects through PostgreSQL's catalog, which DuckDB cannot answer;
            # DuckDB lists its own constraints in duckdb_constraints().
            with engine.connect() as conn:
                found = conn.execute(_DUCKDB_PRIMARY_KEY, {"t": name, "s": schema or None})
                columns = found.scalar()
            return [str(c) for c in columns or []]
        constraint = sa.inspect(engine).get_pk_constraint(name, schema=schema or None)
    except (SQLAlchemyError, NotImplementedError):
        return []
    return [str(c) for c in constraint.get("constrained_columns") or []]


_DUCKDB_PRIMARY_KEY = sa.text(
    "SELECT constraint_column_names FROM duckdb_constraints() "
    "WHERE constraint_type = 'PRIMARY KEY' AND table_name = :t "
    "AND schema_name = coalesce(:s, current_schema())"
)
