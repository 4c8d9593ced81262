"""Whether a record read from Kintone holds what a mapped row would write."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.mapping.convert import FileUpload
from connector.mapping.fields import FieldType
from connector.mapping.form import Field, Form

_DATETIMES = frozenset({FieldType.DATETIME, FieldType.CREATED_TIME, FieldType.UPDATED_TIME})
_CHOICES = frozenset({FieldType.CHECK_BOX, FieldType.MULTI_SELECT})
_ENTITIES = frozenset(
    {FieldType.USER_SELECT, FieldType.ORGANIZATION_SELECT, FieldType.GROUP_SELECT}
)
_USERS = frozenset({FieldType.CREATOR, FieldType.MODIFIER})
# Kintone sets these again on every edit, the connector's own included, and a PUT may not
# write them (GAIA_UN10, https://cybozu.dev/ja/kintone/docs/rest-api/records/update-record/):
# a difference would be reported after any later edit and could never be repaired.
_RESTAMPED = frozenset({FieldType.MODIFIER, FieldType.UPDATED_TIME})
_INSERT_ONLY = _USERS | {FieldType.CREATED_TIME, FieldType.UPDATED_TIME}
# Kintone takes partial dates and stores them whole: `2015-7` is stored `2015-07-01`
# (https://cybozu.dev/ja/kintone/docs/overview/field-types/).
_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{1,2})(?:-([0-9]{1,2}))?)?")
_TIME = re.compile(r"([0-9]{1,2}):([0-9]{2})(?::[0-9]{2}(?:\.[0-9]+)?)?")
_DIGITS = re.compile(r"([0-9]+)")


def drifted(
    form: Form,
    sent: Mapping[str, Any],
    read: Mapping[str, Any],
    *,
    merge_tables: Mapping[str, str] | None = None,
) -> list[str]:
    """The field codes whose stored value differs from the value sent, naturally sorted.

    `sent` is a record payload as the mapper builds it (`{code: {"value": v}}`, key field
    included); `read` is the record as records.json returns it (`{code: {"type", "value"}}`).
    Only the fields in `sent` are compared, each by its type the way Kintone stores it; one
    missing from `read` counts as drifted. Table cells are named `orders[2].qty` (0-based, the
    sent row's index), a whole table `orders` when its rows do not pair up.

    `merge_tables` maps a SUBTABLE code to its row-key field code: those tables pair rows by
    row key, in any order, and compare only the subfields sent. Row keys sent and stored must
    be the same: a stored row no sent row matches is drift, since the next write removes it
    (docs/mappings.md, "SUBTABLE rows").
    """
    merges = merge_tables or {}
    found: list[str] = []
    for code, entry in sent.items():
        f = form.get(code)
        value = _value(entry)
        ftype = _type(f, read.get(code))
        if ftype in _RESTAMPED or (ftype in _INSERT_ONLY and value in (None, "")):
            continue
        if code not in read:
            found.append(code)
        elif ftype == FieldType.SUBTABLE:
            subfields = f.fields if f is not None else {}
            rows = _rows(_value(read[code]))
            found += _table(code, subfields, _rows(value), rows, merges.get(code))
        elif not same(ftype, value, _value(read[code])):
            found.append(code)
    return sorted(found, key=_natural)


def same(ftype: FieldType | str, sent: Any, stored: Any) -> bool:
    """Whether a value sent to a field of this type is the value Kintone holds."""
    if ftype == FieldType.FILE:
        return _same_files(_files(sent), _files(stored))
    return canonical(ftype, sent) == canonical(ftype, stored)


def canonical(ftype: FieldType | str, value: Any) -> Hashable:
    """A value in the one form Kintone stores it in, for this field type.

    Values Kintone would not take are kept as text: they compare equal only to themselves.
    """
    if ftype == FieldType.NUMBER:
        return _number(value)
    if ftype == FieldType.DATE:
        return _date(value)
    if ftype == FieldType.TIME:
        return _time(value)
    if ftype in _DATETIMES:
        return _datetime(value)
    if ftype in _CHOICES:
        return frozenset(str(v) for v in value or ())
    if ftype in _ENTITIES:
        return frozenset(_code(v) for v in value or ())
    if ftype in _USERS:
        return _code(value) if value not in (None, "") else None
    if ftype == FieldType.FILE:
        return tuple(
            sorted((name or "", -1 if size is None else size) for name, size in _files(value))
        )
    # Text, options, and types this version does not know ($id included): as written.
    return "" if value is None else str(value)


# --- fields ---------------------------------------------------------------------------------


def _value(entry: Any) -> Any:
    return entry.get("value") if isinstance(entry, Mapping) else None


def _type(f: Field | None, entry: Any) -> FieldType | str:
    """The form's type; for a code the form lacks (`$id`), the type the record states."""
    if f is not None:
        return f.type
    raw = str(entry.get("type", "")) if isinstance(entry, Mapping) else ""
    try:
        return FieldType(raw)
    except ValueError:
        return raw


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> Hashable:
    # Kintone answers a number as it stored it, which need not be the text sent (`1.5e1` is
    # stored `15`): equal numbers are equal whatever their spelling.
    text = _text(repr(value) if isinstance(value, float) else value)
    if text is None:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return text
    return number if number.is_finite() else text


def _date(value: Any) -> Hashable:
    text = _text(value)
    if text is None:
        return None
    m = _DATE.fullmatch(text)
    if m is None:
        return text
    try:
        return date(int(m[1]), int(m[2] or 1), int(m[3] or 1)).isoformat()
    except ValueError:
        return text


def _time(value: Any) -> Hashable:
    text = _text(value)
    if text is None:
        return None
    m = _TIME.fullmatch(text)
    return f"{int(m[1]):02d}:{m[2]}" if m is not None else text


def _datetime(value: Any) -> Hashable:
    # Kintone keeps the minute and answers UTC (`…T09:30:00Z`); seconds are dropped, and a
    # value without an offset is UTC (https://cybozu.dev/ja/kintone/docs/overview/field-types/).
    text = _text(value)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC).replace(second=0, microsecond=0)
    except (ValueError, OverflowError):
        return text


def _code(entity: Any) -> str:
    # Written as {"code"}, read as {"code", "name"}: the code is the entity.
    return str(entity.get("code")) if isinstance(entity, Mapping) else str(entity)


# --- files ----------------------------------------------------------------------------------

_File = tuple[str | None, int | None]


def _files(value: Any) -> list[_File]:
    """Each file's name and size, where known: an upload key alone tells neither."""
    out: list[_File] = []
    for item in value or ():
        if isinstance(item, FileUpload):
            out.append((item.name, len(item.data)))
        elif isinstance(item, Mapping):
            size = str(item.get("size", ""))
            out.append((item.get("name"), int(size) if size.isdigit() else None))
        else:
            out.append((None, None))
    return out


def _same_files(sent: list[_File], stored: list[_File]) -> bool:
    """Every sent file pairs with its own stored file, matching in all that is known of it.

    Stored files come back under new download keys, so names and sizes are all there is to
    compare; order is ignored. Files known best pair first.
    """
    if len(sent) != len(stored):
        return False
    left = list(stored)
    for name, size in sorted(sent, key=lambda f: (f[0] is None) + (f[1] is None)):
        match = next(
            (
                i
                for i, (n, s) in enumerate(left)
                if (name is None or n == name) and (size is None or s == size)
            ),
            None,
        )
        if match is None:
            return False
        del left[match]
    return True


# --- tables ---------------------------------------------------------------------------------


def _rows(value: Any) -> list[Mapping[str, Any]]:
    rows = value if isinstance(value, list) else []
    return [(row.get("value") or {}) if isinstance(row, Mapping) else {} for row in rows]


def _table(
    code: str,
    subfields: Mapping[str, Field],
    sent: Sequence[Mapping[str, Any]],
    stored: Sequence[Mapping[str, Any]],
    row_key: str | None,
) -> list[str]:
    """Drifted cells of one SUBTABLE, or the table itself when its rows do not pair up."""
    if row_key is None:
        pairs = list(zip(sent, stored, strict=True)) if len(sent) == len(stored) else None
    else:
        pairs = _pair_by_key(subfields, sent, stored, row_key)
    if pairs is None:
        return [code]
    found: list[str] = []
    for index, (row, match) in enumerate(pairs):
        for sub, cell in row.items():
            stored_cell = match.get(sub)
            ftype = _type(subfields.get(sub), stored_cell)
            if sub not in match or not same(ftype, _value(cell), _value(stored_cell)):
                found.append(f"{code}[{index}].{sub}")
    return found


def _pair_by_key(
    subfields: Mapping[str, Field],
    sent: Sequence[Mapping[str, Any]],
    stored: Sequence[Mapping[str, Any]],
    row_key: str,
) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]] | None:
    """Each sent row with the stored row of its row key, or None when the keys differ."""
    f = subfields.get(row_key)

    def key(row: Mapping[str, Any]) -> Hashable:
        return canonical(_type(f, row.get(row_key)), _value(row.get(row_key)))

    if Counter(key(row) for row in sent) != Counter(key(row) for row in stored):
        return None
    waiting: dict[Hashable, list[Mapping[str, Any]]] = {}
    for row in stored:
        waiting.setdefault(key(row), []).append(row)
    return [(row, waiting[key(row)].pop(0)) for row in sent]


def _natural(name: str) -> list[Any]:
    """`orders[10]` after `orders[2]`: digits compare as numbers."""
    return [int(part) if part.isdigit() else part for part in _DIGITS.split(name)]
