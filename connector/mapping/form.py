"""An app's form as the connector needs it: field codes, types, and the rules values must meet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from connector.mapping.fields import FieldType


@dataclass(frozen=True)
class Field:
    """One field of a form."""

    code: str
    type: FieldType | str
    """A FieldType, or the raw string for a type this version does not know."""
    label: str = ""
    required: bool = False
    unique: bool = False
    max_length: int | None = None
    min_length: int | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    options: frozenset[str] = frozenset()
    has_default: bool = False
    lookup_copy: bool = False
    """Filled by a lookup from another app: not writable."""
    lookup: bool = False
    """A lookup's key field: Kintone checks its value against the source app."""
    fields: Mapping[str, Field] = field(default_factory=dict)
    """A SUBTABLE's fields."""


MAX_NUMBER_DIGITS = 30
"""The most total digits an app's number precision can be set to (docs/mappings.md)."""


@dataclass(frozen=True)
class NumberPrecision:
    """The app's number precision (Misc settings): NUMBER values hold at most
    `digits - decimal_places` integer digits. Kintone's defaults are 16 and 4; while the
    app's own setting is not known, the widest an app can be set to (30 and 0) is assumed,
    so no value the app might take is refused."""

    digits: int = MAX_NUMBER_DIGITS
    decimal_places: int = 0

    @property
    def integer_digits(self) -> int:
        return self.digits - self.decimal_places


@dataclass(frozen=True)
class Form:
    """Every field of an app by code; fields inside tables are in their table's `fields`."""

    fields: Mapping[str, Field]
    precision: NumberPrecision = NumberPrecision()

    def get(self, code: str) -> Field | None:
        return self.fields.get(code)

    def table_of(self, code: str) -> str | None:
        """The SUBTABLE a field sits in, if any."""
        for f in self.fields.values():
            if code in f.fields:
                return f.code
        return None

    @classmethod
    def from_properties(
        cls,
        properties: Mapping[str, Mapping[str, Any]],
        precision: NumberPrecision = NumberPrecision(),
    ) -> Form:
        """Read `app/form/fields.json` properties; `precision` from `app/settings.json`."""
        copies: set[str] = set()
        for prop in _all_properties(properties):
            lookup = prop.get("lookup")
            if isinstance(lookup, Mapping):
                copies.update(str(m["field"]) for m in lookup.get("fieldMappings") or [])
        return cls({code: _field(prop, copies) for code, prop in properties.items()}, precision)


def _all_properties(properties: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for prop in properties.values():
        out.append(prop)
        out.extend((prop.get("fields") or {}).values())
    return out


def _field(prop: Mapping[str, Any], copies: set[str]) -> Field:
    raw_type = str(prop.get("type", ""))
    try:
        ftype: FieldType | str = FieldType(raw_type)
    except ValueError:
        ftype = raw_type
    default = prop.get("defaultValue")
    code = str(prop["code"])
    return Field(
        code=code,
        type=ftype,
        label=str(prop.get("label", "")),
        required=bool(prop.get("required", False)),
        unique=bool(prop.get("unique", False)),
        max_length=_integer(prop.get("maxLength")),
        min_length=_integer(prop.get("minLength")),
        min_value=_decimal(prop.get("minValue")),
        max_value=_decimal(prop.get("maxValue")),
        options=frozenset(str(k) for k in (prop.get("options") or {})),
        has_default=default not in (None, "", []) or bool(prop.get("defaultNowValue")),
        lookup_copy=code in copies,
        lookup=isinstance(prop.get("lookup"), Mapping),
        fields={str(c): _field(sub, copies) for c, sub in (prop.get("fields") or {}).items()},
    )


def _integer(value: Any) -> int | None:
    """fields.json gives limits as strings, "" when unset."""
    text = str(value if value is not None else "").strip()
    return int(text) if text.isdigit() else None


def _decimal(value: Any) -> Decimal | None:
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
