"""Rows to Kintone record payloads, by a mapping file checked against the app's form."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector.errors import ConfigError, ValueRejectedError
from connector.mapping.convert import Converter, ConvertOptions, converter
from connector.mapping.fields import INSERT_ONLY, WRITABLE, FieldType
from connector.mapping.form import Field, Form
from connector.mapping.spec import RECORD_ID, FieldMap, MappingSpec, template_parts

MAX_TABLE_ROWS = 4_999
"""Rows one SUBTABLE may hold: Kintone takes fewer than 5,000 (docs/mappings.md)."""
UNIQUE_TEXT_LENGTH = 64
"""Characters a text field with "Prohibit duplicate values" holds (docs/mappings.md)."""
_KINDS = {
    FieldType.USER_SELECT: "user",
    FieldType.CREATOR: "user",
    FieldType.MODIFIER: "user",
    FieldType.ORGANIZATION_SELECT: "organization",
    FieldType.GROUP_SELECT: "group",
}
_TEXT_LIMITED = frozenset({FieldType.SINGLE_LINE_TEXT, FieldType.LINK})

Row = Mapping[str, Any]


_KEY_JSON = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":"))
"""What `json.dumps` with these options builds on every call, built once."""


@dataclass(frozen=True)
class RowKey:
    """A source row's primary key, computed once: its values, their text and the text's digest.

    The text is JSON, so composite and typed keys stay distinct; the digest is what the state
    is keyed by, so keys of any length fit every database.
    """

    values: tuple[Any, ...]
    text: str
    id: str

    @classmethod
    def of(cls, values: Sequence[Any]) -> RowKey:
        values = tuple(values)
        text = _key_text(values)
        return cls(values, text, _key_id(text))

    @staticmethod
    def id_of(values: Sequence[Any]) -> str:
        """The id alone, as `of(values).id`: rows a skim compares by id need no more."""
        return _key_id(_key_text(values))

    def __str__(self) -> str:
        return ", ".join(str(v) for v in self.values)


def _key_text(values: Sequence[Any]) -> str:
    if all(type(v) is str for v in values):
        # The common key, text, without building a JSON encoder per row: the same function
        # writes the strings inside `_KEY_JSON`.
        return "[" + ",".join(map(encode_basestring, values)) + "]"
    return _KEY_JSON.encode(list(values))


def _key_id(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Refusal:
    """A source row that was not written, and why: field code, Kintone code, message."""

    key: RowKey
    field: str | None
    code: str
    message: str
    error_id: str | None = None


@dataclass(frozen=True)
class Outgoing:
    """One record to write: the source row's key, the value Kintone matches on, the payload."""

    key: RowKey
    """The source row's primary key."""
    key_value: Any
    """The match value: the unique key field's value (or the record id for `$id`) that Kintone
    matches on; None without a key field. Never the source key."""
    record: dict[str, Any]
    """`{code: {"value": v}}`; without the key field in update and upsert modes. FILE values
    hold FileUpload objects until the writer uploads them."""
    merge_tables: Mapping[str, str] = field(default_factory=dict)
    """SUBTABLE code -> row-key field code, for tables whose rows merge with the stored ones."""
    record_id: int | None = None
    """Set by the diff when the state knows the record: the write goes by `$id`, and carries
    the key field, so a changed key value follows the row."""
    revision: int | None = None
    """Set by the run when the write must meet the record as this job last left it: Kintone
    refuses the write (GAIA_CO02) if someone changed the record since."""
    child_rows: int = 0
    """Rows in the record's SUBTABLE fields, for the cap on table rows a run may remove."""
    refs: frozenset[tuple[str, str, str]] = frozenset()
    """(kind, value, field) for values only Kintone can check: user, organization and group
    codes, lookup values (kind `lookup:<code>`). A value Kintone refuses refuses the row."""
    secret: str | None = field(default=None, repr=False, compare=False)
    """A USER table's password: sent on insert only, never hashed, stored or shown."""


@dataclass(frozen=True)
class _Slot:
    code: str
    source: FieldMap
    convert: Converter
    insert_only: bool = False
    """CREATOR, MODIFIER, CREATED_TIME, UPDATED_TIME: left for Kintone to fill when empty."""
    kind: str | None = None
    """What Kintone checks the value against: user, organization, group, lookup:<code>."""


class Mapper:
    """Maps source rows to record payloads for one app; built once per run."""

    def __init__(self, spec: MappingSpec, form: Form, *, base_dir: Path | None = None) -> None:
        """Raises:
        ConfigError: a field the form lacks, or a type that cannot be written.
        """
        self.spec = spec
        self.primary_key = tuple(spec.source.primary_key)
        self.base_dir = base_dir
        self.slots = [
            self._slot(code, fm, form.get(code), form) for code, fm in spec.fields.items()
        ]
        self.tables: dict[str, list[_Slot]] = {}
        for table_code, table in spec.subtables.items():
            table_field = form.get(table_code)
            if table_field is None or table_field.type is not FieldType.SUBTABLE:
                raise ConfigError(f"{table_code!r} is not a SUBTABLE of the app", key="subtables")
            self.tables[table_code] = [
                self._slot(code, fm, table_field.fields.get(code), form)
                for code, fm in table.fields.items()
            ]
        self.merges = {
            code: t.row_key
            for code, t in spec.subtables.items()
            if t.rows == "merge" and t.row_key is not None
        }
        """SUBTABLE code -> row-key field code, for the tables whose rows merge."""
        self.checked = any(s.kind for s in self.slots) or any(
            s.kind for slots in self.tables.values() for s in slots
        )
        """Whether some field holds values only Kintone can check (users, lookups...)."""
        self._steps = [
            (s.code, s.source.column, s.source, s.convert, s.insert_only) for s in self.slots
        ]
        """Each slot's parts as a tuple: `map` runs per row and field, attributes cost there."""
        self._table_steps = [
            (code, [(s.code, s.source.column, s.source, s.convert) for s in slots])
            for code, slots in self.tables.items()
        ]

    def _slot(self, code: str, fm: FieldMap, f: Field | None, form: Form) -> _Slot:
        if code == RECORD_ID:
            return _Slot(code, fm, _record_id)
        if f is None:
            table = form.table_of(code)
            hint = f" it sits in table {table!r}: map it under subtables" if table else ""
            raise ConfigError(f"the app has no field {code!r};{hint or ' check the code'}")
        ftype = f.type
        if ftype not in WRITABLE and ftype not in INSERT_ONLY:
            raise ConfigError(f"field {code!r} ({ftype}) cannot be written")
        ftype = FieldType(ftype)
        max_length = f.max_length
        if f.unique and ftype in _TEXT_LIMITED:
            max_length = min(max_length or UNIQUE_TEXT_LENGTH, UNIQUE_TEXT_LENGTH)
        options = ConvertOptions(
            timezone=_zone(fm.timezone or self.spec.timezone),
            separator=fm.separator,
            base_dir=_files_dir(self.base_dir, fm.files_dir),
            max_length=max_length,
            options=f.options or None,
            min_length=f.min_length if ftype in _TEXT_LIMITED else None,
            min_value=f.min_value if ftype is FieldType.NUMBER else None,
            max_value=f.max_value if ftype is FieldType.NUMBER else None,
            integer_digits=form.precision.integer_digits if ftype is FieldType.NUMBER else None,
            # Kintone does not enforce `required` on a radio button (docs/kintone-api.md §5.1,
            # observed); the key of update and upsert is checked as the key.
            required=f.required
            and ftype is not FieldType.RADIO_BUTTON
            and not (code == self.spec.key and self.spec.mode != "insert"),
        )
        convert = converter(ftype, options)
        if fm.map is not None:
            convert = _mapped(fm, convert)
        kind = f"lookup:{code}" if f.lookup else _KINDS.get(ftype)
        return _Slot(code, fm, convert, ftype in INSERT_ONLY, kind)

    def map(self, row: Row, children: Mapping[str, Sequence[Row]]) -> Outgoing | list[Refusal]:
        """The record for one row and its child rows, or every reason it cannot be written."""
        key = RowKey.of([row[c] for c in self.primary_key])
        refusals: list[Refusal] = []
        record: dict[str, Any] = {}
        for code, column, source, convert, insert_only in self._steps:
            try:
                # A plain column, read in place: `pick` is for templates, constants and errors.
                value = convert(
                    row[column] if column is not None and column in row else pick(source, row)
                )
            except (ValueRejectedError, KeyError, ValueError) as exc:
                refusals.append(Refusal(key, code, "VALUE", _reason(exc)))
                continue
            if value is None and insert_only:
                continue
            record[code] = {"value": value}
        children_sent = 0
        for table_code, steps in self._table_steps:
            rows = children.get(table_code, ())
            if len(rows) > MAX_TABLE_ROWS:
                refusals.append(
                    Refusal(
                        key,
                        table_code,
                        "VALUE",
                        f"has {len(rows):,} child rows; a Kintone table holds at most "
                        f"{MAX_TABLE_ROWS:,}: split the record or narrow the child rows",
                    )
                )
                continue
            record[table_code] = {"value": _table_rows(key, table_code, steps, rows, refusals)}
            children_sent += len(rows)
        if refusals:
            return refusals
        key_value = None
        if self.spec.key is not None:
            entry = record.pop(self.spec.key, None) if self.spec.mode != "insert" else None
            key_value = entry["value"] if entry is not None else record[self.spec.key]["value"]
            if key_value in (None, ""):
                return [
                    Refusal(
                        key,
                        self.spec.key,
                        "EMPTY_KEY",
                        f"the key field {self.spec.key!r} is empty for this row; a record "
                        "without a key cannot be matched, so it is not written",
                    )
                ]
        refs = self._refs(record) if self.checked else frozenset()
        return Outgoing(key, key_value, record, self.merges, child_rows=children_sent, refs=refs)

    def _refs(self, record: Mapping[str, Any]) -> frozenset[tuple[str, str, str]]:
        out: set[tuple[str, str, str]] = set()
        for slot in self.slots:
            if slot.kind is not None and slot.code in record:
                out.update(_values_of(slot, record[slot.code]["value"], slot.code))
        for table_code, slots in self.tables.items():
            kinds = [s for s in slots if s.kind is not None]
            for index, row in enumerate(record.get(table_code, {}).get("value", ())):
                for slot in kinds:
                    where = f"{table_code}[{index}].{slot.code}"
                    out.update(_values_of(slot, row["value"][slot.code]["value"], where))
        return frozenset(out)


def _table_rows(
    key: RowKey,
    table_code: str,
    steps: Sequence[tuple[str, str | None, FieldMap, Converter]],
    children: Sequence[Row],
    refusals: list[Refusal],
) -> list[dict[str, Any]]:
    """A SUBTABLE's rows from child rows; bad values go to `refusals`, named by row."""
    rows = []
    for index, child in enumerate(children):
        cells: dict[str, Any] = {}
        for code, column, source, convert in steps:
            try:
                raw = (
                    child[column] if column is not None and column in child else pick(source, child)
                )
                cells[code] = {"value": convert(raw)}
            except (ValueRejectedError, KeyError, ValueError) as exc:
                where = f"{table_code}[{index}].{code}"
                refusals.append(Refusal(key, where, "VALUE", _reason(exc)))
        rows.append({"value": cells})
    return rows


def _mapped(source: FieldMap, convert: Converter) -> Converter:
    """`convert` after the field's value map."""
    return lambda value: convert(source.mapped(value))


def _values_of(slot: _Slot, value: Any, where: str) -> list[tuple[str, str, str]]:
    kind = slot.kind
    if kind is None or value in (None, "", []):
        return []
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list):
        return [(kind, str(v["code"]), where) for v in value if isinstance(v, dict)]
    return [(kind, str(value), where)]


def pick(source: FieldMap, row: Row) -> Any:
    """The value a field takes from a row: its column, its template filled, or its constant."""
    if source.column is not None:
        if source.column not in row:
            raise KeyError(f"the source has no column {source.column!r}")
        return row[source.column]
    if source.template is not None:
        # Plain substitution, never str.format: the template was checked to hold {column} only.
        pieces = []
        for literal, column in template_parts(source.template):
            pieces.append(literal)
            if column is None:
                continue
            if column not in row:
                raise KeyError(f"template {source.template!r}: the source has no column {column!r}")
            value = row[column]
            pieces.append("" if _is_null(value) else _template_text(value))
        return "".join(pieces)
    return source.value


def _template_text(value: Any) -> str:
    try:
        return str(value)
    except ValueError:  # an integer past Python's 4,300-digit str() limit
        raise ValueRejectedError(f"a {type(value).__name__} too long to write as text") from None


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _record_id(value: Any) -> Any:
    if _is_null(value) or value == "":
        return None
    text = str(value).strip()
    if not text.isdigit():
        raise ValueRejectedError(f"{value!r} is not a record id; $id takes a positive integer")
    return int(text)


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return str(exc.args[0]) if exc.args else str(exc)
    return str(exc)


def _files_dir(base_dir: Path | None, files_dir: str | None) -> Path | None:
    """Where a FILE field's paths resolve: `files_dir` under the project directory, or it."""
    if files_dir is None:
        return base_dir
    return (base_dir or Path.cwd()) / files_dir


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"unknown time zone {name!r}; use an IANA name such as Asia/Tokyo or UTC",
            key="timezone",
        ) from None
