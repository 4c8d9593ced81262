"""Record payloads into Kintone: 100 per request, 20 requests per bulkRequest, rejects isolated."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from connector.errors import KintoneError, TransientKintoneError
from connector.kintone.client import KintoneClient
from connector.kintone.limits import RECORDS_PER_WRITE, REQUESTS_PER_BULK
from connector.kintone.payload import merge_tables, replace_files
from connector.mapping.mapper import Outgoing, Refusal, SourceKey
from connector.mapping.spec import RECORD_ID

Mode = Literal["insert", "update", "upsert"]
# Errors about the whole call, not about a record in it: retrying record by record cannot help.
_CALL_ERRORS = frozenset(
    {
        "CB_AU01",
        "CB_WA01",
        "CB_NO02",
        "CB_IJ01",
        "GAIA_IA02",
        "GAIA_DA03",
        "GAIA_NO01",
        "GAIA_AP01",
        "GAIA_IL23",
        "GAIA_IQ11",
        "GAIA_IQ27",
        "GAIA_BF02",
        "GAIA_UN10",
    }
)
_RECORD_KEY = re.compile(r"^records\[(\d+)\](.*)$")
_MISSING_RECORD = re.compile(r"\(ID: ?(\d+)\)")
"""GAIA_RE01 names the record: "The specified record (ID: 5) is not found." (API.md §3)."""
_KEYS_PER_QUERY = 100


@dataclass
class WriteResult:
    """What one batch did: records added and changed (source key, record id), rows refused.

    `error` is set when part of the batch could not be sent; what the other parts did is
    still here, so it can be recorded before the error is raised.
    """

    inserted: list[tuple[SourceKey, int]] = field(default_factory=list)
    updated: list[tuple[SourceKey, int]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    missing: list[Outgoing] = field(default_factory=list)
    """Rows sent by $id whose record is no longer in the app (deleted by hand)."""
    error: KintoneError | None = None

    def extend(self, other: WriteResult) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.refused += other.refused
        self.missing += other.missing
        self.error = self.error or other.error


@dataclass
class _Request:
    """One records.json sub-request and the rows it carries."""

    method: str
    rows: list[Outgoing]
    upsert: bool = False


class RecordWriter:
    """Writes batches of mapped records to one app with the mode's API calls."""

    def __init__(
        self,
        client: KintoneClient,
        app: int,
        mode: Mode,
        key_field: str | None,
        *,
        use_bulk: bool = True,
        concurrency: int = 1,
    ) -> None:
        self.client = client
        self.app = app
        self.mode = mode
        self.key_field = key_field
        self.use_bulk = use_bulk
        self.concurrency = concurrency

    def write(self, batch: Sequence[Outgoing]) -> WriteResult:
        """Write a batch; refused rows are reported, the rest land.

        Requests go out in groups (a bulkRequest of 20, or one request), up to `concurrency`
        groups at once. A group that fails for a reason no record explains (auth, permissions,
        an unknown app, a transient error past its retries) sets `error` on the result.
        """
        result = WriteResult()
        try:
            ready = self._upload_files(batch, result)
            ready = self._match_existing(ready, result)
        except KintoneError as exc:
            result.error = exc
            return result
        requests = self._requests(ready)
        step = REQUESTS_PER_BULK if self.use_bulk else 1
        groups = [requests[i : i + step] for i in range(0, len(requests), step)]
        if self.concurrency <= 1 or len(groups) <= 1:
            for group in groups:
                result.extend(self._send_group(group))
                if result.error is not None:
                    break
            return result
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for part in pool.map(self._send_group, groups):
                result.extend(part)
        return result

    def _send_group(self, group: list[_Request]) -> WriteResult:
        part = WriteResult()
        try:
            self._send(group, part)
        except KintoneError as exc:
            part.error = exc
        return part

    def delete(self, record_ids: Sequence[int]) -> list[int]:
        """Delete records by id; ids already gone are skipped. The ids that were deleted.

        Raises:
            KintoneError: the delete could not be done.
        """
        alive = sorted(int(i) for i in self.existing(record_ids, [], field=RECORD_ID))
        subs = [
            {
                "method": "DELETE",
                "api": "records",
                "payload": {"app": self.app, "ids": alive[i : i + RECORDS_PER_WRITE]},
            }
            for i in range(0, len(alive), RECORDS_PER_WRITE)
        ]
        for start in range(0, len(subs), REQUESTS_PER_BULK):
            self.client.bulk(subs[start : start + REQUESTS_PER_BULK])
        return alive

    def plan(self, batch: Sequence[Outgoing]) -> WriteResult:
        """What `write` would do, found by reading only: record ids 0 stand for new records.

        Rows Kintone itself would refuse (a value out of range, say) show up only in a real run.
        """
        result = WriteResult()
        if self.mode == "insert":
            result.inserted = [(out.key, 0) for out in batch]
            return result
        by_key = [out for out in batch if out.record_id is None]
        result.updated = [(out.key, out.record_id) for out in batch if out.record_id is not None]
        existing = self.existing([out.key_value for out in by_key], [])
        for out in by_key:
            stored = existing.get(_key_text(out.key_value))
            if stored is not None:
                result.updated.append((out.key, int(stored["$id"]["value"])))
            elif self.mode == "upsert":
                result.inserted.append((out.key, 0))
            else:
                result.refused.append(self._unmatched(out))
        return result

    def _unmatched(self, out: Outgoing) -> Refusal:
        return Refusal(
            out.key,
            self.key_field,
            "GAIA_RE20",
            f"no record of app {self.app} has {self.key_field} = {out.key_value}; "
            "update mode changes existing records only (use upsert to add it)",
        )

    # --- before the write ---------------------------------------------------------------------

    def _upload_files(self, batch: Sequence[Outgoing], result: WriteResult) -> list[Outgoing]:
        ready = []
        for out in batch:
            try:
                record = replace_files(out.record, self.client)
            except KintoneError as exc:
                if exc.code is None or exc.code in _CALL_ERRORS:
                    raise
                result.refused.append(_refusal(out.key, None, exc))
                continue
            ready.append(out if record is out.record else _with_record(out, record))
        return ready

    def _match_existing(self, batch: list[Outgoing], result: WriteResult) -> list[Outgoing]:
        """Update mode reports unmatched keys; merged tables need the stored rows."""
        merging = any(out.merge_tables for out in batch)
        if self.mode == "insert" or (self.mode == "upsert" and not merging):
            return batch
        tables = sorted({t for out in batch for t in out.merge_tables})
        by_key = [out for out in batch if out.record_id is None]
        by_id = [out for out in batch if out.record_id is not None]
        existing = self.existing([out.key_value for out in by_key], tables)
        stored_by_id = (
            self.existing([out.record_id for out in by_id], tables, field=RECORD_ID)
            if by_id and merging
            else {}
        )
        ready = []
        for out in batch:
            if out.record_id is not None:
                stored = stored_by_id.get(str(out.record_id))
                ready.append(merge_tables(out, stored) if stored and out.merge_tables else out)
                continue
            stored = existing.get(_key_text(out.key_value))
            if stored is None and self.mode == "update":
                result.refused.append(self._unmatched(out))
                continue
            ready.append(merge_tables(out, stored) if stored and out.merge_tables else out)
        return ready

    def existing(
        self, values: Sequence[Any], tables: Sequence[str], *, field: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """The stored records whose key (or `field`) has one of these values, by value text;
        `tables` are SUBTABLE codes to read with them."""
        key = field or self.key_field or RECORD_ID
        found: dict[str, dict[str, Any]] = {}
        present = [v for v in values if v is not None]
        for start in range(0, len(present), _KEYS_PER_QUERY):
            chunk = present[start : start + _KEYS_PER_QUERY]
            listed = ", ".join(_quote(v) for v in chunk)
            for record in self.client.select(self.app, f"{key} in ({listed})", [key, *tables]):
                found[_key_text(record[key]["value"])] = record
        return found

    def _requests(self, batch: list[Outgoing]) -> list[_Request]:
        inserts = [o for o in batch if self.mode == "insert" or o.key_value is None]
        by_id = [o for o in batch if o.record_id is not None and self.mode != "insert"]
        by_key = [
            o
            for o in batch
            if self.mode != "insert" and o.key_value is not None and o.record_id is None
        ]
        out: list[_Request] = []
        for rows, method, upsert in (
            (inserts, "POST", False),
            (by_id, "PUT", False),
            (by_key, "PUT", self.mode == "upsert"),
        ):
            for start in range(0, len(rows), RECORDS_PER_WRITE):
                chunk = rows[start : start + RECORDS_PER_WRITE]
                out.append(_Request(method, chunk, upsert=upsert))
        return out

    # --- the write ----------------------------------------------------------------------------

    def _payload(self, request: _Request) -> dict[str, Any]:
        if request.method == "POST":
            return {"app": self.app, "records": [o.record for o in request.rows]}
        items = []
        for o in request.rows:
            if o.record_id is not None:
                # By $id, the key field is sent too: a changed key value follows the record.
                record = dict(o.record)
                if self.key_field not in (None, RECORD_ID):
                    record[self.key_field] = {"value": o.key_value}
                items.append({"id": o.record_id, "record": record})
            elif self.key_field == RECORD_ID:
                items.append({"id": o.key_value, "record": o.record})
            else:
                update_key = {"field": self.key_field, "value": o.key_value}
                items.append({"updateKey": update_key, "record": o.record})
        payload: dict[str, Any] = {"app": self.app, "records": items}
        if request.upsert:
            payload["upsert"] = True
        return payload

    def _send(self, requests: list[_Request], result: WriteResult) -> None:
        """Send requests as one bulkRequest (or one call); on a record error, take out the
        offending records, or split the failing request, and send the rest again."""
        pending = [r for r in requests if r.rows]
        while pending:
            try:
                answers = self._call(pending)
            except KintoneError as exc:
                if exc.ambiguous and all(r.method == "POST" for r in pending):
                    pending = self._landed(pending, exc, result)
                    continue
                # Past its retries a transient error is about the call, not about a record.
                if isinstance(exc, TransientKintoneError) or exc.code in _CALL_ERRORS:
                    raise
                if exc.code is None:
                    raise
                if exc.code == "GAIA_RE01":
                    pending = self._drop_missing(pending, exc, result)
                    continue
                index = exc.bulk_index if exc.bulk_index is not None else 0
                pending = self._isolate(pending, index, exc, result)
                continue
            for request, answer in zip(pending, answers, strict=True):
                self._collect(request, answer, result)
            return

    def _drop_missing(
        self, pending: list[_Request], exc: KintoneError, result: WriteResult
    ) -> list[_Request]:
        """A record sent by $id is gone (deleted by hand): its row is set aside for the caller
        to decide, and the rest are sent again."""
        named = _MISSING_RECORD.search(exc.kintone_message)
        gone = int(named.group(1)) if named else None
        kept: list[_Request] = []
        found = False
        for request in pending:
            rows = []
            for row in request.rows:
                if not found and gone is not None and row.record_id == gone:
                    result.missing.append(row)
                    found = True
                else:
                    rows.append(row)
            if rows:
                kept.append(_Request(request.method, rows, request.upsert))
        if not found:
            raise exc
        return kept

    def _landed(
        self, pending: list[_Request], exc: KintoneError, result: WriteResult
    ) -> list[_Request]:
        """After an insert whose answer was lost, look up by key what landed; the rest go again.

        An insert is never sent blind a second time: without a unique key to look up, the
        error is raised and the rows stay pending for the next run to resolve.
        """
        if self.key_field is None or self.key_field == RECORD_ID:
            raise exc
        rows = [row for request in pending for row in request.rows]
        found = self.existing([row.key_value for row in rows], [])
        rest: list[Outgoing] = []
        for row in rows:
            stored = found.get(_key_text(row.key_value))
            if stored is not None:
                result.inserted.append((row.key, int(stored["$id"]["value"])))
            else:
                rest.append(row)
        return [
            _Request("POST", rest[i : i + RECORDS_PER_WRITE])
            for i in range(0, len(rest), RECORDS_PER_WRITE)
        ]

    def _call(self, requests: list[_Request]) -> list[Any]:
        inserts_only = all(r.method == "POST" for r in requests)
        if len(requests) == 1 and not self.use_bulk:
            request = requests[0]
            body = self.client.call(
                request.method,
                "records",
                self._payload(request),
                idempotent=request.method != "POST",
                app=self.app,
            )
            return [body]
        subs = [
            {"method": r.method, "api": "records", "payload": self._payload(r)} for r in requests
        ]
        return self.client.bulk(subs, idempotent=not inserts_only)

    def _isolate(
        self, pending: list[_Request], index: int, exc: KintoneError, result: WriteResult
    ) -> list[_Request]:
        failing = pending[min(index, len(pending) - 1)]
        bad = _record_errors(exc.errors)
        rest = [r for r in pending if r is not failing]
        if bad:
            for position, problems in bad.items():
                if position < len(failing.rows):
                    row = failing.rows[position]
                    for code, message in problems:
                        result.refused.append(
                            Refusal(row.key, code, exc.code or "", message, exc.error_id)
                        )
            kept = [row for i, row in enumerate(failing.rows) if i not in bad]
            return [*rest, _Request(failing.method, kept, failing.upsert)]
        if len(failing.rows) == 1:
            result.refused.append(_refusal(failing.rows[0].key, None, exc))
            return rest
        # No record named in the error (GAIA_LO04, GAIA_RE20, GAIA_IL26...): halve the request
        # until the record is alone.
        half = len(failing.rows) // 2
        first = _Request(failing.method, failing.rows[:half], failing.upsert)
        second = _Request(failing.method, failing.rows[half:], failing.upsert)
        return [*rest, first, second]

    def _collect(self, request: _Request, answer: Mapping[str, Any], result: WriteResult) -> None:
        if request.method == "POST":
            for row, record_id in zip(request.rows, answer.get("ids", []), strict=True):
                result.inserted.append((row.key, int(record_id)))
            return
        for row, item in zip(request.rows, answer.get("records", []), strict=True):
            target = result.inserted if item.get("operation") == "INSERT" else result.updated
            target.append((row.key, int(item["id"])))


def _record_errors(errors: Mapping[str, Any]) -> dict[int, list[tuple[str, str]]]:
    """`records[3].email.value: [..]` -> {3: [("email", "Required.")]}."""
    out: dict[int, list[tuple[str, str]]] = {}
    for key, messages in errors.items():
        m = _RECORD_KEY.match(key)
        if m is None:
            continue
        code = _field_of(m.group(2))
        for message in messages if isinstance(messages, list) else [messages]:
            out.setdefault(int(m.group(1)), []).append((code, str(message)))
    return out


def _field_of(rest: str) -> str:
    """`.orders.value[2].value.item.value` -> `orders[2].item`; `[qty].value` -> `qty`."""
    rest = re.sub(r"^\[([^\]]+)\]", r".\1", rest)
    rest = re.sub(r"\.value\[(\d+)\]\.value", r"[\1]", rest)
    rest = re.sub(r"\.values?(\[\d+\])?(\.value)?$", "", rest)
    return rest.strip(".")


def _refusal(key: SourceKey, field_code: str | None, exc: KintoneError) -> Refusal:
    return Refusal(key, field_code, exc.code or "", exc.kintone_message, exc.error_id)


def _quote(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _key_text(value: Any) -> str:
    return str(value)


def _with_record(out: Outgoing, record: dict[str, Any]) -> Outgoing:
    return replace(out, record=record)
