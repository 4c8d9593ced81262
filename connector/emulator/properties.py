"""Field properties as `fields.json` shows them: Kintone's defaults, and the checks of a change."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import api_error, invalid_one
from .schema import FieldDef, FieldType

if TYPE_CHECKING:
    from .app import Call

# The fields a new app starts with, by the creator's language. The Japanese codes and
# `Record_number` are observed (SonicGarden/kintone-emulator, doc/kintone-behavior-notes.md §10);
# the other English codes are the ones Kintone's English UI shows.
_SYSTEM_FIELDS: dict[str, list[tuple[FieldType, str]]] = {
    "ja": [
        (FieldType.RECORD_NUMBER, "レコード番号"),
        (FieldType.CREATOR, "作成者"),
        (FieldType.CREATED_TIME, "作成日時"),
        (FieldType.MODIFIER, "更新者"),
        (FieldType.UPDATED_TIME, "更新日時"),
        (FieldType.CATEGORY, "カテゴリー"),
        (FieldType.STATUS, "ステータス"),
        (FieldType.STATUS_ASSIGNEE, "作業者"),
    ],
    "en": [
        (FieldType.RECORD_NUMBER, "Record_number"),
        (FieldType.CREATOR, "Created_by"),
        (FieldType.CREATED_TIME, "Created_datetime"),
        (FieldType.MODIFIER, "Updated_by"),
        (FieldType.UPDATED_TIME, "Updated_datetime"),
        (FieldType.CATEGORY, "Categories"),
        (FieldType.STATUS, "Status"),
        (FieldType.STATUS_ASSIGNEE, "Assignee"),
    ],
}
SYSTEM_TYPES = frozenset(t for t, _ in _SYSTEM_FIELDS["en"])
# The types that can hold "unique": true; Kintone drops the flag silently on the others
# (SonicGarden/kintone-emulator, doc/kintone-behavior-notes.md §3).
_UNIQUE_TYPES = frozenset(
    {
        FieldType.SINGLE_LINE_TEXT,
        FieldType.NUMBER,
        FieldType.LINK,
        FieldType.DATE,
        FieldType.DATETIME,
    }
)
# CALC formats Kintone accepts; others answer CB_VA01 "must be one of the enum value"
# (SonicGarden/kintone-emulator, doc/kintone-calc-behavior.md §1, §7).
CALC_FORMATS = frozenset(
    {"NUMBER", "NUMBER_DIGIT", "DATETIME", "DATE", "TIME", "HOUR_MINUTE", "DAY_HOUR_MINUTE"}
)
ENUM_MESSAGE = "must be one of the enum value"
# What fields.json shows for a property the request left out, per type.
_TEXT = {"minLength": "", "maxLength": "", "expression": "", "hideExpression": False}
_DEFAULTS: dict[FieldType, dict[str, Any]] = {
    FieldType.SINGLE_LINE_TEXT: {**_TEXT, "unique": False, "defaultValue": ""},
    FieldType.LINK: {"minLength": "", "maxLength": "", "protocol": "WEB", "unique": False},
    FieldType.MULTI_LINE_TEXT: {"defaultValue": ""},
    FieldType.RICH_TEXT: {"defaultValue": ""},
    FieldType.NUMBER: {
        "minValue": "",
        "maxValue": "",
        "digit": False,
        "unique": False,
        "defaultValue": "",
        "displayScale": "",
        "unit": "",
        "unitPosition": "BEFORE",
    },
    FieldType.CALC: {
        "expression": "",
        "format": "NUMBER",
        "displayScale": "",
        "hideExpression": False,
        "unit": "",
        "unitPosition": "BEFORE",
    },
    FieldType.DATE: {"unique": False, "defaultValue": "", "defaultNowValue": False},
    FieldType.DATETIME: {"unique": False, "defaultValue": "", "defaultNowValue": False},
    FieldType.TIME: {"defaultValue": "", "defaultNowValue": False},
    FieldType.CHECK_BOX: {"defaultValue": [], "options": {}, "align": "HORIZONTAL"},
    FieldType.MULTI_SELECT: {"defaultValue": [], "options": {}},
    FieldType.RADIO_BUTTON: {"defaultValue": "", "options": {}, "align": "HORIZONTAL"},
    FieldType.DROP_DOWN: {"defaultValue": "", "options": {}},
    FieldType.USER_SELECT: {"defaultValue": [], "entities": []},
    FieldType.ORGANIZATION_SELECT: {"defaultValue": [], "entities": []},
    FieldType.GROUP_SELECT: {"defaultValue": [], "entities": []},
    FieldType.FILE: {"thumbnailSize": "150"},
}
_NO_REQUIRED = SYSTEM_TYPES | {
    FieldType.SUBTABLE,
    FieldType.REFERENCE_TABLE,
    FieldType.GROUP,
    FieldType.LABEL,
    FieldType.SPACER,
    FieldType.HR,
}


def system_properties(language: str) -> dict[str, dict[str, Any]]:
    """The properties of a new app's system fields, coded in the creator's language."""
    out: dict[str, dict[str, Any]] = {}
    for ftype, code in _SYSTEM_FIELDS.get(language, _SYSTEM_FIELDS["en"]):
        prop: dict[str, Any] = {"type": ftype.value, "code": code, "label": code, "noLabel": False}
        if ftype in (FieldType.CATEGORY, FieldType.STATUS, FieldType.STATUS_ASSIGNEE):
            prop["enabled"] = False
        out[code] = prop
    return out


def properties_param(call: Call) -> dict[str, dict[str, Any]]:
    props = call.params.get("properties")
    if not isinstance(props, Mapping) or not props:
        raise invalid_one("properties", "Required field.")
    for key, prop in props.items():
        if not isinstance(prop, Mapping):
            raise invalid_one(f"properties[{key}]", "Enter an object.")
    return {str(k): dict(v) for k, v in props.items()}


def normalize(key: str, prop: Mapping[str, Any], taken: set[str]) -> dict[str, Any]:
    """A property as fields.json will show it: checked, with Kintone's defaults filled in.

    Raises:
        ApiError: CB_VA01 keyed `properties[<code>]...` for a bad code, type or CALC format.
    """
    where = f"properties[{key}]"
    try:
        ftype = FieldType(str(prop.get("type")))
    except ValueError:
        raise invalid_one(f"{where}.type", ENUM_MESSAGE) from None
    code = str(prop.get("code", key))
    if code != key:
        raise invalid_one(f"{where}.code", "The code must match the property's key.")
    if not code or code[0].isdigit() or any(c in code for c in " \t\"'()[]{}.,$&|+-*/=<>!"):
        raise invalid_one(f"{where}.code", "The field code contains a character it cannot use.")
    out: dict[str, Any] = {"type": ftype.value, "code": code, "label": str(prop.get("label", code))}
    out["noLabel"] = bool(prop.get("noLabel", False))
    if ftype not in _NO_REQUIRED:
        out["required"] = bool(prop.get("required", False))
    for name, default in _DEFAULTS.get(ftype, {}).items():
        out[name] = prop.get(name, copy.deepcopy(default))
    for name, value in prop.items():
        out.setdefault(name, value)
    if ftype not in _UNIQUE_TYPES:
        out.pop("unique", None)
    if ftype is FieldType.CALC and (
        not isinstance(out["format"], str) or out["format"] not in CALC_FORMATS
    ):
        raise invalid_one(f"{where}.format", ENUM_MESSAGE)
    if ftype is FieldType.SUBTABLE:
        inner = prop.get("fields")
        if not isinstance(inner, Mapping) or not inner:
            raise invalid_one(f"{where}.fields", "Required field.")
        fields: dict[str, Any] = {}
        for inner_key, inner_prop in inner.items():
            if inner_key in taken or inner_key in fields or inner_key == code:
                raise invalid_one(
                    f"{where}.fields[{inner_key}].code", "The field code is already in use."
                )
            if not isinstance(inner_prop, Mapping):
                raise invalid_one(f"{where}.fields[{inner_key}]", "Enter an object.")
            fields[inner_key] = normalize(inner_key, inner_prop, taken)
        out["fields"] = fields
    lookup = out.get("lookup")
    if lookup is not None and (
        not isinstance(lookup, Mapping)
        or not isinstance(lookup.get("fieldMappings") or [], list)
        or not all(isinstance(m, Mapping) for m in lookup.get("fieldMappings") or [])
    ):
        raise invalid_one(f"{where}.lookup", "Enter an object with a list of fieldMappings.")
    if isinstance(lookup, Mapping) and lookup.get("relatedKeyField") == "$id":
        # `$id` is refused; the related app's RECORD_NUMBER field code works instead
        # (SonicGarden/kintone-emulator, doc/kintone-behavior-notes.md §10).
        raise invalid_one(
            f"{where}.lookup.relatedKeyField",
            "Use the related app's record number field code instead of $id.",
        )
    if ftype is not FieldType.SUBTABLE:
        try:
            FieldDef.from_property(out)
        except (ValueError, TypeError, AttributeError, KeyError):
            # A value the record rules cannot read (a maxLength that is not a number, options
            # that are not an object): refused here rather than at the first record write.
            raise invalid_one(where, "Invalid value.") from None
    return out


def check_lookups(props: Mapping[str, Mapping[str, Any]], codes: set[str]) -> None:
    """Every lookup copies into a field of the form (GAIA_FC01 otherwise), each target once."""
    targets: set[str] = set()
    for prop in walk(props):
        lookup = prop.get("lookup")
        if not isinstance(lookup, Mapping):
            continue
        for mapping in lookup.get("fieldMappings") or []:
            target = str(mapping.get("field", ""))
            if target not in codes:
                raise api_error("GAIA_FC01", field=target)
            if target in targets:
                raise invalid_one(
                    f"properties[{prop['code']}].lookup.fieldMappings",
                    f"The field {target} is already the target of another lookup.",
                )
            targets.add(target)


def walk(props: Mapping[str, Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for prop in props.values():
        out.append(prop)
        inner = prop.get("fields")
        if isinstance(inner, Mapping):
            out.extend(inner.values())
    return out


def all_codes(props: Mapping[str, Mapping[str, Any]]) -> set[str]:
    return {str(p.get("code")) for p in walk(props)}


def layout_codes(row: Mapping[str, Any]) -> list[str]:
    """The field codes a layout row places.

    Raises:
        ApiError: CB_VA01 keyed `layout` when a row's `fields` or `layout` is not a list.
    """
    codes: list[str] = []
    for name in ("fields", "layout"):
        if not isinstance(row.get(name) or [], list):
            raise invalid_one("layout", f"Enter an array for {name}.")
    if row.get("type") in ("SUBTABLE", "GROUP") and row.get("code"):
        codes.append(str(row["code"]))
    if row.get("type") == "GROUP":
        for inner in row.get("layout") or []:
            if isinstance(inner, Mapping):
                codes.extend(layout_codes(inner))
        return codes
    if row.get("type") == "SUBTABLE":
        return codes
    for item in row.get("fields") or []:
        if isinstance(item, Mapping) and item.get("code"):
            codes.append(str(item["code"]))
    return codes


def drop_from_layout(layout: list[dict[str, Any]], codes: set[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for row in layout:
        if row.get("type") in ("SUBTABLE", "GROUP") and row.get("code") in codes:
            continue
        row = dict(row)
        if row.get("type") == "ROW":
            row["fields"] = [f for f in row.get("fields") or [] if f.get("code") not in codes]
            if not row["fields"]:
                continue
        if row.get("type") == "GROUP":
            row["layout"] = drop_from_layout(list(row.get("layout") or []), codes)
        out.append(row)
    return out
