"""Random values against every field converter: no crash, and whatever is stored reloads."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.emulator.datafile import STORED_SHAPES
from connector.emulator.errors import ApiError
from connector.emulator.schema import WRITABLE_TYPES, FieldDef, FieldType
from connector.emulator.store import Directory, Entity, StoredFile
from connector.emulator.values import NumberPrecision, ValueContext, check, convert

LONG = os.environ.get("KINTONE_SYNC_LONG_TESTS") == "1"
EXAMPLES = 1000 if LONG else 40
# Kintone refuses the whole request for these (values.convert's docstring); anything else raised
# is a bug.
WHOLE_REQUEST_CODES = {"GAIA_IL26", "GAIA_IL27", "GAIA_IL28", "GAIA_BL01"}

PROPS: dict[str, dict[str, Any]] = {
    "CHECK_BOX": {"options": {"a": {}, "b": {}}},
    "MULTI_SELECT": {"options": {"a": {}, "b": {}}},
    "RADIO_BUTTON": {"options": {"a": {}, "b": {}}},
    "DROP_DOWN": {"options": {"a": {}, "b": {}}},
    "SINGLE_LINE_TEXT": {"unique": True, "maxLength": "10"},
    "NUMBER": {"minValue": "-5", "maxValue": "1e40"},
}
FIELDS = [
    FieldDef.from_property({"code": "f", "type": t.value, **PROPS.get(t.value, {})})
    for t in sorted(WRITABLE_TYPES - {FieldType.SUBTABLE})
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.sampled_from(
        [
            "a",
            "b",
            "1e300000000",
            "9" * 50,
            "1000-01-01",
            "0999-12-31",
            "2024-02-30",
            "9999-12-31T23:59:00-05:00",
            "23:59",
            "24:00",
            "alice",
            "1.5e1",
            ".5",
            "5.",
            "-0",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["code", "fileKey", "value", "x"]), inner, max_size=3),
    ),
    max_leaves=10,
)
precisions = st.integers(1, 30).flatmap(
    lambda digits: st.builds(
        NumberPrecision,
        digits=st.just(digits),
        decimal_places=st.integers(0, min(digits, 10)),
        excess_decimals=st.sampled_from(["reject", "round", "keep"]),
    )
)


@pytest.mark.parametrize("field", FIELDS, ids=[f.type.value for f in FIELDS])
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(raw=values, precision=precisions)
def test_convert_stores_a_loadable_value_or_reports(
    field: FieldDef, raw: Any, precision: NumberPrecision
) -> None:
    errors: dict[str, list[str]] = {}
    ctx = ValueContext(
        errors=errors,
        directory=Directory(users={"alice": Entity("alice", "Alice")}),
        attach=lambda key: (
            StoredFile("k1", "a.txt", "text/plain", b"x", 0.0) if key == "a" else None
        ),
        precision=precision,
    )
    refused: ApiError | None = None
    try:
        stored = convert(field, raw, "record.f", ctx)
    except ApiError as err:
        refused = err
    if refused is not None:
        assert refused.code in WHOLE_REQUEST_CODES, refused
        return
    check(field, stored, "record.f", errors)
    assert all(key.startswith("record") for key in errors)
    shape = STORED_SHAPES.get(field.type)
    if not errors and shape is not None:
        assert shape(stored), (field.type, raw, stored)
