"""The `--data` file: the domain's records and files as plain JSON, checked field by field on load.

JSON holds data only, so a data file from elsewhere cannot run code the way a pickle can. Files
are base64 text; record values keep the shape `GET record.json` answers with.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .params import is_plain_json
from .schema import ENTITY_TYPES, FieldDef, FieldType
from .store import StoredFile, StoredRecord

if TYPE_CHECKING:
    from .store import AppState, Domain

DATA_FORMAT = "kintone-sync-emulator/2"
# Pickle streams of protocol 2 and later start with the PROTO opcode.
_PICKLE_MAGIC = b"\x80"
_FIX = "delete it, or start without --data, to begin again from the seed"


class DataFileError(Exception):
    """A data file that cannot be loaded; the message names the file, the place and the fix."""


def save_domain(domain: Domain, path: Path) -> None:
    """Write the domain's records and files to `path` atomically (a temporary file, renamed)."""
    state = {
        "format": DATA_FORMAT,
        "next_row_id": domain.next_row_id,
        "apps": {
            str(app_id): {
                "next_id": app.next_id,
                "records": [
                    {"id": r.id, "revision": r.revision, "values": r.values}
                    for r in app.records.values()
                ],
            }
            for app_id, app in domain.apps.items()
        },
        "uploads": [_file_out(f) for f in domain.uploads.values()],
        "files": [_file_out(f) for f in domain.files.values()],
    }
    tmp = path.with_name(path.name + ".tmp")
    # ensure_ascii keeps the file 7-bit clean whatever a value holds.
    tmp.write_text(json.dumps(state, ensure_ascii=True), encoding="ascii")
    tmp.replace(path)
    domain.dirty = False


def restore_domain(domain: Domain, path: Path) -> None:
    """Load what `save_domain` wrote; apps and fields no longer in the seed are dropped.

    Nothing changes unless the whole file loads.

    Raises:
        DataFileError: the file cannot be read, is not an emulator data file (a pickle from an
            older emulator included), or holds a value that does not fit the seed's form.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataFileError(f"{path}: cannot read the data file: {exc.strerror}") from exc
    if raw.startswith(_PICKLE_MAGIC):
        raise DataFileError(
            f"{path}: this data file has the pickle format of an older emulator, which is no "
            f"longer read; {_FIX}"
        )
    try:
        state = json.loads(raw)
    except (ValueError, RecursionError):
        raise DataFileError(f"{path}: not an emulator data file (not JSON); {_FIX}") from None
    if not isinstance(state, dict) or state.get("format") != DATA_FORMAT:
        raise DataFileError(
            f"{path}: not an emulator data file (no format {DATA_FORMAT!r}); {_FIX}"
        )
    if not is_plain_json(state):
        raise DataFileError(f"{path}: the data file nests too deep or is not Unicode; {_FIX}")
    loader = _Loader(domain, path)
    loader.load(state)
    loader.apply()


class _Loader:
    """Checks a parsed data file against the domain's seed, then swaps it in all at once."""

    def __init__(self, domain: Domain, path: Path) -> None:
        self.domain = domain
        self.path = path
        self.records: dict[int, tuple[int, list[StoredRecord]]] = {}
        self.uploads: dict[str, StoredFile] = {}
        self.files: dict[str, StoredFile] = {}
        self.next_row_id = 1

    def fail(self, where: str, problem: str) -> DataFileError:
        return DataFileError(f"{self.path}: {where}: {problem}; {_FIX}")

    def load(self, state: Mapping[str, Any]) -> None:
        self.next_row_id = self._count(state.get("next_row_id"), "next_row_id")
        self.uploads = self._files(state.get("uploads"), "uploads")
        self.files = self._files(state.get("files"), "files")
        apps = state.get("apps")
        if not isinstance(apps, dict):
            raise self.fail("apps", "expected an object of apps by id")
        for app_key, saved in apps.items():
            if not (app_key.isascii() and app_key.isdigit()):
                raise self.fail(f"apps.{app_key}", "an app id must be a number")
            app = self.domain.apps.get(int(app_key))
            if app is None:
                continue  # the app left the seed
            self.records[app.id] = self._app(app, saved, f"apps.{app_key}")

    def apply(self) -> None:
        domain = self.domain
        max_row = 0
        for app_id, (next_id, records) in self.records.items():
            app = domain.apps[app_id]
            app.records.clear()
            for index in app.unique.values():
                index.clear()
            for record in records:
                app.records[record.id] = record
                app._index(record)
                for f in app.schema.fields.values():
                    if f.type is FieldType.SUBTABLE:
                        for row in record.values.get(f.code) or []:
                            max_row = max(max_row, int(row["id"]))
            app.next_id = next_id
        domain.next_row_id = max(self.next_row_id, max_row + 1)
        domain.uploads = self.uploads
        domain.files = self.files
        domain.dirty = False

    def _count(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value < 2**53:
            raise self.fail(where, "expected a whole number of at least 1")
        return value

    def _files(self, value: Any, where: str) -> dict[str, StoredFile]:
        if not isinstance(value, list):
            raise self.fail(where, "expected a list of files")
        out: dict[str, StoredFile] = {}
        for index, item in enumerate(value):
            here = f"{where}[{index}]"
            if not isinstance(item, dict) or set(item) != _FILE_KEYS:
                raise self.fail(here, f"expected a file with {', '.join(sorted(_FILE_KEYS))}")
            texts = [item[k] for k in ("key", "name", "content_type", "data")]
            if not all(isinstance(t, str) for t in texts):
                raise self.fail(here, "key, name, content_type and data must be text")
            created = item["created"]
            if isinstance(created, bool) or not isinstance(created, int | float):
                raise self.fail(here, "created must be a number")
            try:
                data = base64.b64decode(item["data"], validate=True)
            except (binascii.Error, ValueError):
                raise self.fail(here, "data is not base64") from None
            out[item["key"]] = StoredFile(
                item["key"], item["name"], item["content_type"], data, float(created)
            )
        return out

    def _app(self, app: AppState, saved: Any, where: str) -> tuple[int, list[StoredRecord]]:
        if not isinstance(saved, dict) or not isinstance(saved.get("records"), list):
            raise self.fail(where, "expected an object with next_id and records")
        next_id = self._count(saved.get("next_id"), f"{where}.next_id")
        records: list[StoredRecord] = []
        seen: dict[int, int] = {}
        unique: dict[tuple[str, Any], int] = {}
        for index, item in enumerate(saved["records"]):
            here = f"{where}.records[{index}]"
            if not isinstance(item, dict) or set(item) != {"id", "revision", "values"}:
                raise self.fail(here, "expected an object with id, revision and values")
            record_id = self._count(item["id"], f"{here}.id")
            revision = self._count(item["revision"], f"{here}.revision")
            if record_id in seen:
                raise self.fail(here, f"record id {record_id} appears twice")
            seen[record_id] = index
            if not isinstance(item["values"], dict):
                raise self.fail(f"{here}.values", "expected an object of field values")
            values = self._values(app.schema.fields, item["values"], f"{here}.values")
            for code in app.unique:
                value = values.get(code)
                if value in (None, ""):
                    continue
                if (code, value) in unique:
                    raise self.fail(here, f'field "{code}" repeats a unique value')
                unique[(code, value)] = record_id
            records.append(StoredRecord(record_id, revision, values))
        records.sort(key=lambda r: r.id)
        if records:
            next_id = max(next_id, records[-1].id + 1)
        return next_id, records

    def _values(
        self, fields: Mapping[str, FieldDef], values: Mapping[str, Any], where: str
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for code, value in values.items():
            f = fields.get(code)
            if f is None:
                continue  # the field left the seed
            here = f"{where}.{code}"
            if f.type is FieldType.SUBTABLE:
                out[code] = self._table(f, value, here)
                continue
            check = STORED_SHAPES.get(f.type)
            if check is not None and not check(value):
                raise self.fail(here, f"not a stored {f.type.value} value: {_short(value)}")
            out[code] = value
        return out

    def _table(self, f: FieldDef, value: Any, where: str) -> list[dict[str, Any]]:
        if not isinstance(value, list):
            raise self.fail(where, "a table must be a list of rows")
        rows = []
        for index, row in enumerate(value):
            here = f"{where}[{index}]"
            if not isinstance(row, dict) or set(row) != {"id", "value"}:
                raise self.fail(here, "a row must be an object with id and value")
            row_id = row["id"]
            if not (isinstance(row_id, str) and row_id.isascii() and row_id.isdigit()):
                raise self.fail(f"{here}.id", "a row id must be digits")
            if len(row_id) > 15 or not isinstance(row["value"], dict):
                raise self.fail(here, "a row needs a short numeric id and an object of cells")
            cells = self._values(f.fields, row["value"], f"{here}.value")
            rows.append({"id": row_id, "value": cells})
        return rows


_FILE_KEYS = frozenset({"key", "name", "content_type", "data", "created"})
_STORED_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
_STORED_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_STORED_TIME = re.compile(r"\d{2}:\d{2}")
_STORED_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def _file_out(stored: StoredFile) -> dict[str, Any]:
    return {
        "key": stored.key,
        "name": stored.name,
        "content_type": stored.content_type,
        "created": stored.created,
        "data": base64.b64encode(stored.data).decode("ascii"),
    }


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _text(value: Any) -> bool:
    return isinstance(value, str)


def _matching(pattern: re.Pattern[str], *, nullable: bool) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        if value is None:
            return nullable
        return isinstance(value, str) and (value == "" or bool(pattern.fullmatch(value)))

    return check


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _entity(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and set(value) == {"code", "name"}
        and all(isinstance(v, str) for v in value.values())
    )


def _entities(value: Any) -> bool:
    return isinstance(value, list) and all(_entity(v) for v in value)


def _attachments(value: Any) -> bool:
    keys = {"contentType", "fileKey", "name", "size"}
    return isinstance(value, list) and all(
        isinstance(v, dict) and set(v) == keys and all(isinstance(x, str) for x in v.values())
        for v in value
    )


# How each type is stored (store.StoredRecord); types not listed here are loaded as they are.
STORED_SHAPES: dict[FieldType, Callable[[Any], bool]] = {
    FieldType.SINGLE_LINE_TEXT: _text,
    FieldType.MULTI_LINE_TEXT: _text,
    FieldType.RICH_TEXT: _text,
    FieldType.LINK: _text,
    FieldType.NUMBER: _matching(_STORED_NUMBER, nullable=False),
    FieldType.DATE: _matching(_STORED_DATE, nullable=True),
    FieldType.TIME: _matching(_STORED_TIME, nullable=True),
    FieldType.DATETIME: _matching(_STORED_DATETIME, nullable=True),
    FieldType.CREATED_TIME: _matching(_STORED_DATETIME, nullable=True),
    FieldType.UPDATED_TIME: _matching(_STORED_DATETIME, nullable=True),
    FieldType.CHECK_BOX: _strings,
    FieldType.MULTI_SELECT: _strings,
    FieldType.RADIO_BUTTON: lambda v: isinstance(v, str) or v is None,
    FieldType.DROP_DOWN: lambda v: isinstance(v, str) or v is None,
    FieldType.CREATOR: lambda v: v is None or _entity(v),
    FieldType.MODIFIER: lambda v: v is None or _entity(v),
    FieldType.FILE: _attachments,
    **{t: _entities for t in ENTITY_TYPES},
}
