"""The store's undo journal and persistence, query-string parsing, and the --fault parser."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from connector.cli.emulator import parse_fault
from connector.emulator.errors import ApiError
from connector.emulator.params import as_id, parse_json, parse_query_string
from connector.emulator.seed import AppSeed
from connector.emulator.store import Domain, StoredRecord

APP = AppSeed(
    id=1,
    name="t",
    properties={"k": {"type": "SINGLE_LINE_TEXT", "code": "k", "unique": True}},
)


def test_query_string_index_forms_and_repeats() -> None:
    parsed = parse_query_string("app=1&ids[1]=b&ids[0]=a&fields[]=x&fields[]=y&tag=1&tag=2&q=")
    assert parsed == {
        "app": "1",
        "ids": ["a", "b"],
        "fields": ["x", "y"],
        "tag": ["1", "2"],
        "q": "",
    }


@pytest.mark.parametrize("body", [b"{", b"[]", b'"x"', b"\xff"])
def test_bad_json_is_cb_ij01(body: bytes) -> None:
    with pytest.raises(ApiError) as caught:
        parse_json(body)
    assert caught.value.code == "CB_IJ01"


@pytest.mark.parametrize(("value", "expected"), [(3, 3), ("12", 12), (" 4 ", 4)])
def test_ids_from_numbers_or_strings(value: object, expected: int) -> None:
    assert as_id({"app": value}, "app") == expected


@pytest.mark.parametrize("value", ["x", 0, -2, True, [1], "1.5"])
def test_bad_ids_are_cb_va01_keyed_by_name(value: object) -> None:
    with pytest.raises(ApiError) as caught:
        as_id({"app": value}, "app")
    assert caught.value.code == "CB_VA01"
    assert caught.value.errors is not None
    assert "app" in caught.value.errors


def test_transaction_rolls_back_inserts_updates_deletes_and_indexes() -> None:
    domain = Domain([APP])
    app = domain.app(1)
    domain.load_records(app, [{"k": "a"}, {"k": "b"}, {"k": "c"}])

    def change_then_fail() -> None:
        with domain.transaction():
            domain.put(app, StoredRecord(2, 2, {"k": "B"}))
            domain.remove(app, 1)
            domain.put(app, StoredRecord(domain.new_record_id(app), 1, {"k": "d"}))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        change_then_fail()
    assert [(r.id, r.values["k"]) for r in app.records.values()] == [(1, "a"), (2, "b"), (3, "c")]
    assert app.unique["k"] == {"a": 1, "b": 2, "c": 3}


def test_save_and_restore_round_trip(tmp_path: Path) -> None:
    domain = Domain([APP])
    app = domain.app(1)
    domain.load_records(app, [{"k": "a"}, {"k": "b"}])
    key = domain.upload("f.txt", "text/plain", b"data")
    path = tmp_path / "emulator.data"
    domain.save(path)
    again = Domain([APP])
    again.restore(path)
    assert [r.values for r in again.app(1).records.values()] == [{"k": "a"}, {"k": "b"}]
    assert again.app(1).find_unique("k", "b") == 2
    assert again.uploads[key].data == b"data"
    assert again.new_record_id(again.app(1)) == 3


def test_fault_spec_parsing() -> None:
    assert parse_fault("path=bulkRequest.json,status=503,after=2,times=1") == {
        "path": "bulkRequest.json",
        "status": 503,
        "after": 2,
        "times": 1,
    }
    with pytest.raises(click.BadParameter, match="key=value"):
        parse_fault("path=x,colour=red")
    with pytest.raises(click.BadParameter, match="whole number"):
        parse_fault("path=x,times=two")
