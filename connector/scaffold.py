"""`kintone-sync init`: a first mapping file from an app's fields and a table's columns."""

from __future__ import annotations

import re
from collections.abc import Sequence

import yaml

from connector.mapping.fields import INSERT_ONLY, KEY_TYPES, WRITABLE, FieldType
from connector.mapping.form import Field, Form


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).casefold()


def match_columns(form: Form, columns: Sequence[str]) -> dict[str, str]:
    """Field code -> column, matched by code, then by label, ignoring case, spaces and `_`."""
    by_name = {_norm(c): c for c in columns}
    matched: dict[str, str] = {}
    for f in _writable(form):
        column = by_name.get(_norm(f.code)) or by_name.get(_norm(f.label))
        if column is not None and column not in matched.values():
            matched[f.code] = column
    return matched


def _writable(form: Form) -> list[Field]:
    return [
        f
        for f in form.fields.values()
        if f.type in WRITABLE and not f.lookup_copy and f.type not in INSERT_ONLY
    ]


def scaffold(
    form: Form,
    columns: Sequence[str],
    *,
    app: int | str,
    table: str,
    primary_key: Sequence[str] | None = None,
    key: str | None = None,
    mode: str = "upsert",
) -> str:
    """The text of a mapping file, with what could not be matched listed in comments."""
    fields = match_columns(form, columns)
    if key is None:
        key = next(
            (
                code
                for code in fields
                if (f := form.get(code)) is not None and f.unique and f.type in KEY_TYPES
            ),
            None,
        )
    if primary_key is None:
        primary_key = [fields[key]] if key in fields else [columns[0]]
    mapping: dict[str, object] = {
        "app": app,
        "source": {"table": table, "primary_key": list(primary_key)},
        "mode": mode,
    }
    if mode != "insert":
        mapping["key"] = key or "CHOOSE_A_UNIQUE_FIELD"
    mapping["fields"] = fields
    text = yaml.safe_dump(mapping, sort_keys=False, allow_unicode=True)
    notes = []
    unmatched_fields = [
        f"{f.code} ({f.type}{', required' if f.required else ''})"
        for f in _writable(form)
        if f.code not in fields and f.type is not FieldType.SUBTABLE
    ]
    if unmatched_fields:
        notes.append("# Fields no column matched: " + ", ".join(unmatched_fields))
    tables = [f.code for f in form.fields.values() if f.type is FieldType.SUBTABLE]
    if tables:
        notes.append("# Tables to map under `subtables:` from child rows: " + ", ".join(tables))
    unused = [c for c in columns if c not in fields.values()]
    if unused:
        notes.append("# Columns not mapped: " + ", ".join(unused))
    if mode != "insert" and key is None:
        notes.append("# No unique SINGLE_LINE_TEXT or NUMBER field matched: set `key`.")
    header = f"# Mapping of {table} into app {app}, made by `kintone-sync init`; edit freely.\n"
    return header + text + ("\n".join(notes) + "\n" if notes else "")
