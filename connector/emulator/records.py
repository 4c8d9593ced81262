"""Record semantics: add, update, upsert and delete one record, as Kintone applies them."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from . import calc, process, values
from .errors import ApiError, api_error, invalid, invalid_one
from .params import is_integer_text
from .schema import UPDATE_KEY_TYPES, WRITABLE_TYPES, FieldDef, FieldType
from .seed import Options
from .store import AppState, Domain, Entity, StoredRecord, is_row_id

# Types that a PUT `record` may not carry, with the type name Kintone's GAIA_UN10 message uses
# (docs/kintone-api.md §5.1, observed on a real domain).
_PUT_REJECTED = {
    FieldType.CREATOR: "CREATOR",
    FieldType.MODIFIER: "MODIFIER",
    FieldType.CREATED_TIME: "CREATED_AT",
    FieldType.UPDATED_TIME: "MODIFIED_AT",
    FieldType.RECORD_NUMBER: "RECORD_ID",
    FieldType.STATUS: "STATUS",
    FieldType.STATUS_ASSIGNEE: "STATUS_ASSIGNEE",
    FieldType.GROUP: "GROUP",
}
# Written on insert only, and only with app-management rights (GAIA_BF02 otherwise).
_INSERT_ONLY = frozenset(
    {FieldType.CREATOR, FieldType.MODIFIER, FieldType.CREATED_TIME, FieldType.UPDATED_TIME}
)
Operation = Literal["INSERT", "UPDATE"]


def _sees_everything(app_id: int) -> bool:
    return True


@dataclass(frozen=True)
class Actor:
    """Who writes: the user recorded as CREATOR/MODIFIER, whether they may set those fields, and
    which apps they may read (a lookup copies only from an app the caller can view)."""

    user: Entity
    can_manage: bool
    can_view: Callable[[int], bool] = _sees_everything


def now_minute() -> str:
    """The current time as Kintone stores CREATED_TIME: UTC, seconds dropped."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:00Z")


def revision_ok(given: Any, current: int) -> bool:
    """Whether a sent revision matches; omitted, null, "" and -1 skip the check.

    Source: docs/kintone-api.md §2.5.
    """
    if given in (None, "", -1, "-1"):
        return True
    return str(given) == str(current)


class RecordWriter:
    """Applies record writes to a domain; each call stores or raises, collecting CB_VA01 keys."""

    def __init__(self, domain: Domain, options: Options) -> None:
        self.domain = domain
        self.options = options

    def _context(self, errors: dict[str, list[str]], actor: Actor) -> values.ValueContext:
        return values.ValueContext(
            errors=errors,
            directory=self.domain.directory,
            attach=self.domain.attach,
            precision=values.NumberPrecision(
                self.options.number_digits,
                self.options.number_decimal_places,
                self.options.number_excess_decimals,
            ),
        )

    # --- insert -------------------------------------------------------------------------------

    def add(
        self,
        app: AppState,
        payload: Any,
        prefix: str,
        actor: Actor,
        errors: dict[str, list[str]],
        *,
        put_rules: bool = False,
        key: tuple[FieldDef, str] | None = None,
    ) -> StoredRecord:
        """Insert one record from its `{code: {"value": v}}` payload.

        `prefix` is the error-key prefix (`record` or `records[3]`). `put_rules` applies the
        update rules to system fields (an upsert that inserts). `key` writes an updateKey value.

        Raises:
            ApiError: a non-validation error; validation problems go into `errors`.
        """
        entries = self._entries(app, payload, put_rules=put_rules)
        ctx = self._context(errors, actor)
        stamp = now_minute()
        stored: dict[str, Any] = {}
        for f in app.schema.fields.values():
            if f.type not in WRITABLE_TYPES and f.type not in _INSERT_ONLY:
                continue
            key_prefix = f"{prefix}.{f.code}"
            if f.code in entries:
                if f.type in _INSERT_ONLY and not actor.can_manage:
                    raise api_error("GAIA_BF02", field=f.code)
                stored[f.code] = self._convert(
                    app, f, entries[f.code], None, key_prefix, ctx, actor
                )
            elif f.type in (FieldType.CREATOR, FieldType.MODIFIER):
                stored[f.code] = {"code": actor.user.code, "name": actor.user.name}
            elif f.type in (FieldType.CREATED_TIME, FieldType.UPDATED_TIME):
                stored[f.code] = stamp
            else:
                stored[f.code] = values.default_value(f)
        if key is not None:
            stored[key[0].code] = key[1]
        self._copy_lookups(app, stored, entries, actor)
        process.start(self.domain, app, stored)
        if app.schema.has_formulas:
            calc.compute(app.schema.every, app.schema.tables, stored)
        record = StoredRecord(self.domain.new_record_id(app), 1, stored)
        self._check(app, record, prefix, errors)
        if not _has_errors_for(errors, prefix):
            self.domain.put(app, record)
        return record

    # --- update -------------------------------------------------------------------------------

    def update(
        self,
        app: AppState,
        item: Mapping[str, Any],
        prefix: str,
        actor: Actor,
        errors: dict[str, list[str]],
        *,
        upsert: bool = False,
        record_prefix: str | None = None,
    ) -> tuple[StoredRecord, Operation]:
        """Update (or, with `upsert`, insert) the record an item names by `id` or `updateKey`.

        `prefix` is the item's key prefix (`records[3]`); field error keys use `record_prefix`
        (`records[3]` for records.json, `record` for record.json).

        Raises:
            ApiError: GAIA_RE01, GAIA_RE20, GAIA_CO02, GAIA_IQ11, GAIA_IQ27, GAIA_UN10 and kin.
        """
        record_prefix = record_prefix or prefix
        has_id = item.get("id") not in (None, "")
        update_key = item.get("updateKey")
        if has_id and update_key is not None:
            raise _invalid(f"{prefix}.id", "Specify either id or updateKey, not both.")
        if not has_id and update_key is None:
            raise _invalid(f"{prefix}.id", "Required field.")
        payload = item.get("record")
        existing: StoredRecord | None = None
        key: tuple[FieldDef, str] | None = None
        if has_id:
            record_id = _as_int(item["id"], f"{prefix}.id")
            existing = app.records.get(record_id)
            if existing is None and not upsert:
                raise api_error("GAIA_RE01", id=record_id)
        else:
            key = self._update_key(app, update_key, prefix, errors, actor)
            found = app.find_unique(key[0].code, key[1]) if key[1] != "" else None
            existing = app.records.get(found) if found is not None else None
            if existing is None and not upsert:
                raise api_error("GAIA_RE20")
            if isinstance(payload, Mapping) and key[0].code in payload:
                if self.options.update_key_in_record == "reject":
                    raise _invalid(
                        f"{record_prefix}.{key[0].code}.value",
                        "The updateKey field cannot also be set in record.",
                    )
                payload = {k: v for k, v in payload.items() if k != key[0].code}
        if existing is None:
            # Upsert: an unknown id inserts with a fresh id; an unknown key inserts with the key
            # value written into the key field (docs/kintone-api.md §4.2, docs/official-clients.md
            # §4.2).
            record = self.add(
                app, payload or {}, record_prefix, actor, errors, put_rules=True, key=key
            )
            return record, "INSERT"
        if not revision_ok(item.get("revision"), existing.revision):
            raise api_error("GAIA_CO02")
        record = self._merge(app, existing, payload, record_prefix, actor, errors)
        return record, "UPDATE"

    def _merge(
        self,
        app: AppState,
        existing: StoredRecord,
        payload: Any,
        prefix: str,
        actor: Actor,
        errors: dict[str, list[str]],
    ) -> StoredRecord:
        entries = self._entries(app, payload, put_rules=True)
        ctx = self._context(errors, actor)
        merged = dict(existing.values)
        for code, entry in entries.items():
            f = app.schema.fields[code]
            merged[code] = self._convert(
                app, f, entry, existing.values.get(code), f"{prefix}.{code}", ctx, actor
            )
        self._copy_lookups(app, merged, entries, actor)
        for f in app.schema.fields.values():
            if f.type is FieldType.MODIFIER:
                merged[f.code] = {"code": actor.user.code, "name": actor.user.name}
            elif f.type is FieldType.UPDATED_TIME:
                merged[f.code] = now_minute()
        if app.schema.has_formulas:
            calc.compute(app.schema.every, app.schema.tables, merged)
        record = StoredRecord(existing.id, existing.revision + 1, merged)
        # Kintone validates the merged record: a field made required later blocks updates of old
        # records until it is filled (docs/kintone-api.md §5.2, other rules).
        self._check(app, record, prefix, errors)
        if not _has_errors_for(errors, prefix):
            self.domain.put(app, record)
        return record

    def _update_key(
        self,
        app: AppState,
        update_key: Any,
        prefix: str,
        errors: dict[str, list[str]],
        actor: Actor,
    ) -> tuple[FieldDef, str]:
        if not isinstance(update_key, Mapping) or "field" not in update_key:
            raise _invalid(f"{prefix}.updateKey.field", "Required field.")
        code = str(update_key["field"])
        f = app.schema.fields.get(code)
        if f is None:
            raise api_error("GAIA_IQ11", field=code)
        if f.type not in UPDATE_KEY_TYPES or not f.unique:
            raise api_error("GAIA_IQ27", field=code)
        raw = update_key.get("value")
        key_errors: dict[str, list[str]] = {}
        value = values.convert(f, raw, f"{prefix}.updateKey", self._context(key_errors, actor))
        if key_errors:
            errors.update(key_errors)
            raise _invalid_map(errors)
        return f, value if isinstance(value, str) else ""

    # --- delete -------------------------------------------------------------------------------

    def delete(self, app: AppState, ids: list[int], revisions: list[Any]) -> None:
        """Delete records by id, checking revisions paired by position.

        Raises:
            ApiError: GAIA_RE01 for an unknown id, GAIA_CO02 for a stale revision.
        """
        for index, record_id in enumerate(ids):
            record = app.records.get(record_id)
            if record is None:
                raise api_error("GAIA_RE01", id=record_id)
            given = revisions[index] if index < len(revisions) else None
            if not revision_ok(given, record.revision):
                raise api_error("GAIA_CO02")
            self.domain.remove(app, record_id)

    # --- shared -------------------------------------------------------------------------------

    def _entries(self, app: AppState, payload: Any, *, put_rules: bool) -> dict[str, Any]:
        """The writable `{code: {"value": ...}}` entries of a record payload, by field code.

        Unknown codes, inner codes at the top level, CALC, lookup copies and `$id`/`$revision` are
        silently skipped, as Kintone does; on update the system fields are refused (docs/kintone-
        api.md §5.1).

        Raises:
            ApiError: CB_IJ01 for a payload that is not an object; on update GAIA_UN10, GA_UO01
                or CB_IJ01 for a system or decorative field.
        """
        if payload is None:
            return {}
        if not isinstance(payload, Mapping):
            raise api_error("CB_IJ01")
        entries: dict[str, Any] = {}
        for code, entry in payload.items():
            f = app.schema.fields.get(code)
            if f is None or code in app.schema.lookup_copies:
                continue
            if put_rules:
                if f.type in _PUT_REJECTED:
                    raise api_error("GAIA_UN10", type=_PUT_REJECTED[f.type])
                if f.type is FieldType.CATEGORY:
                    raise api_error("GA_UO01")
                if f.type is FieldType.REFERENCE_TABLE:
                    raise api_error("CB_IJ01")
            elif f.type in _INSERT_ONLY:
                entries[code] = entry
                continue
            if f.type in WRITABLE_TYPES:
                entries[code] = entry
        return entries

    def _convert(
        self,
        app: AppState,
        f: FieldDef,
        entry: Any,
        old: Any,
        key: str,
        ctx: values.ValueContext,
        actor: Actor,
    ) -> Any:
        raw = entry.get("value") if isinstance(entry, Mapping) else None
        if f.type is FieldType.SUBTABLE:
            return self._table(app, f, raw, old, key, ctx, actor)
        return values.convert(f, raw, key, ctx)

    def _table(
        self,
        app: AppState,
        table: FieldDef,
        raw: Any,
        old: Any,
        key: str,
        ctx: values.ValueContext,
        actor: Actor,
    ) -> list[dict[str, Any]]:
        """A sent table replaces the stored one: unlisted rows go, unknown row ids are new rows."""
        if raw is None:
            # Since the 2021-03 update a table sent as null becomes one empty row
            # (docs/kintone-api.md §6).
            raw = [{"value": {}}]
        if not isinstance(raw, list):
            ctx.errors.setdefault(f"{key}.value", []).append("Invalid value.")
            return list(old or [])
        old_rows = {row["id"]: row for row in (old or [])}
        seen: set[str] = set()
        rows: list[dict[str, Any]] = []
        for index, row in enumerate(raw):
            row_key = f"{key}.value[{index}]"
            if not isinstance(row, Mapping):
                ctx.errors.setdefault(row_key, []).append("Invalid value.")
                continue
            row_id = row.get("id")
            matched = None
            if row_id not in (None, ""):
                if not is_row_id(row_id):
                    raise api_error("CB_IJ01")
                row_id = str(int(row_id))
                if row_id in seen:
                    raise api_error("GAIA_SI01", field=table.code)
                seen.add(row_id)
                matched = old_rows.get(row_id)
            cells = row.get("value")
            if "value" in row and cells is None:
                # A row whose value is null leaves a table of zero rows (docs/kintone-api.md §6,
                # 2021-03 note).
                return []
            if cells is not None and not isinstance(cells, Mapping):
                ctx.errors.setdefault(f"{row_key}.value", []).append("Invalid value.")
                continue
            cells = cells or {}
            out: dict[str, Any] = {}
            for inner in table.fields.values():
                if inner.type not in WRITABLE_TYPES:
                    continue
                cell_key = f"{row_key}.value.{inner.code}"
                if inner.code in cells and inner.code not in app.schema.lookup_copies:
                    entry = cells[inner.code]
                    cell = entry.get("value") if isinstance(entry, Mapping) else None
                    out[inner.code] = values.convert(inner, cell, cell_key, ctx, in_table=True)
                elif matched is not None and self.options.subtable_omitted_subfields == "keep":
                    out[inner.code] = matched["value"].get(inner.code, values.empty_value(inner))
                elif matched is not None:
                    out[inner.code] = values.empty_value(inner)
                else:
                    out[inner.code] = values.default_value(inner)
            # Lookups inside a table copy into the same row (SonicGarden/kintone-emulator,
            # doc/kintone-behavior-notes.md §10); an unmatched key is GAIA_LO04, no row index.
            self._copy_lookups(app, out, {c: None for c in cells if c in table.fields}, actor)
            new_id = row_id if matched is not None else self.domain.new_row_id()
            rows.append({"id": new_id, "value": out})
        return rows

    def _copy_lookups(
        self, app: AppState, stored: dict[str, Any], entries: Mapping[str, Any], actor: Actor
    ) -> None:
        """Copy lookup targets from the source app when a lookup key is written (kintone-api.md
        §5.3).

        With API tokens the caller needs a token of the source app as well (docs/kintone-api.md §7).
        """
        every = app.schema.every
        for code in entries:
            f = every.get(code)
            if f is None or not f.lookup:
                continue
            value = stored.get(code)
            mappings = f.lookup.get("fieldMappings") or []
            if value in (None, ""):
                for m in mappings:
                    target = every.get(str(m["field"]))
                    if target is not None:
                        stored[target.code] = values.empty_value(target)
                continue
            related = f.lookup.get("relatedApp") or {}
            source_id = int(related.get("app", 0) or 0)
            source = self.domain.apps.get(source_id) if actor.can_view(source_id) else None
            key_field = str(f.lookup.get("relatedKeyField", ""))
            match = _find_by(source, key_field, value) if source is not None else None
            if match is None:
                raise api_error("GAIA_LO04", value=value, field=code)
            for m in mappings:
                target = every.get(str(m["field"]))
                if target is not None:
                    stored[target.code] = _copied(source, match, str(m["relatedField"]))

    def _check(
        self, app: AppState, record: StoredRecord, prefix: str, errors: dict[str, list[str]]
    ) -> None:
        for f in app.schema.fields.values():
            value = record.values.get(f.code)
            key = f"{prefix}.{f.code}"
            if f.type is FieldType.SUBTABLE:
                for index, row in enumerate(value or []):
                    for inner in f.fields.values():
                        if inner.type in WRITABLE_TYPES:
                            cell_key = f"{key}.value[{index}].value.{inner.code}"
                            values.check(inner, row["value"].get(inner.code), cell_key, errors)
                continue
            if f.type not in WRITABLE_TYPES:
                continue
            values.check(f, value, key, errors)
            if f.unique and value not in (None, ""):
                owner = app.find_unique(f.code, value)
                if owner is not None and owner != record.id:
                    errors.setdefault(f"{key}.value", []).append(values.MSG_DUPLICATE)


def _find_by(app: AppState, code: str, value: Any) -> StoredRecord | None:
    if code in app.unique:
        found = app.find_unique(code, str(value))
        return app.records.get(found) if found is not None else None
    if code in ("$id", "RECORD_NUMBER") or (
        (f := app.schema.fields.get(code)) is not None and f.type is FieldType.RECORD_NUMBER
    ):
        return app.records.get(int(value)) if is_integer_text(str(value)) else None
    return next((r for r in app.records.values() if r.values.get(code) == value), None)


def _copied(source: AppState | None, match: StoredRecord, code: str) -> Any:
    """A source value a lookup copies; a RECORD_NUMBER copies the record id (behavior notes §10)."""
    field = source.schema.fields.get(code) if source is not None else None
    if field is not None and field.type is FieldType.RECORD_NUMBER:
        return str(match.id)
    return match.values.get(code)


def _has_errors_for(errors: Mapping[str, list[str]], prefix: str) -> bool:
    start = prefix + "."
    bracket = prefix + "["
    return any(k.startswith(start) or k.startswith(bracket) for k in errors)


def _as_int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not (
        isinstance(value, int) or (isinstance(value, str) and is_integer_text(value.strip()))
    ):
        raise _invalid(key, "Enter an integer value.")
    return int(value)


def _invalid(key: str, message: str) -> ApiError:
    return invalid_one(key, message)


def _invalid_map(errors: dict[str, list[str]]) -> ApiError:
    return invalid(errors)
