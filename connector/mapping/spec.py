"""The mapping file: which rows go to which app, and which column feeds which field code."""

from __future__ import annotations

import functools
import math
import string
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from connector.errors import ConfigError
from connector.userapi.tables import CUSTOM_PREFIX, KEY, LISTS, PASSWORD, UserTable, fields_of
from connector.yamlfile import load_yaml

# Kintone's own settings tables (CData-style names) hold permissions, automations and
# notifications, not records people enter; a sync never writes them.
REFUSED_TABLES = frozenset(
    {
        "FieldPermissionsEntities",
        "RecordPermissionsEntities",
        "ActionSettingsEntities",
        "ActionSettingsMappings",
        "ProcessManagementActions",
        "ReminderNotificationsTargets",
        "PerRecordNotificationsTargets",
    }
)
RECORD_ID = "$id"


@functools.lru_cache(maxsize=256)
def template_parts(template: str) -> tuple[tuple[str, str | None], ...]:
    """A template as (literal text, column or None) pairs; `{{` and `}}` are literal braces.

    Only `{column}` is taken: no format spec, conversion, attribute or index, so a value from
    the warehouse cannot choose a width that fills the memory (`{x:>999999999}`).

    Raises:
        ValueError: anything else between braces, or an unmatched brace.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(
            f"template {template!r}: {exc}; write {{column}}, and {{{{ or }}}} for a brace"
        ) from None
    parts: list[tuple[str, str | None]] = []
    for literal, name, spec, conversion in parsed:
        if name is None:
            parts.append((literal, None))
            continue
        column = name.strip()
        if spec or conversion or not column or any(c in column for c in ".[]{}"):
            shown = (
                "{"
                + name
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
            raise ValueError(
                f"template {template!r}: {shown} is not a plain {{column}} placeholder; "
                "templates take column names only (no format specs, conversions, attributes "
                "or indexes): format the value in the source query instead"
            )
        parts.append((literal, column))
    return tuple(parts)


class _Strict(BaseModel):
    # strict: no coercion, so YAML's `app: ON` (a boolean) is not read as app 1, nor 1.0 as 1.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class FieldMap(_Strict):
    """Where one field's value comes from: a column, a constant, or a template over columns."""

    column: str | None = None
    """The source column."""
    value: Any = None
    """A constant written to every record."""
    template: str | None = None
    """Text with `{column}` placeholders: `"{first} {last}"`; `{{` and `}}` for braces."""
    env: str | None = None
    """The environment variable holding the value: a USER table's `password` only, so that
    no password sits in a file."""
    separator: str | None = None
    """For check box, multi-select and user/organization/group fields given as delimited text."""
    timezone: str | None = None
    """Time zone of naive datetimes in this column; the mapping's `timezone` otherwise."""
    map: dict[str, Any] | None = None
    """Source value to the value written: `{true: "yes", false: "no"}`. Keys match the value
    as text (true/false, 1, 2.5, 2024-05-01); a row whose value is not listed is refused,
    unless `default` is given. NULL stays empty unless the map lists `null`."""
    default: Any = None
    """With `map`: the value written for a source value the map does not list."""

    @field_validator("map", mode="before")
    @classmethod
    def _map_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {map_key(k): v for k, v in value.items()}
        return value

    files_dir: str | None = None
    """For FILE fields: the directory the column's paths are relative to, itself relative to
    the project directory (the default). Paths that leave it are refused."""

    @model_validator(mode="after")
    def _one_source(self) -> FieldMap:
        given = [k for k in ("column", "value", "template", "env") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of column, value, template or env")
        if "default" in self.model_fields_set and self.map is None:
            raise ValueError("default applies to values a map does not list: give map too")
        return self

    def mapped(self, value: Any) -> Any:
        """The value after `map`.

        Raises:
            ValueError: the map does not list the value and there is no `default`.
        """
        if self.map is None:
            return value
        key = map_key(value)
        if key in self.map:
            return self.map[key]
        if key == "null":
            return value
        if "default" in self.model_fields_set:
            return self.default
        listed = ", ".join(repr(k) for k in list(self.map)[:10])
        raise ValueError(
            f"{value!r} is not in the field's value map ({listed}); add it to map: in the "
            "mapping file, or give a default:"
        )

    @field_validator("template")
    @classmethod
    def _plain_placeholders(cls, template: str | None) -> str | None:
        if template is not None:
            template_parts(template)
        return template

    def columns(self) -> list[str]:
        """The source columns this value reads."""
        if self.column is not None:
            return [self.column]
        if self.template is not None:
            return [c for _, c in template_parts(self.template) if c is not None]
        return []


def map_key(value: Any) -> str:
    """A value as a `map` key matches it: `true`, `1`, `2.5`, `2024-05-01`; NULL is `null`."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float | Decimal):
        number = Decimal(repr(value)) if isinstance(value, float) else value
        if number.is_nan():
            return "null"
        if number.is_finite() and number == number.to_integral_value():
            return str(int(number))
        return format(number.normalize(), "f") if number.is_finite() else str(number)
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _field_maps(value: Any) -> Any:
    """`code: column` is short for `code: {column: column}`."""
    if isinstance(value, dict):
        return {k: {"column": v} if isinstance(v, str) else v for k, v in value.items()}
    return value


def _column_or_field_map(schema: dict[str, Any]) -> None:
    """The JSON Schema of `fields`: each value a FieldMap, or the column-name shorthand that
    `_field_maps` expands, so editors accept every form the loader accepts."""
    field_map = schema["additionalProperties"]
    shorthand = {"type": "string", "description": "A column name: short for {column: NAME}."}
    schema["additionalProperties"] = {"anyOf": [shorthand, field_map]}


class SourceSpec(_Strict):
    """The rows: a table or a query, and the primary key."""

    table: str | None = None
    """A table, schema-qualified if needed: `analytics.customers`."""
    query: str | None = None
    """A SELECT statement, used as a subquery."""
    primary_key: list[str] = Field(min_length=1)
    """The column or columns that identify a row."""
    cursor: str | None = None
    """A column that grows whenever a row changes (`updated_at`): later runs read only rows
    past the value the last complete run reached."""

    @model_validator(mode="after")
    def _table_or_query(self) -> SourceSpec:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table or query")
        return self


class ChildSource(_Strict):
    """The child rows of a SUBTABLE: a table or query joined on the parent key."""

    table: str | None = None
    query: str | None = None
    parent_key: list[str] = Field(min_length=1)
    """Columns of the child rows that hold the parent's primary key, in the same order."""
    order_by: list[str] = []
    """Row order within one record."""

    @model_validator(mode="after")
    def _table_or_query(self) -> ChildSource:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of table or query")
        return self


class SubtableSpec(_Strict):
    """A SUBTABLE built from child rows. Kintone deletes the rows a sent table leaves out."""

    source: ChildSource
    rows: Literal["replace", "merge"] = "replace"
    """`replace` rebuilds the table from the child rows. `merge` reads the record first, keeps
    the ids of rows matched by `row_key` and the subfields this mapping does not own."""
    row_key: str | None = None
    """For `merge`: the field code inside the table whose value identifies a row."""
    fields: dict[str, FieldMap] = Field(json_schema_extra=_column_or_field_map)
    """Field codes inside the table, each from a child column, constant or template."""

    _expand = field_validator("fields", mode="before")(_field_maps)

    @model_validator(mode="after")
    def _merge_needs_row_key(self) -> SubtableSpec:
        if self.rows == "merge" and self.row_key is None:
            raise ValueError("rows: merge needs row_key, the field code that identifies a row")
        if self.row_key is not None and self.row_key not in self.fields:
            raise ValueError(f"row_key {self.row_key!r} must be one of this table's fields")
        return self


class ItemsSpec(_Strict):
    """A USER membership table's list for one user: from child rows, or one item from the
    user's own row. The API replaces the whole list, so what the job never set is read first
    and kept."""

    source: ChildSource | None = None
    """The child rows, one item each; without it, the parent row gives one item (none when
    its first item field is NULL)."""
    fields: dict[str, FieldMap] = Field(json_schema_extra=_column_or_field_map)
    """Item field (`orgCode`, `titleCode`; `groupCode`; `service`) to column."""

    _expand = field_validator("fields", mode="before")(_field_maps)


class MappingSpec(_Strict):
    """One mapping file: a source table into one Kintone app, or into a USER table."""

    app: int | str | None = None
    """The app id, or its app code."""
    user_table: UserTable | None = Field(default=None, strict=False)
    """Instead of an app, a table of the cybozu.com User API (password authentication only):
    users, organizations, user_organizations, user_groups or user_services."""
    items: ItemsSpec | None = None
    """For user_organizations, user_groups and user_services: each user's list."""
    guest_space: int | None = None
    """The guest space id when the app lives in one."""
    connection: str = "default"
    """The connection name in kintone-sync.yaml."""
    source: SourceSpec
    mode: Literal["insert", "update", "upsert"] = "upsert"
    key: str | None = None
    """The unique field code (SINGLE_LINE_TEXT or NUMBER with "Prohibit duplicate values") that
    update and upsert match on, or `$id` with a column mapped to `$id`."""
    timezone: str = "UTC"
    """Time zone of naive datetimes in the source."""
    fields: dict[str, FieldMap] = Field(json_schema_extra=_column_or_field_map)
    """Field code to column (or constant, or template)."""
    subtables: dict[str, SubtableSpec] = {}
    """SUBTABLE field code to its child rows."""
    on_delete: Literal["keep", "delete", "disable"] = "keep"
    """Rows that left the source: keep their records, or delete the records this job created
    or last synced (never records entered by hand). For `user_table: users`, `disable` (the
    default there) turns a leaver's `valid` off; `delete` deletes the user. For a membership
    table (default `delete`), the entries this job set for a user who left are removed."""
    on_conflict: Literal["overwrite", "skip", "fail"] = "overwrite"
    """A record someone changed in Kintone since this job last wrote it, which the run would
    change: `overwrite` it (counted and listed), `skip` it (refused with CONFLICT, tried again
    next run), or `fail`: stop the run before writing that batch. `run --on-conflict` overrides
    it for one run."""
    on_key_problems: Literal["refuse", "stop"] = "refuse"
    """Rows whose primary key is NULL or repeated: `refuse` them (each is listed by `rejects`,
    the rest land, the run exits 3), or `stop` the run before any write."""
    max_delete_share: float = Field(default=0.1, ge=0, le=1)
    """A run refuses to delete more than this share of the job's records without --force."""

    _expand = field_validator("fields", mode="before")(_field_maps)

    @model_validator(mode="before")
    @classmethod
    def _user_table_defaults(cls, data: Any) -> Any:
        """A USER table is keyed by `code`; a leaver is disabled (users) or loses the
        entries the job set (membership tables) unless the file says otherwise."""
        if not isinstance(data, dict) or data.get("user_table") is None:
            return data
        table = data["user_table"]
        data = dict(data)
        data.setdefault("key", KEY)
        if table == UserTable.USERS:
            data.setdefault("on_delete", "disable")
        elif table in set(LISTS):
            data.setdefault("on_delete", "delete")
        return data

    @field_validator("app")
    @classmethod
    def _not_a_settings_table(cls, app: int | str | None) -> int | str | None:
        if isinstance(app, str) and app in REFUSED_TABLES:
            raise ValueError(
                f"{app} holds Kintone's permission, automation or notification settings, not "
                "records people enter; kintone-sync writes only to apps of user-entered records"
            )
        if isinstance(app, str) and app.isdigit():
            return int(app)
        return app

    @model_validator(mode="after")
    def _app_or_user_table(self) -> MappingSpec:
        if (self.app is None) == (self.user_table is None):
            raise ValueError("give exactly one of app (a Kintone app) or user_table")
        if self.user_table is None:
            if self.items is not None:
                raise ValueError("items belongs to a user_table; an app's tables are subtables")
            if self.on_delete == "disable":
                raise ValueError(
                    "on_delete: disable is for user_table: users; an app takes keep or delete"
                )
            if any(fm.env is not None for fm in self.fields.values()):
                raise ValueError(
                    "env gives a USER table's password only; map app fields "
                    "from a column, value or template"
                )
            return self
        _check_user_table(self, self.user_table)
        return self

    @model_validator(mode="after")
    def _key_fits_mode(self) -> MappingSpec:
        if self.mode != "insert" and self.key is None:
            raise ValueError(f"mode {self.mode} needs key: a unique field code, or $id")
        if self.key is not None and self.key not in self.fields:
            raise ValueError(f"key {self.key!r} must be one of the mapped fields")
        if RECORD_ID in self.fields and self.key != RECORD_ID:
            raise ValueError("$id can be mapped only as the key (key: $id)")
        if self.key == RECORD_ID and self.mode == "insert":
            raise ValueError("insert mode cannot take $id: Kintone numbers new records itself")
        clash = set(self.fields) & set(self.subtables)
        if clash:
            raise ValueError(f"{sorted(clash)} are mapped both as fields and as subtables")
        return self


def _check_user_table(spec: MappingSpec, table: UserTable) -> None:
    """The rules of a mapping file that targets a USER table.

    Raises:
        ValueError: naming the key and the fix.
    """
    if spec.guest_space is not None:
        raise ValueError("guest_space is for apps; a USER table has none")
    if spec.subtables:
        raise ValueError("subtables are for apps; a USER table's lists are under items")
    if spec.key != KEY:
        raise ValueError(f"a USER table is keyed by code; leave key out (not {spec.key!r})")
    if spec.on_conflict != "overwrite":
        raise ValueError(
            "on_conflict is for apps: the User API keeps no revision to tell an edit made in "
            "cybozu.com from ours; leave it out"
        )
    allowed = fields_of(table)
    for name, fm in spec.fields.items():
        custom = table is UserTable.USERS and name.startswith(CUSTOM_PREFIX)
        if name not in allowed and not custom:
            raise ValueError(
                f"{table} has no field {name!r}; it takes {', '.join(allowed)}"
                + (", and custom.<item code>" if table is UserTable.USERS else "")
            )
        if name == PASSWORD and (fm.value is not None or fm.template is not None):
            raise ValueError(
                "password comes from a column or an environment variable (env: NAME), never "
                "from the mapping file"
            )
        if fm.env is not None and name != PASSWORD:
            raise ValueError(f"env gives the password only; map {name!r} from a column")
    if table in LISTS:
        shape = LISTS[table]
        if spec.mode == "insert":
            raise ValueError(f"{table} replaces each user's list: use mode update or upsert")
        if spec.items is None:
            raise ValueError(
                f"{table} needs items: the fields {', '.join(shape.item_fields)} of each "
                "user's list, from child rows (items.source) or the user's own row"
            )
        unknown = set(spec.items.fields) - set(shape.item_fields)
        if unknown:
            raise ValueError(
                f"items of {table} take {', '.join(shape.item_fields)}, not {sorted(unknown)}"
            )
        if shape.identity not in spec.items.fields:
            raise ValueError(f"items of {table} need {shape.identity}")
        if spec.on_delete == "disable":
            raise ValueError(f"on_delete: disable is for users; {table} takes keep or delete")
        return
    if spec.items is not None:
        raise ValueError(f"items is for membership tables, not {table}")
    if table is UserTable.ORGANIZATIONS and spec.on_delete == "disable":
        raise ValueError("an organization cannot be disabled: on_delete takes keep or delete")
    if spec.mode != "update":
        needed = ["name", PASSWORD] if table is UserTable.USERS else ["name"]
        missing = [n for n in needed if n not in spec.fields]
        if missing:
            raise ValueError(
                f"mode {spec.mode} adds new entries to {table}, which need "
                f"{' and '.join(missing)}: map them (a password from a column or env)"
            )


def load_mapping(path: str | Path) -> MappingSpec:
    """Read and validate a mapping file.

    Raises:
        ConfigError: the file is missing, not YAML, repeats a key, or breaks a rule; names the
            file, the line and the key.
    """
    file = load_yaml(Path(path), "mapping file")
    if not isinstance(file.data, dict | None):
        raise ConfigError("a mapping file must be a mapping of keys", file=str(path))
    try:
        return MappingSpec.model_validate(file.data or {})
    except ValidationError as exc:
        raise file.explain(exc) from None  # pydantic repeats the input: a proxy password


def json_schema() -> dict[str, Any]:
    """The mapping file's JSON Schema, for editors."""
    return MappingSpec.model_json_schema()
