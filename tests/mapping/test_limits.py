"""The form's rules and Kintone's entry limits, checked by the mapper before any request;
value maps; NUMBER values in the form Kintone stores."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from connector.errors import ConfigError
from connector.mapping import convert
from connector.mapping.form import Form, NumberPrecision
from connector.mapping.mapper import MAX_TABLE_ROWS, Mapper, Outgoing, Refusal
from connector.mapping.spec import MappingSpec, load_mapping

PROPERTIES: dict[str, Any] = {
    "code": {"type": "SINGLE_LINE_TEXT", "code": "code", "unique": True},
    "title": {
        "type": "SINGLE_LINE_TEXT",
        "code": "title",
        "required": True,
        "minLength": "2",
        "maxLength": "10",
    },
    "site": {"type": "LINK", "code": "site", "maxLength": "12", "minLength": ""},
    "ref": {"type": "SINGLE_LINE_TEXT", "code": "ref", "unique": True, "maxLength": "100"},
    "qty": {"type": "NUMBER", "code": "qty", "minValue": "-5", "maxValue": "1000.5"},
    "num": {"type": "NUMBER", "code": "num", "unique": True},
    "day": {"type": "DATE", "code": "day"},
    "seen": {"type": "DATETIME", "code": "seen"},
    "flag": {
        "type": "RADIO_BUTTON",
        "code": "flag",
        "required": True,
        "options": {"yes": {"label": "yes", "index": "0"}, "no": {"label": "no", "index": "1"}},
    },
    "tags": {
        "type": "CHECK_BOX",
        "code": "tags",
        "required": True,
        "options": {"a": {"label": "a", "index": "0"}, "b": {"label": "b", "index": "1"}},
    },
    "owner": {"type": "USER_SELECT", "code": "owner"},
    "product": {
        "type": "SINGLE_LINE_TEXT",
        "code": "product",
        "lookup": {"relatedApp": {"app": "2"}, "relatedKeyField": "sku", "fieldMappings": []},
    },
    "files": {"type": "FILE", "code": "files"},
    "lines": {
        "type": "SUBTABLE",
        "code": "lines",
        "fields": {
            "item": {"type": "SINGLE_LINE_TEXT", "code": "item", "required": True},
            "packer": {"type": "USER_SELECT", "code": "packer"},
        },
    },
}
FORM = Form.from_properties(PROPERTIES)


def mapper(fields: dict[str, Any], form: Form = FORM, **changes: Any) -> Mapper:
    data: dict[str, Any] = {
        "app": 1,
        "source": {"table": "t", "primary_key": ["id"]},
        "mode": "upsert",
        "key": "code",
        "fields": {"code": "id", **fields},
        **changes,
    }
    return Mapper(MappingSpec.model_validate(data), form)


def refusal(fields: dict[str, Any], row: dict[str, Any], form: Form = FORM) -> Refusal:
    out = mapper(fields, form).map({"id": "K1", **row}, {})
    assert isinstance(out, list), out
    (only,) = out
    return only


def record(fields: dict[str, Any], row: dict[str, Any], **changes: Any) -> Outgoing:
    out = mapper(fields, **changes).map({"id": "K1", **row}, {})
    assert isinstance(out, Outgoing), out
    return out


# --- required, length, value ------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, "", float("nan")])
def test_an_empty_required_field_is_refused(value: Any) -> None:
    r = refusal({"title": "t"}, {"t": value})
    assert (r.field, r.code) == ("title", "VALUE")
    assert "the field is required" in r.message


def test_an_empty_required_check_box_is_refused_and_a_radio_button_is_not() -> None:
    assert "required" in refusal({"tags": "t"}, {"t": None}).message
    # Kintone does not enforce `required` on a radio button (docs/kintone-api.md §5.1).
    assert record({"flag": "f"}, {"f": None}).record["flag"] == {"value": None}


@pytest.mark.parametrize(
    ("value", "problem"),
    [("x", "under the field's minimum of 2"), ("x" * 11, "over the field's limit of 10")],
)
def test_text_length_is_checked(value: str, problem: str) -> None:
    assert problem in refusal({"title": "t"}, {"t": value}).message


def test_link_length_is_checked_and_empty_skips_it() -> None:
    assert "over the field's limit of 12" in refusal({"site": "s"}, {"s": "x" * 13}).message
    assert record({"site": "s"}, {"s": ""}).record["site"] == {"value": ""}


def test_a_unique_text_field_holds_64_characters() -> None:
    assert record({"ref": "r"}, {"r": "x" * 64}).record["ref"]["value"] == "x" * 64
    assert "over the field's limit of 64" in refusal({"ref": "r"}, {"r": "x" * 65}).message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (-6, "under the field's minimum of -5"),
        ("1000.51", "over the field's maximum of 1000.5"),
        (Decimal("1e4"), "over the field's maximum"),
    ],
)
def test_number_range_is_checked(value: Any, problem: str) -> None:
    assert problem in refusal({"qty": "q"}, {"q": value}).message


def test_number_range_bounds_are_inclusive() -> None:
    assert record({"qty": "q"}, {"q": "-5"}).record["qty"] == {"value": "-5"}
    assert record({"qty": "q"}, {"q": 1000.5}).record["qty"] == {"value": "1000.5"}


def test_number_digits_follow_the_apps_precision() -> None:
    narrow = Form(FORM.fields, NumberPrecision(digits=16, decimal_places=4))
    assert record({"qty": "q"}, {"q": "999.123456"}, form=narrow)
    r = refusal({"num": "n"}, {"n": "1234567890123"}, form=narrow)
    assert "13 digits before the point, over the app's limit of 12" in r.message
    assert record({"num": "n"}, {"n": "123456789012"}, form=narrow)


def test_without_the_apps_precision_the_widest_setting_applies() -> None:
    assert record({"num": "n"}, {"n": "9" * 30})
    assert "over the app's limit of 30" in refusal({"num": "n"}, {"n": "9" * 31}).message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("day", date(999, 12, 31)),
        ("day", "0999-12-31"),
        ("seen", datetime(999, 12, 31, 23, 0)),
        ("seen", "1000-01-01T08:00:00+09:00"),  # 999-12-31T23:00Z
    ],
)
def test_dates_before_the_year_1000_are_refused(field: str, value: Any) -> None:
    assert "before the year 1000" in refusal({field: "v"}, {"v": value}).message


def test_the_year_1000_and_9999_are_taken() -> None:
    out = record({"day": "d", "seen": "s"}, {"d": "1000-01-01", "s": "9999-12-31T23:59:00Z"})
    assert out.record["day"] == {"value": "1000-01-01"}


def test_a_table_with_too_many_rows_is_refused() -> None:
    m = mapper({}, subtables=table_spec())
    rows = [{"item": f"i{i}", "packer": None} for i in range(MAX_TABLE_ROWS + 1)]
    (r,) = m.map({"id": "K1"}, {"lines": rows})  # type: ignore[misc]
    assert r.field == "lines"
    assert f"at most {MAX_TABLE_ROWS:,}" in r.message
    assert isinstance(m.map({"id": "K1"}, {"lines": rows[:-1]}), Outgoing)


def table_spec() -> dict[str, Any]:
    return {
        "lines": {
            "source": {"table": "l", "parent_key": ["id"]},
            "fields": {"item": "item", "packer": "packer"},
        }
    }


def test_an_empty_required_table_cell_names_its_row() -> None:
    m = mapper({}, subtables=table_spec())
    lines = [{"item": "a", "packer": None}, {"item": None, "packer": None}]
    (r,) = m.map({"id": "K1"}, {"lines": lines})  # type: ignore[misc]
    assert r.field == "lines[1].item"
    assert "required" in r.message


def test_a_file_over_1_gb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # 1 GB of test data is too much; the limit is lowered to show the check.
    monkeypatch.setattr(convert, "MAX_FILE_BYTES", 10)
    assert "at most 1 GB" in refusal({"files": "f"}, {"f": b"x" * 11}).message
    assert record({"files": "f"}, {"f": b"x" * 10})


# --- values only Kintone can check ------------------------------------------------------------


def test_users_and_lookup_values_are_noted_for_the_writer() -> None:
    m = mapper({"owner": "o", "product": "p"}, subtables=table_spec())
    out = m.map(
        {"id": "K1", "o": "ann,ben", "p": "P-1"},
        {"lines": [{"item": "a", "packer": "cy"}]},
    )
    assert isinstance(out, Outgoing)
    assert out.refs == {
        ("user", "ann", "owner"),
        ("user", "ben", "owner"),
        ("lookup:product", "P-1", "product"),
        ("user", "cy", "lines[0].packer"),
    }


# --- value maps -------------------------------------------------------------------------------


def flag_map(**extra: Any) -> dict[str, Any]:
    return {"flag": {"column": "f", "map": {True: "yes", False: "no"}, **extra}}


@pytest.mark.parametrize(("value", "label"), [(True, "yes"), (False, "no"), ("true", "yes")])
def test_a_value_map_turns_flags_into_options(value: Any, label: str) -> None:
    assert record(flag_map(), {"f": value}).record["flag"] == {"value": label}


def test_an_unmapped_value_is_refused_with_the_fix() -> None:
    r = refusal(flag_map(), {"f": "maybe"})
    assert r.field == "flag"
    assert "'maybe' is not in the field's value map" in r.message
    assert "add it to map:" in r.message


def test_default_takes_unmapped_values_and_null_stays_empty() -> None:
    assert record(flag_map(default="no"), {"f": "maybe"}).record["flag"] == {"value": "no"}
    assert record(flag_map(), {"f": None}).record["flag"] == {"value": None}


def test_a_null_key_maps_null() -> None:
    fields = {"flag": {"column": "f", "map": {None: "no", 1: "yes"}}}
    assert record(fields, {"f": None}).record["flag"] == {"value": "no"}
    assert record(fields, {"f": Decimal("1.0")}).record["flag"] == {"value": "yes"}


def test_a_mapped_value_still_meets_the_form() -> None:
    fields = {"flag": {"column": "f", "map": {"y": "perhaps"}}}
    assert "not an option of the field" in refusal(fields, {"f": "y"}).message


def test_default_needs_a_map() -> None:
    with pytest.raises(ValueError, match="default applies to values a map does not list"):
        mapper({"flag": {"column": "f", "default": "no"}})


def test_a_value_map_in_a_mapping_file(tmp_path: Any) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "app: 1\nsource: {table: t, primary_key: [id]}\nkey: code\n"
        "fields:\n  code: id\n  flag: {column: in_stock, map: {true: 'yes', false: 'no'}}\n",
        encoding="utf-8",
    )
    spec = load_mapping(path)
    out = Mapper(spec, FORM).map({"id": "K1", "in_stock": False}, {})
    assert isinstance(out, Outgoing)
    assert out.record["flag"] == {"value": "no"}


def test_an_unknown_map_key_type_is_a_config_error(tmp_path: Any) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "app: 1\nsource: {table: t, primary_key: [id]}\nkey: code\n"
        "fields:\n  code: id\n  flag: {column: f, map: [yes, no]}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match="fields.flag.map"):
        load_mapping(path)


# --- NUMBER keys ------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "key"), [("+3", "3"), ("1e2", "100"), (" 42 ", "42")])
def test_a_number_key_is_written_as_kintone_stores_it(value: str, key: str) -> None:
    out = mapper({"num": "n"}, key="num").map({"id": "K1", "n": value}, {})
    assert isinstance(out, Outgoing)
    assert out.key_value == key
