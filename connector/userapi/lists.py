"""Writes USER membership tables: each user's departments, groups or services, merged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from connector.diff import merged_list
from connector.errors import KintoneError, PermanentKintoneError
from connector.kintone.writer import WriteResult
from connector.mapping.mapper import Outgoing, Refusal
from connector.state.owned import OwnedItems
from connector.userapi.client import ENTRIES_PER_CALL, UserApiClient
from connector.userapi.mapper import ITEMS
from connector.userapi.tables import KEY, LISTS, UserTable
from connector.userapi.writer import CALL_LEVEL, NOT_FOUND

Items = list[dict[str, Any]]
_BY_MEMBERS_FROM = 20
"""Users in a batch past which reading the organizations' (groups') members may be cheaper."""


class ListWriter:
    """Sets each user's list from the source, keeping the entries no run of the job set.

    The API replaces a user's whole list, so the list is read first; the entries the job set
    before are in its ledger (`OwnedItems`), recorded only once the API confirmed the write.
    """

    def __init__(
        self,
        client: UserApiClient,
        table: UserTable,
        ledger: OwnedItems | None,
        *,
        concurrency: int = 1,
    ) -> None:
        self.client = client
        self.table = table
        self.identity = LISTS[table].identity
        self.ledger = ledger
        self.concurrency = concurrency

    def existing(
        self, values: Sequence[Any], tables: Sequence[str] = (), *, field: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """The users with these login names, by login name, as `{"$id": {"value": id}}`."""
        codes = [str(v) for v in values if v is not None]
        users = self.client.read("users", codes=codes) if codes else iter(())
        return {u[KEY]: {"$id": {"value": str(u["id"])}} for u in users}

    def plan(self, batch: Sequence[Outgoing]) -> WriteResult:
        """Which users' lists a run would set (id 0: none), reading only the users."""
        result = WriteResult()
        users = self.existing([o.key_value for o in batch])
        for out in batch:
            user = users.get(str(out.key_value))
            if user is None:
                result.refused.append(self._unknown(out))
            else:
                result.updated.append((out.key, int(user["$id"]["value"])))
        return result

    def write(self, batch: Sequence[Outgoing]) -> WriteResult:
        """Set each user's list to the source's entries plus those the job never set."""
        result = WriteResult()
        users = self.existing([o.key_value for o in batch])
        ready = []
        for out in batch:
            if str(out.key_value) in users:
                ready.append(out)
            else:
                result.refused.append(self._unknown(out))
        codes = [str(o.key_value) for o in ready]
        owned = self.ledger.get(codes) if self.ledger is not None else {}
        by_code = {str(o.key_value): o for o in ready}
        try:
            current = read_lists(self.client, self.table, codes)
        except KintoneError as exc:
            result.error = exc
            return result
        lists = {
            code: merged_list(
                current[code], set(owned.get(code, ())), out.record[ITEMS], self.identity
            )
            for code, out in by_code.items()
        }
        landed = self._put_isolating(lists, by_code, result)
        if self.ledger is not None:
            self.ledger.set(
                {c: [str(i[self.identity]) for i in by_code[c].record[ITEMS]] for c in landed}
            )
        result.updated += [(by_code[c].key, int(users[c]["$id"]["value"])) for c in landed]
        return result

    def _put_isolating(
        self, lists: Mapping[str, Items], by_code: Mapping[str, Outgoing], result: WriteResult
    ) -> list[str]:
        """Put the lists; a refused call is split until the refused users are alone."""
        landed: list[str] = []
        codes = list(lists)
        step = 1 if self.table is UserTable.USER_GROUPS else ENTRIES_PER_CALL
        pending = [codes[i : i + step] for i in range(0, len(codes), step)]
        while pending and result.error is None:
            chunk = pending.pop(0)
            try:
                self._put({c: lists[c] for c in chunk})
                landed += chunk
            except PermanentKintoneError as exc:
                if exc.code in CALL_LEVEL or exc.status in (401, 403):
                    result.error = exc
                elif len(chunk) == 1:
                    out = by_code[chunk[0]]
                    result.refused.append(
                        Refusal(
                            out.key, ITEMS, exc.code or "REFUSED", exc.kintone_message, exc.error_id
                        )
                    )
                else:
                    half = len(chunk) // 2
                    pending[:0] = [chunk[:half], chunk[half:]]
            except KintoneError as exc:
                result.error = exc
        return landed

    def delete(self, record_ids: Sequence[int]) -> list[int]:
        """Users who left the source: the entries the job set for them are removed.

        Raises:
            KintoneError: a call could not be made.
        """
        users = list(self.client.read("users", ids=record_ids))
        codes = [u[KEY] for u in users]
        owned = self.ledger.get(codes) if self.ledger is not None else {}
        mine = [c for c in codes if owned.get(c)]
        current = read_lists(self.client, self.table, mine)
        self._put({c: merged_list(current[c], set(owned[c]), [], self.identity) for c in mine})
        if self.ledger is not None:
            self.ledger.set({c: [] for c in mine})
        return [int(u["id"]) for u in users]

    def _unknown(self, out: Outgoing) -> Refusal:
        return Refusal(
            out.key,
            KEY,
            NOT_FOUND,
            f"no user has login name {out.key_value!r}; add the user first (a users job this "
            "one needs), then run again",
        )

    def _put(self, lists: Mapping[str, Items]) -> None:
        if self.table is UserTable.USER_GROUPS:
            for code, items in lists.items():
                self.client.put_user_groups(code, items)
            return
        put = (
            self.client.put_user_services
            if self.table is UserTable.USER_SERVICES
            else self.client.put_user_organizations
        )
        codes = list(lists)
        for start in range(0, len(codes), ENTRIES_PER_CALL):
            put({c: lists[c] for c in codes[start : start + ENTRIES_PER_CALL]})


def read_lists(client: UserApiClient, table: UserTable, codes: Sequence[str]) -> dict[str, Items]:
    """The users' lists as cybozu.com holds them. The API reads departments and groups one
    user at a time; for many users, reading every organization's (group's) members costs
    fewer calls, so the cheaper way is taken."""
    if table is UserTable.USER_SERVICES:
        found = client.user_services(codes)
        return {c: found.get(c, []) for c in codes}
    orgs = table is UserTable.USER_ORGANIZATIONS
    if len(codes) > _BY_MEMBERS_FROM:
        entity = "organizations" if orgs else "groups"
        entities = client.every(entity)
        if len(entities) < len(codes):
            return _by_members(client, entity, entities, codes)
    read = client.user_organizations if orgs else client.user_groups
    return {c: read(c) for c in codes}


def _by_members(
    client: UserApiClient,
    entity: str,
    entities: Sequence[Mapping[str, Any]],
    codes: Sequence[str],
) -> dict[str, Items]:
    lists: dict[str, Items] = {c: [] for c in codes}
    for found in entities:
        for member in client.members(entity, found[KEY]):
            user = member["user"][KEY]
            if user not in lists:
                continue
            if entity == "organizations":
                title = member.get("title") or {}
                lists[user].append({"orgCode": found[KEY], "titleCode": title.get(KEY)})
            else:
                lists[user].append({"groupCode": found[KEY]})
    return lists
