"""Formulas: CALC fields and text auto-calculation, computed on every write.

Expected values are what a real domain answered, recorded by SonicGarden/kintone-emulator
(https://github.com/SonicGarden/kintone-emulator) in doc/kintone-calc-behavior.md §2-§6 and its
dual tests packages/core/tests/api/record/calc-compute.test.ts.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.emulator import Seed
from connector.emulator.calc import _Evaluator, number_text
from connector.emulator.formula import CalcError, FormulaError, parse

from .conftest import make_client

TOKEN = {"token": "t", "view": True, "add": True, "edit": True, "delete": True}


def props(formulas: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """Number fields a, b, n; a date d, a datetime dt, check box tags, table rows(qty, name)."""
    out: dict[str, Any] = {
        "a": {"type": "NUMBER", "code": "a", "label": "a"},
        "b": {"type": "NUMBER", "code": "b", "label": "b"},
        "n": {"type": "NUMBER", "code": "n", "label": "n"},
        "d": {"type": "DATE", "code": "d", "label": "d"},
        "dt": {"type": "DATETIME", "code": "dt", "label": "dt"},
        "title": {"type": "SINGLE_LINE_TEXT", "code": "title", "label": "title"},
        "tags": {
            "type": "CHECK_BOX",
            "code": "tags",
            "label": "tags",
            "options": {"x": {"label": "x", "index": "0"}, "y": {"label": "y", "index": "1"}},
        },
        "rows": {
            "type": "SUBTABLE",
            "code": "rows",
            "label": "rows",
            "fields": {
                "qty": {"type": "NUMBER", "code": "qty", "label": "qty"},
                "name": {"type": "SINGLE_LINE_TEXT", "code": "name", "label": "name"},
                "double": {
                    "type": "CALC",
                    "code": "double",
                    "label": "double",
                    "expression": "qty * 2",
                },
            },
        },
    }
    for code, (expression, fmt) in formulas.items():
        if fmt == "TEXT":
            out[code] = {
                "type": "SINGLE_LINE_TEXT",
                "code": code,
                "label": code,
                "expression": expression,
            }
        else:
            out[code] = {
                "type": "CALC",
                "code": code,
                "label": code,
                "expression": expression,
                "format": fmt,
            }
    return out


CASES: list[tuple[str, str, dict[str, Any], str]] = [
    # (expression, format, record values, expected value)  -- calc notes section in the comment
    ("a + b", "NUMBER", {}, "0"),  # §2 empty numbers are 0
    ("a + b", "NUMBER", {"a": "-5", "b": "3"}, "-2"),  # §3
    ("1 / 3", "NUMBER", {}, "0.3333"),  # §3 quotients rounded to 4 places
    ("10 / 3", "NUMBER", {}, "3.3333"),
    ("1 / 7", "NUMBER", {}, "0.1429"),
    ("a / 0", "NUMBER", {"a": "5"}, ""),  # §3 division by zero
    ("0 / 0", "NUMBER", {}, ""),
    ("7 * 0.1", "NUMBER", {}, "0.7"),
    ("100 * 0.1", "NUMBER", {}, "10"),
    ("4 ^ 1.5", "NUMBER", {}, "4"),  # §3 the exponent's fraction is dropped
    ("4 ^ -2", "NUMBER", {}, "0.0625"),
    ("2 ^ 101", "NUMBER", {}, ""),  # §3 exponent range -100..100
    ("a = b", "NUMBER", {"a": "5", "b": "5"}, "1"),  # calc-compute.test.ts comparisons
    ("a <> b", "NUMBER", {"a": "5", "b": "5"}, "0"),
    ("a <= b", "NUMBER", {"a": "3", "b": "5"}, "1"),
    ("a >= b", "NUMBER", {"a": "3", "b": "5"}, "0"),
    ("AND(a > 0, a < 100)", "NUMBER", {"a": "50"}, "1"),  # §4
    ("AND(a > 0, a < 100)", "NUMBER", {"a": "200"}, "0"),
    ("OR(a > 100, NOT(a > 0))", "NUMBER", {"a": "50"}, "0"),
    ("IF(a > 10, a * 2, a / 2)", "NUMBER", {"a": "15"}, "30"),
    ('IF(a > 0, "pos", "neg")', "NUMBER", {"a": "1"}, ""),  # §4 text in a CALC is dropped
    ("ROUND(3.14159, 2)", "NUMBER", {}, "3.14"),
    ("ROUNDUP(3.14159, 2)", "NUMBER", {}, "3.15"),
    ("ROUNDDOWN(3.14159, 2)", "NUMBER", {}, "3.14"),
    ("ROUND(2.5)", "NUMBER", {}, "3"),
    ("SUM(qty)", "NUMBER", {"rows": ["10", "20", ""]}, "30"),  # §4 SUM over a table column
    ('CONTAINS(tags, "x")', "NUMBER", {"tags": ["x"]}, "1"),  # §4
    ('CONTAINS(tags, "y")', "NUMBER", {"tags": ["x"]}, "0"),
    ('CONTAINS(name, "kiwi")', "NUMBER", {"rows": ["1"]}, "0"),
    ('CONTAINS(title, "x")', "NUMBER", {"title": "x"}, ""),  # §4 not a list: ""
    ("n", "NUMBER_DIGIT", {"n": "1234567"}, "1234567"),  # §5 no grouping in the API
    ("n * 3600", "DATETIME", {"n": "90061"}, "1980-04-10T13:00:00Z"),  # §5 formats
    ("n * 3600", "DATE", {"n": "90061"}, "1980-04-10"),
    ("n", "TIME", {"n": "90061"}, "01:01"),
    ("n", "HOUR_MINUTE", {"n": "90061"}, "25:01"),
    ("n", "DAY_HOUR_MINUTE", {"n": "90061"}, "25:01"),
    ("d + 86400", "DATE", {"d": "2026-04-25"}, "2026-04-26"),  # §5 dates are epoch seconds
    ("dt + 3600", "DATETIME", {"dt": "2026-04-25T10:00:00Z"}, "2026-04-25T11:00:00Z"),
    ("dt - d", "NUMBER", {"dt": "2026-04-25T10:00:00Z", "d": "2026-04-25"}, "36000"),
    ('a & " + " & b & " = " & (a + b)', "TEXT", {"a": "10", "b": "20"}, "10 + 20 = 30"),
    ('IF(a > b, "a wins", "b wins")', "TEXT", {"a": "3", "b": "1"}, "a wins"),
    ("YEN(a * 1.1, 0)", "TEXT", {"a": "1000"}, "¥1,100"),  # calc-compute.test.ts
    ('DATE_FORMAT(1745574000, "YYYY-MM-dd", "UTC")', "TEXT", {}, "2025-04-25"),
    (
        'DATE_FORMAT(1745574000, "YYYY-MM-dd", "Asia/Tokyo") & " " & a',
        "TEXT",
        {"a": "7"},
        "2025-04-25 7",
    ),
]


def write_shape(values: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for code, value in values.items():
        if code == "rows":
            rows = [{"value": {"qty": {"value": q}, "name": {"value": "apple"}}} for q in value]
            record["rows"] = {"value": rows}
        else:
            record[code] = {"value": value}
    return record


@pytest.fixture(scope="module")
def computed() -> dict[str, Any]:
    """Every case as one field of one app; each case's record is added once."""
    formulas = {f"f{i}": (expr, fmt) for i, (expr, fmt, _, _) in enumerate(CASES)}
    seed = Seed.model_validate(
        {"apps": [{"id": 1, "name": "Calc", "properties": props(formulas), "tokens": [TOKEN]}]}
    )
    out: dict[str, Any] = {}
    with make_client(seed, headers={"X-Cybozu-API-Token": "t"}) as c:
        for i, (_, _, values, _) in enumerate(CASES):
            resp = c.post("/k/v1/record.json", json={"app": 1, "record": write_shape(values)})
            assert resp.status_code == 200, resp.text
            record_id = resp.json()["id"]
            out[f"f{i}"] = c.get("/k/v1/record.json", params={"app": 1, "id": record_id}).json()[
                "record"
            ]
    return out


@pytest.mark.parametrize(("index", "case"), list(enumerate(CASES)), ids=[c[0] for c in CASES])
def test_formula_values(
    computed: dict[str, Any], index: int, case: tuple[str, str, Any, str]
) -> None:
    assert computed[f"f{index}"][f"f{index}"]["value"] == case[3]


def test_table_rows_compute_their_own_formulas(computed: dict[str, Any]) -> None:
    rows = computed["f0"]["rows"]["value"]
    assert rows == []
    sum_case = next(i for i, c in enumerate(CASES) if c[0] == "SUM(qty)")
    rows = computed[f"f{sum_case}"]["rows"]["value"]
    assert [r["value"]["double"]["value"] for r in rows] == ["20", "40", "0"]


def test_a_calc_may_use_another_calc_and_updates_recompute() -> None:
    # calc notes §6: calc_x = a * 2, calc_y = calc_x + 1, a = 10 -> 20 and 21.
    formulas = {"calc_y": ("calc_x + 1", "NUMBER"), "calc_x": ("a * 2", "NUMBER")}
    seed = Seed.model_validate(
        {"apps": [{"id": 1, "name": "Calc", "properties": props(formulas), "tokens": [TOKEN]}]}
    )
    with make_client(seed, headers={"X-Cybozu-API-Token": "t"}) as c:
        c.post("/k/v1/record.json", json={"app": 1, "record": {"a": {"value": "10"}}})
        record = c.get("/k/v1/record.json", params={"app": 1, "id": 1}).json()["record"]
        assert (record["calc_x"]["value"], record["calc_y"]["value"]) == ("20", "21")
        c.put("/k/v1/record.json", json={"app": 1, "id": 1, "record": {"a": {"value": "1"}}})
        record = c.get("/k/v1/record.json", params={"app": 1, "id": 1}).json()["record"]
        assert (record["calc_x"]["value"], record["calc_y"]["value"]) == ("2", "3")


def test_the_parser_refuses_broken_formulas() -> None:
    for text in ("", "1 +", "(1", "SUM(1,", '"open', "1 ? 2"):
        with pytest.raises(FormulaError):
            parse(text)


@settings(max_examples=60, deadline=None)
@given(
    st.decimals(min_value=-(10**6), max_value=10**6, places=3, allow_nan=False),
    st.decimals(min_value=-(10**6), max_value=10**6, places=3, allow_nan=False),
)
def test_arithmetic_agrees_with_decimal(a: Decimal, b: Decimal) -> None:
    def run(text: str) -> Any:
        return _Evaluator(lambda code: {"a": a, "b": b}[code]).run(parse(text))

    assert run("a + b") == a + b
    assert run("a - b * 2") == a - b * 2
    assert number_text(run("a * b")) == number_text(a * b)
    if b == 0:
        with pytest.raises(CalcError):
            run("a / b")
    else:
        assert abs(run("a / b") - a / b) <= Decimal("0.00005")
