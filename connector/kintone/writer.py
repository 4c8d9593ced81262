"""Record payloads into Kintone: 100 per request, 20 requests per bulkRequest, rejects isolated."""

from __future__ import annotations

import contextvars
import re
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from connector.errors import KintoneError, TransientKintoneError
from connector.kintone.client import KintoneClient
from connector.kintone.limits import (
    ISOLATION_REQUESTS_PER_RUN,
    RECORDS_PER_WRITE,
    REQUESTS_PER_BULK,
)
from connector.kintone.payload import merge_tables, replace_files
from connector.mapping.mapper import Outgoing, Refusal, RowKey
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
"""GAIA_RE01 names the record: "The specified record (ID: 5) is not found." (kintone-api.md §3)."""
# Errors that name a value rather than a record (docs/kintone-api.md §5.1, §5.3): every row of the
# run that carries the value is refused at once. The kinds match `Outgoing.refs`.
_VALUE_ERRORS = {
    "GAIA_IL26": "user",
    "GAIA_IL27": "group",
    "GAIA_IL28": "organization",
    "GAIA_LO04": "lookup",
}
# `The specified user (code：X) not found.` / `指定したユーザー（code：X）が見つかりません。`
_ENTITY_CODE = re.compile(r"[(（]code\s*[:：]\s*(.*)[)）]")
# `A value X in the field F does not exist in the datasource app for lookup, ...`
_LOOKUP_VALUE = re.compile(r"^A value (.*) in the field (\S+) does not exist")
_KEYS_PER_QUERY = 100


@dataclass
class WriteResult:
    """What one batch did: records added and changed (source key, record id), rows refused.

    `error` is set when part of the batch could not be sent; what the other parts did is
    still here, so it can be recorded before the error is raised.
    """

    inserted: list[tuple[RowKey, int]] = field(default_factory=list)
    updated: list[tuple[RowKey, int]] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    missing: list[Outgoing] = field(default_factory=list)
    """Rows sent by $id whose record is no longer in the app (deleted by hand)."""
    revisions: dict[int, int] = field(default_factory=dict)
    """Record id -> the revision Kintone answered for the write."""
    error: KintoneError | None = None

    def extend(self, other: WriteResult) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.refused += other.refused
        self.missing += other.missing
        self.revisions.update(other.revisions)
        self.error = self.error or other.error


@dataclass
class _Request:
    """One records.json sub-request and the rows it carries."""

    method: str
    rows: list[Outgoing]
    upsert: bool = False


@dataclass(frozen=True)
class _Attempt:
    """Sub-requests to send as one call; `bound` is the size of the failed call it retries.

    Size is (rows, rows of the largest sub-request), compared in that order. A retry is
    always smaller than the call it retries, so isolating refused rows ends.
    """

    requests: list[_Request]
    bound: tuple[int, int] | None = None


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
        isolation_requests: int = ISOLATION_REQUESTS_PER_RUN,
    ) -> None:
        self.client = client
        self.app = app
        self.mode = mode
        self.key_field = key_field
        self.use_bulk = use_bulk
        self.concurrency = concurrency
        self.isolation_requests = isolation_requests
        """The most requests this writer (one run) spends on finding refused rows."""
        self.isolation_spent = 0
        self._bad_values: dict[tuple[str, str], KintoneError] = {}
        """(kind, value) Kintone refused, with its error: later rows carrying it are refused."""
        self._lock = threading.Lock()
        self._gate = threading.Condition()
        self._refusing = True
        """Whether groups go alone: at the start of a run, and after a group had a call refused,
        until one lands without a refusal."""
        self._in_flight = 0
        self._alone = False

    def write(self, batch: Sequence[Outgoing]) -> WriteResult:
        """Write a batch; refused rows are reported, the rest land.

        Requests go out in groups (a bulkRequest of 20, or one request), up to `concurrency`
        groups at once. A group that fails for a reason no record explains (auth, permissions,
        an unknown app, a transient error past its retries) sets `error` on the result.
        """
        result = WriteResult()
        try:
            ready = self._upload_files(self._known_bad(batch, result), result)
            ready = self._match_existing(ready, result)
        except KintoneError as exc:
            result.error = exc
            return result
        requests = self._requests(ready)
        step = REQUESTS_PER_BULK if self.use_bulk else 1
        groups = [requests[i : i + step] for i in range(0, len(requests), step)]
        while groups and (
            self.concurrency <= 1 or len(groups) == 1 or (self._refusing and _checked(groups[0]))
        ):
            result.extend(self._send_group(groups.pop(0)))
            if result.error is not None:
                return result
        if groups:
            # Each thread runs in a copy of this one's context: log lines keep the run they are in.
            context = contextvars.copy_context()
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                parts = pool.map(lambda g: context.copy().run(self._send_group, g), groups)
                for part in parts:
                    result.extend(part)
        return result

    def _send_group(self, group: list[_Request]) -> WriteResult:
        """Send one group; `write` may run in several threads at once (a pipelined run).

        Groups carrying values Kintone checks by value (users, organizations, groups, lookup
        values: `Outgoing.refs`) go one at a time, alone, until one lands without a refused
        call: the values Kintone named are then known before the other groups go,
        concurrently, so each bad value costs one failed request, not one per group in flight.
        A group carrying none of them can neither learn nor lose anything, and never waits.
        """
        part = WriteResult()
        if not _checked(group):
            try:
                self._send(group, part)
            except KintoneError as exc:
                part.error = exc
            return part
        with self._gate:
            while self._in_flight and (self._refusing or self._alone):
                self._gate.wait()
            self._alone = self._refusing
            self._in_flight += 1
        refused = False
        try:
            refused = self._send(group, part)
        except KintoneError as exc:
            part.error = exc
        finally:
            with self._gate:
                self._in_flight -= 1
                self._refusing = refused or (self._refusing and not self._alone)
                self._alone = False
                self._gate.notify_all()
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
            if o.revision is not None:
                # Kintone refuses the write (GAIA_CO02) when the record moved past it.
                items[-1]["revision"] = o.revision
        payload: dict[str, Any] = {"app": self.app, "records": items}
        if request.upsert:
            payload["upsert"] = True
        return payload

    def _send(self, requests: list[_Request], result: WriteResult) -> bool:
        """Send requests as one bulkRequest (or one call); when Kintone refuses a row, take it
        out and send the rest again.

        A bulkRequest is all or nothing: the first failing sub-request rolls back the others.
        The refused rows are found from the error: the records it names, or the rows carrying
        the value it names (a user code, a lookup value). Otherwise the healthy sub-requests
        go on without the failing one, which is narrowed down alone, split in up to 20 parts.
        """
        work = deque([_Attempt([r for r in requests if r.rows])])
        refused = False
        while work:
            attempt = work.popleft()
            pending = self._without_bad_values(attempt.requests, result)
            if not pending:
                continue
            size = _size(pending)
            if attempt.bound is not None:
                if size >= attempt.bound:
                    raise AssertionError(f"a retry of {attempt.bound} rows carries {size}: a loop")
                if not self._spend():
                    self._give_up(pending, result)
                    continue
            try:
                answers = self._call(pending)
            except KintoneError as exc:
                if exc.ambiguous and all(r.method == "POST" for r in pending):
                    # Not a refusal: what did not land is sent again as it is.
                    work.appendleft(_Attempt(self._landed(pending, exc, result)))
                    continue
                # Past its retries a transient error is about the call, not about a record.
                if isinstance(exc, TransientKintoneError) or exc.code in _CALL_ERRORS:
                    raise
                if exc.code is None:
                    raise
                if exc.code == "GAIA_RE01":
                    # Not a refusal: a record sent by $id is gone; its row is set aside.
                    work.appendleft(_Attempt(self._drop_missing(pending, exc, result)))
                    continue
                refused = True
                work.extendleft(reversed(self._isolate(pending, exc, result)))
                continue
            for request, answer in zip(pending, answers, strict=True):
                self._collect(request, answer, result)
        return refused

    def _spend(self) -> bool:
        """Count one request spent isolating rows; False once the run's ceiling is reached."""
        with self._lock:
            if self.isolation_spent >= self.isolation_requests:
                return False
            self.isolation_spent += 1
            return True

    def _give_up(self, pending: list[_Request], result: WriteResult) -> None:
        for request in pending:
            for row in request.rows:
                result.refused.append(
                    Refusal(
                        row.key,
                        None,
                        "ISOLATION_LIMIT",
                        f"not written: Kintone refused a request holding this row, and the run "
                        f"already spent {self.isolation_requests} requests finding refused rows "
                        "(limits.isolation_requests in the project file); the row is sent again "
                        "on the next run",
                    )
                )

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
        # Kintone answers an oversized call with an error about the call, which no record explains:
        # the writer must never build one (docs/kintone-api.md §2.8, §3).
        if len(requests) > REQUESTS_PER_BULK or not all(
            0 < len(r.rows) <= RECORDS_PER_WRITE for r in requests
        ):
            raise AssertionError(
                f"{len(requests)} sub-requests of {[len(r.rows) for r in requests]} records: "
                f"at most {REQUESTS_PER_BULK} of at most {RECORDS_PER_WRITE}"
            )
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
        self, pending: list[_Request], exc: KintoneError, result: WriteResult
    ) -> list[_Attempt]:
        """What to send after `exc`: the same requests without the rows it refuses, or the
        healthy requests and the failing one split up.

        Raises:
            KintoneError: the error is about the call itself, not about a record in it.
        """
        if exc.bulk_index is not None and exc.bulk_index < len(pending):
            index = exc.bulk_index
        elif len(pending) == 1 and not self.use_bulk:
            index = 0
        else:
            raise exc
        bound = _size(pending)
        failing = pending[index]
        others = pending[:index] + pending[index + 1 :]
        bad = self._refused_rows(failing, exc, result)
        if bad:
            kept = [row for i, row in enumerate(failing.rows) if i not in bad]
            rest = [*pending[:index], *([replace(failing, rows=kept)] if kept else [])]
            return [_Attempt([*rest, *pending[index + 1 :]], bound)]
        if exc.code == "CB_VA01":
            # A validation error naming no record is about the request (its size, say).
            raise exc
        if len(failing.rows) == 1:
            result.refused.append(_refusal(failing.rows[0].key, None, exc))
            return [_Attempt(others, bound)] if others else []
        # No record named (GAIA_RE20, a value the rows do not show...): the healthy requests
        # go on, the failing one is narrowed down alone.
        parts = REQUESTS_PER_BULK if self.use_bulk else 2
        pieces = _split(failing, parts)
        attempts = [_Attempt(others, bound)] if others else []
        if self.use_bulk:
            return [*attempts, _Attempt(pieces, bound)]
        return [*attempts, *(_Attempt([piece], bound) for piece in pieces)]

    def _refused_rows(self, failing: _Request, exc: KintoneError, result: WriteResult) -> set[int]:
        """The positions of the rows `exc` refuses in the failing request; their refusals go
        to `result`. Empty when the error names neither a record nor a value a row carries."""
        named = _record_errors(exc.errors)
        bad: set[int] = set()
        for position, problems in named.items():
            if position < len(failing.rows):
                row = failing.rows[position]
                bad.add(position)
                for code, message in problems:
                    result.refused.append(
                        Refusal(row.key, code, exc.code or "", message, exc.error_id)
                    )
        if bad:
            return bad
        value = _named_value(exc)
        if value is None:
            return bad
        carriers = {i for i, row in enumerate(failing.rows) if _carries(row, value)}
        if carriers:
            # Only a value some row carries is remembered: a misread message refuses nothing.
            with self._lock:
                self._bad_values.setdefault(value, exc)
            for i in carriers:
                result.refused.append(_value_refusal(failing.rows[i], value, exc))
        return carriers

    def _known_bad(self, batch: Sequence[Outgoing], result: WriteResult) -> list[Outgoing]:
        """The rows that carry no value Kintone already refused in this run; the others are
        refused here, without a request."""
        with self._lock:
            known = dict(self._bad_values)
        if not known:
            return list(batch)
        ready = []
        for out in batch:
            hit = next((v for v in known if _carries(out, v)), None)
            if hit is None:
                ready.append(out)
            else:
                result.refused.append(_value_refusal(out, hit, known[hit]))
        return ready

    def _without_bad_values(self, pending: list[_Request], result: WriteResult) -> list[_Request]:
        out = []
        for request in pending:
            rows = self._known_bad(request.rows, result)
            if rows:
                out.append(
                    request if len(rows) == len(request.rows) else replace(request, rows=rows)
                )
        return out

    def _collect(self, request: _Request, answer: Mapping[str, Any], result: WriteResult) -> None:
        if request.method == "POST":
            ids = answer.get("ids", [])
            revisions = answer.get("revisions") or [None] * len(ids)
            for row, record_id, revision in zip(request.rows, ids, revisions, strict=True):
                result.inserted.append((row.key, int(record_id)))
                if revision is not None:
                    result.revisions[int(record_id)] = int(revision)
            return
        for row, item in zip(request.rows, answer.get("records", []), strict=True):
            target = result.inserted if item.get("operation") == "INSERT" else result.updated
            target.append((row.key, int(item["id"])))
            if item.get("revision") is not None:
                result.revisions[int(item["id"])] = int(item["revision"])


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


def _refusal(key: RowKey, field_code: str | None, exc: KintoneError) -> Refusal:
    return Refusal(key, field_code, exc.code or "", exc.kintone_message, exc.error_id)


def _quote(value: Any) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _checked(group: Sequence[_Request]) -> bool:
    """Whether a group holds a value Kintone may refuse by value (a user code, a lookup value)."""
    return any(row.refs for request in group for row in request.rows)


def _key_text(value: Any) -> str:
    return str(value)


def _with_record(out: Outgoing, record: dict[str, Any]) -> Outgoing:
    return replace(out, record=record)


def _size(requests: Sequence[_Request]) -> tuple[int, int]:
    """A call's size: its rows, and the rows of its largest sub-request."""
    return sum(len(r.rows) for r in requests), max((len(r.rows) for r in requests), default=0)


def _split(request: _Request, parts: int) -> list[_Request]:
    """The request's rows in up to `parts` sub-requests of near-equal size, order kept."""
    rows = request.rows
    step = -(-len(rows) // min(parts, len(rows)))
    return [replace(request, rows=rows[i : i + step]) for i in range(0, len(rows), step)]


def _named_value(exc: KintoneError) -> tuple[str, str] | None:
    """(kind, value) of an error that names a value: ("user", "jdoe"), ("lookup:code", "X")."""
    kind = _VALUE_ERRORS.get(exc.code or "")
    if kind is None:
        return None
    message = exc.kintone_message
    if kind == "lookup":
        m = _LOOKUP_VALUE.match(message)
        return (f"lookup:{m.group(2)}", m.group(1)) if m else None
    m = _ENTITY_CODE.search(message)
    return (kind, m.group(1)) if m else None


def _carries(row: Outgoing, value: tuple[str, str]) -> bool:
    return any((kind, text) == value for kind, text, _ in row.refs)


def _value_refusal(row: Outgoing, value: tuple[str, str], exc: KintoneError) -> Refusal:
    kind, text = value
    where = next((f for k, t, f in row.refs if (k, t) == value), None)
    if kind.startswith("lookup:"):
        what = f"lookup value {text!r} is not in the lookup's source app (or cannot be seen)"
        fix = "fix the value in the source, or add the record to the source app"
    else:
        what = f"{kind} {text!r} does not exist in Kintone"
        fix = f"fix the code in the source, or add the {kind} in Kintone"
    return Refusal(
        row.key,
        where,
        exc.code or "",
        f"{what}: {exc.kintone_message} Every row of the run with it is refused; {fix}",
        exc.error_id,
    )
