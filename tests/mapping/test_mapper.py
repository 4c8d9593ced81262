"""The mapper: rows and child rows to record payloads, constants, templates, keys and refusals."""

from __future__ import annotations

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from connector.errors import ConfigError
from connector.mapping.form import Form
from connector.mapping.mapper import Mapper, Outgoing, Refusal, RowKey
from connector.mapping.spec import MappingSpec

FORM = Form.from_properties(
    {
        "code": {"type": "SINGLE_LINE_TEXT", "code": "code", "unique": True, "maxLength": "8"},
        "title": {"type": "SINGLE_LINE_TEXT", "code": "title"},
        "qty": {"type": "NUMBER", "code": "qty"},
        "seen": {"type": "DATETIME", "code": "seen"},
        "kind": {
            "type": "DROP_DOWN",
            "code": "kind",
            "options": {"a": {"label": "a", "index": "0"}, "b": {"label": "b", "index": "1"}},
        },
        "Created_by": {"type": "CREATOR", "code": "Created_by"},
        "total": {"type": "CALC", "code": "total"},
        "lines": {
            "type": "SUBTABLE",
            "code": "lines",
            "fields": {
                "item": {"type": "SINGLE_LINE_TEXT", "code": "item"},
                "n": {"type": "NUMBER", "code": "n"},
            },
        },
    }
)


def spec(**changes: Any) -> MappingSpec:
    data: dict[str, Any] = {
        "app": 1,
        "source": {"table": "t", "primary_key": ["id"]},
        "mode": "upsert",
        "key": "code",
        "fields": {"code": "id", "qty": "qty"},
    }
    data.update(changes)
    return MappingSpec.model_validate(data)


def test_upsert_moves_the_key_out_of_the_record() -> None:
    out = Mapper(spec(), FORM).map({"id": "K1", "qty": Decimal("1.50")}, {})
    assert out == Outgoing(RowKey.of(["K1"]), "K1", {"qty": {"value": "1.50"}})


def test_insert_keeps_the_key_in_the_record_and_skips_empty_creator() -> None:
    fields = {"code": "id", "Created_by": "who"}
    mapper = Mapper(spec(mode="insert", fields=fields), FORM)
    out = mapper.map({"id": "K1", "who": None}, {})
    assert isinstance(out, Outgoing)
    assert out.record == {"code": {"value": "K1"}}
    out = mapper.map({"id": "K2", "who": "alice"}, {})
    assert isinstance(out, Outgoing)
    assert out.record["Created_by"] == {"value": {"code": "alice"}}


def test_constants_and_templates() -> None:
    fields = {
        "code": "id",
        "kind": {"value": "b"},
        "title": {"template": "{first} {last} ({id})"},
    }
    out = Mapper(spec(fields=fields), FORM).map({"id": "K1", "first": "Ann", "last": math.nan}, {})
    assert isinstance(out, Outgoing)
    assert out.record == {"kind": {"value": "b"}, "title": {"value": "Ann  (K1)"}}


def test_naive_datetimes_use_the_field_zone_over_the_mapping_zone() -> None:
    fields = {"code": "id", "seen": {"column": "at", "timezone": "America/New_York"}}
    out = Mapper(spec(fields=fields, timezone="Asia/Tokyo"), FORM).map(
        {"id": "K1", "at": datetime(2024, 1, 1, 12, 0)}, {}
    )
    assert isinstance(out, Outgoing)
    assert out.record["seen"] == {"value": "2024-01-01T17:00:00Z"}


def test_every_bad_value_of_a_row_is_refused_together() -> None:
    fields = {"code": "id", "qty": "qty", "kind": "kind", "title": {"template": "{nope}"}}
    out = Mapper(spec(fields=fields), FORM).map({"id": "K1", "qty": "12x", "kind": "z"}, {})
    assert isinstance(out, list)
    assert [(r.field, r.code) for r in out] == [
        ("qty", "VALUE"),
        ("kind", "VALUE"),
        ("title", "VALUE"),
    ]
    assert all(r.key.values == ("K1",) for r in out)


def test_empty_key_is_refused_not_inserted() -> None:
    out = Mapper(spec(), FORM).map({"id": "", "qty": 1}, {})
    assert out == [
        Refusal(
            RowKey.of([""]),
            "code",
            "EMPTY_KEY",
            "the key field 'code' is empty for this row; a record without a key cannot be "
            "matched, so it is not written",
        )
    ]


def test_record_id_key() -> None:
    mapper = Mapper(spec(key="$id", fields={"$id": "kid", "qty": "qty"}), FORM)
    out = mapper.map({"id": 1, "kid": 42, "qty": 3}, {})
    assert isinstance(out, Outgoing)
    assert (out.key_value, out.record) == (42, {"qty": {"value": "3"}})
    bad = mapper.map({"id": 1, "kid": "x1", "qty": 3}, {})
    assert isinstance(bad, list)
    assert bad[0].field == "$id"


def test_subtable_rows_in_order_and_child_errors_named_by_row() -> None:
    tables = {
        "lines": {
            "source": {"table": "c", "parent_key": ["pid"]},
            "fields": {"item": "item", "n": "n"},
        }
    }
    mapper = Mapper(spec(subtables=tables), FORM)
    children = {"lines": [{"item": "pen", "n": 2}, {"item": "ink", "n": None}]}
    out = mapper.map({"id": "K1", "qty": 1}, children)
    assert isinstance(out, Outgoing)
    assert out.record["lines"] == {
        "value": [
            {"value": {"item": {"value": "pen"}, "n": {"value": "2"}}},
            {"value": {"item": {"value": "ink"}, "n": {"value": ""}}},
        ]
    }
    bad = mapper.map({"id": "K1", "qty": 1}, {"lines": [{"item": "a", "n": "NaN!"}]})
    assert isinstance(bad, list)
    assert bad[0].field == "lines[0].n"
    none = mapper.map({"id": "K2", "qty": 1}, {})
    assert isinstance(none, Outgoing)
    assert none.record["lines"] == {"value": []}  # no child rows: the table is emptied


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"code": "id", "ghost": "x"}, "the app has no field 'ghost'"),
        ({"code": "id", "total": "x"}, "cannot be written"),
        ({"code": "id", "item": "x"}, "it sits in table 'lines'"),
    ],
)
def test_mapper_refuses_fields_it_cannot_write(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Mapper(spec(fields=fields), FORM)
