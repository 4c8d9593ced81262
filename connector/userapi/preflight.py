"""Read-only checks of a USER table mapping against the source's columns."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from connector.errors import KintoneError
from connector.mapping.spec import MappingSpec
from connector.userapi.client import UserApiClient
from connector.userapi.tables import UserTable


def check_user_mapping(
    spec: MappingSpec, columns: Sequence[str], item_columns: Sequence[str] | None
) -> list[str]:
    """Every mapped column the source lacks, and child keys that cannot match, in one list."""
    problems = _missing("source", spec.source.primary_key, columns, "source.primary_key")
    for name, fm in spec.fields.items():
        problems += _missing("source", fm.columns(), columns, f"fields.{name}")
    items = spec.items
    if items is None:
        return problems
    if items.source is None:
        for name, fm in items.fields.items():
            problems += _missing("source", fm.columns(), columns, f"items.fields.{name}")
        return problems
    own = item_columns or []
    keys = [*items.source.parent_key, *items.source.order_by]
    problems += _missing("item rows", keys, own, "items.source")
    if len(items.source.parent_key) != len(spec.source.primary_key):
        problems.append(
            f"items.source.parent_key: {len(items.source.parent_key)} column(s) cannot match a "
            f"primary key of {len(spec.source.primary_key)}"
        )
    for name, fm in items.fields.items():
        problems += _missing("item rows", fm.columns(), own, f"items.fields.{name}")
    return problems


def _missing(what: str, wanted: Sequence[str], columns: Sequence[str], where: str) -> list[str]:
    known = set(columns)
    return [
        f"{where}: the {what} has no column {c!r} (columns: {', '.join(columns)})"
        for c in wanted
        if c not in known
    ]


def check_user_table(
    client: UserApiClient, spec: MappingSpec, first_code: Any
) -> tuple[list[dict[str, Any]], bool | None]:
    """One entry read (the connection and the password work), and whether the source's first
    code names an entry already there (None without one)."""
    entity = "organizations" if spec.user_table is UserTable.ORGANIZATIONS else "users"
    body = client.call("GET", entity, {"size": 1}, app=entity)
    sample = list(body.get(entity, []))
    if first_code is None:
        return sample, None
    return sample, bool(list(client.read(entity, codes=[str(first_code)])))


def user_rights(client: UserApiClient, spec: MappingSpec) -> list[str]:
    """Whether the login may write the USER table, probed with a call that changes nothing:
    an update of no entries. The User API's writes need a cybozu.com administrator."""
    entity = "organizations" if spec.user_table is UserTable.ORGANIZATIONS else "users"
    try:
        client.call("PUT", entity, {entity: []}, app=entity)
    except KintoneError as exc:
        if exc.code in ("CB_NO02", "GAIA_NO01") or exc.status == 403:
            return [
                f"rights: this login may not change {spec.user_table} [{exc.code}]; the User "
                "API's writes need a cybozu.com administrator's login"
            ]
    return []
