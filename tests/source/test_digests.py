"""Row digests: what the warehouse computes in a skim equals what a run computes from the rows
it reads whole (`connector.source.combined`), on DuckDB and PostgreSQL."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.runner import rows_of
from connector.source import SqlSource, TableSpec, combined, create_engine_from_url
from tests.pg import fresh_database

SCHEMA = [
    "CREATE TABLE parents (id INTEGER, name TEXT, amount DECIMAL(10, 2))",
    "CREATE TABLE lines (parent_id INTEGER, n INTEGER, label TEXT)",
    "CREATE TABLE notes (parent_id INTEGER, body TEXT)",
]


def fill(engine: sa.Engine, parents: list[tuple[Any, ...]], lines: list[tuple[Any, ...]]) -> None:
    with engine.begin() as con:
        for statement in SCHEMA:
            con.exec_driver_sql(statement)
        if parents:
            con.execute(sa.text("INSERT INTO parents VALUES (:a, :b, :c)"),
                        [dict(zip("abc", p, strict=True)) for p in parents])  # fmt: skip
        if lines:
            con.execute(sa.text("INSERT INTO lines VALUES (:a, :b, :c)"),
                        [dict(zip("abc", x, strict=True)) for x in lines])  # fmt: skip
        con.exec_driver_sql("INSERT INTO notes SELECT id, name FROM parents WHERE mod(id, 2) = 0")


def digests_both_ways(engine: sa.Engine) -> tuple[dict[Any, str], dict[Any, str]]:
    parent = SqlSource(engine, TableSpec(table="parents", key=("id",)))
    children = {
        "lines": SqlSource(engine, TableSpec(table="lines", key=("parent_id",), order_by=("n",))),
        "notes": SqlSource(engine, TableSpec(table="notes", key=("parent_id",))),
    }
    skimmed = {key[0]: digest for chunk in parent.skim(children) for key, _, digest in chunk}
    whole = SqlSource(engine, TableSpec(table="parents", key=("id",), digest=True))
    whole_children = {
        name: SqlSource(engine, TableSpec(table=c.spec.table, key=c.spec.key, digest=True))
        for name, c in children.items()
    }
    computed = {row["id"]: combined(row, kids) for row, kids in rows_of(whole, whole_children)}
    return skimmed, computed


def duckdb_engine() -> sa.Engine:
    """A DuckDB file: a run reads a parent and its children on connections of their own."""
    path = Path(tempfile.mkdtemp()) / "w.duckdb"
    return create_engine_from_url(f"duckdb:///{path}")


PARENTS = [(1, "a", 1.5), (2, "b", None), (3, None, 0), (4, "dup line", 2)]
LINES = [(1, 1, "x"), (1, 2, "y"), (2, 1, None), (4, 1, "z"), (4, 1, "z"), (9, 1, "orphan")]


@pytest.fixture
def pg() -> Iterator[sa.Engine]:
    with fresh_database() as url:
        engine = create_engine_from_url(url)
        yield engine
        engine.dispose()


def test_postgresql_skims_the_digests_a_run_computes(pg: sa.Engine) -> None:
    fill(pg, PARENTS, LINES)
    skimmed, computed = digests_both_ways(pg)
    assert skimmed == computed
    assert len(set(skimmed.values())) == len(PARENTS)


values = st.one_of(st.none(), st.text(max_size=5))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parents=st.lists(st.tuples(st.integers(0, 6), values), max_size=6, unique_by=lambda p: p[0]),
    lines=st.lists(st.tuples(st.integers(0, 8), st.integers(0, 2), values), max_size=12),
)
def test_duckdb_skims_the_digests_a_run_computes(
    parents: list[tuple[Any, ...]], lines: list[tuple[Any, ...]]
) -> None:
    engine = duckdb_engine()
    try:
        fill(engine, [(i, name, i * 0.25) for i, name in parents], lines)
        skimmed, computed = digests_both_ways(engine)
    finally:
        engine.dispose()
    assert skimmed == computed
    assert set(skimmed) == {i for i, _ in parents}


def test_a_child_row_more_or_less_or_changed_changes_the_digest() -> None:
    def digest(lines: list[tuple[Any, ...]]) -> str:
        engine = duckdb_engine()
        try:
            fill(engine, [(1, "a", 1)], lines)
            return digests_both_ways(engine)[0][1]
        finally:
            engine.dispose()

    base = digest([(1, 1, "x")])
    assert base == digest([(1, 1, "x")])
    others = [digest([]), digest([(1, 1, "x"), (1, 1, "x")]), digest([(1, 1, "y")]),
              digest([(1, 2, "x")]), digest([(1, 1, None)])]  # fmt: skip
    assert base not in others
    assert len(set(others)) == len(others)
