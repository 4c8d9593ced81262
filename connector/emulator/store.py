"""The emulator's in-memory domain: apps, records, indexes, files, cursors and the undo journal."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import api_error
from .params import is_integer_text
from .schema import AppSchema
from .seed import AppSeed


@dataclass(slots=True)
class StoredRecord:
    """One record as the emulator keeps it.

    `values` maps a field code to its value in the shape `GET record.json` returns as `"value"`:
    NUMBER as a string, CHECK_BOX a list of strings, USER_SELECT `[{"code", "name"}]`, CREATOR
    `{"code", "name"}`, FILE `[{"contentType", "fileKey", "name", "size"}]`, SUBTABLE
    `[{"id": "12", "value": {inner_code: value}}]`. RECORD_NUMBER, `$id` and `$revision` are not in
    `values`; they come from `id` and `revision`. A stored record is never changed in place: an
    update stores a new one, so the undo journal can keep the old object.
    """

    id: int
    revision: int
    values: dict[str, Any]


@dataclass(frozen=True)
class Entity:
    """A user, organization or group, as a selection field shows it."""

    code: str
    name: str


@dataclass
class Directory:
    """The domain's users, organizations and groups, by code, for selection fields."""

    users: dict[str, Entity] = field(default_factory=dict)
    organizations: dict[str, Entity] = field(default_factory=dict)
    groups: dict[str, Entity] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredFile:
    """An uploaded file. Upload keys and download keys are different kinds (kintone-api.md §2.9)."""

    key: str
    name: str
    content_type: str
    data: bytes
    created: float


@dataclass
class Cursor:
    """A records cursor: the ids that matched when it was made; values are read at fetch time."""

    id: str
    app: int
    ids: list[int]
    fields: list[str] | None
    size: int
    position: int = 0
    touched: float = field(default_factory=time.monotonic)


class AppState:
    """One app: its seed, form, records by id (in id order) and unique-value indexes."""

    def __init__(self, seed: AppSeed) -> None:
        self.seed = seed
        self.schema = AppSchema.from_properties(seed.properties)
        self.records: dict[int, StoredRecord] = {}
        self.next_id = 1
        self.unique: dict[str, dict[str, int]] = {
            f.code: {} for f in self.schema.fields.values() if f.unique
        }

    @property
    def id(self) -> int:
        return self.seed.id

    def record_number(self, record_id: int) -> str:
        """The RECORD_NUMBER value: `APPCODE-12` when the app has a code (kintone-api.md §2.2)."""
        return f"{self.seed.code}-{record_id}" if self.seed.code else str(record_id)

    def find_unique(self, code: str, value: str) -> int | None:
        """The id of the record whose unique field `code` holds `value`."""
        return self.unique[code].get(value)

    def _index(self, record: StoredRecord) -> None:
        for code, index in self.unique.items():
            value = record.values.get(code)
            if value not in (None, ""):
                index[value] = record.id

    def _unindex(self, record: StoredRecord) -> None:
        for code, index in self.unique.items():
            value = record.values.get(code)
            if value not in (None, "") and index.get(value) == record.id:
                del index[value]


class Domain:
    """Everything one emulated Kintone domain holds, with all-or-nothing write transactions."""

    def __init__(self, apps: Iterable[AppSeed], directory: Directory | None = None) -> None:
        self.apps: dict[int, AppState] = {seed.id: AppState(seed) for seed in apps}
        self.directory = directory or Directory()
        self.uploads: dict[str, StoredFile] = {}
        self.files: dict[str, StoredFile] = {}
        self.cursors: dict[str, Cursor] = {}
        self.settings: dict[int, Any] = {}
        """Per app id, the form-settings state of `forms.py` (preview and deploy)."""
        self.comments: dict[tuple[int, int], Any] = {}
        """Per (app id, record id), the comment thread of `comments.py`."""
        self.next_row_id = 1
        self.dirty = False
        self._journal: list[tuple[AppState, int, StoredRecord | None]] | None = None

    def app(self, app_id: int) -> AppState:
        """The app with this id.

        Raises:
            ApiError: 404 GAIA_AP01 when there is no such app.
        """
        state = self.apps.get(app_id)
        if state is None:
            raise api_error("GAIA_AP01", app=app_id)
        return state

    # --- writes -----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run writes all-or-nothing: any exception undoes every record change made inside.

        Nested use joins the outer transaction, so a bulkRequest rolls back as one.
        """
        if self._journal is not None:
            yield
            return
        self._journal = []
        try:
            yield
        except BaseException:
            for app, record_id, old in reversed(self._journal):
                self._restore(app, record_id, old)
            raise
        finally:
            self._journal = None

    def put(self, app: AppState, record: StoredRecord) -> None:
        """Store a new or changed record, keeping the unique indexes in step."""
        old = app.records.get(record.id)
        if self._journal is not None:
            self._journal.append((app, record.id, old))
        if old is not None:
            app._unindex(old)
        app.records[record.id] = record
        app._index(record)
        app.next_id = max(app.next_id, record.id + 1)
        self.dirty = True

    def remove(self, app: AppState, record_id: int) -> None:
        """Delete a record."""
        old = app.records.pop(record_id)
        if self._journal is not None:
            self._journal.append((app, record_id, old))
        app._unindex(old)
        self.dirty = True

    def _restore(self, app: AppState, record_id: int, old: StoredRecord | None) -> None:
        current = app.records.pop(record_id, None)
        if current is not None:
            app._unindex(current)
        if old is not None:
            # Re-inserting moves the id to the end of the dict; ids must stay in ascending order
            # because reads page by `$id` and rely on the dict's order.
            if app.records and record_id < next(reversed(app.records)):
                app.records[record_id] = old
                app.records = dict(sorted(app.records.items()))
            else:
                app.records[record_id] = old
            app._index(old)

    def new_record_id(self, app: AppState) -> int:
        """A fresh record id; Kintone never reuses one."""
        record_id = app.next_id
        app.next_id += 1
        return record_id

    def new_row_id(self) -> str:
        """A fresh subtable row id; row ids are unique across the domain."""
        row_id = self.next_row_id
        self.next_row_id += 1
        return str(row_id)

    def load_records(self, app: AppState, values: Iterable[dict[str, Any]]) -> int:
        """Add trusted records without validation (persisted data and benchmarks); the count."""
        count = 0
        for record_values in values:
            self.put(app, StoredRecord(self.new_record_id(app), 1, record_values))
            count += 1
        return count

    # --- files --------------------------------------------------------------------------------

    def upload(self, name: str, content_type: str, data: bytes) -> str:
        """Keep an uploaded file and answer its upload key."""
        key = secrets.token_hex(16)
        self.uploads[key] = StoredFile(key, name, content_type, data, time.time())
        self.dirty = True
        return key

    def attach(self, upload_key: str) -> StoredFile | None:
        """Turn an upload key into an attached file with its own download key."""
        upload = self.uploads.get(upload_key)
        if upload is None:
            return None
        key = time.strftime("%Y%m%d%H%M%S") + secrets.token_hex(18).upper()
        stored = StoredFile(key, upload.name, upload.content_type, upload.data, upload.created)
        self.files[key] = stored
        return stored

    # --- persistence --------------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the domain's records and files to `path` as JSON, atomically (datafile.py)."""
        from .datafile import save_domain

        save_domain(self, path)

    def restore(self, path: Path) -> None:
        """Load what `save` wrote; apps and fields no longer in the seed are dropped.

        Raises:
            DataFileError: the file is not an emulator data file or does not fit the seed.
        """
        from .datafile import restore_domain

        restore_domain(self, path)


def is_row_id(value: Any) -> bool:
    """Whether a subtable row id is numeric, as Kintone requires (else CB_IJ01)."""
    if isinstance(value, bool):
        return False
    text = str(value) if isinstance(value, int) else value
    return isinstance(text, str) and is_integer_text(text) and not text.startswith("-")
