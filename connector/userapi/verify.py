"""A USER table as cybozu.com holds it, for `verify`: entries by id, and what drifted."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from connector.mapping.mapper import Outgoing
from connector.userapi.client import ENTRIES_PER_CALL, UserApiClient
from connector.userapi.lists import read_lists
from connector.userapi.mapper import ITEMS
from connector.userapi.tables import KEY, LISTS, UserTable


def stored_entries(
    client: UserApiClient, table: UserTable, known_ids: Iterable[int]
) -> dict[int, dict[str, Any]]:
    """Every user or organization by id; for a membership table, the lists of the users the
    job wrote (one call per user: the API reads one user's list at a time)."""
    if table in LISTS:
        users = list(client.read("users", ids=sorted(set(known_ids))))
        lists = read_lists(client, table, [u[KEY] for u in users])
        return {int(u["id"]): {KEY: u[KEY], ITEMS: lists[u[KEY]]} for u in users}
    entity = "organizations" if table is UserTable.ORGANIZATIONS else "users"
    found: dict[int, dict[str, Any]] = {}
    offset = 0
    while True:
        body = client.call("GET", entity, {"size": ENTRIES_PER_CALL, "offset": offset}, app=entity)
        page = list(body[entity])
        found.update({int(e["id"]): e for e in page})
        if len(page) < ENTRIES_PER_CALL:
            return found
        offset += ENTRIES_PER_CALL


def drift(table: UserTable, out: Outgoing, found: Mapping[str, Any]) -> list[str]:
    """The items whose stored value differs from what the row would send."""
    if table in LISTS:
        identity = LISTS[table].identity
        stored = {str(i[identity]): i for i in found.get(ITEMS, [])}
        return [
            f"{ITEMS}.{item[identity]}"
            for item in out.record[ITEMS]
            if str(item[identity]) not in stored
            or any(_text(v) != _text(stored[str(item[identity])].get(k)) for k, v in item.items())
        ]
    changed = [] if str(found.get(KEY)) == str(out.key_value) else [KEY]
    for name, value in out.record.items():
        if name == "customItemValues":
            have = {i["code"]: i.get("value") for i in found.get(name) or []}
            changed += [
                f"custom.{i['code']}"
                for i in value
                if _text(have.get(i["code"])) != _text(i["value"])
            ]
        elif _text(found.get(name)) != _text(value):
            changed.append(name)
    return changed


def _text(value: Any) -> str:
    """Values as comparable text: unset and empty are the same; true is `true`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
