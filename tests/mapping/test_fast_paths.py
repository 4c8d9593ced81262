"""Fast paths against the general paths they skip: the same value or the same refusal, always."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from connector.errors import ValueRejectedError
from connector.mapping import convert as c
from connector.mapping.convert import ConvertOptions
from connector.mapping.mapper import _KEY_JSON, RowKey
from tests.mapping.test_hostile import values as hostile_values

LONG = os.environ.get("KINTONE_SYNC_LONG_TESTS") == "1"
EXAMPLES = settings(max_examples=3000 if LONG else 300, deadline=None)

# Zones with DST gaps and folds, half-hour and negative DST, a skipped day, and +14:00.
ZONES = [
    ZoneInfo(z)
    for z in (
        "UTC",
        "Asia/Tokyo",
        "America/New_York",
        "Europe/Dublin",
        "Australia/Lord_Howe",
        "Pacific/Apia",
        "Pacific/Kiritimati",
        "America/Anchorage",
    )
]
decimals = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(places=3, allow_nan=False, allow_infinity=False),
    st.builds(
        Decimal,
        st.from_regex(r"-?[0-9]{1,40}(\.[0-9]{0,40})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    ),
)
moments = st.one_of(
    st.datetimes(),
    st.datetimes().map(lambda d: d.replace(fold=1)),
    st.datetimes(min_value=datetime(999, 12, 30), max_value=datetime(1000, 1, 2)),
    st.datetimes(min_value=datetime(9999, 12, 30)),
)
# What the fast paths take (exact types), their neighbours (bools, big ints), and anything.
fast_values = st.one_of(
    st.integers(),
    st.sampled_from([10**5000, -(10**29), 10**30, 0, True, False]),
    decimals,
    st.dates(),
    moments,
    hostile_values,
)
options = st.builds(
    ConvertOptions,
    timezone=st.sampled_from(ZONES),
    integer_digits=st.sampled_from([None, 1, 3, 16, 30]),
    min_value=st.sampled_from([None, Decimal("-100"), Decimal("0.5")]),
    max_value=st.sampled_from([None, Decimal("1E+3"), Decimal("99.99")]),
)


def outcome(function: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return "value", function(*args)
    except ValueRejectedError as exc:
        return "refused", str(exc)


@pytest.mark.parametrize(
    ("fast", "general"),
    [(c._number, c._any_number), (c._date, c._any_date), (c._datetime, c._any_datetime)],
    ids=["number", "date", "datetime"],
)
@EXAMPLES
@given(value=fast_values, options=options)
@example(value=datetime(1000, 1, 1, 5), options=ConvertOptions(timezone=ZoneInfo("Asia/Tokyo")))
@example(value=datetime(1, 1, 1), options=ConvertOptions(timezone=ZoneInfo("Asia/Tokyo")))
@example(
    value=datetime(9999, 12, 31, 23), options=ConvertOptions(timezone=ZoneInfo("America/New_York"))
)
@example(
    value=datetime(2024, 3, 10, 2, 30),
    options=ConvertOptions(timezone=ZoneInfo("America/New_York")),
)
@example(
    value=datetime(2024, 11, 3, 1, 30, fold=1),
    options=ConvertOptions(timezone=ZoneInfo("America/New_York")),
)
@example(value=date(999, 12, 31), options=ConvertOptions())
@example(value=Decimal("1E+300000000"), options=ConvertOptions())
def test_a_fast_converter_answers_as_the_general_one(
    fast: Callable[[ConvertOptions, Any], Any],
    general: Callable[[ConvertOptions, Any], Any],
    value: Any,
    options: ConvertOptions,
) -> None:
    assert outcome(fast, options, value) == outcome(general, options, value)


@EXAMPLES
@given(number=decimals)
@example(number=Decimal("1E-7"))
@example(number=Decimal("-0E-3"))
@example(number=Decimal("0." + "0" * 497 + "1"))
@example(number=Decimal("1" * 499 + ".5"))
def test_plain_writes_a_decimal_out_as_format_does(number: Decimal) -> None:
    assert outcome(c._plain, number) == outcome(c._written_out, number)


@EXAMPLES
@given(value=fast_values, options=options)
@example(value="1" * 30, options=ConvertOptions(integer_digits=30))
@example(value=10**30, options=ConvertOptions(integer_digits=30))
@example(value=-12, options=ConvertOptions(integer_digits=1))
@example(value="-" + "1" * 30, options=ConvertOptions(integer_digits=30))
@example(value="0.000001", options=ConvertOptions(integer_digits=1))
def test_the_number_check_skipped_for_short_text_cannot_fail(
    value: Any, options: ConvertOptions
) -> None:
    # The texts `_check_number` is given: a NUMBER value written out, before its checks.
    text = outcome(c._any_number, ConvertOptions(), value)
    if text[0] != "value" or text[1] == "":
        return
    assert outcome(c._check_number, value, text[1], options) == outcome(
        c._check_range, value, text[1], options
    )


keys = st.lists(
    st.one_of(st.text(), st.text(st.characters(codec=None, exclude_categories=())), st.integers()),
    max_size=3,
)


def key_text(make: Callable[[list[Any]], str], values: list[Any]) -> tuple[str, str]:
    try:
        text = make(values)
        text.encode()  # what the digest reads; a lone surrogate has no UTF-8
    except UnicodeEncodeError as exc:
        return "unencodable", str(exc)
    return "text", text


@EXAMPLES
@given(values=keys)
@example(values=['"\\\n\u2028é\x00'])
@example(values=["\ud800"])
@example(values=[])
def test_a_text_key_is_written_as_the_json_encoder_writes_it(values: list[Any]) -> None:
    fast = key_text(lambda v: RowKey.of(v).text, values)
    assert fast == key_text(_KEY_JSON.encode, values)


def test_a_naive_datetime_moves_to_utc_by_its_wall_time_offset() -> None:
    # The fast path's arithmetic, pinned on known offsets: JST, and both sides of a DST fold.
    tokyo = ConvertOptions(timezone=ZoneInfo("Asia/Tokyo"))
    new_york = ConvertOptions(timezone=ZoneInfo("America/New_York"))
    assert c._datetime(tokyo, datetime(2024, 5, 1, 9, 30, 15, 999)) == "2024-05-01T00:30:15Z"
    assert c._datetime(new_york, datetime(2024, 11, 3, 1, 30)) == "2024-11-03T05:30:00Z"
    assert c._datetime(new_york, datetime(2024, 11, 3, 1, 30, fold=1)) == "2024-11-03T06:30:00Z"
    with pytest.raises(ValueRejectedError, match="before the year 1000 in UTC"):
        c._datetime(tokyo, datetime(1000, 1, 1, 8, 59))
    with pytest.raises(ValueRejectedError, match="outside the years 1-9999"):
        c._datetime(tokyo, datetime(1, 1, 1) + timedelta(hours=3))
