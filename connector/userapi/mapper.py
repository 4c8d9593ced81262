"""Source rows to User API entries: users, organizations, or one user's membership list."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connector.config import secret
from connector.errors import ValueRejectedError
from connector.mapping.convert import converter
from connector.mapping.fields import FieldType
from connector.mapping.mapper import Outgoing, Refusal, Row, RowKey, pick
from connector.mapping.spec import FieldMap, MappingSpec
from connector.userapi.tables import (
    CUSTOM_PREFIX,
    KEY,
    LISTS,
    LOCALES,
    PASSWORD,
    Column,
    Kind,
    fields_of,
)

ITEMS = "items"
"""The payload key of a membership table's list, and its child-rows name."""
_TEXT = converter(FieldType.MULTI_LINE_TEXT)
_DATE = converter(FieldType.DATE)
Convert = Callable[[Any], Any]


@dataclass(frozen=True)
class _Slot:
    name: str
    source: FieldMap
    convert: Convert


class UserMapper:
    """Maps source rows to one USER table's entries; built once per run.

    The payload is the API's own flat object without the code (the match value) and without
    the password, which travels apart (`Outgoing.secret`) so that it is never hashed, stored
    or shown.
    """

    def __init__(self, spec: MappingSpec, *, env: Mapping[str, str] | None = None) -> None:
        """Raises:
        ConfigError: the password's environment variable is not set.
        """
        assert spec.user_table is not None
        self.spec = spec
        self.table = spec.user_table
        self.primary_key = tuple(spec.source.primary_key)
        columns = fields_of(self.table)
        self.slots = [
            _Slot(name, fm, _convert(name, columns.get(name, Column(Kind.TEXT))))
            for name, fm in spec.fields.items()
            if name != PASSWORD
        ]
        self.password: FieldMap | None = spec.fields.get(PASSWORD)
        self.fixed_password: str | None = None
        if self.password is not None and self.password.env is not None:
            self.fixed_password = secret(self.password.env, env if env is not None else os.environ)
        self.items: list[_Slot] = []
        if self.table in LISTS and spec.items is not None:
            shape = LISTS[self.table]
            self.items = [
                _Slot(name, fm, _convert(name, shape.item_fields[name]))
                for name, fm in spec.items.fields.items()
            ]
            self.identity = shape.identity
        self.child_rows = spec.items is not None and spec.items.source is not None

    def map(self, row: Row, children: Mapping[str, Sequence[Row]]) -> Outgoing | list[Refusal]:
        """The entry for one row (and its child rows), or every reason it cannot be sent."""
        key = RowKey.of([row[c] for c in self.primary_key])
        refusals: list[Refusal] = []
        entry: dict[str, Any] = {}
        custom: list[dict[str, str]] = []
        for slot in self.slots:
            try:
                value = slot.convert(pick(slot.source, row))
            except (ValueRejectedError, KeyError, ValueError) as exc:
                refusals.append(Refusal(key, slot.name, "VALUE", _reason(exc)))
                continue
            if slot.name.startswith(CUSTOM_PREFIX):
                custom.append({"code": slot.name[len(CUSTOM_PREFIX) :], "value": value or ""})
            else:
                entry[slot.name] = value
        if custom:
            entry["customItemValues"] = custom
        password = self._password(key, row, refusals)
        if self.items:
            rows = children.get(ITEMS, ()) if self.child_rows else (row,)
            entry[ITEMS] = self._items(key, rows, refusals)
        if refusals:
            return refusals
        code = entry.pop(KEY, None)
        if not str(code or "").strip():
            return [
                Refusal(
                    key,
                    KEY,
                    "EMPTY_KEY",
                    "code is empty for this row; an entry without a login name or code "
                    "cannot be matched, so it is not sent",
                )
            ]
        sent = len(entry.get(ITEMS, ())) if self.items else 0
        return Outgoing(key, code, entry, child_rows=sent, secret=password)

    def _password(self, key: RowKey, row: Row, refusals: list[Refusal]) -> str | None:
        if self.password is None:
            return None
        if self.fixed_password is not None:
            return self.fixed_password
        try:
            value = pick(self.password, row)
        except KeyError as exc:
            refusals.append(Refusal(key, PASSWORD, "VALUE", _reason(exc)))
            return None
        if value is None or value == "":
            return None  # checked where it is needed: on insert
        text = str(value)
        if len(text) > 64:
            # The value is never repeated: it is a password.
            refusals.append(
                Refusal(key, PASSWORD, "VALUE", "is longer than the 64 characters a password takes")
            )
            return None
        return text

    def _items(
        self, key: RowKey, rows: Sequence[Row], refusals: list[Refusal]
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        for index, child in enumerate(rows):
            item: dict[str, Any] = {}
            for slot in self.items:
                where = f"{ITEMS}[{index}].{slot.name}" if self.child_rows else slot.name
                try:
                    item[slot.name] = slot.convert(pick(slot.source, child))
                except (ValueRejectedError, KeyError, ValueError) as exc:
                    refusals.append(Refusal(key, where, "VALUE", _reason(exc)))
            identity = item.get(self.identity)
            if not identity:
                if self.child_rows and self.identity in item:
                    refusals.append(
                        Refusal(
                            key,
                            f"{ITEMS}[{index}].{self.identity}",
                            "VALUE",
                            f"{self.identity} is empty; every child row names one entry",
                        )
                    )
                continue  # the user's own row without an entry: an empty list
            if identity in seen:
                refusals.append(
                    Refusal(
                        key,
                        f"{ITEMS}.{self.identity}",
                        "VALUE",
                        f"{identity!r} appears twice in this user's list; give it once",
                    )
                )
            seen.add(identity)
            items.append(item)
        return items


def _convert(name: str, column: Column) -> Convert:
    """The function that turns one source value into what the API takes for this item."""
    kind = column.kind
    if kind is Kind.TEXT:
        return lambda value: _text(name, column, value)
    if kind is Kind.DATE:
        return lambda value: _DATE(value) or None
    if kind is Kind.BOOL:
        return _bool
    if kind is Kind.INTEGER:
        return _integer
    if kind is Kind.TIMEZONE:
        return _timezone
    allowed = LOCALES | {"auto"} if kind is Kind.LOCALE else LOCALES
    return lambda value: _choice(value, allowed)


def _text(name: str, column: Column, value: Any) -> str:
    text = str(_TEXT(value))
    if column.not_blank and not text.strip():
        raise ValueRejectedError(f"{name} is empty; the User API refuses an empty {name}")
    if column.max_length is not None and len(text) > column.max_length:
        raise ValueRejectedError(
            f"has {len(text):,} characters; {name} takes at most {column.max_length:,}"
        )
    if name != "description" and ("\n" in text or "\r" in text):
        raise ValueRejectedError(f"has a line break, which {name} cannot hold")
    return text


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower() if value is not None else ""
    if text in ("true", "1", "yes", "y", "t"):
        return True
    if text in ("false", "0", "no", "n", "f"):
        return False
    raise ValueRejectedError(
        f"{value!r} is not true or false; valid is always sent, so give every row a value "
        "(or map: with a default)"
    )


def _integer(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueRejectedError(f"{value!r} is not a whole number")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueRejectedError(f"{value!r} is not a whole number") from None
    return number


def _timezone(value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueRejectedError(
            f"{text!r} is not a time zone; use an IANA name such as Asia/Tokyo"
        ) from None
    return text


def _choice(value: Any, allowed: frozenset[str]) -> str | None:
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text not in allowed:
        raise ValueRejectedError(f"{text!r} is not one of {', '.join(sorted(allowed))}")
    return text


def _reason(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return str(exc.args[0]) if exc.args else str(exc)
    return str(exc)
