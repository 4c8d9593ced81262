"""@kintone/rest-api-client 6.2.1 against the emulator: bulk writes, paging, cursors, errors.

Each test drives the client through client.mjs, then checks through /_emulator/records what
actually landed in the emulator.
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Emulator

pytestmark = pytest.mark.official


def rec(code: str | None, name: str = "", qty: int | None = None, **extra: Any) -> dict[str, Any]:
    """A record in the write shape."""
    out: dict[str, Any] = {"name": {"value": name}}
    if code is not None:
        out["code"] = {"value": code}
    if qty is not None:
        out["qty"] = {"value": str(qty)}
    for key, value in extra.items():
        out[key] = {"value": value}
    return out


def add(emulator: Emulator, records: list[dict[str, Any]]) -> list[str]:
    """Add records with addAllRecords; the new ids in order."""
    result = emulator.client_ok("addAllRecords", records=records)
    return [r["id"] for r in result["records"]]


def numbered(n: int, prefix: str = "C") -> list[dict[str, Any]]:
    return [rec(f"{prefix}{i:05d}", f"name {i}", i) for i in range(1, n + 1)]


def test_add_all_records_spans_several_bulk_requests(emulator: Emulator) -> None:
    records = numbered(2105)
    records[0]["due"] = {"value": "2024-02-29"}
    records[2104]["lines"] = {
        "value": [
            {"value": {"item": {"value": "apple"}, "amount": {"value": "3"}}},
            {"value": {"item": {"value": "pear"}, "amount": {"value": "5"}}},
        ]
    }

    result = emulator.client_ok("addAllRecords", records=records)

    returned = result["records"]
    assert len(returned) == 2105
    ids = [r["id"] for r in returned]
    assert len(set(ids)) == 2105
    assert all(r["revision"] == "1" for r in returned)

    landed = emulator.records()
    assert len(landed) == 2105
    assert sorted(r["$id"]["value"] for r in landed) == sorted(ids)
    by_id = {r["$id"]["value"]: r for r in landed}
    # ids come back in request order
    for i, rid in enumerate(ids, start=1):
        assert by_id[rid]["code"]["value"] == f"C{i:05d}"
        assert by_id[rid]["qty"]["value"] == str(i)
        assert by_id[rid]["name"]["value"] == f"name {i}"
    first, last = by_id[ids[0]], by_id[ids[-1]]
    assert first["due"]["value"] == "2024-02-29"
    assert last["due"]["value"] is None
    assert [
        (row["value"]["item"]["value"], row["value"]["amount"]["value"])
        for row in last["lines"]["value"]
    ] == [("apple", "3"), ("pear", "5")]
    assert all(row["id"] for row in last["lines"]["value"])
    assert first["lines"]["value"] == []


def test_update_all_records_by_id(emulator: Emulator) -> None:
    ids = add(emulator, numbered(150))

    updates = [
        {"id": rid, "record": {"name": {"value": f"updated {i}"}, "qty": {"value": str(i * 10)}}}
        for i, rid in enumerate(ids[:120], start=1)
    ]
    result = emulator.client_ok("updateAllRecords", records=updates)

    assert [r["id"] for r in result["records"]] == ids[:120]
    assert all(r["revision"] == "2" for r in result["records"])
    assert all("operation" not in r for r in result["records"])

    by_code = emulator.by_code()
    assert len(by_code) == 150
    for i in range(1, 151):
        landed = by_code[f"C{i:05d}"]
        if i <= 120:
            assert landed["name"]["value"] == f"updated {i}"
            assert landed["qty"]["value"] == str(i * 10)
            assert landed["$revision"]["value"] == "2"
        else:
            assert landed["name"]["value"] == f"name {i}"
            assert landed["qty"]["value"] == str(i)
            assert landed["$revision"]["value"] == "1"


def test_update_all_records_upsert_by_update_key(emulator: Emulator) -> None:
    ids = add(emulator, numbered(5))

    def upd(code: str, name: str, qty: int) -> dict[str, Any]:
        return {
            "updateKey": {"field": "code", "value": code},
            "record": {"name": {"value": name}, "qty": {"value": str(qty)}},
        }

    records = [
        upd("C00002", "two updated", 200),
        upd("NEW-1", "new one", 1001),
        upd("C00004", "four updated", 400),
        upd("NEW-2", "new two", 1002),
    ]
    result = emulator.client_ok("updateAllRecords", records=records, upsert=True)

    ops = [r["operation"] for r in result["records"]]
    assert ops == ["UPDATE", "INSERT", "UPDATE", "INSERT"]
    assert result["records"][0]["id"] == ids[1]
    assert result["records"][2]["id"] == ids[3]
    new_ids = {result["records"][1]["id"], result["records"][3]["id"]}
    assert not new_ids & set(ids)
    assert result["records"][1]["revision"] == "1"
    assert result["records"][0]["revision"] == "2"

    by_code = emulator.by_code()
    assert sorted(by_code) == ["C00001", "C00002", "C00003", "C00004", "C00005", "NEW-1", "NEW-2"]
    assert (by_code["C00002"]["name"]["value"], by_code["C00002"]["qty"]["value"]) == (
        "two updated",
        "200",
    )
    assert by_code["C00004"]["name"]["value"] == "four updated"
    assert by_code["C00002"]["$id"]["value"] == ids[1]
    assert (by_code["NEW-1"]["name"]["value"], by_code["NEW-1"]["qty"]["value"]) == (
        "new one",
        "1001",
    )
    assert by_code["NEW-2"]["$id"]["value"] == result["records"][3]["id"]
    for untouched in ("C00001", "C00003", "C00005"):
        assert by_code[untouched]["$revision"]["value"] == "1"
        assert by_code[untouched]["name"]["value"] == f"name {int(untouched[1:])}"


@pytest.fixture
def many(emulator: Emulator) -> list[str]:
    """1,234 records (qty 1..1234, codes C00001..) added in reverse qty order."""
    records = numbered(1234)
    records.reverse()
    return add(emulator, records)


def test_get_all_records_pages_by_id(emulator: Emulator, many: list[str]) -> None:
    got = emulator.client_ok("getAllRecords")

    assert len(got) == 1234
    got_ids = [int(r["$id"]["value"]) for r in got]
    assert got_ids == sorted(int(i) for i in many)
    assert len({r["code"]["value"] for r in got}) == 1234
    # added in reverse order: the first record (lowest $id) has qty 1234
    assert got[0]["qty"]["value"] == "1234"
    assert got[-1]["qty"]["value"] == "1"
    assert got[0]["code"] == {"type": "SINGLE_LINE_TEXT", "value": "C01234"}

    landed = {r["$id"]["value"]: r["code"]["value"] for r in emulator.records()}
    assert {r["$id"]["value"]: r["code"]["value"] for r in got} == landed

    # with a condition: "(qty >= 700) and $id > N order by $id asc limit 500"
    some = emulator.client_ok("getAllRecords", condition="qty >= 700", fields=["code", "qty"])
    assert len(some) == 535
    assert sorted(int(r["qty"]["value"]) for r in some) == list(range(700, 1235))
    assert set(some[0]) == {"code", "qty", "$id"}


def test_get_all_records_with_order_by_uses_cursor(emulator: Emulator, many: list[str]) -> None:
    got = emulator.client_ok("getAllRecords", orderBy="qty asc")

    assert len(got) == 1234
    assert [int(r["qty"]["value"]) for r in got] == list(range(1, 1235))
    assert [r["code"]["value"] for r in got] == [f"C{i:05d}" for i in range(1, 1235)]

    desc = emulator.client_ok(
        "getAllRecords", orderBy="code desc", condition='name like "name"', fields=["code"]
    )
    assert [r["code"]["value"] for r in desc] == [f"C{i:05d}" for i in range(1234, 0, -1)]


def test_get_all_records_with_cursor(emulator: Emulator, many: list[str]) -> None:
    got = emulator.client_ok(
        "getAllRecordsWithCursor", query="qty <= 600 order by qty desc", fields=["qty", "code"]
    )

    assert [int(r["qty"]["value"]) for r in got] == list(range(600, 0, -1))
    assert got[0]["code"]["value"] == "C00600"


def test_delete_all_records(emulator: Emulator) -> None:
    ids = add(emulator, numbered(250))
    doomed = ids[10:140]

    result = emulator.client_ok("deleteAllRecords", records=[{"id": rid} for rid in doomed])
    assert result == {}

    landed = emulator.records()
    assert len(landed) == 120
    assert {r["$id"]["value"] for r in landed} == set(ids[:10] + ids[140:])
    assert {r["code"]["value"] for r in landed} == {
        f"C{i:05d}" for i in list(range(1, 11)) + list(range(141, 251))
    }


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(rec(None, "no code", 1), id="required-missing"),
        pytest.param(rec("EXISTING", "dup", 1), id="unique-violated"),
    ],
)
def test_add_all_records_error_is_all_or_nothing(emulator: Emulator, bad: dict[str, Any]) -> None:
    add(emulator, [rec("EXISTING", "already here", 7)])
    records = numbered(150)
    records[120] = bad  # second sub-request (records 100..149), its index 20

    res = emulator.client("addAllRecords", records=records)

    assert res.returncode == 1, res.describe()
    err = res.json()["error"]
    assert err["name"] == "KintoneAllRecordsError", err
    assert err["code"] == "CB_VA01", err
    assert err["status"] == 400, err
    assert err["bulkRequestIndex"] == 1, err
    assert err["errorIndex"] == 120, err
    assert err["numOfProcessedRecords"] == 0, err
    assert any(key.startswith("records[20].code") for key in err["errors"]), err

    landed = emulator.records()
    assert [r["code"]["value"] for r in landed] == ["EXISTING"]
    assert landed[0]["name"]["value"] == "already here"
