"""An app's form, read from `app/form/fields.json` properties into typed field definitions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from functools import cached_property
from typing import Any


class FieldType(StrEnum):
    """Kintone field types; the values are the API strings."""

    SINGLE_LINE_TEXT = "SINGLE_LINE_TEXT"
    MULTI_LINE_TEXT = "MULTI_LINE_TEXT"
    RICH_TEXT = "RICH_TEXT"
    NUMBER = "NUMBER"
    CALC = "CALC"
    DATE = "DATE"
    TIME = "TIME"
    DATETIME = "DATETIME"
    CHECK_BOX = "CHECK_BOX"
    MULTI_SELECT = "MULTI_SELECT"
    RADIO_BUTTON = "RADIO_BUTTON"
    DROP_DOWN = "DROP_DOWN"
    USER_SELECT = "USER_SELECT"
    ORGANIZATION_SELECT = "ORGANIZATION_SELECT"
    GROUP_SELECT = "GROUP_SELECT"
    LINK = "LINK"
    FILE = "FILE"
    SUBTABLE = "SUBTABLE"
    RECORD_NUMBER = "RECORD_NUMBER"
    CREATOR = "CREATOR"
    MODIFIER = "MODIFIER"
    CREATED_TIME = "CREATED_TIME"
    UPDATED_TIME = "UPDATED_TIME"
    STATUS = "STATUS"
    STATUS_ASSIGNEE = "STATUS_ASSIGNEE"
    CATEGORY = "CATEGORY"
    REFERENCE_TABLE = "REFERENCE_TABLE"
    GROUP = "GROUP"
    LABEL = "LABEL"
    SPACER = "SPACER"
    HR = "HR"


# Types whose value a record carries; the rest (REFERENCE_TABLE, GROUP, LABEL, SPACER, HR) only
# decorate the form (docs/kintone-api.md §5.1).
VALUE_TYPES = frozenset(FieldType) - {
    FieldType.REFERENCE_TABLE,
    FieldType.GROUP,
    FieldType.LABEL,
    FieldType.SPACER,
    FieldType.HR,
}
# What a user can write through the record APIs; SUBTABLE rows hold the same types but SUBTABLE.
WRITABLE_TYPES = frozenset(
    {
        FieldType.SINGLE_LINE_TEXT,
        FieldType.MULTI_LINE_TEXT,
        FieldType.RICH_TEXT,
        FieldType.NUMBER,
        FieldType.DATE,
        FieldType.TIME,
        FieldType.DATETIME,
        FieldType.CHECK_BOX,
        FieldType.MULTI_SELECT,
        FieldType.RADIO_BUTTON,
        FieldType.DROP_DOWN,
        FieldType.USER_SELECT,
        FieldType.ORGANIZATION_SELECT,
        FieldType.GROUP_SELECT,
        FieldType.LINK,
        FieldType.FILE,
        FieldType.SUBTABLE,
    }
)
ENTITY_TYPES = frozenset(
    {FieldType.USER_SELECT, FieldType.ORGANIZATION_SELECT, FieldType.GROUP_SELECT}
)
# updateKey accepts a unique SINGLE_LINE_TEXT or NUMBER field only (docs/kintone-api.md §4.1).
UPDATE_KEY_TYPES = frozenset({FieldType.SINGLE_LINE_TEXT, FieldType.NUMBER})


def _decimal(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _int(value: Any) -> int | None:
    if value in (None, ""):
        return None
    return int(str(value))


@dataclass(frozen=True)
class FieldDef:
    """One field of a form, with the property exactly as `fields.json` returns it in `raw`."""

    code: str
    type: FieldType
    label: str
    raw: Mapping[str, Any]
    required: bool = False
    unique: bool = False
    min_length: int | None = None
    max_length: int | None = None
    min_value: Decimal | None = None
    max_value: Decimal | None = None
    options: frozenset[str] = frozenset()
    default: Any = None
    lookup: Mapping[str, Any] | None = None
    fields: Mapping[str, FieldDef] = field(default_factory=dict)
    table: str | None = None
    """The SUBTABLE this field sits in, for subtable inner fields."""

    @classmethod
    def from_property(cls, prop: Mapping[str, Any], table: str | None = None) -> FieldDef:
        """Read one `fields.json` property.

        Raises:
            ValueError: the property has no code or an unknown type.
        """
        code = str(prop["code"])
        ftype = FieldType(prop["type"])
        inner = {}
        if ftype is FieldType.SUBTABLE:
            inner = {
                str(code_): cls.from_property(sub, table=code)
                for code_, sub in (prop.get("fields") or {}).items()
            }
        options = prop.get("options") or {}
        return cls(
            code=code,
            type=ftype,
            label=str(prop.get("label", code)),
            raw=prop,
            required=bool(prop.get("required", False)),
            unique=bool(prop.get("unique", False)),
            min_length=_int(prop.get("minLength")),
            max_length=_int(prop.get("maxLength")),
            min_value=_decimal(prop.get("minValue")),
            max_value=_decimal(prop.get("maxValue")),
            options=frozenset(str(k) for k in options),
            default=prop.get("defaultValue"),
            lookup=prop.get("lookup"),
            fields=inner,
            table=table,
        )


@dataclass(frozen=True)
class AppSchema:
    """Every field of an app, top-level and inside tables, by field code."""

    fields: Mapping[str, FieldDef]
    """Top-level fields (SUBTABLE fields included), in form order."""
    inner: Mapping[str, FieldDef]
    """Fields inside tables, by their own code (field codes are unique across the app)."""
    lookup_copies: frozenset[str]
    """Codes that a lookup copies into: not writable, silently ignored on write.

    Source: docs/kintone-api.md §5.1.
    """

    @classmethod
    def from_properties(cls, properties: Mapping[str, Mapping[str, Any]]) -> AppSchema:
        """Build the schema from `fields.json` properties.

        Raises:
            ValueError: a property is malformed or two fields share a code.
        """
        fields = {code: FieldDef.from_property(prop) for code, prop in properties.items()}
        inner: dict[str, FieldDef] = {}
        for f in fields.values():
            for sub in f.fields.values():
                if sub.code in fields or sub.code in inner:
                    raise ValueError(f"field code {sub.code!r} is used twice")
                inner[sub.code] = sub
        copies: set[str] = set()
        for f in (*fields.values(), *inner.values()):
            if f.lookup:
                copies.update(str(m["field"]) for m in f.lookup.get("fieldMappings") or [])
        return cls(fields=fields, inner=inner, lookup_copies=frozenset(copies))

    @cached_property
    def tables(self) -> dict[str, FieldDef]:
        """The SUBTABLE fields, by code."""
        return {c: f for c, f in self.fields.items() if f.type is FieldType.SUBTABLE}

    @cached_property
    def every(self) -> dict[str, FieldDef]:
        """Every field, top-level and inside tables, by code."""
        return {**self.fields, **self.inner}

    @cached_property
    def has_formulas(self) -> bool:
        """Whether a CALC field or an auto-calculated text field needs computing on writes."""
        return any(
            f.type is FieldType.CALC
            or (f.type is FieldType.SINGLE_LINE_TEXT and bool(f.raw.get("expression")))
            for f in self.every.values()
        )
