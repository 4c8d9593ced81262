"""Read-only checks before any write: the mapping against the app's form and the source columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from connector.mapping.fields import INSERT_ONLY, KEY_TYPES, NOT_WRITABLE, WRITABLE, FieldType
from connector.mapping.form import Field, Form
from connector.mapping.spec import RECORD_ID, FieldMap, MappingSpec, SubtableSpec


def check_mapping(
    spec: MappingSpec,
    form: Form,
    columns: Sequence[str],
    child_columns: Mapping[str, Sequence[str]],
) -> list[str]:
    """Every problem that would make the sync fail or write the wrong thing, in one list."""
    problems: list[str] = []
    problems += _check_columns("source", spec.source.primary_key, columns, "primary_key")
    for code, fm in spec.fields.items():
        problems += _check_columns("source", fm.columns(), columns, f"fields.{code}")
        if code == RECORD_ID:
            continue
        problems += _check_field(spec, form, code, form.get(code), fm)
    problems += _check_key(spec, form)
    problems += _check_required(spec, form)
    for table_code, table in spec.subtables.items():
        problems += _check_subtable(
            spec, form, table_code, table, child_columns.get(table_code, [])
        )
    return problems


def _check_subtable(
    spec: MappingSpec, form: Form, table_code: str, table: SubtableSpec, own: Sequence[str]
) -> list[str]:
    table_field = form.get(table_code)
    where = f"subtables.{table_code}"
    if table_field is None or table_field.type is not FieldType.SUBTABLE:
        return [f"{where}: the app has no SUBTABLE {table_code!r}"]
    problems: list[str] = []
    keys = [*table.source.parent_key, *table.source.order_by]
    problems += _check_columns(f"{table_code} rows", keys, own, f"{where}.source")
    if len(table.source.parent_key) != len(spec.source.primary_key):
        problems.append(
            f"{where}.source.parent_key: {len(table.source.parent_key)} column(s) cannot "
            f"match a primary key of {len(spec.source.primary_key)}"
        )
    for code, fm in table.fields.items():
        problems += _check_columns(f"{table_code} rows", fm.columns(), own, f"{where}.{code}")
        inner = table_field.fields.get(code)
        if inner is None:
            problems.append(
                f"{where}.fields.{code}: table {table_code!r} has no field {code!r} "
                f"(its fields: {', '.join(sorted(table_field.fields))})"
            )
            continue
        problems += _check_field(spec, form, code, inner, fm)
    missing = [
        f.code
        for f in table_field.fields.values()
        if f.required and not f.has_default and f.code not in table.fields
    ]
    if missing:
        problems.append(
            f"{where}: required field(s) {', '.join(missing)} of the table are not mapped; "
            "every row sent without them is refused"
        )
    return problems


def _check_columns(
    what: str, wanted: Sequence[str], columns: Sequence[str], where: str
) -> list[str]:
    known = set(columns)
    return [
        f"{where}: the {what} has no column {c!r} (columns: {', '.join(columns)})"
        for c in wanted
        if c not in known
    ]


def _check_field(
    spec: MappingSpec, form: Form, code: str, f: Field | None, fm: FieldMap
) -> list[str]:
    if f is None:
        table = form.table_of(code)
        if table is not None:
            return [f"fields.{code}: {code!r} sits in table {table!r}; map it under subtables"]
        return [f"fields.{code}: the app has no field {code!r}"]
    if f.type is FieldType.SUBTABLE:
        return [f"fields.{code}: {code!r} is a SUBTABLE; map it under subtables with child rows"]
    if f.type in NOT_WRITABLE:
        return [f"fields.{code}: cannot be written: {NOT_WRITABLE[FieldType(f.type)]}"]
    if f.type not in WRITABLE and f.type not in INSERT_ONLY:
        return [f"fields.{code}: field type {f.type} is not supported"]
    if f.lookup_copy:
        return [
            f"fields.{code}: filled by a lookup from another app; map the lookup's key field "
            "instead and Kintone copies this one"
        ]
    if f.type in INSERT_ONLY and spec.mode != "insert":
        return [
            f"fields.{code}: {f.type} can be set when a record is added, never on update; "
            f"remove it or use mode insert (this mapping is {spec.mode})"
        ]
    if fm.value is not None and f.options:
        values = fm.value if isinstance(fm.value, list) else [fm.value]
        unknown = [str(v) for v in values if str(v) not in f.options]
        if unknown:
            return [
                f"fields.{code}: {', '.join(unknown)} is not an option of {code!r} "
                f"(options: {', '.join(sorted(f.options))})"
            ]
    return []


def _check_key(spec: MappingSpec, form: Form) -> list[str]:
    if spec.key is None or spec.key == RECORD_ID:
        return []
    f = form.get(spec.key)
    if f is None:
        return []  # reported with the fields
    if f.type not in KEY_TYPES:
        return [
            f"key: {spec.key!r} is {f.type}; update and upsert match on a SINGLE_LINE_TEXT or "
            'NUMBER field with "Prohibit duplicate values", or on $id'
        ]
    if not f.unique:
        return [
            f'key: {spec.key!r} does not prohibit duplicate values; turn on "Prohibit '
            "duplicate values\" in the field's settings, or key on $id"
        ]
    return []


def _check_required(spec: MappingSpec, form: Form) -> list[str]:
    if spec.mode == "update":
        return []
    missing = [
        f.code
        for f in form.fields.values()
        if f.required
        and not f.has_default
        and f.type in WRITABLE
        and f.type is not FieldType.RADIO_BUTTON
        and f.code not in spec.fields
        and not f.lookup_copy
    ]
    if not missing:
        return []
    return [
        f"fields: required field(s) {', '.join(missing)} are not mapped; Kintone refuses every "
        f"new record without them"
    ]
