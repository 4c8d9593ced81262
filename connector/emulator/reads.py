"""Record reads: the read shape of a record, queries over an app, and cursors."""

from __future__ import annotations

import time
import uuid
from typing import Any

from .errors import api_error
from .query import compile_query
from .schema import VALUE_TYPES, FieldDef, FieldType
from .seed import Options
from .store import AppState, Cursor, Domain, StoredRecord
from .values import empty_value

MAX_CURSOR_SIZE = 500
DEFAULT_CURSOR_SIZE = 100
# Process management and categories show in records only when enabled (docs/kintone-api.md §2.2).
_OPTIONAL_TYPES = frozenset({FieldType.STATUS, FieldType.STATUS_ASSIGNEE, FieldType.CATEGORY})


def shown_fields(app: AppState) -> list[FieldDef]:
    """The top-level fields a record carries in its read shape."""
    return [
        f
        for f in app.schema.fields.values()
        if f.type in VALUE_TYPES and (f.type not in _OPTIONAL_TYPES or f.raw.get("enabled"))
    ]


def render(app: AppState, record: StoredRecord, only: set[str] | None = None) -> dict[str, Any]:
    """A record as `GET record.json` returns it: every field with its `type` and `value`."""
    out: dict[str, Any] = {}
    for f in shown_fields(app):
        if only is not None and f.code not in only:
            continue
        if f.type is FieldType.RECORD_NUMBER:
            value: Any = app.record_number(record.id)
        elif f.type is FieldType.SUBTABLE:
            value = [
                {
                    "id": row["id"],
                    "value": {
                        inner.code: {
                            "type": inner.type.value,
                            "value": row["value"].get(inner.code, empty_value(inner)),
                        }
                        for inner in f.fields.values()
                        if inner.type in VALUE_TYPES
                    },
                }
                for row in record.values.get(f.code) or []
            ]
        else:
            value = record.values.get(f.code, empty_value(f))
        out[f.code] = {"type": f.type.value, "value": value}
    if only is None or "$id" in only:
        out["$id"] = {"type": "__ID__", "value": str(record.id)}
    if only is None or "$revision" in only:
        out["$revision"] = {"type": "__REVISION__", "value": str(record.revision)}
    return out


def field_filter(fields: Any) -> set[str] | None:
    """The `fields` parameter as a set of codes; None means every field."""
    if fields in (None, "", []):
        return None
    if isinstance(fields, str):
        return {fields}
    if isinstance(fields, list | tuple):
        return {str(code) for code in fields}
    raise api_error("CB_IJ01")


def get_record(app: AppState, record_id: int) -> dict[str, Any]:
    """`GET record.json`.

    Raises:
        ApiError: 404 GAIA_RE01 for an unknown id.
    """
    record = app.records.get(record_id)
    if record is None:
        raise api_error("GAIA_RE01", id=record_id)
    return {"record": render(app, record)}


def get_records(
    app: AppState, query: str | None, fields: Any, total_count: bool, login_user: str | None
) -> tuple[dict[str, Any], int]:
    """`GET records.json`: the page the query selects, and how many records it read.

    Raises:
        ApiError: GAIA_IQ11 and the other query errors.
    """
    compiled = compile_query(query, app.schema, app_code=app.seed.code, login_user=login_user)
    only = field_filter(fields)
    page = compiled.select(app.records)
    body: dict[str, Any] = {
        "records": [render(app, r, only) for r in page],
        "totalCount": str(compiled.count(app.records.values())) if total_count else None,
    }
    return body, len(page)


class Cursors:
    """The domain's record cursors: at most `max_cursors` alive, each expiring when left idle."""

    def __init__(self, domain: Domain, options: Options) -> None:
        self.domain = domain
        self.options = options

    def _expire(self) -> None:
        deadline = time.monotonic() - self.options.cursor_ttl_seconds
        for cursor_id in [c.id for c in self.domain.cursors.values() if c.touched < deadline]:
            del self.domain.cursors[cursor_id]

    def create(
        self, app: AppState, query: str | None, fields: Any, size: Any, login_user: str | None
    ) -> dict[str, Any]:
        """`POST records/cursor.json`.

        Raises:
            ApiError: 429 GAIA_TM12 past the cursor limit, CB_VA01 for a bad size, query errors.
        """
        page_size = _size(size)
        compiled = compile_query(
            query, app.schema, app_code=app.seed.code, allow_limit=False, login_user=login_user
        )
        only = field_filter(fields)
        self._expire()
        if len(self.domain.cursors) >= self.options.max_cursors:
            raise api_error("GAIA_TM12")
        ids = [r.id for r in compiled.select(app.records)]
        cursor = Cursor(
            id=str(uuid.uuid4()),
            app=app.id,
            ids=ids,
            fields=sorted(only) if only is not None else None,
            size=page_size,
        )
        self.domain.cursors[cursor.id] = cursor
        return {"id": cursor.id, "totalCount": str(len(ids))}

    def fetch(self, cursor_id: Any) -> tuple[dict[str, Any], int]:
        """`GET records/cursor.json`: the next page; the cursor is deleted after its last page.

        Raises:
            ApiError: 404 GAIA_CN01 for an unknown, finished or expired cursor.
        """
        self._expire()
        cursor = self.domain.cursors.get(str(cursor_id))
        if cursor is None:
            raise api_error("GAIA_CN01")
        app = self.domain.app(cursor.app)
        chunk = cursor.ids[cursor.position : cursor.position + cursor.size]
        cursor.position += len(chunk)
        cursor.touched = time.monotonic()
        only = set(cursor.fields) if cursor.fields is not None else None
        # Records deleted since the cursor was made are skipped, so a page may come up short
        # (docs/kintone-api.md §2.7, get cursor).
        records = [render(app, app.records[i], only) for i in chunk if i in app.records]
        more = cursor.position < len(cursor.ids)
        if not more:
            del self.domain.cursors[cursor.id]
        return {"records": records, "next": more}, len(records)

    def delete(self, cursor_id: Any) -> dict[str, Any]:
        """`DELETE records/cursor.json`.

        Raises:
            ApiError: 404 GAIA_CN01 for an unknown, finished or expired cursor.
        """
        self._expire()
        if self.domain.cursors.pop(str(cursor_id), None) is None:
            raise api_error("GAIA_CN01")
        return {}


def _size(size: Any) -> int:
    if size in (None, ""):
        return DEFAULT_CURSOR_SIZE
    try:
        value = int(size)
    except (TypeError, ValueError):
        value = -1
    if not 1 <= value <= MAX_CURSOR_SIZE:
        from .errors import invalid_one

        raise invalid_one("size", f"Enter a number between 1 and {MAX_CURSOR_SIZE}.")
    return value
