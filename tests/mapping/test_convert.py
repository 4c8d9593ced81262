"""Column values to Kintone write values, type by type, as kintone-api.md §1 and §5.1 describe."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from connector.errors import ValueRejectedError
from connector.mapping.convert import ConvertOptions, FileUpload, converter
from connector.mapping.fields import FieldType

T = FieldType
NAN = float("nan")
TOKYO = ConvertOptions(timezone=ZoneInfo("Asia/Tokyo"))
PLUS_5_30 = timezone(timedelta(hours=5, minutes=30))
DIGITS_30 = "12345678901234567890.1234567890123"


def convert(field_type: FieldType, value: Any, options: ConvertOptions | None = None) -> Any:
    return converter(field_type, options or ConvertOptions())(value)


def rejected(field_type: FieldType, value: Any, options: ConvertOptions | None = None) -> str:
    with pytest.raises(ValueRejectedError) as info:
        convert(field_type, value, options)
    return str(info.value)


TEXT_CASES = [
    (None, ""),
    (NAN, ""),
    ("", ""),
    ("  keep spaces  ", "  keep spaces  "),
    ("東京 🍣", "東京 🍣"),
    (42, "42"),
    (-7, "-7"),
    (True, "true"),
    (False, "false"),
    (Decimal(DIGITS_30), DIGITS_30),
    (Decimal("1E+3"), "1000"),
    (0.1, "0.1"),
    (1e-7, "0.0000001"),
    (1e20, "100000000000000000000"),
    (2.5, "2.5"),
    (date(2024, 2, 29), "2024-02-29"),
    (datetime(2024, 2, 29, 9, 30), "2024-02-29T09:30:00"),
    (datetime(2024, 2, 29, 9, 30, tzinfo=PLUS_5_30), "2024-02-29T09:30:00+05:30"),
    (time(9, 5), "09:05:00"),
]


@pytest.mark.parametrize("field_type", [T.SINGLE_LINE_TEXT, T.MULTI_LINE_TEXT, T.RICH_TEXT, T.LINK])
@pytest.mark.parametrize(("value", "expected"), TEXT_CASES)
def test_text_types(field_type: FieldType, value: Any, expected: str) -> None:
    assert convert(field_type, value) == expected


@pytest.mark.parametrize("field_type", [T.MULTI_LINE_TEXT, T.RICH_TEXT])
def test_multi_line_types_keep_line_breaks(field_type: FieldType) -> None:
    assert convert(field_type, "one\ntwo\r\n") == "one\ntwo\r\n"


@pytest.mark.parametrize("value", ["one\ntwo", "one\r\ntwo", "trailing\n"])
def test_single_line_text_rejects_line_breaks(value: str) -> None:
    message = rejected(T.SINGLE_LINE_TEXT, value)
    assert message.startswith(repr(value))
    assert "line break" in message
    assert "MULTI_LINE_TEXT" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [("a" * 10, "a" * 10), ("🍣" * 10, "🍣" * 10), ("東" * 9, "東" * 9), ("", "")],
)
def test_single_line_text_at_the_length_limit(value: str, expected: str) -> None:
    assert convert(T.SINGLE_LINE_TEXT, value, ConvertOptions(max_length=10)) == expected


def test_single_line_text_one_over_the_limit() -> None:
    message = rejected(T.SINGLE_LINE_TEXT, "a" * 11, ConvertOptions(max_length=10))
    assert message == (
        "'aaaaaaaaaaa' has 11 characters, over the field's limit of 10; "
        "shorten it or raise the field's maximum length"
    )


def test_text_rejects_a_list_and_truncates_the_shown_value() -> None:
    message = rejected(T.MULTI_LINE_TEXT, ["x" * 100])
    assert message.startswith("['" + "x" * 55 + "...")
    assert "is not text" in message


NUMBER_CASES = [
    (None, ""),
    (NAN, ""),
    (Decimal("NaN"), ""),
    ("", ""),
    ("   ", ""),
    (0, "0"),
    (-12, "-12"),
    (10**30, "1" + "0" * 30),
    (Decimal(DIGITS_30), DIGITS_30),
    (Decimal("-" + DIGITS_30), "-" + DIGITS_30),
    (Decimal("12345678901234567890.123456789"), "12345678901234567890.123456789"),
    (Decimal("1E+3"), "1000"),
    (Decimal("1.5E-3"), "0.0015"),
    (Decimal("-0.00"), "-0.00"),
    (Decimal("100.50"), "100.50"),
    (0.1, "0.1"),
    (1e-7, "0.0000001"),
    (1e20, "100000000000000000000"),
    (-2.5, "-2.5"),
    (" 42 ", "42"),
    ("+3.14", "3.14"),  # Kintone stores numbers without the plus sign and the exponent
    ("+3", "3"),
    ("-.5", "-.5"),
    ("7.", "7."),
    ("1.5e1", "15"),
    ("2E-3", "0.002"),
    ("1e2", "100"),
    (" 42 ", "42"),
]


@pytest.mark.parametrize(("value", "expected"), NUMBER_CASES)
def test_number(value: Any, expected: str) -> None:
    assert convert(T.NUMBER, value) == expected


@pytest.mark.parametrize("value", ["12a", "1,000", "0x1F", "1e", ".", "--1", "１２", "1 2", "e5"])
def test_number_rejects_bad_strings(value: str) -> None:
    assert rejected(T.NUMBER, value) == (
        f"{value!r} is not a number; NUMBER fields take digits, a sign, a point and an exponent"
    )


@pytest.mark.parametrize("value", [True, False])
def test_number_rejects_booleans(value: bool) -> None:
    assert rejected(T.NUMBER, value) == (
        f"{value!r} is a boolean; cast it to 1/0 in the query for a NUMBER field"
    )


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), Decimal("Infinity")])
def test_number_rejects_infinity(value: Any) -> None:
    assert "is not a finite number" in rejected(T.NUMBER, value)


def test_number_rejects_other_types() -> None:
    assert "is not a number" in rejected(T.NUMBER, date(2024, 1, 1))


DATE_CASES = [
    (None, None, None),
    (NAN, None, None),
    ("", None, None),
    (date(2024, 2, 29), None, "2024-02-29"),
    ("2024-02-29", None, "2024-02-29"),
    (" 2024-02-29 ", None, "2024-02-29"),
    (datetime(2024, 5, 1, 23, 30), TOKYO, "2024-05-01"),  # naive: already wall-clock time
    (datetime(2024, 5, 1, 20, 0, tzinfo=UTC), TOKYO, "2024-05-02"),
    (datetime(2024, 5, 1, 20, 0, tzinfo=UTC), None, "2024-05-01"),
    (datetime(2024, 5, 2, 1, 0, tzinfo=PLUS_5_30), None, "2024-05-01"),
]


@pytest.mark.parametrize(("value", "options", "expected"), DATE_CASES)
def test_date(value: Any, options: ConvertOptions | None, expected: str | None) -> None:
    assert convert(T.DATE, value, options) == expected


@pytest.mark.parametrize(
    "value",
    [
        "2023-02-29",
        "2024-13-01",
        "2024/05/01",
        "20240501",
        "2024-5-1",
        "２０２４-０５-０１",
        "soon",
        20240501,
    ],
)
def test_date_rejects_bad_values(value: Any) -> None:
    assert rejected(T.DATE, value) == (
        f"{value!r} is not a date; DATE fields take a real date written YYYY-MM-DD"
    )


TIME_CASES = [
    (None, None, None),
    (NAN, None, None),
    ("", None, None),
    (time(9, 5, 59), None, "09:05"),
    (time(23, 59), None, "23:59"),
    ("07:30", None, "07:30"),
    ("07:30:45", None, "07:30"),
    (datetime(2024, 5, 1, 18, 45, 10), TOKYO, "18:45"),
    (datetime(2024, 5, 1, 0, 15, tzinfo=UTC), TOKYO, "09:15"),
]


@pytest.mark.parametrize(("value", "options", "expected"), TIME_CASES)
def test_time(value: Any, options: ConvertOptions | None, expected: str | None) -> None:
    assert convert(T.TIME, value, options) == expected


@pytest.mark.parametrize("value", ["24:00", "12:60", "7:30", "０７:３０", "noon", "07:30:61", 730])
def test_time_rejects_bad_values(value: Any) -> None:
    assert rejected(T.TIME, value) == (
        f"{value!r} is not a time of day; TIME fields take HH:MM or HH:MM:SS"
    )


DATETIME_CASES = [
    (None, None, None),
    (NAN, None, None),
    ("", None, None),
    (datetime(2024, 5, 1, 9, 30, 15), None, "2024-05-01T09:30:15Z"),
    (datetime(2024, 5, 1, 9, 30, 15), TOKYO, "2024-05-01T00:30:15Z"),
    (datetime(2024, 1, 1, 3, 0), TOKYO, "2023-12-31T18:00:00Z"),
    (datetime(2024, 5, 1, 9, 30, tzinfo=UTC), TOKYO, "2024-05-01T09:30:00Z"),
    (datetime(2024, 5, 1, 9, 30, tzinfo=PLUS_5_30), TOKYO, "2024-05-01T04:00:00Z"),
    (
        datetime(2024, 5, 1, 9, 30, tzinfo=ZoneInfo("America/New_York")),
        None,
        "2024-05-01T13:30:00Z",
    ),
    (date(2024, 5, 1), TOKYO, "2024-04-30T15:00:00Z"),
    (date(2024, 5, 1), None, "2024-05-01T00:00:00Z"),
    ("2024-05-01T09:30:00Z", TOKYO, "2024-05-01T09:30:00Z"),
    ("2024-05-01T09:30:00+09:00", None, "2024-05-01T00:30:00Z"),
    ("2024-05-01T09:30:00-03:00", None, "2024-05-01T12:30:00Z"),
    ("2024-05-01T09:30:00", TOKYO, "2024-05-01T00:30:00Z"),
    ("2024-05-01 09:30", TOKYO, "2024-05-01T00:30:00Z"),
    ("2024-05-01", TOKYO, "2024-04-30T15:00:00Z"),
    ("2024-05-01T09:30:00.999+00:00", None, "2024-05-01T09:30:00Z"),
]


@pytest.mark.parametrize("field_type", [T.DATETIME, T.CREATED_TIME, T.UPDATED_TIME])
@pytest.mark.parametrize(("value", "options", "expected"), DATETIME_CASES)
def test_datetime_types(
    field_type: FieldType, value: Any, options: ConvertOptions | None, expected: str | None
) -> None:
    assert convert(field_type, value, options) == expected


@pytest.mark.parametrize(
    "value", ["2024-02-30T10:00:00Z", "yesterday", "2024-05-01T25:00", 1714550000]
)
def test_datetime_rejects_bad_values(value: Any) -> None:
    message = rejected(T.DATETIME, value)
    assert message.startswith(f"{value!r} is not a date and time; DATETIME fields take ISO 8601")


def test_datetime_rejects_a_moment_outside_the_calendar_once_in_utc() -> None:
    message = rejected(T.DATETIME, datetime(1, 1, 1, 3, 0), TOKYO)
    assert (
        message
        == "datetime.datetime(1, 1, 1, 3, 0) falls outside the years 1-9999 once moved to UTC"
    )


MULTI_CASES = [
    (None, None, []),
    (NAN, None, []),
    ("", None, []),
    (" , ,", None, []),
    ("A", None, ["A"]),
    ("A, B ,C", None, ["A", "B", "C"]),
    ("A;B", ConvertOptions(separator=";"), ["A", "B"]),
    ("A,B", ConvertOptions(separator=";"), ["A,B"]),
    ("赤|青", ConvertOptions(separator="|"), ["赤", "青"]),
    (["A", None, NAN, "B"], None, ["A", "B"]),
    (("x", 1, 2), None, ["x", "1", "2"]),
    ([], None, []),
]


@pytest.mark.parametrize("field_type", [T.CHECK_BOX, T.MULTI_SELECT])
@pytest.mark.parametrize(("value", "options", "expected"), MULTI_CASES)
def test_multi_choice(
    field_type: FieldType, value: Any, options: ConvertOptions | None, expected: list[str]
) -> None:
    assert convert(field_type, value, options) == expected


@pytest.mark.parametrize("field_type", [T.CHECK_BOX, T.MULTI_SELECT])
def test_multi_choice_checks_options(field_type: FieldType) -> None:
    options = ConvertOptions(options=frozenset({"赤", "青", "緑"}))
    assert convert(field_type, "赤,緑", options) == ["赤", "緑"]
    assert rejected(field_type, "赤,黄,白", options) == (
        "'赤,黄,白' holds '黄', '白', not an option of the field; "
        "use one of '緑', '赤', '青', or add the option in the app"
    )


def test_option_message_lists_only_the_first_ten() -> None:
    options = ConvertOptions(options=frozenset(f"o{i:02}" for i in range(15)))
    message = rejected(T.CHECK_BOX, ["o01", "zz"], options)
    assert (
        "use one of 'o00', 'o01', 'o02', 'o03', 'o04', 'o05', 'o06', 'o07', 'o08', 'o09'" in message
    )
    assert "and 5 more" in message
    assert "'o10'" not in message


def test_multi_choice_rejects_a_number() -> None:
    assert rejected(T.CHECK_BOX, 3) == (
        "3 is not a list; give a list or delimited text such as 'A,B'"
    )


SINGLE_CASES = [(None, None), (NAN, None), ("", None), ("A", "A"), ("🍣 寿司", "🍣 寿司"), (3, "3")]


@pytest.mark.parametrize("field_type", [T.RADIO_BUTTON, T.DROP_DOWN])
@pytest.mark.parametrize(("value", "expected"), SINGLE_CASES)
def test_single_choice(field_type: FieldType, value: Any, expected: str | None) -> None:
    assert convert(field_type, value) == expected


@pytest.mark.parametrize("field_type", [T.RADIO_BUTTON, T.DROP_DOWN])
def test_single_choice_checks_options(field_type: FieldType) -> None:
    options = ConvertOptions(options=frozenset({"Gold", "Silver"}))
    assert convert(field_type, "Gold", options) == "Gold"
    assert convert(field_type, None, options) is None
    assert rejected(field_type, "Bronze", options) == (
        "'Bronze' holds 'Bronze', not an option of the field; "
        "use one of 'Gold', 'Silver', or add the option in the app"
    )


@pytest.mark.parametrize("value", [True, 1.5, ["A"]])
def test_single_choice_rejects_non_labels(value: Any) -> None:
    assert rejected(T.DROP_DOWN, value) == (
        f"{value!r} is not an option label; cast the column to text in the query"
    )


ENTITY_CASES = [
    (None, None, []),
    (NAN, None, []),
    ("", None, []),
    ("alice", None, [{"code": "alice"}]),
    ("alice, bob", None, [{"code": "alice"}, {"code": "bob"}]),
    ("alice bob", ConvertOptions(separator=" "), [{"code": "alice"}, {"code": "bob"}]),
    (["営業部", None], None, [{"code": "営業部"}]),
    (("g1", "g2"), None, [{"code": "g1"}, {"code": "g2"}]),
]


@pytest.mark.parametrize("field_type", [T.USER_SELECT, T.ORGANIZATION_SELECT, T.GROUP_SELECT])
@pytest.mark.parametrize(("value", "options", "expected"), ENTITY_CASES)
def test_entity_lists(
    field_type: FieldType, value: Any, options: ConvertOptions | None, expected: Any
) -> None:
    assert convert(field_type, value, options) == expected


@pytest.mark.parametrize("field_type", [T.CREATOR, T.MODIFIER])
@pytest.mark.parametrize(
    ("value", "expected"), [(None, None), (NAN, None), ("", None), ("alice", {"code": "alice"})]
)
def test_creator_and_modifier(field_type: FieldType, value: Any, expected: Any) -> None:
    assert convert(field_type, value) == expected


def test_creator_rejects_a_list() -> None:
    assert rejected(T.CREATOR, ["alice"]) == (
        "['alice'] is not a user code; CREATOR and MODIFIER take one login name"
    )


@pytest.mark.parametrize("value", [None, NAN, "", []])
def test_file_empty(value: Any) -> None:
    assert convert(T.FILE, value) == []


@pytest.mark.parametrize("value", [b"\x00\x01", bytearray(b"\x00\x01"), memoryview(b"\x00\x01")])
def test_file_from_bytes(value: Any) -> None:
    assert convert(T.FILE, value) == [
        FileUpload(name="file", data=b"\x00\x01", content_type="application/octet-stream")
    ]


def test_file_from_paths(tmp_path: Path) -> None:
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.7")
    (tmp_path / "見積.txt").write_text("こんにちは", encoding="utf-8")
    (tmp_path / "blob.unknownext").write_bytes(b"??")
    options = ConvertOptions(base_dir=tmp_path)
    assert convert(T.FILE, "report.pdf", options) == [
        FileUpload(name="report.pdf", data=b"%PDF-1.7", content_type="application/pdf")
    ]
    # An absolute path is refused even when it points inside (tests/mapping/test_hostile.py).
    assert "is an absolute path" in rejected(T.FILE, str(tmp_path / "report.pdf"), options)
    assert convert(T.FILE, ["見積.txt", "blob.unknownext"], options) == [
        FileUpload(name="見積.txt", data="こんにちは".encode(), content_type="text/plain"),
        FileUpload(name="blob.unknownext", data=b"??", content_type="application/octet-stream"),
    ]


def test_file_missing(tmp_path: Path) -> None:
    message = rejected(T.FILE, "nope.csv", ConvertOptions(base_dir=tmp_path))
    assert message == (
        f"'nope.csv' cannot be read from {str(tmp_path / 'nope.csv')!r} "
        "(No such file or directory); check the path"
    )


def test_file_rejects_a_number() -> None:
    assert rejected(T.FILE, 5) == (
        "5 is not a file; FILE fields take bytes, a path or a list of paths"
    )


@pytest.mark.parametrize(
    ("field_type", "reason"),
    [
        (T.CALC, "computed by Kintone"),
        (T.SUBTABLE, "subtables are built from child rows"),
        (T.RECORD_NUMBER, "Kintone numbers records itself"),
        (T.STATUS, "process-management"),
        (T.LABEL, "decorates the form"),
    ],
)
def test_unwritable_types_raise_value_error(field_type: FieldType, reason: str) -> None:
    with pytest.raises(ValueError, match=reason) as info:
        converter(field_type)
    assert str(info.value).startswith(f"{field_type} fields cannot be written from a column: ")
    assert not isinstance(info.value, ValueRejectedError)
