"""Formula evaluation: CALC fields and text auto-calculation, computed on every record write.

What values come back through the REST API follows a real domain's observations
(SonicGarden/kintone-emulator, doc/kintone-calc-behavior.md, cited below as "calc notes").
"""

from __future__ import annotations

import contextlib
import decimal
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .formula import _COMPARE, CalcError, FormulaError, Node, formula_of, parse
from .schema import FieldDef, FieldType

_CTX = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_UP)


# --- evaluation -------------------------------------------------------------------------------

Value = Decimal | str | list[Any]


def _number(value: Value) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, str):
        if value.strip() == "":
            return Decimal(0)
        try:
            return Decimal(value.strip())
        except decimal.InvalidOperation:
            raise CalcError from None
    raise CalcError


def number_text(value: Decimal) -> str:
    """A number as Kintone's API writes it: no exponent, no trailing zeros."""
    if value == value.to_integral_value():
        return str(int(value))
    return format(value.normalize(_CTX), "f")


def _text(value: Value) -> str:
    if isinstance(value, Decimal):
        return number_text(value)
    if isinstance(value, str):
        return value
    raise CalcError


def _truth(value: Value) -> bool:
    if isinstance(value, list):
        raise CalcError
    if isinstance(value, str):
        return value != "" and _number(value) != 0
    return value != 0


def _bool(flag: bool) -> Decimal:
    return Decimal(1) if flag else Decimal(0)


def _round(value: Decimal, digits: int, mode: str) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-digits), rounding=mode, context=_CTX)


class _Evaluator:
    def __init__(self, lookup: Callable[[str], Value]) -> None:
        self.lookup = lookup

    def run(self, node: Node) -> Value:
        kind = node[0]
        if kind in ("num", "str"):
            return node[1]  # type: ignore[no-any-return]
        if kind == "ref":
            return self.lookup(node[1])
        if kind == "neg":
            return -_number(self.run(node[1]))
        if kind == "bin":
            return self.binary(node[1], self.run(node[2]), self.run(node[3]))
        return self.call(node[1], node[2])

    def binary(self, op: str, left: Value, right: Value) -> Value:
        if op == "&":
            return _text(left) + _text(right)
        if op in _COMPARE:
            return _bool(_compare(op, left, right))
        a, b = _number(left), _number(right)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return _CTX.multiply(a, b)
        if op == "/":
            if b == 0:
                raise CalcError  # division by zero reads back as "" (calc notes §3)
            # Quotients are rounded to four decimal places whatever displayScale says (§3).
            return _round(_CTX.divide(a, b), 4, decimal.ROUND_HALF_UP)
        exponent = int(b)  # the fraction of an exponent is dropped (§3)
        if not -100 <= exponent <= 100:
            raise CalcError
        if a == 0 and exponent < 0:
            raise CalcError
        return _CTX.power(a, exponent)

    def call(self, name: str, nodes: list[Node]) -> Value:
        if name == "IF":
            return self.run(nodes[1] if _truth(self.run(nodes[0])) else nodes[2])
        args = [self.run(n) for n in nodes]
        if name == "SUM":
            total = Decimal(0)
            for arg in args:
                for item in arg if isinstance(arg, list) else [arg]:
                    total += _number(item)
            return total
        if name == "AND":
            return _bool(all(_truth(a) for a in args))
        if name == "OR":
            return _bool(any(_truth(a) for a in args))
        if name == "NOT":
            return _bool(not _truth(args[0]))
        if name in ("ROUND", "ROUNDUP", "ROUNDDOWN"):
            digits = int(_number(args[1])) if len(args) > 1 else 0
            mode = {
                "ROUND": decimal.ROUND_HALF_UP,
                "ROUNDUP": decimal.ROUND_UP,
                "ROUNDDOWN": decimal.ROUND_DOWN,
            }[name]
            return _round(_number(args[0]), digits, mode)
        if name == "YEN":
            digits = int(_number(args[1])) if len(args) > 1 else 0
            return yen(_number(args[0]), digits)
        if name == "DATE_FORMAT":
            return date_format(_number(args[0]), _text(args[1]), _text(args[2]))
        if name == "CONTAINS":
            if not isinstance(args[0], list):
                raise CalcError
            return _bool(_text(args[1]) in [_text(v) for v in args[0]])
        raise CalcError


def _compare(op: str, left: Value, right: Value) -> bool:
    if isinstance(left, list) or isinstance(right, list):
        raise CalcError
    pair: tuple[Any, Any]
    if isinstance(left, Decimal) or isinstance(right, Decimal) or op not in ("=", "!=", "<>"):
        pair = (_number(left), _number(right))
    else:
        pair = (left, right)
    a: Any = pair[0]
    b: Any = pair[1]
    outcome: bool = {
        "=": a == b,
        "!=": a != b,
        "<>": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[op]
    return outcome


def yen(value: Decimal, digits: int) -> str:
    """`YEN(1100, 0)` -> "¥1,100": rounded to `digits`, grouped by thousands."""
    rounded = _round(value, digits, decimal.ROUND_HALF_UP)
    shown = max(digits, 0)
    body = f"{abs(rounded):,.{shown}f}"
    return ("-¥" if rounded < 0 else "¥") + body


_DATE_TOKENS = (
    ("YYYY", "%Y"), ("YY", "%y"), ("MM", "%m"), ("M", "%-m"), ("dd", "%d"), ("d", "%-d"),
    ("HH", "%H"), ("H", "%-H"), ("hh", "%I"), ("h", "%-I"), ("mm", "%M"), ("ss", "%S"),
)  # fmt: skip


def date_format(seconds: Decimal, pattern: str, zone: str) -> str:
    """`DATE_FORMAT(value, "YYYY-MM-dd", "Asia/Tokyo")`; "system" is UTC in the emulator."""
    try:
        tz = UTC if zone in ("system", "UTC", "Etc/UTC") else ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise CalcError from None
    moment = datetime.fromtimestamp(int(seconds), UTC).astimezone(tz)
    out: list[str] = []
    i = 0
    while i < len(pattern):
        for token, code in _DATE_TOKENS:
            if pattern.startswith(token, i):
                value = moment.strftime(code.replace("-", ""))
                out.append(value.lstrip("0") or "0" if "-" in code else value)
                i += len(token)
                break
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


# --- a record's values ------------------------------------------------------------------------


def _epoch(value: Any, ftype: FieldType) -> Decimal:
    if value in (None, ""):
        raise CalcError
    text = str(value)
    try:
        if ftype is FieldType.DATE:
            day = date.fromisoformat(text)
            moment = datetime.combine(day, time(), UTC)
        elif ftype is FieldType.TIME:
            clock = time.fromisoformat(text)
            return Decimal(clock.hour * 3600 + clock.minute * 60)
        else:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CalcError from None
    return Decimal(int(moment.timestamp()))


def field_value(f: FieldDef, value: Any) -> Value:
    """A stored value as a formula sees it: numbers, text, lists, dates as epoch seconds."""
    if f.type in (FieldType.NUMBER, FieldType.CALC):
        return _number(str(value or ""))
    if f.type in (
        FieldType.DATE,
        FieldType.TIME,
        FieldType.DATETIME,
        FieldType.CREATED_TIME,
        FieldType.UPDATED_TIME,
    ):
        return _epoch(value, f.type)
    if f.type in (FieldType.CHECK_BOX, FieldType.MULTI_SELECT):
        return [str(v) for v in value or []]
    if f.type in (FieldType.CREATOR, FieldType.MODIFIER):
        return str((value or {}).get("code", ""))
    return "" if value is None else str(value)


def output(f: FieldDef, result: Value) -> str:
    """The value a computed field reads back as: CALC by its format, text as text."""
    if f.type is FieldType.SINGLE_LINE_TEXT:
        return _text(result)
    if not isinstance(result, Decimal):
        return ""  # a text result in a CALC field is dropped (calc notes §2, §4)
    fmt = str(f.raw.get("format") or "NUMBER")
    if fmt in ("NUMBER", "NUMBER_DIGIT"):
        return number_text(result)
    seconds = int(result)
    if fmt == "DATETIME":
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if fmt == "DATE":
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d")
    if fmt == "TIME":
        seconds %= 86400
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


class _Record:
    """Computes every formula field of one record, resolving references in any order."""

    def __init__(self, fields: Mapping[str, FieldDef], values: dict[str, Any]) -> None:
        self.fields = fields
        self.values = values
        self.done: dict[str, Value | None] = {}
        self.busy: set[str] = set()

    def evaluate(self, f: FieldDef, row: dict[str, Any] | None) -> Value | None:
        """The raw result of a field's formula; None when it cannot be computed."""
        text = formula_of(f)
        if text is None:
            return None
        try:
            result = _Evaluator(lambda code: self.ref(code, row)).run(parse(text))
            output(f, result)
        except (CalcError, FormulaError, decimal.DecimalException, OverflowError, ValueError):
            return None
        if f.type is FieldType.CALC and not isinstance(result, Decimal):
            return None
        return result

    def computed(self, f: FieldDef, row: dict[str, Any] | None) -> str:
        """A field's formula result as the field reads back."""
        result = self.evaluate(f, row)
        return "" if result is None else output(f, result)

    def ref(self, code: str, row: dict[str, Any] | None) -> Value:
        f = self.fields.get(code)
        if f is None:
            raise CalcError
        if f.table is not None:
            if row is not None and code in row:
                return self.cell(f, row)
            return [self.cell(f, r["value"]) for r in self.values.get(f.table) or []]
        if formula_of(f) is None:
            return field_value(f, self.values.get(code))
        if code not in self.done:
            if code in self.busy:
                raise CalcError
            self.busy.add(code)
            try:
                self.done[code] = self.evaluate(f, None)
            finally:
                self.busy.discard(code)
            result = self.done[code]
            self.values[code] = "" if result is None else output(f, result)
        found = self.done[code]
        if found is None:
            raise CalcError
        return found

    def cell(self, f: FieldDef, row: dict[str, Any]) -> Value:
        if formula_of(f) is not None:
            result = self.evaluate(f, row)
            row[f.code] = "" if result is None else output(f, result)
            if result is None:
                raise CalcError
            return result
        return field_value(f, row.get(f.code))


def compute(
    fields: Mapping[str, FieldDef], tables: Mapping[str, FieldDef], values: dict[str, Any]
) -> None:
    """Fill every CALC and auto-calculated text field of a record's `values` in place.

    `fields` holds every field by code (top-level and inside tables); `tables` the SUBTABLEs.
    """
    record = _Record(fields, values)
    for table in tables.values():
        if not any(formula_of(inner) is not None for inner in table.fields.values()):
            continue
        rows = []
        # New row dicts: an update shares unchanged rows with the stored record it replaces.
        for row in values.get(table.code) or []:
            cells = dict(row["value"])
            for inner in table.fields.values():
                if formula_of(inner) is not None:
                    cells[inner.code] = record.computed(inner, cells)
            rows.append({**row, "value": cells})
        values[table.code] = rows
    for f in fields.values():
        if f.table is None and formula_of(f) is not None:
            # On failure the field already reads "": the formula could not be computed.
            with contextlib.suppress(CalcError):
                record.ref(f.code, None)
