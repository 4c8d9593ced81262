"""Records changed in Kintone since the job last wrote them: revisions read in batches."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from connector.diff import Conflict, OnConflict, Resolution, resolve
from connector.drift import drifted
from connector.kintone.client import KintoneClient
from connector.kintone.payload import merge_tables
from connector.mapping.form import Form
from connector.mapping.mapper import Outgoing
from connector.mapping.spec import RECORD_ID
from connector.state.rows import RowState


class Revisions:
    """Reads what a conflict check needs: revisions of many records, fields of a few.

    Both reads go `$id in (...)`, up to 500 records a request: a batch of 2,000 updates costs
    four requests, and the records whose revision moved one more each 500.
    """

    def __init__(self, client: KintoneClient, app: int, form: Form, key_field: str | None):
        self.client, self.app, self.form, self.key_field = client, app, form, key_field

    def current(self, record_ids: Sequence[int]) -> dict[int, int]:
        """Record id -> its revision now; records no longer in the app are absent."""
        found: dict[int, int] = {}
        for record in self.client.by_ids(self.app, record_ids, ["$revision"]):
            found[int(record["$id"]["value"])] = int(record["$revision"]["value"])
        return found

    def changes(self, writes: Mapping[int, Outgoing]) -> dict[int, list[str]]:
        """Record id -> the mapped fields whose values in Kintone each write would change."""
        codes = sorted({code for out in writes.values() for code in self._sent(out)})
        read = self.client.by_ids(self.app, list(writes), codes)
        stored = {int(r["$id"]["value"]): r for r in read}
        out: dict[int, list[str]] = {}
        for record_id, write in writes.items():
            found = stored.get(record_id)
            if found is None:
                out[record_id] = []
                continue
            sent = self._sent(merge_tables(write, found) if write.merge_tables else write)
            out[record_id] = drifted(self.form, sent, found, merge_tables=write.merge_tables)
        return out

    def _sent(self, out: Outgoing) -> dict[str, Any]:
        sent = dict(out.record)
        if self.key_field not in (None, RECORD_ID):
            sent[self.key_field] = {"value": out.key_value}
        return sent


@dataclass(frozen=True)
class Checked:
    """A batch's writes after the conflict check."""

    writes: list[Outgoing]
    """What to send: conflicts that are skipped or stop the run are left out; under skip and
    fail the others carry the revision they were checked at."""
    conflicts: list[Conflict]


def check(
    writes: Sequence[Outgoing],
    known: Mapping[str, RowState],
    by_record_id: bool,
    revisions: Revisions,
    on_conflict: OnConflict,
) -> Checked:
    """Compare the revision of each record the state knows with the one in Kintone.

    Only writes by $id to a record whose revision the state kept are checked; the rule is
    `diff.resolve`. Under skip and fail each write carries its revision too, so a record
    changed between this read and the write is refused by Kintone (GAIA_CO02), not overwritten.
    """
    watched: dict[int, tuple[Outgoing, int]] = {}
    for out in writes:
        before = known.get(out.key.id)
        target = _target(out, by_record_id)
        if (
            target is not None
            and before is not None
            and before.revision is not None
            and before.record_id == target
        ):
            watched[target] = (out, before.revision)
    if not watched:
        return Checked(list(writes), [])
    now = revisions.current(list(watched))
    moved = {i: out for i, (out, stored) in watched.items() if now.get(i, stored) != stored}
    changes = revisions.changes(moved) if moved else {}
    guard = on_conflict != "overwrite"
    kept: list[Outgoing] = []
    conflicts: list[Conflict] = []
    for out in writes:
        target = _target(out, by_record_id)
        if target is None or target not in watched:
            kept.append(out)
            continue
        stored = watched[target][1]
        fields = changes.get(target, [])
        verdict = resolve(stored, now.get(target), fields, on_conflict)
        if verdict is not Resolution.WRITE:
            conflicts.append(
                Conflict(out.key, target, stored, now.get(target), tuple(fields), verdict)
            )
        if verdict in (Resolution.SKIP, Resolution.STOP):
            continue
        current = now.get(target)
        kept.append(replace(out, revision=current) if guard and current is not None else out)
    return Checked(kept, conflicts)


def _target(out: Outgoing, by_record_id: bool) -> int | None:
    """The record a write goes to by $id, if it goes by $id."""
    if out.record_id is not None:
        return out.record_id
    if by_record_id and out.key_value is not None:
        return int(out.key_value)
    return None
