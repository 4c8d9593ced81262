"""Writes USER tables: users and organizations by code, 100 a call, refused entries isolated."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from connector.diff import KEY_EXISTS
from connector.errors import KintoneError, PermanentKintoneError
from connector.kintone.writer import WriteResult
from connector.mapping.mapper import Outgoing, Refusal
from connector.userapi.client import ENTRIES_PER_CALL, UserApiClient
from connector.userapi.tables import KEY, PASSWORD, VALID, UserTable

NOT_FOUND = "NOT_FOUND"
"""Our refusal code: update mode, and no user or organization has the code."""
_READ_ONLY = ("id", "ctime", "mtime")
"""Keys a GET shows that an update does not take back."""
PRIMARY = "primaryOrganization"
"""A GET shows the organization's id; an add or update takes its code."""
CALL_LEVEL = frozenset({"CB_AU01", "CB_WA01", "CB_NO02", "CB_IJ01", "GAIA_IA02", "GAIA_DA03"})
"""Errors about the whole call (credentials, rights, the request): no entry explains them."""
_INDEX = re.compile(r"^\w+\[(\d+)\](?:\.(\w+))?")


class EntryWriter:
    """Users or organizations: adds, updates, leavers disabled or deleted.

    An update reads the entry first and sends back what the mapping leaves out as it was:
    whether the API keeps or clears an omitted item is not documented, and `valid` left out
    becomes true, which would bring a disabled user back.
    """

    def __init__(
        self,
        client: UserApiClient,
        table: UserTable,
        mode: str,
        on_delete: str,
        *,
        concurrency: int = 1,
        isolation_requests: int = 500,
    ) -> None:
        self.client = client
        self.table = table
        self.entity = "users" if table is UserTable.USERS else "organizations"
        self.mode = mode
        self.on_delete = on_delete
        self.concurrency = concurrency
        self.isolation_requests = isolation_requests
        self.isolation_spent = 0

    # --- the runner's seam -----------------------------------------------------------------------

    def existing(
        self, values: Sequence[Any], tables: Sequence[str] = (), *, field: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """The entries with these codes, by code, as `{"$id": {"value": id}, ...entry}`."""
        codes = [str(v) for v in values if v is not None]
        return {e[KEY]: {"$id": {"value": str(e["id"])}, **e} for e in self._read(codes)}

    def plan(self, batch: Sequence[Outgoing]) -> WriteResult:
        """What `write` would do, found by reading only: id 0 stands for a new entry."""
        result = WriteResult()
        found = self.existing([o.key_value for o in batch])
        adds, updates = self._sort(batch, found, result)
        result.inserted = [(out.key, 0) for out, _ in adds]
        result.updated = [(out.key, int(entry["id"])) for out, entry in updates]
        return result

    def _sort(
        self,
        batch: Sequence[Outgoing],
        found: Mapping[str, dict[str, Any]],
        result: WriteResult,
    ) -> tuple[list[tuple[Outgoing, dict[str, Any]]], list[tuple[Outgoing, dict[str, Any]]]]:
        """The rows to add and to update (each with the stored entry), the rest refused."""
        adds: list[tuple[Outgoing, dict[str, Any]]] = []
        updates: list[tuple[Outgoing, dict[str, Any]]] = []
        for out in batch:
            entry = found.get(str(out.key_value))
            refusal = self._refusal(out, entry)
            if refusal is not None:
                result.refused.append(refusal)
            elif entry is None:
                adds.append((out, {}))
            else:
                updates.append((out, entry))
        return adds, updates

    def write(self, batch: Sequence[Outgoing]) -> WriteResult:
        """Add and update a batch; refused entries are reported, the rest land."""
        result = WriteResult()
        found, batch = self._stored(batch, result)
        new, stored = self._sort(batch, found, result)
        adds = [(out, self._added(out)) for out, _ in new]
        updates = [(out, self._updated(out, entry)) for out, entry in stored]
        if self.table is UserTable.ORGANIZATIONS:
            adds = _parents_first(adds, set(found), result)
        added = self._send("POST", adds, result)
        if added:
            ids = self.existing([o.key_value for o in added])
            result.inserted += [
                (o.key, int(ids[str(o.key_value)]["id"])) for o in added if str(o.key_value) in ids
            ]
        if result.error is None:
            for out in self._send("PUT", updates, result):
                result.updated.append((out.key, int(found[str(out.key_value)]["id"])))
        return result

    def _stored(
        self, batch: Sequence[Outgoing], result: WriteResult
    ) -> tuple[dict[str, dict[str, Any]], list[Outgoing]]:
        """The stored entries of a batch by code, read by id where the state knows the entry
        (one read serves the rename check too) and by code otherwise; and the rows left.

        A row whose entry the state knows under another code had its code changed in the
        source: the entry is renamed (`PUT users/codes.json`), not added a second time."""
        known = {o.record_id: o for o in batch if o.record_id is not None}
        by_id = {int(e["id"]): e for e in self.client.read(self.entity, ids=list(known))}
        moves = [
            (o, str(by_id[i][KEY]))
            for i, o in known.items()
            if i in by_id and str(by_id[i][KEY]) != str(o.key_value)
        ]
        refused = self._rename(moves, result)
        rows = [o for o in batch if o.key.id not in refused]
        found = {
            str(o.key_value): {**by_id[i], KEY: o.key_value}
            for i, o in known.items()
            if i in by_id and o.key.id not in refused
        }
        rest = [o.key_value for o in rows if str(o.key_value) not in found]
        found.update({str(k): v for k, v in self.existing(rest).items()})
        return self._org_codes(found), rows

    def _org_codes(self, entries: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Users' primary organizations as the codes an update takes back, not the ids a read
        shows (one read per 100 organizations)."""
        ids = {str(e[PRIMARY]) for e in entries.values() if e.get(PRIMARY) not in (None, "")}
        if self.table is not UserTable.USERS or not ids:
            return entries
        codes = {
            str(o["id"]): o[KEY]
            for o in self.client.read("organizations", ids=sorted(int(i) for i in ids))
        }
        for entry in entries.values():
            if entry.get(PRIMARY) not in (None, ""):
                entry[PRIMARY] = codes.get(str(entry[PRIMARY]))
        return entries

    def _rename(self, moves: Sequence[tuple[Outgoing, str]], result: WriteResult) -> set[str]:
        """Rename entries whose code changed; the row ids refused."""
        refused: set[str] = set()
        for start in range(0, len(moves), ENTRIES_PER_CALL):
            chunk = moves[start : start + ENTRIES_PER_CALL]
            pairs = [{"currentCode": old, "newCode": str(o.key_value)} for o, old in chunk]
            try:
                self.client.call("PUT", f"{self.entity}/codes", {"codes": pairs}, app=self.entity)
            except PermanentKintoneError as exc:
                if exc.code in CALL_LEVEL or exc.status in (401, 403):
                    result.error = exc
                refused |= {o.key.id for o, _ in chunk}
                result.refused += [
                    Refusal(
                        o.key,
                        KEY,
                        exc.code or "REFUSED",
                        f"renaming {old!r} to {o.key_value!r} was refused: {exc.kintone_message}",
                        exc.error_id,
                    )
                    for o, old in chunk
                ]
        return refused

    def delete(self, record_ids: Sequence[int]) -> list[int]:
        """Leavers: users disabled (or deleted, as configured), organizations deleted,
        children before parents. The ids handled; ids already gone are skipped.

        Raises:
            KintoneError: the call could not be made.
        """
        entries = list(self.client.read(self.entity, ids=record_ids))
        if self.on_delete == "disable":
            entries = list(self._org_codes({e[KEY]: e for e in entries}).values())
            pending = [{**_sendable(e), VALID: False} for e in entries if e.get(VALID) is not False]
            for start in range(0, len(pending), ENTRIES_PER_CALL):
                chunk = pending[start : start + ENTRIES_PER_CALL]
                self.client.send("PUT", self.entity, chunk, idempotent=True)
        else:
            codes = [e[KEY] for e in _children_first(entries)]
            for start in range(0, len(codes), ENTRIES_PER_CALL):
                self.client.remove(self.entity, codes[start : start + ENTRIES_PER_CALL])
        return [int(e["id"]) for e in entries]

    # --- payloads -------------------------------------------------------------------------------

    def _refusal(self, out: Outgoing, entry: Mapping[str, Any] | None) -> Refusal | None:
        what = "user" if self.table is UserTable.USERS else "organization"
        if entry is None and self.mode == "update":
            return Refusal(
                out.key,
                KEY,
                NOT_FOUND,
                f"no {what} has code {out.key_value!r}; update mode changes existing {what}s "
                "only (use upsert to add it)",
            )
        if entry is not None and self.mode == "insert":
            return Refusal(out.key, KEY, KEY_EXISTS, f"{what} {out.key_value!r} already exists")
        if entry is None and self.table is UserTable.USERS and not out.secret:
            return Refusal(
                out.key,
                PASSWORD,
                "VALUE",
                "a new user needs a password, and this row gives none; fill the column, or "
                "take it from an environment variable (password: {env: NAME})",
            )
        return None

    def _added(self, out: Outgoing) -> dict[str, Any]:
        entry = {KEY: out.key_value, **_present(out.record)}
        if self.table is UserTable.USERS:
            entry.setdefault(VALID, True)  # said, not left to the API's default
            entry[PASSWORD] = out.secret
        return entry

    def _updated(self, out: Outgoing, stored: Mapping[str, Any]) -> dict[str, Any]:
        entry = _sendable(stored)
        for name, value in out.record.items():
            if name == "customItemValues":
                entry[name] = _merged_custom(stored.get(name) or [], value)
            else:
                entry[name] = "" if value is None and isinstance(stored.get(name), str) else value
        entry[KEY] = out.key_value
        if self.table is UserTable.USERS:
            entry[VALID] = out.record.get(VALID, stored.get(VALID, True))
        return entry

    # --- sending --------------------------------------------------------------------------------

    def _read(self, codes: Sequence[str]) -> list[dict[str, Any]]:
        return list(self.client.read(self.entity, codes=codes)) if codes else []

    def _send(
        self, method: str, pairs: Sequence[tuple[Outgoing, dict[str, Any]]], result: WriteResult
    ) -> list[Outgoing]:
        """Send in calls of 100; a refused call is split until the refused entries are alone.
        The entries that landed."""
        landed: list[Outgoing] = []
        pending = [
            list(pairs[i : i + ENTRIES_PER_CALL]) for i in range(0, len(pairs), ENTRIES_PER_CALL)
        ]
        while pending and result.error is None:
            chunk = pending.pop(0)
            try:
                self.client.send(
                    method, self.entity, [p for _, p in chunk], idempotent=method == "PUT"
                )
                landed += [o for o, _ in chunk]
            except PermanentKintoneError as exc:
                if exc.code in CALL_LEVEL or exc.status in (401, 403, 404):
                    result.error = exc
                    break
                pending[:0] = self._isolate(chunk, exc, result)
            except KintoneError as exc:
                result.error = exc
        return landed

    def _isolate(
        self,
        chunk: list[tuple[Outgoing, dict[str, Any]]],
        exc: KintoneError,
        result: WriteResult,
    ) -> list[list[tuple[Outgoing, dict[str, Any]]]]:
        """Refuse the entries the error names; split the call when it names none."""
        named = _named(exc.errors)
        if named:
            for index, (out, _) in enumerate(chunk):
                for field, message in named.get(index, []):
                    result.refused.append(_refusal(out, field, exc, message))
            rest = [pair for index, pair in enumerate(chunk) if index not in named]
            return [rest] if rest else []
        if len(chunk) == 1 or self.isolation_spent >= self.isolation_requests:
            result.refused += [_refusal(out, None, exc, exc.kintone_message) for out, _ in chunk]
            return []
        self.isolation_spent += 2
        half = len(chunk) // 2
        return [chunk[:half], chunk[half:]]


def _present(record: Mapping[str, Any]) -> dict[str, Any]:
    """A new entry's items: empty ones are left to the API's defaults."""
    return {k: v for k, v in record.items() if v not in (None, "", [])}


def _sendable(stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored entry as an update takes it back: without read-only keys and unset items."""
    return {k: v for k, v in stored.items() if k not in _READ_ONLY and k != "$id" and v is not None}


def _merged_custom(
    stored: Sequence[Mapping[str, Any]], sent: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Custom items the mapping sets, and the others as they were."""
    mine = {item["code"] for item in sent}
    return [*(dict(i) for i in stored if i["code"] not in mine), *(dict(i) for i in sent)]


def _parents_first(
    adds: list[tuple[Outgoing, dict[str, Any]]], existing: set[str], result: WriteResult
) -> list[tuple[Outgoing, dict[str, Any]]]:
    """New organizations ordered so that a parent is added before its children; a parent
    that neither exists nor is added, or a cycle, refuses the organizations under it."""
    waiting = {str(o.key_value): (o, e) for o, e in adds}
    known = set(existing)
    ordered: list[tuple[Outgoing, dict[str, Any]]] = []
    while waiting:
        ready = [
            code
            for code, (_, e) in waiting.items()
            if not e.get("parentCode") or e["parentCode"] in known
        ]
        if not ready:
            break
        for code in ready:
            ordered.append(waiting.pop(code))
            known.add(code)
    for out, entry in waiting.values():
        parent = entry["parentCode"]
        why = (
            "is in a cycle of parents within the source"
            if parent in waiting
            else "is neither in cybozu.com nor among the rows this run adds"
        )
        result.refused.append(
            Refusal(out.key, "parentCode", "VALUE", f"parent organization {parent!r} {why}")
        )
    return ordered


def _children_first(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Organizations deepest first, so that no parent is deleted before its children."""
    parent = {e[KEY]: e.get("parentCode") for e in entries}

    def depth(code: str) -> int:
        seen, steps = set(), 0
        while parent.get(code) and code not in seen:
            seen.add(code)
            code, steps = str(parent[code]), steps + 1
        return steps

    return sorted(entries, key=lambda e: -depth(e[KEY]))


def _named(errors: Mapping[str, Any]) -> dict[int, list[tuple[str | None, str]]]:
    """`users[3].name: {messages: [...]}` -> {3: [("name", "...")]}."""
    out: dict[int, list[tuple[str | None, str]]] = {}
    for key, value in errors.items():
        match = _INDEX.match(key)
        if match is None:
            continue
        messages = value.get("messages", []) if isinstance(value, Mapping) else [str(value)]
        text = "; ".join(str(m) for m in messages) or "refused"
        out.setdefault(int(match.group(1)), []).append((match.group(2), text))
    return out


def _refusal(out: Outgoing, field: str | None, exc: KintoneError, message: str) -> Refusal:
    return Refusal(out.key, field, exc.code or "REFUSED", message, exc.error_id)
