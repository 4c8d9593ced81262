"""Kintone formulas: the parser, and the checks a deploy runs on every formula.

The grammar and functions are Kintone's documented ones (https://jp.kintone.help/k/ja/app/
form/autocalc/basic_error/autocalc_format.html); what values come back through the REST API
follows a real domain's observations (SonicGarden/kintone-emulator, doc/kintone-calc-behavior.md).
No `eval`: a small recursive-descent parser builds tuples that `calc.py` walks.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .errors import ApiError
from .schema import FieldDef, FieldType

Node = tuple[Any, ...]
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
