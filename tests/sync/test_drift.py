"""Drift against the emulator: what the mapper writes reads back equal; one hand edit, one field."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from connector.drift import drifted
from connector.emulator import load_seed
from connector.kintone.client import KintoneClient
from connector.kintone.writer import Mode, RecordWriter
from connector.mapping.form import Form
from connector.mapping.mapper import Mapper, Outgoing
from connector.mapping.spec import MappingSpec

from .conftest import emulator_client

SEED = load_seed(Path(__file__).with_name("drift-seed.yaml"))
TOKEN = "drift-token"
SERIAL = itertools.count()
LONG = os.environ.get("KINTONE_SYNC_LONG_TESTS") == "1"

FIELDS = {
    "code": "code",
    "name": "name",
    "note": "note",
    "body": "body",
    "qty": "qty",
    "born": "born",
    "opens": "opens",
    "seen_at": "seen_at",
    "tags": "tags",
    "langs": "langs",
    "tier": "tier",
    "region": "region",
    "owner": "owner",
    "dept": "dept",
    "team": "team",
    "site": "site",
    "files": "files",
}
INSERT_ONLY = {
    "Created_by": "creator",
    "Created_datetime": "created",
    "Updated_by": "modifier",
    "Updated_datetime": "updated",
}
ORDERS = ["item", "amount", "ordered", "at", "shipped", "flags", "handler", "receipt"]


def spec(mode: str, fields: Mapping[str, str]) -> MappingSpec:
    return MappingSpec.model_validate(
        {
            "app": 1,
            "source": {"table": "t", "primary_key": ["code"]},
            "mode": mode,
            "key": "code",
            "timezone": "Asia/Tokyo",
            "fields": dict(fields),
            "subtables": {
                "orders": {
                    "source": {"table": "o", "parent_key": ["code"]},
                    "fields": {c: c for c in ORDERS},
                },
                "lines": {
                    "source": {"table": "l", "parent_key": ["code"]},
                    "rows": "merge",
                    "row_key": "line_id",
                    "fields": {"line_id": "line_id", "units": "units"},
                },
            },
        }
    )


INSERT = spec("insert", {**FIELDS, **INSERT_ONLY})
UPSERT = spec("upsert", FIELDS)
MERGES = {"lines": "line_id"}

ROW: dict[str, Any] = {
    "code": "K-1",
    "name": "Ann",
    "note": "line 1\r\nline 2\n",
    "body": "<p>Hi <b>there</b></p>",
    "qty": Decimal("1.50"),
    "born": date(1990, 5, 17),
    "opens": time(9, 30, 45),
    "seen_at": datetime(2024, 5, 1, 18, 30, 59),  # naive: the mapping's Asia/Tokyo
    "tags": "c,a",
    "langs": ["ja", "en"],
    "tier": "silver",
    "region": "west",
    "owner": "bob, alice",
    "dept": ["sales"],
    "team": "staff",
    "site": "https://example.com/x?a=1",
    "files": ["report.pdf", "メモ 1.txt"],
    "creator": "alice",
    "created": datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC),
    "modifier": "bob",
    "updated": "2021-01-01T00:00:59+09:00",
}
CHILDREN: dict[str, list[dict[str, Any]]] = {
    "orders": [
        {
            "item": "pen",
            "amount": 3,
            "ordered": "2024-02-29",
            "at": "23:59:59",
            "shipped": datetime(2024, 3, 1, 0, 0, 30, tzinfo=timezone(timedelta(hours=-5))),
            "flags": "gift,rush",
            "handler": "alice",
            "receipt": b"%PDF-1.4",
        },
        {
            "item": "ink",
            "amount": 0.1,
            "ordered": None,
            "at": None,
            "shipped": None,
            "flags": None,
            "handler": None,
            "receipt": None,
        },
    ],
    "lines": [{"line_id": "L1", "units": 3}, {"line_id": "L2", "units": Decimal("2.50")}],
}


@pytest.fixture
def http() -> Iterator[TestClient]:
    with emulator_client(SEED, token=TOKEN, subtable_omitted_subfields="keep") as client:
        yield client


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4 report")
    (tmp_path / "メモ 1.txt").write_text("memo", encoding="utf-8")
    return tmp_path


def form_of(http: TestClient) -> Form:
    return Form.from_properties(KintoneClient(http).form(1))


def write(http: TestClient, out: Outgoing, mode: Mode) -> int:
    writer = RecordWriter(KintoneClient(http), 1, mode, "code")
    result = writer.write([out])
    assert result.error is None, result
    assert not result.refused, result
    [(_, record_id)] = result.inserted + result.updated
    return record_id


def read(http: TestClient, record_id: int, out: Outgoing) -> dict[str, Any]:
    """The record as GET records.json answers it, mapped fields only."""
    fields = sorted({*out.record, "code", "$revision"})
    params = {"app": 1, "query": f"$id = {record_id}", "fields": fields}
    [record] = KintoneClient(http).call("GET", "records", params)["records"]
    return dict(record)


def sent(out: Outgoing) -> dict[str, Any]:
    """The payload with its key field, as verify compares it."""
    return {**out.record, "code": {"value": out.key_value}}


def mapped(mapper: Mapper, row: Mapping[str, Any], children: Mapping[str, Any]) -> Outgoing:
    out = mapper.map(row, children)
    assert isinstance(out, Outgoing), out
    return out


def inserted(http: TestClient, files: Path) -> tuple[Form, Outgoing, int]:
    form = form_of(http)
    out = mapped(Mapper(INSERT, form, base_dir=files), ROW, CHILDREN)
    return form, out, write(http, out, "insert")


def test_every_field_type_reads_back_as_written(http: TestClient, files: Path) -> None:
    form, out, record_id = inserted(http, files)
    record = read(http, record_id, out)
    assert set(out.record) <= set(record)
    empty = [c for c in out.record if record[c]["value"] in (None, "", [])]
    assert empty == []  # every field really holds a value
    assert drifted(form, sent(out), record, merge_tables=MERGES) == []


def test_an_upsert_with_merged_rows_reads_back_as_written(http: TestClient, files: Path) -> None:
    form, _, record_id = inserted(http, files)
    children = {
        **CHILDREN,
        "lines": [{"line_id": "L2", "units": 7}, {"line_id": "L3", "units": "1e2"}],
    }
    row = {**ROW, "name": "Ann B.", "qty": "15e-1"}
    out = mapped(Mapper(UPSERT, form, base_dir=files), row, children)
    assert write(http, out, "upsert") == record_id
    record = read(http, record_id, out)
    assert drifted(form, sent(out), record, merge_tables=out.merge_tables) == []
    assert [r["value"]["line_id"]["value"] for r in record["lines"]["value"]] == ["L2", "L3"]


Edit = Callable[[TestClient, dict[str, Any]], Any]


def upload(name: str, data: bytes) -> Edit:
    def edit(http: TestClient, record: dict[str, Any]) -> Any:
        answer = http.post("/k/v1/file.json", files={"file": (name, data, "text/plain")})
        return [{"fileKey": answer.json()["fileKey"]}]

    return edit


def cell(table: str, index: int, code: str, value: Any) -> Edit:
    """One cell of a stored row; the other rows sent by id alone, which keeps them."""

    def edit(http: TestClient, record: dict[str, Any]) -> Any:
        rows = record[table]["value"]
        return [
            {"id": r["id"], "value": {code: {"value": value}}} if i == index else {"id": r["id"]}
            for i, r in enumerate(rows)
        ]

    return edit


def keep_rows(table: str, *indexes: int) -> Edit:
    def edit(http: TestClient, record: dict[str, Any]) -> Any:
        rows = record[table]["value"]
        return [{"id": rows[i]["id"]} for i in indexes]

    return edit


def add_row(table: str, cells: dict[str, Any]) -> Edit:
    def edit(http: TestClient, record: dict[str, Any]) -> Any:
        rows = [{"id": r["id"]} for r in record[table]["value"]]
        return [*rows, {"value": {c: {"value": v} for c, v in cells.items()}}]

    return edit


# (field code edited, the value a user puts there, what verify must name)
EDITS: list[tuple[str, Any, list[str]]] = [
    ("code", "K-2", ["code"]),
    ("name", "Anne", ["name"]),
    ("note", "line 1\nline 2\n", ["note"]),
    ("body", "<p>Hi there</p>", ["body"]),
    ("qty", "1.51", ["qty"]),
    ("qty", "1.5", []),
    ("born", "1990-05-18", ["born"]),
    ("opens", "09:31", ["opens"]),
    ("seen_at", "2024-05-01T09:31:00Z", ["seen_at"]),
    ("seen_at", "2024-05-01T18:30:00+09:00", []),
    ("tags", ["a"], ["tags"]),
    ("tags", ["a", "c"], []),
    ("langs", ["en", "ja", "zh"], ["langs"]),
    ("tier", "gold", ["tier"]),
    ("region", None, ["region"]),
    ("owner", [{"code": "alice"}], ["owner"]),
    ("owner", [{"code": "alice"}, {"code": "bob"}], []),
    ("dept", [{"code": "ops"}], ["dept"]),
    ("team", [], ["team"]),
    ("site", "https://example.com/y", ["site"]),
    ("files", upload("report.pdf", b"other"), ["files"]),
    ("files", upload("report.txt", b"%PDF-1.4 report"), ["files"]),
    ("orders", cell("orders", 0, "amount", "4"), ["orders[0].amount"]),
    ("orders", cell("orders", 0, "ordered", "2024-03-01"), ["orders[0].ordered"]),
    ("orders", cell("orders", 1, "at", "00:00"), ["orders[1].at"]),
    ("orders", cell("orders", 0, "shipped", "2024-03-01T05:01:00Z"), ["orders[0].shipped"]),
    ("orders", cell("orders", 1, "flags", ["gift"]), ["orders[1].flags"]),
    ("orders", cell("orders", 0, "handler", [{"code": "bob"}]), ["orders[0].handler"]),
    ("orders", cell("orders", 0, "receipt", []), ["orders[0].receipt"]),
    ("orders", cell("orders", 1, "item", "ink "), ["orders[1].item"]),
    ("orders", keep_rows("orders", 0), ["orders"]),
    (
        "orders",
        keep_rows("orders", 1, 0),
        [f"orders[{i}].{c}" for i in (0, 1) for c in sorted(ORDERS)],
    ),
    ("lines", cell("lines", 1, "units", "2.6"), ["lines[1].units"]),
    ("lines", cell("lines", 0, "memo", "not mapped"), []),
    ("lines", keep_rows("lines", 1, 0), []),
    ("lines", add_row("lines", {"line_id": "L9", "units": "1"}), ["lines"]),
]


@pytest.mark.parametrize(
    ("code", "value", "expected"),
    EDITS,
    ids=[f"{code}:{'+'.join(e[:2]) or 'nothing'}{'...' * (len(e) > 2)}" for code, _, e in EDITS],
)
def test_a_hand_edit_drifts_exactly_the_field_edited(
    http: TestClient, files: Path, code: str, value: Any, expected: list[str]
) -> None:
    form, out, record_id = inserted(http, files)
    record = read(http, record_id, out)
    new = value(http, record) if callable(value) else value
    answer = http.put(
        "/k/v1/record.json", json={"app": 1, "id": record_id, "record": {code: {"value": new}}}
    )
    assert answer.status_code == 200, answer.text
    after = read(http, record_id, out)
    assert after["$revision"]["value"] == "2"
    assert drifted(form, sent(out), after, merge_tables=MERGES) == expected


def test_a_record_read_without_a_field_drifts_that_field(http: TestClient, files: Path) -> None:
    form, out, record_id = inserted(http, files)
    record = read(http, record_id, out)
    del record["seen_at"]
    assert drifted(form, sent(out), record, merge_tables=MERGES) == ["seen_at"]


# --- random values through the converters -----------------------------------------------------

_text = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
_line = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\r\n"), max_size=20)
_decimal = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-(10**15), max_value=10**15),
    # Within 20 digits before the point: the emulator's default precision (30 digits, 10
    # decimal places), which the mapper cannot know without the app's settings.
    st.decimals(
        allow_nan=False,
        allow_infinity=False,
        places=12,
        min_value=-(10**20) + 1,
        max_value=10**20 - 1,
    ),
)
_zone: st.SearchStrategy[tzinfo | None] = st.sampled_from(
    [None, UTC, timezone(timedelta(hours=9)), timezone(timedelta(hours=-7, minutes=-30))]
)
# Years from 1000: Kintone takes no earlier year, and the mapper refuses one.
_moment = st.builds(
    lambda moment, zone: moment.replace(tzinfo=zone),
    st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 30)),
    _zone,
)
_day = st.dates(min_value=date(1000, 1, 2), max_value=date(9999, 12, 31))


def _subset(options: list[str]) -> st.SearchStrategy[Any]:
    lists = st.lists(st.sampled_from(options), max_size=len(options) + 1)
    return st.one_of(lists, lists.map(",".join), st.none())


VALUES: dict[str, st.SearchStrategy[Any]] = {
    "name": st.one_of(
        _line,
        st.integers(),
        _decimal,
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.none(),
    ),
    "note": st.one_of(_text, st.none()),
    "body": _text,
    "qty": st.one_of(
        _decimal,
        st.integers(-(10**15), 10**15),
        st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12),
        st.none(),
        _decimal.map(str),
        st.builds(lambda m, e: f"{m}e{e}", st.integers(-999, 999), st.integers(-6, 6)),
    ),
    "born": st.one_of(_day, _moment, st.none()),
    "opens": st.one_of(
        st.times(), _moment, st.times().map(lambda t: t.strftime("%H:%M:%S")), st.none()
    ),
    "seen_at": st.one_of(
        _moment,
        _moment.map(lambda m: m.isoformat()),
        _day,
        st.none(),
    ),
    "tags": _subset(["a", "b", "c"]),
    "langs": _subset(["en", "ja", "zh"]),
    "tier": st.sampled_from(["bronze", "silver", "gold", None]),
    "region": st.sampled_from(["east", "west", None]),
    "owner": _subset(["alice", "bob"]),
    "dept": _subset(["sales", "ops"]),
    "team": _subset(["staff", "leads"]),
    "site": _line,
    "files": st.lists(st.binary(max_size=64), max_size=3),
    "creator": st.sampled_from(["alice", "bob", None]),
    "created": st.one_of(_moment, st.none()),
    "modifier": st.sampled_from(["alice", "bob", None]),
    "updated": st.one_of(_moment, st.none()),
}
_order = st.fixed_dictionaries(
    {
        "item": _line,
        "amount": st.one_of(_decimal, st.none()),
        "ordered": st.one_of(_day, st.none()),
        "at": st.one_of(st.times(), st.none()),
        "shipped": st.one_of(_moment, st.none()),
        "flags": _subset(["gift", "rush"]),
        "handler": _subset(["alice", "bob"]),
        "receipt": st.one_of(st.binary(max_size=16), st.none()),
    }
)
_line_row = st.fixed_dictionaries(
    {
        "line_id": st.one_of(st.sampled_from(["L1", "L2", "L3"]), _line),
        "units": st.one_of(_decimal, st.none()),
    }
)
_lines = st.lists(_line_row, max_size=3, unique_by=lambda r: r["line_id"])


@pytest.mark.slow
@settings(
    max_examples=400 if LONG else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    row=st.fixed_dictionaries(VALUES),
    orders=st.lists(_order, max_size=3),
    lines=_lines,
    merged=_lines,
)
def test_random_values_never_drift_once_written(
    http: TestClient,
    row: dict[str, Any],
    orders: list[dict[str, Any]],
    lines: list[dict[str, Any]],
    merged: list[dict[str, Any]],
) -> None:
    # One emulator for every example: each writes a record of its own.
    form = form_of(http)
    row = {**row, "code": f"R-{next(SERIAL)}"}
    out = mapped(Mapper(INSERT, form), row, {"orders": orders, "lines": lines})
    record_id = write(http, out, "insert")
    assert drifted(form, sent(out), read(http, record_id, out), merge_tables=MERGES) == []
    # Then an upsert whose line rows merge with the stored ones by row key.
    out = mapped(Mapper(UPSERT, form), row, {"orders": orders, "lines": merged})
    assert write(http, out, "upsert") == record_id
    record = read(http, record_id, out)
    assert drifted(form, sent(out), record, merge_tables=out.merge_tables) == []


def test_a_datetime_before_the_year_1000_is_refused_before_any_request(
    http: TestClient,
) -> None:
    """Kintone takes years 1000 to 9999 (docs/mappings.md, limits): such a row never leaves."""
    form = form_of(http)
    row = {"code": "Y-999", "seen_at": datetime(999, 12, 31, 15, 0, tzinfo=UTC)}
    out = Mapper(spec("insert", {"code": "code", "seen_at": "seen_at"}), form).map(row, {})
    assert isinstance(out, list)
    assert [r.field for r in out] == ["seen_at"]
