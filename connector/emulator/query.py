"""Kintone's record query language: conditions, `order by`, `limit` and `offset` over an app."""

from __future__ import annotations

import calendar
import dataclasses
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import ApiError, api_error, invalid_one
from .params import is_integer_text
from .schema import ENTITY_TYPES, AppSchema, FieldDef, FieldType
from .store import StoredRecord
from .values import parse_datetime

MAX_LIMIT = 500
MAX_OFFSET = 10_000
DEFAULT_LIMIT = 100
# Parentheses nest at most this deep; the parser recurses per level, so 5,000 levels would
# exhaust Python's stack. Kintone's own bound is undocumented (docs/emulator.md).
MAX_NESTING = 100

Predicate = Callable[[StoredRecord], bool]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<op>!=|<>|>=|<=|=|>|<)
      | (?P<punct>[(),])
      | (?P<word>[^\s(),"=!<>]+)
    )""",
    re.VERBOSE | re.DOTALL,
)
_NUMERIC = frozenset({FieldType.NUMBER, FieldType.CALC})
_TEXT = frozenset({FieldType.SINGLE_LINE_TEXT, FieldType.LINK})
_LONG_TEXT = frozenset({FieldType.MULTI_LINE_TEXT, FieldType.RICH_TEXT})
_DATETIMES = frozenset({FieldType.DATETIME, FieldType.CREATED_TIME, FieldType.UPDATED_TIME})
_MULTI = frozenset({FieldType.CHECK_BOX, FieldType.MULTI_SELECT})
_SINGLE_CHOICE = frozenset({FieldType.RADIO_BUTTON, FieldType.DROP_DOWN})
_USERS = ENTITY_TYPES | {FieldType.CREATOR, FieldType.MODIFIER, FieldType.STATUS_ASSIGNEE}
_COMPARE = frozenset({"=", "!=", ">", "<", ">=", "<="})
# Choice fields whose compared values must be options (GAIA_IQ10).
_OPTION_TYPES = frozenset(
    {FieldType.CHECK_BOX, FieldType.MULTI_SELECT, FieldType.RADIO_BUTTON, FieldType.DROP_DOWN}
)
# Operators each kind of field accepts (Kintone's query operator table, docs/kintone-api.md §8
# GAIA_IQ03).
_ALLOWED: dict[str, frozenset[str]] = {
    "id": _COMPARE | {"in", "not in"},
    "number": _COMPARE | {"in", "not in"},
    "text": frozenset({"=", "!=", "in", "not in", "like", "not like"}),
    "long_text": frozenset({"like", "not like"}),
    "date": _COMPARE,
    "time": _COMPARE,
    "multi": frozenset({"in", "not in"}),
    "choice": frozenset({"in", "not in"}),
    # STATUS takes `=` as well: `ステータス = "未処理"` matched on a real domain
    # (SonicGarden/kintone-emulator, packages/core/tests/api/record/status.test.ts).
    "status": frozenset({"=", "!=", "in", "not in"}),
    "users": frozenset({"in", "not in"}),
    "file": frozenset({"like", "not like"}),
}


def syntax_error(detail: str) -> ApiError:
    """A query the parser cannot read: CB_VA01 keyed `query` (the emulator's choice)."""
    return invalid_one("query", f"Query syntax is incorrect: {detail}")


@dataclass(frozen=True)
class Query:
    """A compiled query: a filter, sort keys, and the page bounds."""

    where: Predicate | None
    order: list[tuple[Callable[[StoredRecord], Any], bool]]
    """Sort keys with `descending` flags, most significant first."""
    limit: int
    offset: int
    by_id: bool | None
    """When the order is `$id` alone, whether it is descending: records then need no sort."""
    ids: frozenset[int] | None = None
    """When the whole filter is `$id in (...)`: the ids, so records are looked up, not scanned."""

    def matching(self, records: Iterable[StoredRecord]) -> Iterable[StoredRecord]:
        where = self.where
        return records if where is None else (r for r in records if where(r))

    def select(self, stored: Mapping[int, StoredRecord]) -> list[StoredRecord]:
        """The page of matching records, in order (records by id, in ascending id order)."""
        stop = self.offset + self.limit
        records: Iterable[StoredRecord] = stored.values()
        if self.ids is not None:  # the filter still runs: the lookup only narrows the scan
            records = [stored[i] for i in sorted(self.ids) if i in stored]
        if self.by_id is not None:
            source = reversed(list(records)) if self.by_id else records
            page: list[StoredRecord] = []
            for record in self.matching(source):
                page.append(record)
                if len(page) >= stop:
                    break
            return page[self.offset :]
        found = list(self.matching(records))
        for key, descending in reversed(self.order):
            found.sort(key=key, reverse=descending)
        return found[self.offset : stop]

    def count(self, records: Iterable[StoredRecord]) -> int:
        """How many records match, ignoring limit and offset (`totalCount`)."""
        return sum(1 for _ in self.matching(records))


def compile_query(
    text: str | None,
    schema: AppSchema,
    *,
    app_code: str = "",
    allow_limit: bool = True,
    login_user: str | None = None,
    today: date | None = None,
) -> Query:
    """Parse a query string against an app's form.

    Raises:
        ApiError: GAIA_IQ11 for an unknown field, GAIA_IQ03 for an operator the field's type does
            not take, GAIA_QU01 for a limit over 500, CB_VA01 (`query`) for a syntax error or an
            offset over 10,000.
    """
    tokens = _tokenize(text or "")
    parser = _Parser(tokens, schema, app_code, login_user, today or datetime.now(UTC).date())
    query = parser.parse(allow_limit)
    listed = _ID_LIST.match(text or "")
    if listed is None:
        return query
    ids = frozenset(int(i) for i in re.findall(r"\d+", listed.group(1)))
    return dataclasses.replace(query, ids=ids)


_ID_LIST = re.compile(
    r'(?s)\s*\$id\s+(?i:in)\s*\(((?:\s*"?\d+"?\s*,)*\s*"?\d+"?\s*)\)\s*'
    r"(?:$|(?=(?i:order\s+by|limit|offset)\b))"
)
"""A filter that is `$id in (...)` alone (what a client reads records by id with)."""


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise syntax_error(f"unexpected character at position {pos}")
        kind = m.lastgroup
        assert kind is not None
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


_ESCAPES = {"t": "\t", "n": "\n", "r": "\n"}


def _unquote(token: str) -> str:
    """A string literal's text: `\\t` is a tab, `\\n` a line feed; a raw tab, line feed or carriage
    return inside the quotes is a syntax error (SonicGarden/kintone-emulator,
    doc/kintone-query-behavior.md, "生制御文字の禁止")."""
    body = token[1:-1]
    if any(c in body for c in "\t\n\r"):
        raise syntax_error("a string holds a raw tab or line break")
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m[1], m[1]), body, flags=re.DOTALL)


@dataclass(frozen=True)
class _Field:
    code: str
    kind: str
    type: FieldType | None
    table: str | None
    getter: Callable[[StoredRecord], Any]
    options: frozenset[str] | None = None
    """The options of a choice field, whose compared values must be among them."""


@dataclass(frozen=True)
class _RowMatch:
    """A positive condition on a table field: true when some row of `table` passes `test`."""

    table: str
    test: Callable[[dict[str, Any]], bool]

    def __call__(self, record: StoredRecord) -> bool:
        return any(self.test(row) for row in record.values.get(self.table) or [])


def _same_row(parts: list[Predicate]) -> list[Predicate]:
    """`and`-ed positive conditions on one table must hold in the same row (query notes)."""
    by_table: dict[str, list[_RowMatch]] = {}
    out: list[Predicate] = []
    for part in parts:
        if isinstance(part, _RowMatch):
            by_table.setdefault(part.table, []).append(part)
        else:
            out.append(part)
    for table, matches in by_table.items():
        out.append(_RowMatch(table, _all_of([m.test for m in matches])))
    return out


def _all_of(tests: list[Callable[[dict[str, Any]], bool]]) -> Callable[[dict[str, Any]], bool]:
    return lambda row: all(t(row) for t in tests)


class _Parser:
    def __init__(
        self,
        tokens: list[tuple[str, str]],
        schema: AppSchema,
        app_code: str,
        login_user: str | None,
        today: date,
    ) -> None:
        self.tokens = tokens
        self.pos = 0
        self.schema = schema
        self.app_code = app_code
        self.login_user = login_user
        self.today = today
        self.depth = 0

    # --- token helpers ------------------------------------------------------------------------

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.pos + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def next(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise syntax_error("the query ends too early")
        self.pos += 1
        return token

    def keyword(self, *words: str) -> bool:
        """Consume the keywords if they come next (case-insensitive)."""
        for i, word in enumerate(words):
            token = self.peek(i)
            if token is None or token[0] != "word" or token[1].lower() != word:
                return False
        self.pos += len(words)
        return True

    def expect(self, kind: str, value: str | None = None) -> str:
        token = self.next()
        if token[0] != kind or (value is not None and token[1] != value):
            raise syntax_error(f"expected {value or kind}, found {token[1]!r}")
        return token[1]

    # --- grammar ------------------------------------------------------------------------------

    def parse(self, allow_limit: bool) -> Query:
        where = None
        if self.peek() is not None and not self._at_clause():
            where = self.expression()
        order: list[tuple[Callable[[StoredRecord], Any], bool]] = []
        by_id: bool | None = True  # Kintone's default order is `$id desc`.
        limit, offset = DEFAULT_LIMIT, 0
        if self.keyword("order", "by"):
            order, by_id = self.order_by()
        seen: set[str] = set()
        while self.peek() is not None:
            word = self.next()[1].lower()
            if word not in ("limit", "offset") or word in seen:
                raise syntax_error(f"unexpected {word!r}")
            seen.add(word)
            if not allow_limit:
                raise invalid_one("query", "limit and offset cannot be used in a cursor query.")
            number = self._integer()
            if word == "limit":
                if number > MAX_LIMIT:
                    raise api_error("GAIA_QU01")
                limit = number
            else:
                if number > MAX_OFFSET:
                    # GAIA_QU02 on a real domain (SonicGarden/kintone-emulator,
                    # doc/kintone-query-behavior.md, "エラーレスポンス集").
                    raise api_error("GAIA_QU02")
                offset = number
        if not allow_limit:
            limit = 10**12
        return Query(where, order, limit, offset, by_id)

    def _at_clause(self) -> bool:
        token = self.peek()
        if token is None or token[0] != "word":
            return False
        word = token[1].lower()
        if word in ("limit", "offset"):
            return True
        nxt = self.peek(1)
        return word == "order" and nxt is not None and nxt[1].lower() == "by"

    def _integer(self) -> int:
        kind, value = self.next()
        if kind != "word" or not is_integer_text(value) or value.startswith("-"):
            raise syntax_error(f"expected a number, found {value!r}")
        return int(value)

    def expression(self) -> Predicate:
        parts = [self.conjunction()]
        while self.keyword("or"):
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda r: any(p(r) for p in parts)

    def conjunction(self) -> Predicate:
        parts = [self.atom()]
        while self.keyword("and"):
            parts.append(self.atom())
        parts = _same_row(parts)
        if len(parts) == 1:
            return parts[0]
        return lambda r: all(p(r) for p in parts)

    def atom(self) -> Predicate:
        token = self.peek()
        if token == ("punct", "("):
            self.pos += 1
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise syntax_error(f"parentheses nest deeper than {MAX_NESTING} levels")
            inner = self.expression()
            self.expect("punct", ")")
            self.depth -= 1
            return inner
        return self.condition()

    def condition(self) -> Predicate:
        kind, code = self.next()
        if kind != "word":
            raise syntax_error(f"expected a field code, found {code!r}")
        field = self.field(code)
        if self.keyword("is", "not", "empty"):
            return self._negate(self._empty(field), field)
        if self.keyword("is", "empty"):
            return self._empty(field)
        op = self.operator()
        if field.table is not None and op in ("=", "!="):
            # `=` and `!=` on a table field are GAIA_IQ07 whatever the type (query notes).
            raise api_error("GAIA_IQ07", operator=op, field=field.code)
        if op in ("in", "not in"):
            items = self.value_list()
            self._check_options(field, items)
        else:
            items = [self.value()]
            if op in ("=", "!="):
                self._check_options(field, items)
        if op not in _ALLOWED[field.kind]:
            raise api_error("GAIA_IQ03", operator=op, field=field.code)
        if op in ("in", "not in"):
            predicate = self._in(field, items)
        elif op in ("like", "not like"):
            predicate = self._like(field, items[0])
        else:
            predicate = self._compare(field, op, items[0])
        return self._negate(predicate, field) if op.startswith("not") else predicate

    def _check_options(self, field: _Field, items: list[Any]) -> None:
        """A choice field compared with a value that is not one of its options is GAIA_IQ10,
        checked before the operator (SonicGarden/kintone-emulator, records-query.test.ts)."""
        if field.options is None:
            return
        for item in items:
            if not isinstance(item, str) or (item == "" and field.type is FieldType.DROP_DOWN):
                continue
            if item not in field.options:
                raise api_error("GAIA_IQ10", field=field.code, value=item)

    def operator(self) -> str:
        for words in (("not", "in"), ("in",), ("not", "like"), ("like",)):
            if self.keyword(*words):
                return " ".join(words)
        op = self.expect("op")
        return "!=" if op == "<>" else op

    def value_list(self) -> list[Any]:
        self.expect("punct", "(")
        items = [self.value()]
        while self.peek() == ("punct", ","):
            self.pos += 1
            items.append(self.value())
        self.expect("punct", ")")
        return items

    def value(self) -> Any:
        kind, token = self.next()
        if kind == "string":
            return _unquote(token)
        if kind == "word" and self.peek() == ("punct", "("):
            return self.function(token.upper())
        if kind == "word" and re.fullmatch(r"-?\d+(\.\d+)?", token):
            return token
        raise syntax_error(f"expected a value, found {token!r}")

    def function(self, name: str) -> Any:
        self.expect("punct", "(")
        args: list[str] = []
        while self.peek() != ("punct", ")"):
            args.append(self.next()[1])
            if self.peek() == ("punct", ","):
                self.pos += 1
        self.expect("punct", ")")
        return _Function(name, tuple(args))

    def order_by(self) -> tuple[list[tuple[Callable[[StoredRecord], Any], bool]], bool | None]:
        keys: list[tuple[Callable[[StoredRecord], Any], bool]] = []
        codes: list[tuple[str, bool]] = []
        while True:
            kind, code = self.next()
            if kind != "word":
                raise syntax_error(f"expected a field code after order by, found {code!r}")
            field = self.field(code)
            if field.table is not None or field.kind in ("multi", "users", "file", "long_text"):
                raise api_error("GAIA_IQ03", operator="order by", field=field.code)
            descending = False
            if self.keyword("desc"):
                descending = True
            else:
                self.keyword("asc")
            keys.append((_sort_key(field), descending))
            codes.append((field.kind, descending))
            if self.peek() != ("punct", ","):
                break
            self.pos += 1
        by_id = codes[0][1] if len(codes) == 1 and codes[0][0] == "id" else None
        return keys, by_id

    # --- fields and predicates ----------------------------------------------------------------

    def field(self, code: str) -> _Field:
        if code == "$id":
            return _Field(code, "id", None, None, lambda r: r.id)
        f = self.schema.fields.get(code) or self.schema.inner.get(code)
        if f is None:
            raise api_error("GAIA_IQ11", field=code)
        kind = _kind(f)
        if kind is None:
            raise api_error("GAIA_IQ03", operator="query", field=code)
        if f.type is FieldType.RECORD_NUMBER:
            return _Field(code, "id", f.type, None, lambda r: r.id)
        options = f.options if f.type in _OPTION_TYPES else None
        if f.table is not None:
            table, inner = f.table, f.code
            return _Field(
                code,
                kind,
                f.type,
                table,
                lambda r: [row["value"].get(inner) for row in r.values.get(table) or []],
                options,
            )
        return _Field(code, kind, f.type, None, lambda r: r.values.get(code), options)

    def _each(self, field: _Field, test: Callable[[Any], bool]) -> Predicate:
        """A predicate on the field's value; a table field matches when any row does."""
        getter = field.getter
        if field.table is not None:
            code = field.code
            return _RowMatch(field.table, lambda row: test(row["value"].get(code)))
        return lambda r: test(getter(r))

    @staticmethod
    def _negate(predicate: Predicate, field: _Field | None = None) -> Predicate:
        """`not`: on a table field, only records with rows, every row passing (query notes)."""
        if field is not None and field.table is not None:
            table = field.table
            return lambda r: bool(r.values.get(table)) and not predicate(r)
        return lambda r: not predicate(r)

    def _empty(self, field: _Field) -> Predicate:
        if field.kind == "id":
            return lambda r: False
        return self._each(field, lambda v: v in (None, "", []))

    def _like(self, field: _Field, value: Any) -> Predicate:
        needle = str(self._resolve(value)).lower()
        if field.kind == "file":
            return self._each(field, lambda v: any(needle in f["name"].lower() for f in v or []))
        return self._each(field, lambda v: needle in str(v or "").lower())

    def _in(self, field: _Field, items: list[Any]) -> Predicate:
        if field.kind in ("users",):
            codes = {self._user(v) for v in items}

            def users(v: Any) -> bool:
                entries = v if isinstance(v, list) else [v] if v else []
                return any(e.get("code") in codes for e in entries)

            return self._each(field, users)
        if field.kind == "multi":
            options = {str(self._resolve(v)) for v in items}
            return self._each(field, lambda v: any(o in options for o in v or []))
        if field.kind in ("id", "number"):
            numbers = {self._number(field, v) for v in items}
            getter = _number_getter(field)
            return self._each(field, lambda v: getter(v) in numbers)
        texts = {str(self._resolve(v)) for v in items}
        return self._each(field, lambda v: (v or "") in texts)

    def _compare(self, field: _Field, op: str, value: Any) -> Predicate:
        if field.kind in ("id", "number"):
            target = self._number(field, value)
            getter = _number_getter(field)
            return self._each(field, lambda v: _ordered(op, getter(v), target))
        if field.kind in ("date", "time"):
            lo, hi = self._interval(field, value)
            normalise = _date_key(field)
            return self._each(field, lambda v: _in_interval(op, normalise(v), lo, hi))
        if field.kind in ("text", "status"):
            text = str(self._resolve(value))
            if op == "=":
                return self._each(field, lambda v: (v or "") == text)
            if op == "!=":
                return self._each(field, lambda v: (v or "") != text)
        raise api_error("GAIA_IQ03", operator=op, field=field.code)

    # --- literals -----------------------------------------------------------------------------

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, _Function):
            if value.name == "LOGINUSER":
                return self.login_user or ""
            raise syntax_error(f"{value.name}() cannot be used here")
        return value

    def _user(self, value: Any) -> str:
        return str(self._resolve(value))

    def _number(self, field: _Field, value: Any) -> Decimal | None:
        value = self._resolve(value)
        if value == "":
            return None
        text = str(value)
        if field.kind == "id" and self.app_code and text.startswith(f"{self.app_code}-"):
            text = text[len(self.app_code) + 1 :]
        try:
            return Decimal(text)
        except InvalidOperation:
            raise syntax_error(f"{value!r} is not a number for {field.code}") from None

    def _interval(self, field: _Field, value: Any) -> tuple[str | None, str | None]:
        """The inclusive range of comparable strings a literal or date function stands for."""
        timed = field.type in _DATETIMES
        if isinstance(value, _Function):
            first, last = self._date_function(value)
            if field.kind == "time":
                raise syntax_error(f"{value.name}() cannot be used with a TIME field")
            if value.name == "NOW":
                stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M")
                return (stamp, stamp) if timed else (stamp[:10], stamp[:10])
            if timed:
                return f"{first}T00:00", f"{last}T23:59"
            return first, last
        text = str(value)
        if text == "":
            return None, None
        if field.kind == "time":
            return text[:5], text[:5]
        if timed:
            if len(text) == 10:
                return f"{text}T00:00", f"{text}T23:59"
            parsed = parse_datetime(text)
            if parsed is None:
                raise syntax_error(f"{text!r} is not a date and time")
            stamp = parsed.strftime("%Y-%m-%dT%H:%M")
            return stamp, stamp
        return text[:10], text[:10]

    def _date_function(self, fn: _Function) -> tuple[str, str]:
        today = self.today
        if fn.name in ("TODAY", "NOW"):
            return today.isoformat(), today.isoformat()
        if fn.name == "YESTERDAY":
            day = today - timedelta(days=1)
            return day.isoformat(), day.isoformat()
        if fn.name == "TOMORROW":
            day = today + timedelta(days=1)
            return day.isoformat(), day.isoformat()
        if fn.name == "FROM_TODAY" and len(fn.args) == 2:
            if not is_integer_text(fn.args[0], max_digits=6):
                raise syntax_error(f"FROM_TODAY() needs a whole number, not {fn.args[0]!r}")
            try:
                day = _shift(today, int(fn.args[0]), fn.args[1].upper())
            except (OverflowError, ValueError):
                raise syntax_error("FROM_TODAY() leaves the calendar (years 1 to 9999)") from None
            return day.isoformat(), day.isoformat()
        if fn.name in ("THIS_MONTH", "LAST_MONTH", "NEXT_MONTH"):
            shift = {"THIS_MONTH": 0, "LAST_MONTH": -1, "NEXT_MONTH": 1}[fn.name]
            first = _shift(today.replace(day=1), shift, "MONTHS")
            last = first.replace(day=calendar.monthrange(first.year, first.month)[1])
            return first.isoformat(), last.isoformat()
        if fn.name in ("THIS_YEAR", "LAST_YEAR", "NEXT_YEAR"):
            year = today.year + {"THIS_YEAR": 0, "LAST_YEAR": -1, "NEXT_YEAR": 1}[fn.name]
            return f"{year}-01-01", f"{year}-12-31"
        raise syntax_error(f"unknown function {fn.name}()")


@dataclass(frozen=True)
class _Function:
    name: str
    args: tuple[str, ...]


def _kind(f: FieldDef) -> str | None:
    t = f.type
    if t is FieldType.RECORD_NUMBER:
        return "id"
    if t in _NUMERIC:
        return "number"
    if t in _TEXT:
        return "text"
    if t in _LONG_TEXT:
        return "long_text"
    if t in _DATETIMES or t is FieldType.DATE:
        return "date"
    if t is FieldType.TIME:
        return "time"
    if t in _MULTI:
        return "multi"
    if t in _SINGLE_CHOICE:
        return "choice"
    if t is FieldType.STATUS:
        return "status"
    if t in _USERS:
        return "users"
    if t is FieldType.FILE:
        return "file"
    return None


def _number_getter(field: _Field) -> Callable[[Any], Decimal | None]:
    if field.kind == "id":
        return lambda v: Decimal(v)

    def number(v: Any) -> Decimal | None:
        if v in (None, ""):
            return None
        try:
            return Decimal(v)
        except InvalidOperation:
            return None

    return number


def _ordered(op: str, left: Any, right: Any) -> bool:
    if left is None or right is None:
        # Empty values only equal an empty literal.
        same = left is None and right is None
        return same if op == "=" else (not same) if op == "!=" else False
    if op == "=":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if op == ">":
        return bool(left > right)
    if op == "<":
        return bool(left < right)
    if op == ">=":
        return bool(left >= right)
    return bool(left <= right)


def _date_key(field: _Field) -> Callable[[Any], str | None]:
    if field.type in _DATETIMES:
        return lambda v: v[:16] if v else None
    return lambda v: v or None


def _in_interval(op: str, value: str | None, lo: str | None, hi: str | None) -> bool:
    if value is None or lo is None or hi is None:
        same = value is None and lo is None
        return same if op == "=" else (not same) if op == "!=" else False
    if op == "=":
        return lo <= value <= hi
    if op == "!=":
        return not lo <= value <= hi
    if op == ">":
        return value > hi
    if op == ">=":
        return value >= lo
    if op == "<":
        return value < lo
    return value <= hi


def _shift(day: date, amount: int, unit: str) -> date:
    if unit == "DAYS":
        return day + timedelta(days=amount)
    if unit == "WEEKS":
        return day + timedelta(weeks=amount)
    months = amount * (12 if unit == "YEARS" else 1)
    if unit not in ("MONTHS", "YEARS"):
        raise syntax_error(f"unknown unit {unit} in FROM_TODAY()")
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def _sort_key(field: _Field) -> Callable[[StoredRecord], Any]:
    getter = field.getter
    if field.kind in ("id", "number"):
        numbers = _number_getter(field)

        def numeric(r: StoredRecord) -> tuple[bool, Decimal]:
            n = numbers(getter(r))
            return (n is not None, n if n is not None else Decimal(0))

        return numeric

    def textual(r: StoredRecord) -> tuple[bool, str]:
        v = getter(r)
        return (v not in (None, ""), str(v or ""))

    return textual
