"""The query language: conditions, order by, limit and offset (docs/kintone-api.md §2.7)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from connector.emulator.errors import ApiError
from connector.emulator.query import compile_query
from connector.emulator.schema import AppSchema
from connector.emulator.store import StoredRecord

PROPERTIES: dict[str, dict[str, Any]] = {
    "num": {"type": "RECORD_NUMBER", "code": "num"},
    "name": {"type": "SINGLE_LINE_TEXT", "code": "name"},
    "note": {"type": "MULTI_LINE_TEXT", "code": "note"},
    "qty": {"type": "NUMBER", "code": "qty"},
    "day": {"type": "DATE", "code": "day"},
    "at": {"type": "DATETIME", "code": "at"},
    "tags": {
        "type": "CHECK_BOX",
        "code": "tags",
        "options": {"a": {"label": "a", "index": "0"}, "b": {"label": "b", "index": "1"}},
    },
    "owner": {"type": "USER_SELECT", "code": "owner"},
    "lines": {
        "type": "SUBTABLE",
        "code": "lines",
        "fields": {"item": {"type": "SINGLE_LINE_TEXT", "code": "item"}},
    },
}
SCHEMA = AppSchema.from_properties(PROPERTIES)


def record(rid: int, **values: Any) -> StoredRecord:
    return StoredRecord(rid, 1, values)


def by_id(records: list[StoredRecord]) -> dict[int, StoredRecord]:
    """Records as an app keeps them: by id, in ascending id order."""
    return {r.id: r for r in sorted(records, key=lambda r: r.id)}


RECORDS = [
    record(
        1,
        name="Ann",
        note="likes tea",
        qty="10",
        day="2024-01-31",
        at="2024-01-31T23:00:00Z",
        tags=["a"],
        owner=[{"code": "alice", "name": "Alice"}],
        lines=[{"id": "1", "value": {"item": "pen"}}],
    ),
    record(2, name="Bob", note="", qty="2.5", day="2024-02-01", at=None, tags=["a", "b"]),
    record(3, name="ann", note="tea time", qty="", day=None, at="2024-02-01T00:00:00Z", tags=[]),
    record(4, name="Cid", note="", qty="-3", day="2023-12-25", at=None, tags=["b"]),
]


def ids(text: str, **kwargs: Any) -> list[int]:
    query = compile_query(text, SCHEMA, app_code="APP", login_user="alice", **kwargs)
    return [r.id for r in query.select(by_id(RECORDS))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", [4, 3, 2, 1]),  # default order is $id desc
        ('name = "Ann"', [1]),
        ('name != "Ann"', [4, 3, 2]),
        ('name in ("Ann", "Cid")', [4, 1]),
        ('name not in ("Ann")', [4, 3, 2]),
        ('note like "tea"', [3, 1]),  # partial, case-insensitive
        ('note not like "tea"', [4, 2]),
        ("qty > 2.5", [1]),
        ("qty >= 2.5 and qty <= 10", [2, 1]),
        ('qty < "0"', [4]),
        ("qty is empty", [3]),
        ('day is not empty and day < "2024-01-01"', [4]),
        ('day >= "2024-01-31" order by $id asc', [1, 2]),
        ('at = "2024-01-31"', [1]),  # a date against a datetime matches the whole day
        ('at > "2024-01-31T23:00:00Z"', [3]),
        ('tags in ("b")', [4, 2]),
        ('tags not in ("a")', [4, 3]),
        ("owner in (LOGINUSER())", [1]),
        ('item in ("pen")', [1]),
        ("$id > 1 and $id <= 3 order by $id asc", [2, 3]),
        ("num = 2", [2]),
        ('num = "APP-3"', [3]),
        ('(name = "Ann" or name = "Bob") and qty > 5', [1]),
        ('name = "Ann" or name = "Bob" and qty > 5', [1]),  # and binds tighter
        ("order by qty desc", [1, 2, 4, 3]),  # empty values sort lowest
        ("order by $id asc limit 2 offset 1", [2, 3]),
        ('name = "a\\"b"', []),
    ],
)
def test_queries(text: str, expected: list[int]) -> None:
    assert ids(text) == expected


def test_date_functions_use_today() -> None:
    assert ids("day = TODAY()", today=date(2024, 2, 1)) == [2]
    assert ids("day = YESTERDAY()", today=date(2024, 2, 1)) == [1]
    assert ids("day = THIS_MONTH()", today=date(2024, 2, 5)) == [2]
    assert ids("day >= LAST_MONTH() order by $id asc", today=date(2024, 2, 5)) == [1, 2]
    assert ids("day < FROM_TODAY(-30, DAYS)", today=date(2024, 2, 1)) == [4]


def test_order_by_several_fields_breaks_ties_in_order() -> None:
    rows = [record(1, qty="1", name="b"), record(2, qty="1", name="a"), record(3, qty="0")]
    query = compile_query("order by qty desc, name asc", SCHEMA)
    assert [r.id for r in query.select(by_id(rows))] == [2, 1, 3]
    query = compile_query("order by qty desc, $id desc", SCHEMA)
    assert [r.id for r in query.select(by_id(rows))] == [2, 1, 3]
    query = compile_query("order by qty asc, $id asc", SCHEMA)
    assert [r.id for r in query.select(by_id(rows))] == [3, 1, 2]


def test_count_ignores_limit() -> None:
    query = compile_query('tags in ("a", "b") limit 1', SCHEMA)
    assert query.count(RECORDS) == 3
    assert len(query.select(by_id(RECORDS))) == 1


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('ghost = "x"', "GAIA_IQ11"),
        ("order by ghost", "GAIA_IQ11"),
        ('note = "x"', "GAIA_IQ03"),  # multi-line text takes like only
        ('tags = "a"', "GAIA_IQ03"),
        ("limit 501", "GAIA_QU01"),
        ("offset 10001", "GAIA_QU02"),
        ('name = "x" and', "CB_VA01"),
        ('name = "x" limit', "CB_VA01"),
        ('(name = "x"', "CB_VA01"),
        ("name ~ 3", "CB_VA01"),
    ],
)
def test_query_errors(text: str, code: str) -> None:
    with pytest.raises(ApiError) as caught:
        compile_query(text, SCHEMA)
    assert caught.value.code == code


def test_cursor_queries_refuse_limit_and_offset() -> None:
    with pytest.raises(ApiError) as caught:
        compile_query("order by $id asc limit 5", SCHEMA, allow_limit=False)
    assert caught.value.errors == {"query": ["limit and offset cannot be used in a cursor query."]}
    everything = compile_query("order by $id asc", SCHEMA, allow_limit=False)
    assert [r.id for r in everything.select(by_id(RECORDS))] == [1, 2, 3, 4]
