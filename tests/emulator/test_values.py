"""Per-type value formats and validation, with Kintone's error keys and messages.

Source: docs/kintone-api.md §5.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.emulator.errors import ApiError
from connector.emulator.schema import FieldDef
from connector.emulator.store import Directory, Entity
from connector.emulator.values import ValueContext, check, convert, default_value


def field(ftype: str, **prop: Any) -> FieldDef:
    return FieldDef.from_property({"code": "f", "type": ftype, **prop})


def run(f: FieldDef, raw: Any, *, in_table: bool = False) -> tuple[Any, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    directory = Directory(users={"alice": Entity("alice", "Alice")})
    ctx = ValueContext(errors=errors, directory=directory, attach=lambda key: None)
    return convert(f, raw, "record.f", ctx, in_table=in_table), errors


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("123.45", "123.45"),
        (7, "7"),
        (" 42 ", "42"),
        ("1.5e1", "15"),
        ("+3", "3"),
        ("-0.5", "-0.5"),
        ("", ""),
        (None, ""),
        ("12345678901234567890.123456789", "12345678901234567890.123456789"),
    ],
)
def test_number_is_stored_as_normalised_string(raw: Any, stored: str) -> None:
    assert run(field("NUMBER"), raw) == (stored, {})


def test_non_numeric_number_has_both_observed_keys() -> None:
    value, errors = run(field("NUMBER"), "12a")
    assert value == ""
    assert errors == {
        "record.f.value": ["Required."],
        "record[f].value": ["Only numbers are allowed."],
    }


def test_non_numeric_number_in_table_is_silently_empty() -> None:
    assert run(field("NUMBER"), "abc", in_table=True) == ("", {})


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("2015", "2015-01-01"), ("2015-7", "2015-07-01"), ("2015-7-5", "2015-07-05"), ("", None)],
)
def test_date_partial_forms_are_padded(raw: str, stored: str | None) -> None:
    assert run(field("DATE"), raw) == (stored, {})


def test_impossible_date_is_refused() -> None:
    value, errors = run(field("DATE"), "2023-02-30")
    assert value is None
    assert list(errors) == ["record.f.value"]


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("2024-03-01T10:20:59Z", "2024-03-01T10:20:00Z"),
        ("2024-03-01T10:20:00+09:00", "2024-03-01T01:20:00Z"),
        ("2024-03-01", "2024-03-01T00:00:00Z"),
        ("2024-03-01T23:30:00-01:00", "2024-03-02T00:30:00Z"),
    ],
)
def test_datetime_goes_to_utc_with_seconds_dropped(raw: str, stored: str) -> None:
    assert run(field("DATETIME"), raw) == (stored, {})


def test_time_keeps_hours_and_minutes() -> None:
    assert run(field("TIME"), "09:05:30") == ("09:05", {})
    assert run(field("TIME"), "25:00")[1] == {"record.f.value": ["Enter a valid time (HH:MM)."]}


OPTIONS = {"options": {"a": {"label": "a", "index": "0"}, "b": {"label": "b", "index": "1"}}}


def test_check_box_options_are_keyed_by_index() -> None:
    value, errors = run(field("CHECK_BOX", **OPTIONS), ["a", "z", "b"])
    assert value == ["a", "b"]
    assert errors == {"record.f.values[1].value": ['The value, "z", is not in options.']}


def test_drop_down_option_error_key() -> None:
    _, errors = run(field("DROP_DOWN", **OPTIONS), "z")
    assert errors == {"record.f.value": ['The value, "z", is not in options.']}
    assert run(field("DROP_DOWN", **OPTIONS), None) == (None, {})


def test_user_select_resolves_names_and_refuses_unknown_codes() -> None:
    assert run(field("USER_SELECT"), [{"code": "alice"}]) == (
        [{"code": "alice", "name": "Alice"}],
        {},
    )
    with pytest.raises(ApiError) as caught:
        run(field("USER_SELECT"), [{"code": "mallory"}])
    assert caught.value.code == "GAIA_IL26"
    assert "mallory" in caught.value.message


def test_file_with_unknown_upload_key_is_bl01() -> None:
    with pytest.raises(ApiError) as caught:
        run(field("FILE"), [{"fileKey": "nope"}])
    assert caught.value.code == "GAIA_BL01"


@pytest.mark.parametrize(
    ("ftype", "stored", "key"),
    [
        ("SINGLE_LINE_TEXT", "", "record.f.value"),
        ("NUMBER", "", "record.f.value"),
        ("DATE", None, "record.f.value"),
        ("CHECK_BOX", [], "record.f.values"),
        ("FILE", [], "record.f.values"),
        ("USER_SELECT", [], "record.f.values.value"),
        ("ORGANIZATION_SELECT", [], "record.f.values.value"),
    ],
)
def test_required_keys_per_type(ftype: str, stored: Any, key: str) -> None:
    errors: dict[str, list[str]] = {}
    check(field(ftype, required=True), stored, "record.f", errors)
    assert errors == {key: ["Required."]}


def test_radio_button_required_is_not_enforced() -> None:
    errors: dict[str, list[str]] = {}
    check(field("RADIO_BUTTON", required=True, **OPTIONS), None, "record.f", errors)
    assert errors == {}


def test_length_bounds_count_characters() -> None:
    f = field("SINGLE_LINE_TEXT", maxLength="3", minLength="2")
    errors: dict[str, list[str]] = {}
    check(f, "日本語", "record.f", errors)
    assert errors == {}
    check(f, "日本語!", "record.f", errors)
    check(f, "x", "record.g", errors)
    assert errors == {
        "record.f.value": ["Enter less than 4 characters."],
        "record.g.value": ["Enter more than 1 characters."],
    }


def test_value_bounds() -> None:
    f = field("NUMBER", minValue="-1.5", maxValue="10")
    errors: dict[str, list[str]] = {}
    check(f, "10", "record.a", errors)
    check(f, "10.01", "record.b", errors)
    check(f, "-2", "record.c", errors)
    assert errors == {
        "record.b.value": ["The value must be 10 or less."],
        "record.c.value": ["The value must be -1.5 or more."],
    }


def test_defaults_per_type() -> None:
    assert default_value(field("NUMBER", defaultValue="5")) == "5"
    assert default_value(field("CHECK_BOX", defaultValue=["a"], **OPTIONS)) == ["a"]
    assert default_value(field("DROP_DOWN", defaultValue="", **OPTIONS)) is None
    assert len(default_value(field("DATE", defaultNowValue=True))) == 10


# --- through the API: keys with the records[i] prefix and the subtable path -------------------


def test_bulk_errors_name_the_record_and_field(client: TestClient) -> None:
    records = [
        {"code": {"value": "A"}, "qty": {"value": "5"}},
        {
            "code": {"value": "B"},
            "tags": {"value": ["a", "zz"]},
            "region": {"value": "north"},
            "born": {"value": "1990-13-01"},
        },
    ]
    resp = client.post("/k/v1/records.json", json={"app": 1, "records": records})
    assert resp.status_code == 400
    errors = resp.json()["errors"]
    assert errors["records[1].tags.values[1].value"] == {
        "messages": ['The value, "zz", is not in options.']
    }
    assert errors["records[1].region.value"] == {
        "messages": ['The value, "north", is not in options.']
    }
    assert "records[1].born.value" in errors
    assert not any(key.startswith("records[0]") for key in errors)


def test_user_org_group_values_round_trip(client: TestClient) -> None:
    record = {
        "code": {"value": "U"},
        "owner": {"value": [{"code": "alice"}, {"code": "bob"}]},
        "dept": {"value": [{"code": "sales"}]},
        "team": {"value": [{"code": "staff"}]},
    }
    resp = client.post("/k/v1/record.json", json={"app": 1, "record": record})
    assert resp.status_code == 200, resp.text
    got = client.get("/k/v1/record.json", params={"app": 1, "id": resp.json()["id"]}).json()
    values = got["record"]
    assert values["owner"]["value"] == [
        {"code": "alice", "name": "Alice"},
        {"code": "bob", "name": "Bob"},
    ]
    assert values["dept"]["value"] == [{"code": "sales", "name": "Sales"}]
    assert values["team"]["value"] == [{"code": "staff", "name": "Staff"}]


def test_unknown_organization_refuses_the_request(client: TestClient) -> None:
    record = {"code": {"value": "U"}, "dept": {"value": [{"code": "nowhere"}]}}
    resp = client.post("/k/v1/record.json", json={"app": 1, "record": record})
    assert resp.status_code == 400
    assert resp.json()["code"] == "GAIA_IL28"
