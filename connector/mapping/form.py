"""An app's form as the connector needs it: field codes, types, and the rules values must meet."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
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
    options: frozenset[str] = frozenset()
    has_default: bool = False
    lookup_copy: bool = False
    """Filled by a lookup from another app: not writable."""
    fields: Mapping[str, Field] = field(default_factory=dict)
    """A SUBTABLE's fields."""


@dataclass(frozen=True)
class Form:
    """Every field of an app by code; fields inside tables are in their table's `fields`."""

    fields: Mapping[str, Field]

    def get(self, code: str) -> Field | None:
        return self.fields.get(code)

    def table_of(self, code: str) -> str | None:
        """The SUBTABLE a field sits in, if any."""
        for f in self.fields.values():
            if code in f.fields:
                return f.code
        return None

    @classmethod
    def from_properties(cls, properties: Mapping[str, Mapping[str, Any]]) -> Form:
        """Read `app/form/fields.json` properties."""
        copies: set[str] = set()
        for prop in _all_properties(properties):
            lookup = prop.get("lookup")
            if isinstance(lookup, Mapping):
                copies.update(str(m["field"]) for m in lookup.get("fieldMappings") or [])
        return cls({code: _field(prop, copies) for code, prop in properties.items()})


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
    max_length = str(prop.get("maxLength") or "")
    default = prop.get("defaultValue")
    code = str(prop["code"])
    return Field(
        code=code,
        type=ftype,
        label=str(prop.get("label", "")),
        required=bool(prop.get("required", False)),
        unique=bool(prop.get("unique", False)),
        max_length=int(max_length) if max_length.isdigit() else None,
        options=frozenset(str(k) for k in (prop.get("options") or {})),
        has_default=default not in (None, "", []) or bool(prop.get("defaultNowValue")),
        lookup_copy=code in copies,
        fields={str(c): _field(sub, copies) for c, sub in (prop.get("fields") or {}).items()},
    )
