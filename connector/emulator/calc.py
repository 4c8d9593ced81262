"""Kintone formulas: a parser and evaluator for CALC fields and text auto-calculation.

The grammar and functions are Kintone's documented ones (https://jp.kintone.help/k/ja/app/
form/autocalc/basic_error/autocalc_format.html); what values come back through the REST API
follows a real domain's observations (SonicGarden/kintone-emulator, doc/kintone-calc-behavior.md).
No `eval`: a small recursive-descent parser builds tuples that `_Evaluator` walks.
"""

from __future__ import annotations

import decimal
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ApiError
from .schema import FieldDef, FieldType

Node = tuple[Any, ...]
_CTX = decimal.Context(prec=40, rounding=decimal.ROUND_HALF_UP)
# name -> (fewest, most) arguments; None is no upper bound.
FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "SUM": (1, None),
    "IF": (3, 3),
    "AND": (1, 32),
    "OR": (1, 32),
    "NOT": (1, 1),
    "ROUND": (1, 2),
    "ROUNDUP": (1, 2),
    "ROUNDDOWN": (1, 2),
    "YEN": (1, 2),
    "DATE_FORMAT": (3, 3),
    "CONTAINS": (2, 2),
}
# Field types a formula may refer to (https://us.kintone.help/k/en/app/form/autocalc/ref_data/
# autocalc_field.html).
REFERABLE = frozenset(
    {
        FieldType.NUMBER,
        FieldType.CALC,
        FieldType.DATE,
        FieldType.TIME,
        FieldType.DATETIME,
        FieldType.CREATED_TIME,
        FieldType.UPDATED_TIME,
        FieldType.SINGLE_LINE_TEXT,
        FieldType.DROP_DOWN,
        FieldType.RADIO_BUTTON,
        FieldType.CHECK_BOX,
        FieldType.MULTI_SELECT,
        FieldType.CREATOR,
        FieldType.MODIFIER,
    }
)
_FULL_WIDTH = {
    "（": "(", "）": ")", "＋": "+", "－": "-", "＊": "*", "／": "/", "＝": "=", "＜": "<",
    "＞": ">", "＆": "&", "，": ",", "＾": "^", "”": '"', "“": '"',
}  # fmt: skip
_OPERATORS = ("<=", ">=", "!=", "<>", "=", "<", ">", "+", "-", "*", "/", "^", "&", "(", ")", ",")
_COMPARE = frozenset({"=", "!=", "<>", "<", "<=", ">", ">="})


class FormulaError(Exception):
    """A formula Kintone refuses at deploy; the message is the reason GAIA_IL01 quotes."""


class CalcError(Exception):
    """A formula that cannot be computed for a record: the field reads back as ""."""


# --- parsing ----------------------------------------------------------------------------------


def _name_char(c: str) -> bool:
    """Field codes and function names: letters, digits, `_`, `$`, `・`, `＿`, other non-ASCII."""
    return c not in _FULL_WIDTH and (c.isalnum() or c in "_$・＿" or ord(c) > 127)


def tokenize(text: str) -> list[tuple[str, Any]]:
    """The formula's tokens: ("num", Decimal), ("str", s), ("name", s) and ("op", s).

    Raises:
        FormulaError: a full-width symbol, an unclosed string or a stray character.
    """
    tokens: list[tuple[str, Any]] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c in _FULL_WIDTH:
            raise FormulaError(
                f'A full-width symbol "{c}" was entered. Enter the half-width "{_FULL_WIDTH[c]}".'
            )
        elif c.isdigit() or (c == "." and text[i + 1 : i + 2].isdigit()):
            j = i
            while j < len(text) and (text[j].isdigit() or text[j] == "."):
                j += 1
            try:
                tokens.append(("num", Decimal(text[i:j])))
            except decimal.InvalidOperation:
                raise FormulaError("The formula syntax is incorrect.") from None
            i = j
        elif c == '"':
            j = i + 1
            chars: list[str] = []
            while j < len(text) and text[j] != '"':
                if text[j] == "\\" and j + 1 < len(text):
                    j += 1
                chars.append(text[j])
                j += 1
            if j >= len(text):
                raise FormulaError("The formula syntax is incorrect.")
            tokens.append(("str", "".join(chars)))
            i = j + 1
        elif any(text.startswith(op, i) for op in _OPERATORS):
            op = next(op for op in _OPERATORS if text.startswith(op, i))
            tokens.append(("op", op))
            i += len(op)
        elif _name_char(c):
            j = i
            while j < len(text) and (
                text[j].isalnum() or text[j] in "_$・＿" or ord(text[j]) > 127
            ):
                if text[j] in _FULL_WIDTH:
                    break
                j += 1
            tokens.append(("name", text[i:j]))
            i = j
        else:
            raise FormulaError("The formula syntax is incorrect.")
    return tokens


class _Parser:
    def __init__(self, tokens: list[tuple[str, Any]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take_op(self, *ops: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in ops:
            self.pos += 1
            return str(tok[1])
        return None

    def expect(self, op: str) -> None:
        if self.take_op(op) is None:
            raise FormulaError("The formula syntax is incorrect.")

    def parse(self) -> Node:
        if not self.tokens:
            raise FormulaError("The formula syntax is incorrect.")
        node = self.compare()
        if self.peek() is not None:
            raise FormulaError("The formula syntax is incorrect.")
        return node

    # Precedence, lowest first: comparison, `&`, `+ -`, `* /`, `^`, unary sign.
    def compare(self) -> Node:
        node = self.concat()
        while (op := self.take_op(*_COMPARE)) is not None:
            node = ("bin", op, node, self.concat())
        return node

    def concat(self) -> Node:
        node = self.additive()
        while self.take_op("&") is not None:
            node = ("bin", "&", node, self.additive())
        return node

    def additive(self) -> Node:
        node = self.multiplicative()
        while (op := self.take_op("+", "-")) is not None:
            node = ("bin", op, node, self.multiplicative())
        return node

    def multiplicative(self) -> Node:
        node = self.power()
        while (op := self.take_op("*", "/")) is not None:
            node = ("bin", op, node, self.power())
        return node

    def power(self) -> Node:
        node = self.unary()
        while self.take_op("^") is not None:
            node = ("bin", "^", node, self.unary())
        return node

    def unary(self) -> Node:
        if (op := self.take_op("+", "-")) is not None:
            operand = self.unary()
            return ("neg", operand) if op == "-" else operand
        return self.primary()

    def primary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise FormulaError("The formula syntax is incorrect.")
        self.pos += 1
        kind, value = tok
        if kind == "num":
            return ("num", value)
        if kind == "str":
            return ("str", value)
        if kind == "op" and value == "(":
            node = self.compare()
            self.expect(")")
            return node
        if kind == "name":
            if self.take_op("(") is None:
                return ("ref", value)
            args: list[Node] = []
            if self.take_op(")") is None:
                args.append(self.compare())
                while self.take_op(",") is not None:
                    args.append(self.compare())
                self.expect(")")
            return ("call", str(value).upper(), args)
        raise FormulaError("The formula syntax is incorrect.")


def parse(text: str) -> Node:
    """The syntax tree of a formula.

    Raises:
        FormulaError: a syntax error.
    """
    return _Parser(tokenize(text)).parse()


def _walk(node: Node) -> list[Node]:
    out = [node]
    if node[0] == "bin":
        out += _walk(node[2]) + _walk(node[3])
    elif node[0] == "neg":
        out += _walk(node[1])
    elif node[0] == "call":
        for arg in node[2]:
            out += _walk(arg)
    return out


# --- deploy-time checks -----------------------------------------------------------------------


def formula_of(f: FieldDef) -> str | None:
    """A field's formula: CALC always, SINGLE_LINE_TEXT when it has a non-empty `expression`."""
    if f.type is FieldType.CALC:
        return str(f.raw.get("expression") or "")
    if f.type is FieldType.SINGLE_LINE_TEXT and f.raw.get("expression"):
        return str(f.raw["expression"])
    return None


def validate_form(properties: Mapping[str, Mapping[str, Any]]) -> None:
    """Check every formula of a form, as a deploy does.

    Raises:
        ApiError: 400 GAIA_IL01 naming the field's label and the reason.
    """
    from .schema import AppSchema

    schema = AppSchema.from_properties(properties)
    every = {**schema.fields, **schema.inner}
    refs: dict[str, set[str]] = {}
    for f in every.values():
        text = formula_of(f)
        if text is None:
            continue
        try:
            refs[f.code] = _check(parse(text), every)
        except FormulaError as exc:
            raise formula_error(f.label, str(exc)) from None
    state: dict[str, int] = {}

    def visit(code: str) -> None:
        state[code] = 1
        for ref in refs.get(code, set()):
            if state.get(ref) == 1:
                raise formula_error(every[code].label, "The field references are circular.")
            if ref in refs and ref not in state:
                visit(ref)
        state[code] = 2

    for code in refs:
        if code not in state:
            visit(code)


def formula_error(label: str, reason: str) -> ApiError:
    """GAIA_IL01 for a field's formula."""
    from .errors import api_error

    return api_error("GAIA_IL01", label=label, reason=reason)


def _check(node: Node, fields: Mapping[str, FieldDef]) -> set[str]:
    refs: set[str] = set()
    for sub in _walk(node):
        if sub[0] == "ref":
            f = fields.get(sub[1])
            if f is None:
                raise FormulaError(f"The field code ({sub[1]}) in the formula does not exist.")
            if f.type not in REFERABLE:
                raise FormulaError(f"A field type the formula cannot use ({f.type.value}).")
            refs.add(f.code)
        elif sub[0] == "call":
            name, args = sub[1], sub[2]
            if name not in FUNCTIONS:
                raise FormulaError(f"The function {name} cannot be used.")
            low, high = FUNCTIONS[name]
            if len(args) < low:
                many = "" if low == high else "at least "
                raise FormulaError(f"The function {name} needs {many}{low} arguments.")
            if high is not None and len(args) > high:
                raise FormulaError(f"The function {name} takes at most {high} arguments.")
    return refs


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

    def computed(self, f: FieldDef, row: dict[str, Any] | None) -> str:
        text = formula_of(f)
        if text is None:
            return ""
        try:
            return output(f, _Evaluator(lambda code: self.ref(code, row)).run(parse(text)))
        except (CalcError, FormulaError, decimal.DecimalException, OverflowError, ValueError):
            return ""

    def ref(self, code: str, row: dict[str, Any] | None) -> Value:
        f = self.fields.get(code)
        if f is None:
            raise CalcError
        if f.table is not None:
            if row is not None and code in row:
                return self.cell(f, row)
            return [self.cell(f, r["value"]) for r in self.values.get(f.table) or []]
        if formula_of(f) is not None:
            if code in self.busy:
                raise CalcError
            if code not in self.done:
                self.busy.add(code)
                self.values[code] = self.computed(f, None)
                self.busy.discard(code)
                self.done[code] = None
        return field_value(f, self.values.get(code))

    def cell(self, f: FieldDef, row: dict[str, Any]) -> Value:
        if formula_of(f) is not None:
            row[f.code] = self.computed(f, row)
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
            record.ref(f.code, None)
