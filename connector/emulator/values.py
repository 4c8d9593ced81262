"""Field values: written to stored form, per type, with Kintone's error keys and messages."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any, Literal

from .errors import api_error
from .schema import ENTITY_TYPES, FieldDef, FieldType
from .store import Directory, StoredFile

# Messages exactly as a real domain answers in English (docs/kintone-api.md §5.2).
MSG_REQUIRED = "Required."
MSG_DUPLICATE = "This value already exists in another record."
MSG_NUMBER = "Only numbers are allowed."
MSG_INVALID = "Invalid value."

# `\d+(\.\d*)?` rather than `\d+\.?\d*`: the latter backtracks quadratically on a long run of
# digits that ends in a letter.
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$"
)
_TEXT_TYPES = frozenset(
    {
        FieldType.SINGLE_LINE_TEXT,
        FieldType.MULTI_LINE_TEXT,
        FieldType.RICH_TEXT,
        FieldType.LINK,
    }
)
_LIST_TYPES = frozenset({FieldType.CHECK_BOX, FieldType.MULTI_SELECT, FieldType.FILE})
_READ_ONLY_LISTS = frozenset({FieldType.SUBTABLE, FieldType.STATUS_ASSIGNEE, FieldType.CATEGORY})
_NULLABLE = frozenset({FieldType.DATE, FieldType.TIME, FieldType.DATETIME, FieldType.DROP_DOWN})
# Length bounds exist on these types only (fields.json has minLength/maxLength on them).
_LENGTH_TYPES = frozenset({FieldType.SINGLE_LINE_TEXT, FieldType.LINK})
# Kintone's field entry limits (help article 040528, docs/emulator.md): a text or link field
# with "Prohibit duplicate values" holds at most 64 characters; dates run from 1000 to 9999.
MAX_UNIQUE_LENGTH = 64
MIN_YEAR, MAX_YEAR = 1000, 9999
# Decimals kept past the app's decimal places stop here: room for any double written out in
# full (5e-324 has 324 places), and no 300-million-digit expansion of `1e-300000000`.
MAX_KEPT_DECIMALS = 1000
MSG_DATE_RANGE = "Enter a date between 1000-01-01 and 9999-12-31."
MSG_DATETIME_RANGE = "Enter a date and time between 1000-01-01T00:00Z and 9999-12-31T23:59Z."


@dataclass(frozen=True)
class NumberPrecision:
    """The app's "Total Number of Digits" and "Number of Decimal Places to Round" settings.

    The integer part holds at most `digits - decimal_places` digits; decimals past
    `decimal_places` are refused, rounded half to even, or kept (`excess_decimals`).
    """

    digits: int = 30
    decimal_places: int = 10
    excess_decimals: Literal["reject", "round", "keep"] = "keep"


@dataclass(frozen=True)
class ValueContext:
    """Where conversion problems go, and the domain objects values refer to."""

    errors: dict[str, list[str]]
    directory: Directory
    attach: Callable[[str], StoredFile | None]
    precision: NumberPrecision = NumberPrecision()

    def fail(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)


def empty_value(f: FieldDef) -> Any:
    """The stored (and read) value of an empty field."""
    if f.type in _LIST_TYPES or f.type in ENTITY_TYPES or f.type in _READ_ONLY_LISTS:
        return []
    if f.type in _NULLABLE:
        return None
    return ""


def default_value(f: FieldDef) -> Any:
    """The value a POST stores when the field is absent: the form's default.

    Source: docs/kintone-api.md §5.2.
    """
    if f.type in (FieldType.DATE, FieldType.TIME, FieldType.DATETIME) and f.raw.get(
        "defaultNowValue"
    ):
        now = datetime.now(UTC)
        if f.type is FieldType.DATE:
            return now.strftime("%Y-%m-%d")
        if f.type is FieldType.TIME:
            return now.strftime("%H:%M")
        return now.strftime("%Y-%m-%dT%H:%M:00Z")
    default = f.default
    if f.type in (FieldType.CHECK_BOX, FieldType.MULTI_SELECT):
        return [str(v) for v in default or []]
    if f.type in ENTITY_TYPES or f.type in (FieldType.FILE, FieldType.SUBTABLE):
        # Entity defaults may name functions such as LOGINUSER(); the emulator leaves them empty.
        return []
    if default in (None, ""):
        return empty_value(f)
    return str(default)


def convert(f: FieldDef, raw: Any, key: str, ctx: ValueContext, *, in_table: bool = False) -> Any:
    """The stored value for a written `value`; problems go to `ctx.errors` under `key`.

    `key` is the field's error-key prefix without `.value` (`records[2].qty`).

    Raises:
        ApiError: GAIA_IL26/GAIA_IL27/GAIA_IL28 for an unknown user, group or organization, and
            GAIA_BL01 for an unknown upload key: Kintone refuses the whole request for these.
    """
    t = f.type
    if t in _TEXT_TYPES:
        return _text(raw, key, ctx)
    if t is FieldType.NUMBER:
        return _number(raw, key, ctx, in_table=in_table)
    if t is FieldType.DATE:
        return _date(raw, key, ctx)
    if t is FieldType.TIME:
        return _time(raw, key, ctx)
    if t in (FieldType.DATETIME, FieldType.CREATED_TIME, FieldType.UPDATED_TIME):
        return _datetime(raw, key, ctx)
    if t in (FieldType.CHECK_BOX, FieldType.MULTI_SELECT):
        return _choices(f, raw, key, ctx)
    if t in (FieldType.RADIO_BUTTON, FieldType.DROP_DOWN):
        return _choice(f, raw, key, ctx)
    if t in ENTITY_TYPES:
        return _entities(f, raw, key, ctx)
    if t in (FieldType.CREATOR, FieldType.MODIFIER):
        return _creator(raw, key, ctx)
    if t is FieldType.FILE:
        return _files(raw, key, ctx)
    ctx.fail(f"{key}.value", MSG_INVALID)
    return empty_value(f)


def check(f: FieldDef, stored: Any, key: str, errors: dict[str, list[str]]) -> None:
    """Required, length and range checks on a stored value (options are checked on convert)."""
    empty = stored in (None, "", [])
    if f.required and empty and f.type is not FieldType.RADIO_BUTTON:
        # A radio button always has a value in the form; the API does not enforce `required` on it
        # (docs/kintone-api.md §5.1, observed).
        errors.setdefault(_required_key(f, key), []).append(MSG_REQUIRED)
        return
    if empty:
        if f.type in _LENGTH_TYPES and f.min_length:
            # minLength applies to "" and to a field left out (SonicGarden/kintone-emulator,
            # doc/real-kintone-dual-mode-followup.md and record-validation.test.ts, dual tests).
            errors.setdefault(f"{key}.value", []).append(
                f"Enter more than {f.min_length - 1} characters."
            )
        return
    problems: list[str] = []
    if f.type in _LENGTH_TYPES and isinstance(stored, str):
        max_length = f.max_length
        if f.unique:
            max_length = min(max_length or MAX_UNIQUE_LENGTH, MAX_UNIQUE_LENGTH)
        if max_length is not None and len(stored) > max_length:
            problems.append(f"Enter less than {max_length + 1} characters.")
        if f.min_length is not None and len(stored) < f.min_length:
            problems.append(f"Enter more than {f.min_length - 1} characters.")
    if f.type is FieldType.NUMBER and isinstance(stored, str):
        number = Decimal(stored)
        if f.max_value is not None and number > f.max_value:
            problems.append(f"The value must be {_plain(f.max_value)} or less.")
        if f.min_value is not None and number < f.min_value:
            problems.append(f"The value must be {_plain(f.min_value)} or more.")
    if problems:
        errors.setdefault(f"{key}.value", []).extend(problems)


def _required_key(f: FieldDef, key: str) -> str:
    if f.type in ENTITY_TYPES:
        return f"{key}.values.value"
    if f.type in _LIST_TYPES:
        return f"{key}.values"
    return f"{key}.value"


def _plain(value: Decimal) -> str:
    return format(value, "f")


# --- per type ---------------------------------------------------------------------------------


def _text(raw: Any, key: str, ctx: ValueContext) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        ctx.fail(f"{key}.value", MSG_INVALID)
        return ""
    return str(raw)


def _number(raw: Any, key: str, ctx: ValueContext, *, in_table: bool) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float | Decimal):
        text = None
    else:
        text = str(raw).strip()
    if text == "":
        return ""
    if text is None or not _NUMBER.match(text):
        if in_table:
            # Inside a table a non-numeric value is silently stored empty (docs/kintone-api.md §5.1,
            # observed).
            return ""
        # Observed: both keys, the second in bracket form (docs/kintone-api.md §5.2).
        ctx.fail(f"{key}.value", MSG_REQUIRED)
        ctx.fail(_bracket(key) + ".value", MSG_NUMBER)
        return ""
    return _within_precision(text, key, ctx)


def _within_precision(text: str, key: str, ctx: ValueContext) -> str:
    """The number if its digits fit the app's precision, checked before any expansion.

    `1e300000000` is 16 characters but 300 million digits once written out: counting digits
    from the exponent refuses it without building the string.
    """
    precision = ctx.precision
    number = Decimal(text.strip())
    _, digits, exponent = number.as_tuple()
    assert isinstance(exponent, int)  # the pattern admits no NaN or Infinity
    significant = list(digits)
    while exponent < 0 and len(significant) > 1 and significant[-1] == 0:
        significant.pop()
        exponent += 1
    if not any(significant):  # zero, however written (`0E-12`, `0.000`), has no digits
        return normalize_number(text)
    whole = max(0, len(significant) + exponent)
    decimals = max(0, -exponent)
    max_whole = precision.digits - precision.decimal_places
    if whole > max_whole:
        ctx.fail(f"{key}.value", f"Enter at most {max_whole} digits before the decimal point.")
        return ""
    if decimals > precision.decimal_places:
        if precision.excess_decimals == "keep" and decimals > MAX_KEPT_DECIMALS:
            # Even kept, `1e-300000000` would be written out as 300 million digits.
            ctx.fail(
                f"{key}.value", f"Enter at most {MAX_KEPT_DECIMALS} digits after the decimal point."
            )
            return ""
        if precision.excess_decimals == "reject":
            ctx.fail(
                f"{key}.value",
                f"Enter at most {precision.decimal_places} digits after the decimal point.",
            )
            return ""
        if precision.excess_decimals == "round":
            with localcontext() as exact:
                exact.prec = precision.digits + 2
                step = Decimal(1).scaleb(-precision.decimal_places)
                rounded = number.quantize(step, rounding=ROUND_HALF_EVEN)
            return normalize_number(format(rounded, "f"))
    return normalize_number(text)


def normalize_number(text: str) -> str:
    """A number as Kintone stores it: `" 42 "` -> `42`, `1.5e1` -> `15`, `+3` -> `3`."""
    text = text.strip().lstrip("+")
    if "e" in text or "E" in text:
        value = Decimal(text)
        plain = format(value, "f")
        if "." in plain:
            plain = plain.rstrip("0").rstrip(".")
        return plain
    return text


def _bracket(key: str) -> str:
    """`records[2].qty` -> `records[2][qty]`: the key form Kintone uses for non-numeric numbers."""
    head, _, code = key.rpartition(".")
    return f"{head}[{code}]" if head else key


def _date(raw: Any, key: str, ctx: ValueContext) -> str | None:
    if raw in (None, ""):
        return None
    m = _DATE.match(raw) if isinstance(raw, str) else None
    if m is None:
        ctx.fail(f"{key}.value", "Enter a valid date (YYYY-MM-DD).")
        return None
    year, month, day = int(m[1]), int(m[2] or 1), int(m[3] or 1)
    try:
        value = date(year, month, day)
    except ValueError:
        ctx.fail(f"{key}.value", "Enter a valid date (YYYY-MM-DD).")
        return None
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        ctx.fail(f"{key}.value", MSG_DATE_RANGE)
        return None
    return value.isoformat()


def _time(raw: Any, key: str, ctx: ValueContext) -> str | None:
    if raw in (None, ""):
        return None
    m = _TIME.match(raw) if isinstance(raw, str) else None
    if m is None or int(m[1]) > 23 or int(m[2]) > 59 or int(m[3] or 0) > 59:
        ctx.fail(f"{key}.value", "Enter a valid time (HH:MM).")
        return None
    return f"{int(m[1]):02d}:{m[2]}"


def _datetime(raw: Any, key: str, ctx: ValueContext) -> str | None:
    if raw in (None, ""):
        return None
    parsed = parse_datetime(raw) if isinstance(raw, str) else None
    if parsed is None:
        ctx.fail(f"{key}.value", "Enter a valid date and time (YYYY-MM-DDTHH:MM:SSZ).")
        return None
    if not MIN_YEAR <= parsed.year <= MAX_YEAR:
        ctx.fail(f"{key}.value", MSG_DATETIME_RANGE)
        return None
    return parsed.strftime("%Y-%m-%dT%H:%M:00Z")


def parse_datetime(text: str) -> datetime | None:
    """A written datetime in UTC; seconds are kept here and dropped on store.

    Source: docs/kintone-api.md §1.
    """
    m = _DATETIME.match(text.strip())
    if m is None:
        return None
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    hour, minute, second = int(m[4] or 0), int(m[5] or 0), int(m[6] or 0)
    zone = m[7]
    tz: timezone = UTC
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        tz = timezone(sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6])))
    try:
        value = datetime(year, month, day, hour, minute, second, tzinfo=tz)
        return value.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that leaves years 1-9999
        return None


def _choices(f: FieldDef, raw: Any, key: str, ctx: ValueContext) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        ctx.fail(f"{key}.values", MSG_INVALID)
        return []
    out: list[str] = []
    for index, item in enumerate(raw):
        if not isinstance(item, str) or item not in f.options:
            ctx.fail(f"{key}.values[{index}].value", f'The value, "{item}", is not in options.')
            continue
        if item not in out:
            out.append(item)
    return out


def _choice(f: FieldDef, raw: Any, key: str, ctx: ValueContext) -> str | None:
    if raw is None:
        return None if f.type is FieldType.DROP_DOWN else ""
    if raw == "":
        # A DROP_DOWN written as "" reads back null (SonicGarden/kintone-emulator,
        # packages/core/tests/api/record/record-defaults.test.ts, a dual test).
        return None if f.type is FieldType.DROP_DOWN else ""
    if not isinstance(raw, str) or raw not in f.options:
        ctx.fail(f"{key}.value", f'The value, "{raw}", is not in options.')
        return None
    return raw


_ENTITY_ERRORS = {
    FieldType.USER_SELECT: "GAIA_IL26",
    FieldType.GROUP_SELECT: "GAIA_IL27",
    FieldType.ORGANIZATION_SELECT: "GAIA_IL28",
}


def _entities(f: FieldDef, raw: Any, key: str, ctx: ValueContext) -> list[dict[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        ctx.fail(f"{key}.values", MSG_INVALID)
        return []
    known = {
        FieldType.USER_SELECT: ctx.directory.users,
        FieldType.ORGANIZATION_SELECT: ctx.directory.organizations,
        FieldType.GROUP_SELECT: ctx.directory.groups,
    }[f.type]
    out: list[dict[str, str]] = []
    for index, item in enumerate(raw):
        code = item.get("code") if isinstance(item, Mapping) else None
        if not isinstance(code, str) or code == "":
            ctx.fail(f"{key}.values[{index}].code", MSG_REQUIRED)
            continue
        entity = known.get(code)
        if entity is None:
            raise api_error(_ENTITY_ERRORS[f.type], code=code)
        if all(e["code"] != code for e in out):
            out.append({"code": entity.code, "name": entity.name})
    return out


def _creator(raw: Any, key: str, ctx: ValueContext) -> dict[str, str] | None:
    code = raw.get("code") if isinstance(raw, Mapping) else None
    if not isinstance(code, str) or code == "":
        ctx.fail(f"{key}.value.code", MSG_REQUIRED)
        return None
    user = ctx.directory.users.get(code)
    if user is None:
        raise api_error("GAIA_IL26", code=code)
    return {"code": user.code, "name": user.name}


def _files(raw: Any, key: str, ctx: ValueContext) -> list[dict[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        ctx.fail(f"{key}.values", MSG_INVALID)
        return []
    out: list[dict[str, str]] = []
    for index, item in enumerate(raw):
        file_key = item.get("fileKey") if isinstance(item, Mapping) else None
        if not isinstance(file_key, str) or file_key == "":
            ctx.fail(f"{key}.values[{index}].fileKey", MSG_REQUIRED)
            continue
        stored = ctx.attach(file_key)
        if stored is None:
            raise api_error("GAIA_BL01", key=file_key)
        out.append(
            {
                "contentType": stored.content_type,
                "fileKey": stored.key,
                "name": stored.name,
                "size": str(len(stored.data)),
            }
        )
    return out
