"""`$id in (...)` reads look records up by id: the same page as a scan of every record."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.emulator.query import compile_query
from connector.emulator.schema import AppSchema
from connector.emulator.store import StoredRecord

SCHEMA = AppSchema.from_properties(
    {"name": {"type": "SINGLE_LINE_TEXT", "code": "name", "label": "Name"}}
)


@settings(max_examples=200, deadline=None)
@given(
    held=st.lists(st.integers(1, 60), max_size=40),
    asked=st.lists(st.integers(0, 70), min_size=1, max_size=12),
    tail=st.sampled_from(
        [
            "",
            " order by $id asc",
            " order by $id desc limit 3",
            " limit 2 offset 1",
            " order by name asc",
        ]
    ),  # fmt: skip
)
def test_a_lookup_by_id_gives_the_page_a_scan_gives(
    held: list[int], asked: list[int], tail: str
) -> None:
    stored = {i: StoredRecord(i, 1, {"name": f"n{i % 7}"}) for i in sorted(set(held))}
    text = f"$id in ({', '.join(str(i) for i in asked)}){tail}"
    query = compile_query(text, SCHEMA)
    assert query.ids == frozenset(asked)
    scanned = dataclasses.replace(query, ids=None).select(stored)
    assert [r.id for r in query.select(stored)] == [r.id for r in scanned]


def test_only_a_filter_of_ids_alone_is_looked_up() -> None:
    for text in ('$id in (1, "2") limit 5', "$id in (3)", "  $id IN (4,5)  order by $id asc"):
        assert compile_query(text, SCHEMA).ids is not None
    for text in ('$id in (1) and name = "a"', "$id not in (1)", 'name in ("1")', ""):
        assert compile_query(text, SCHEMA).ids is None
