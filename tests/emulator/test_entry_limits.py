"""Kintone's documented entry limits: unique text length, NUMBER digits, date years, body size."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.emulator import Seed, create_app
from connector.emulator.schema import FieldDef
from connector.emulator.store import Directory
from connector.emulator.values import NumberPrecision, ValueContext, check, convert

from .conftest import BASE_URL, error, make_client


def field(ftype: str, **prop: Any) -> FieldDef:
    return FieldDef.from_property({"code": "f", "type": ftype, **prop})


def run(
    f: FieldDef, raw: Any, precision: NumberPrecision | None = None, *, in_table: bool = False
) -> tuple[Any, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    ctx = ValueContext(
        errors=errors,
        directory=Directory(),
        attach=lambda key: None,
        precision=precision or NumberPrecision(),
    )
    value = convert(f, raw, "record.f", ctx, in_table=in_table)
    if not errors:
        check(f, value, "record.f", errors)
    return value, errors


KINTONE_DEFAULT = NumberPrecision(digits=16, decimal_places=4, excess_decimals="reject")
STRICT = NumberPrecision(excess_decimals="reject")


@pytest.mark.parametrize(
    ("raw", "precision", "stored"),
    [
        ("1" * 20, None, "1" * 20),
        ("1" * 20 + "." + "1" * 10, None, "1" * 20 + "." + "1" * 10),
        ("-" + "9" * 20, None, "-" + "9" * 20),
        ("0000000000000000000000000001", None, "0000000000000000000000000001"),
        ("1.50000000000000", None, "1.50000000000000"),  # trailing zeros are not digits
        ("1e19", None, "10000000000000000000"),
        ("0E-12", STRICT, "0"),  # zero has no digits, however it is written
        ("0." + "1" * 12, None, "0." + "1" * 12),  # kept by default
        ("5e-324", None, "0." + "0" * 323 + "5"),
        ("1" * 12, KINTONE_DEFAULT, "1" * 12),
        ("0.1234", KINTONE_DEFAULT, "0.1234"),
    ],
)
def test_numbers_within_the_precision_are_stored(
    raw: str, precision: NumberPrecision | None, stored: str
) -> None:
    assert run(field("NUMBER"), raw, precision) == (stored, {})


@pytest.mark.parametrize(
    ("raw", "precision", "message"),
    [
        ("1" * 21, None, "Enter at most 20 digits before the decimal point."),
        ("1e20", None, "Enter at most 20 digits before the decimal point."),
        ("1e300000000", None, "Enter at most 20 digits before the decimal point."),
        ("1e-300000000", None, "Enter at most 1000 digits after the decimal point."),
        ("0." + "1" * 1001, None, "Enter at most 1000 digits after the decimal point."),
        ("1e-300000000", STRICT, "Enter at most 10 digits after the decimal point."),
        ("0." + "1" * 11, STRICT, "Enter at most 10 digits after the decimal point."),
        ("1" * 13, KINTONE_DEFAULT, "Enter at most 12 digits before the decimal point."),
        ("0.12345", KINTONE_DEFAULT, "Enter at most 4 digits after the decimal point."),
    ],
)
def test_numbers_past_the_precision_are_refused(
    raw: str, precision: NumberPrecision | None, message: str
) -> None:
    assert run(field("NUMBER"), raw, precision) == ("", {"record.f.value": [message]})


def test_excess_decimals_can_be_rounded_half_to_even_or_kept() -> None:
    rounding = NumberPrecision(16, 4, "round")
    assert run(field("NUMBER"), "0.12345", rounding) == ("0.1234", {})
    assert run(field("NUMBER"), "0.12355", rounding) == ("0.1236", {})
    assert run(field("NUMBER"), "2.50000", NumberPrecision(16, 0, "round")) == ("2", {})
    keeping = NumberPrecision(16, 4, "keep")
    assert run(field("NUMBER"), "0.12345", keeping) == ("0.12345", {})
    assert run(field("NUMBER"), "1" * 13, keeping)[1] != {}  # the integer part is never kept


def test_a_huge_exponent_is_refused_at_once() -> None:
    started = time.perf_counter()
    run(field("NUMBER"), "1e999999999999999999")
    run(field("NUMBER"), "9" * 100_000 + "x")  # no quadratic backtracking in the pattern
    assert time.perf_counter() - started < 1.0


def test_a_number_past_the_precision_in_a_table_is_refused_not_emptied() -> None:
    value, errors = run(field("NUMBER"), "1" * 25, in_table=True)
    assert value == ""
    assert errors == {"record.f.value": ["Enter at most 20 digits before the decimal point."]}


@pytest.mark.parametrize("ftype", ["SINGLE_LINE_TEXT", "LINK"])
def test_unique_text_holds_at_most_64_characters(ftype: str) -> None:
    unique = field(ftype, unique=True)
    assert run(unique, "あ" * 64) == ("あ" * 64, {})
    assert run(unique, "a" * 65) == (
        "a" * 65,
        {"record.f.value": ["Enter less than 65 characters."]},
    )
    assert run(field(ftype), "a" * 65) == ("a" * 65, {})  # not unique: no bound
    tighter = field(ftype, unique=True, maxLength="10")
    assert run(tighter, "a" * 11)[1] == {"record.f.value": ["Enter less than 11 characters."]}
    looser = field(ftype, unique=True, maxLength="100")
    assert run(looser, "a" * 65)[1] == {"record.f.value": ["Enter less than 65 characters."]}


@pytest.mark.parametrize(
    ("raw", "ok"),
    [("1000-01-01", True), ("9999-12-31", True), ("0999-12-31", False), ("0001-01-01", False)],
)
def test_dates_run_from_year_1000_to_9999(raw: str, ok: bool) -> None:
    value, errors = run(field("DATE"), raw)
    if ok:
        assert (value, errors) == (raw, {})
    else:
        assert errors == {"record.f.value": ["Enter a date between 1000-01-01 and 9999-12-31."]}


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("1000-01-01T00:00:00Z", "1000-01-01T00:00:00Z"),
        ("9999-12-31T23:59:00Z", "9999-12-31T23:59:00Z"),
        ("1000-01-01T08:59:00+09:00", None),  # 0999-12-31T23:59Z
        ("9999-12-31T20:00:00-05:00", None),  # past 9999 in UTC
        ("0001-01-01T00:00:00+09:00", None),  # before year 1 in UTC
        ("0500-06-01T00:00:00Z", None),
    ],
)
def test_datetimes_run_from_1000_to_9999_in_utc(raw: str, stored: str | None) -> None:
    value, errors = run(field("DATETIME"), raw)
    assert value == stored
    assert bool(errors) is (stored is None)


def test_a_too_large_body_is_413_in_kintone_shape(seed: Seed) -> None:
    with make_client(seed, max_body_bytes=4096) as c:
        big = {"app": 1, "record": {"code": {"value": "B1"}, "note": {"value": "x" * 5000}}}
        resp = c.post("/k/v1/record.json", json=big)
        body = error(resp, 413, "CB_TL01")
        assert "4096 bytes" in body["message"]
        small = {"app": 1, "record": {"code": {"value": "B1"}, "note": {"value": "x" * 100}}}
        assert c.post("/k/v1/record.json", json=small).status_code == 200


def test_a_body_without_content_length_is_counted_as_it_is_read(seed: Seed) -> None:
    def chunks() -> Any:
        yield b'{"app": 1, "record": {"note": {"value": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}}}'

    with make_client(seed, max_body_bytes=4096) as c:
        error(c.post("/k/v1/record.json", content=chunks()), 413, "CB_TL01")


def test_uploads_have_their_own_bound(seed: Seed) -> None:
    with make_client(seed, max_body_bytes=1024, max_file_bytes=8192) as c:
        ok = c.post("/k/v1/file.json", files={"file": ("a.bin", b"x" * 4096)})
        assert ok.status_code == 200
        big = c.post("/k/v1/file.json", files={"file": ("a.bin", b"x" * 100_000)})
        error(big, 413, "CB_TL01")


def test_precision_switches_apply_through_the_api(seed: Seed) -> None:
    with make_client(
        seed, number_digits=16, number_decimal_places=4, number_excess_decimals="reject"
    ) as c:
        record = {"code": {"value": "P1"}, "serial": {"value": "1" * 13}}
        body = error(c.post("/k/v1/record.json", json={"app": 1, "record": record}), 400, "CB_VA01")
        assert body["errors"] == {
            "record.serial.value": {
                "messages": ["Enter at most 12 digits before the decimal point."]
            }
        }


def test_the_default_precision_is_the_widest_an_app_allows(seed: Seed) -> None:
    app = create_app(seed)
    options = app.state.emulator.options
    assert (options.number_digits, options.number_decimal_places) == (30, 10)
    with TestClient(app, base_url=BASE_URL) as c:
        c.headers["X-Cybozu-API-Token"] = "full-token"
        widest = "12345678901234567890.1234567891"
        record = {"code": {"value": "W1"}, "serial": {"value": widest}}
        assert c.post("/k/v1/record.json", json={"app": 1, "record": record}).status_code == 200
        stored = c.get("/_emulator/records", params={"app": 1}).json()["records"][0]
        assert stored["serial"]["value"] == widest
        assert re.fullmatch(r"[0-9.]+", stored["serial"]["value"])


def test_a_url_past_8_kb_is_414_and_the_override_header_avoids_it(seed: Seed) -> None:
    with make_client(seed) as c:
        query = 'code in ("' + "x" * 9000 + '")'
        long = c.get("/k/v1/records.json", params={"app": 1, "query": query})
        body = error(long, 414, "CB_TL02")
        assert "X-HTTP-Method-Override" in body["message"]
        headers = {"X-HTTP-Method-Override": "GET"}
        posted = c.post("/k/v1/records.json", json={"app": 1, "query": query}, headers=headers)
        assert posted.status_code == 200
        fits = 'code in ("' + "x" * 7000 + '")'
        assert c.get("/k/v1/records.json", params={"app": 1, "query": fits}).status_code == 200
