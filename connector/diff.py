"""The rules that decide what a run writes, leaves, refuses and deletes: pure, no I/O.

Mapped rows and what the state knows go in; actions come out. Every rule here is a row in
tests/sync/test_diff.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any, Literal

from connector.errors import DeleteCapError
from connector.mapping.mapper import Outgoing, Refusal, RowKey
from connector.mapping.spec import RECORD_ID
from connector.state.rows import Claim, Gone, RowState, Written

Mode = Literal["insert", "update", "upsert"]
KEY_TAKEN = "KEY_TAKEN"
"""Our refusal code: another row of the source holds the same match value."""
KEY_SWAPPED = "KEY_SWAPPED"
"""Our refusal code: two rows exchange key values in one run."""
KEY_EXISTS = "KEY_EXISTS"
"""Our refusal code: an insert whose key (a USER table's code) is already taken."""
DUPLICATE_MESSAGES = ("This value already exists in another record.", "値がほかのレコードと重複")
"""Kintone's CB_VA01 message for a "Prohibit duplicate values" field (docs/kintone-api.md §5)."""


class Action(StrEnum):
    INSERT = "insert"
    """POST: a new record."""
    BY_KEY = "by_key"
    """PUT by updateKey (with upsert, a record is added when none matches)."""
    BY_ID = "by_id"
    """PUT by $id: the state knows the record, so a changed key value follows the row."""
    UNCHANGED = "unchanged"
    CHECK_LANDED = "check_landed"
    """An insert a stopped run left in flight: look it up by key before sending it again."""
    DEFER = "defer"
    """The row holding the same match value has not been read yet: decide at the run's end."""
    REFUSE = "refuse"


@dataclass(frozen=True)
class Policy:
    """What the mapping says about writing."""

    mode: Mode
    key_field: str | None
    full_refresh: bool = False

    @property
    def by_record_id(self) -> bool:
        return self.key_field == RECORD_ID


@dataclass(frozen=True)
class Candidate:
    """A mapped row, with the digest of what it sends."""

    out: Outgoing
    payload_hash: str
    source_digest: str | None = None
    """The warehouse's digest of the row it was mapped from (connector/skim.py), if any."""

    @property
    def key(self) -> RowKey:
        return self.out.key

    @property
    def match(self) -> str | None:
        """The match value as text: what Kintone's unique field (or $id) holds."""
        value = self.out.key_value
        return None if value is None else str(value)

    def written(self, record_id: int, *, created: bool, revision: int | None = None) -> Written:
        """What the state keeps once Kintone confirmed this row's record."""
        return Written(
            self.key,
            record_id,
            self.match,
            self.payload_hash,
            created,
            self.out.child_rows,
            revision,
            self.source_digest,
        )


@dataclass
class Decisions:
    """A batch's actions; `writes` carry the record id when they go by $id."""

    writes: list[Outgoing] = field(default_factory=list)
    unchanged: list[RowKey] = field(default_factory=list)
    check_landed: list[Candidate] = field(default_factory=list)
    deferred: list[Candidate] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    released: list[int] = field(default_factory=list)
    """Record ids rows no longer map to ($id keys that changed)."""
    child_rows_removed: int = 0
    """Table rows the writes would remove from their records, against what was last sent."""


def decide(
    rows: Sequence[Candidate],
    known: Mapping[str, RowState],
    claims: Mapping[str, Sequence[Claim]],
    policy: Policy,
    *,
    final: bool = False,
    complete: bool = True,
) -> Decisions:
    """Decide what to do with a batch of mapped rows, in primary-key order.

    `known` is the state of the batch's rows (by row id); `claims` are the rows the state
    says hold each match value. `final` is the run's last pass over deferred rows: a holder
    not read by then has left the source (or changed), so its value is free.

    The rules:
    - A match value belongs to one row. The row that already holds it in the state keeps it
      while the source still gives it that value; any other row with it is refused. When the
      holder has not been read yet, the row waits for the run's end.
    - Within the run, the first row (in primary-key order) to take a free value keeps it.
    - A row whose record the state knows is written by $id, so a changed key value follows
      the row instead of orphaning its record; others go by key, or as inserts.
    - A row whose digest matches what it last sent is left alone (unless a full refresh).
    - Insert mode adds a row once; an insert a stopped run left unanswered is looked up first.
    """
    out = Decisions()
    batch = {c.key.id: c for c in rows}
    taken: dict[str, RowKey] = {}
    for row in rows:
        before = known.get(row.key.id)
        match = row.match
        if match is not None:
            own = before.record_id if before is not None and not policy.by_record_id else None
            verdict = _claim(
                row, match, claims.get(match, ()), batch, taken, own, final=final, complete=complete
            )
            if isinstance(verdict, Refusal):
                out.refused.append(verdict)
                continue
            if verdict is Action.DEFER:
                out.deferred.append(row)
                continue
            taken[match] = row.key
        _act(row, before, policy, out)
    return out


def unchanged_source(
    digests: Mapping[str, str], stored: Mapping[str, str], policy: Policy
) -> set[str]:
    """The rows (by id) whose warehouse digest is the one their record was last written from:
    unchanged without being mapped. `stored` holds the digests of rows whose record is written
    and synced (a refused or pending row is read whole, whatever its digest); a full refresh
    maps every row."""
    if policy.full_refresh:
        return set()
    return {row_id for row_id, digest in digests.items() if stored.get(row_id) == digest}


def _claim(
    row: Candidate,
    match: str,
    holders: Sequence[Claim],
    batch: Mapping[str, Candidate],
    taken: Mapping[str, RowKey],
    own: int | None,
    *,
    final: bool,
    complete: bool,
) -> Refusal | Action | None:
    if match in taken:
        return _taken(row, match, taken[match].text)
    for holder in holders:
        if holder.row_id == row.key.id:
            continue
        mate = batch.get(holder.row_id)
        if mate is not None:
            # The holder is in this batch: it keeps the value if it still has it; if it moves
            # away, its write and ours would race inside one request, so ours waits.
            return _taken(row, match, holder.pk) if mate.match == match else Action.DEFER
        if holder.seen:
            return _taken(row, match, holder.pk)
        if not final:
            return Action.DEFER
        if not complete:
            return _taken(row, match, holder.pk)
        if own is not None and holder.record_id is not None and holder.record_id != own:
            # The holder left the source but its record was kept (no deletes in this run):
            # Kintone would refuse a second record with the value.
            return Refusal(
                row.key,
                None,
                KEY_TAKEN,
                f"the match value {match!r} is still held by record {holder.record_id}, whose "
                f"source row {holder.pk} is gone but whose record is kept (deletes run only "
                "under on_delete: delete, on full reads): delete that record, or let the run "
                "delete it",
            )
    return None


def swapped(row: Candidate) -> Refusal:
    """A row whose match value is held by a row that wants this row's value in turn."""
    return Refusal(
        row.key,
        None,
        KEY_SWAPPED,
        f"the match value {row.match!r} is held by another source row that takes a value this "
        "row holds (key values exchanged between rows); Kintone refuses either write while the "
        "other record holds the value: give one row a temporary value for one run",
    )


def _taken(row: Candidate, match: str, holder_pk: str) -> Refusal:
    return Refusal(
        row.key,
        None,
        KEY_TAKEN,
        f"the match value {match!r} is also the value of source row {holder_pk}; a record "
        "belongs to one row, so this row is not written: make the key column unique",
    )


def _act(row: Candidate, before: RowState | None, policy: Policy, out: Decisions) -> None:
    record_id = before.record_id if before is not None else None
    if policy.by_record_id and row.out.key_value is not None:
        source_id = int(row.out.key_value)
        if record_id is not None and record_id != source_id:
            out.released.append(record_id)
        record_id = source_id if before is None or before.record_id == source_id else None
    if before is not None and before.status == "pending" and policy.mode == "insert":
        out.check_landed.append(row)
        return
    if (
        before is not None
        and record_id is not None
        and before.status == "synced"
        and (
            policy.mode == "insert"
            or (not policy.full_refresh and before.payload_hash == row.payload_hash)
        )
    ):
        out.unchanged.append(row.key)
        return
    if policy.mode == "insert":
        if record_id is not None:
            out.unchanged.append(row.key)  # insert mode adds a row once
        else:
            out.writes.append(row.out)
        return
    if before is not None:
        out.child_rows_removed += max(0, before.child_rows - row.out.child_rows)
    if record_id is not None and not policy.by_record_id:
        out.writes.append(replace(row.out, record_id=record_id))
    else:
        out.writes.append(row.out)


OnConflict = Literal["overwrite", "skip", "fail"]
CONFLICT = "CONFLICT"
"""Our refusal code: the record was changed in Kintone since this job last wrote it."""


class Resolution(StrEnum):
    """What happens to a write whose record someone else may have changed."""

    WRITE = "write"
    """No conflict: written as usual."""
    OVERWRITE = "overwrite"
    """A conflict, written over (on_conflict: overwrite); counted and listed."""
    SKIP = "skip"
    """A conflict, left as it is in Kintone: the row is refused and tried again next run."""
    STOP = "stop"
    """A conflict: the run stops before the batch's write (on_conflict: fail)."""


def resolve(
    stored: int | None, current: int | None, changes: Sequence[str], on_conflict: OnConflict
) -> Resolution:
    """Whether a write by $id meets a record someone else changed, and what is done then.

    `stored` is the revision Kintone answered this job's last write of the record, `current`
    the revision read just before this write, `changes` the mapped fields whose values in
    Kintone the write would change. The rules:
    - Only our own writes moved the revision (it is the one we stored): no conflict.
    - The state does not know the revision (a record written before the state kept them, or
      found by key), or the record is gone: nothing to compare, the write goes as usual.
    - The revision moved (a person, a process action, another integration) but the record
      already holds every value the row sends: nothing would be overwritten, no conflict.
    - Otherwise a conflict: `overwrite` writes, `skip` leaves the record, `fail` stops.
    """
    if stored is None or current is None or stored == current or not changes:
        return Resolution.WRITE
    return {
        "overwrite": Resolution.OVERWRITE,
        "skip": Resolution.SKIP,
        "fail": Resolution.STOP,
    }[on_conflict]


@dataclass(frozen=True)
class Conflict:
    """A record changed in Kintone since this job last wrote it, which the run would change."""

    key: RowKey
    record_id: int
    stored: int
    """The revision of this job's last write."""
    current: int | None
    """The revision in Kintone (None: refused by Kintone as stale, not read)."""
    fields: tuple[str, ...]
    """The mapped fields whose values the write would change."""
    resolution: Resolution

    @property
    def description(self) -> str:
        now = f"revision {self.stored} -> {self.current}" if self.current else "a newer revision"
        fields = ", ".join(self.fields) or "the fields it sends"
        return (
            f"record {self.record_id} was changed in Kintone since this job last wrote it "
            f"({now}); the write would change {fields}"
        )

    def refusal(self) -> Refusal:
        """The refused row a skipped (or stopping) conflict leaves, for `rejects`."""
        return Refusal(
            self.key,
            None,
            CONFLICT,
            f"{self.description}. It is left as it is and tried again each run: bring the "
            "source in line with the edit, or run once with --on-conflict overwrite to write "
            "over it",
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": list(self.key.values),
            "record_id": self.record_id,
            "revision_written": self.stored,
            "revision_found": self.current,
            "fields": list(self.fields),
            "resolution": str(self.resolution),
        }


NULL_KEY = "NULL_KEY"
DUPLICATE_KEY = "DUPLICATE_KEY"


def key_problem(
    row: Mapping[str, object], primary_key: Sequence[str], duplicates: Set[tuple[object, ...]]
) -> Refusal | None:
    """A row whose primary key is NULL, or shared with other rows, cannot be told apart from
    them run after run: it is refused (every row of a repeated key), the rest go on."""
    values = tuple(row[c] for c in primary_key)
    if values not in duplicates and all(v is not None for v in values):
        return None  # the common case: no key built twice per row
    key = RowKey.of(values)
    if any(v is None for v in values):
        shown = ", ".join(f"{c}={row[c]!r}" for c in list(row)[:4] if c not in primary_key)
        return Refusal(
            key,
            None,
            NULL_KEY,
            f"the primary key ({', '.join(primary_key)}) is NULL in a row ({shown}); a row "
            "without a key cannot be matched to its record again: fill the key in the source",
        )
    if values in duplicates:
        name = primary_key[0] if len(primary_key) == 1 else "the primary key"
        return Refusal(
            key,
            None,
            DUPLICATE_KEY,
            f"{name} {key} is held by "
            "more than one source row; every row of a repeated key is refused until the source "
            "makes it unique",
        )
    return None


def relinkable(refusal: Refusal, policy: Policy) -> bool:
    """An insert refused because its key value is already in the app (the state was lost, or
    a record was added by hand): the record is found by key and linked, not refused forever."""
    return (
        policy.mode == "insert"
        and policy.key_field not in (None, RECORD_ID)
        and refusal.field == policy.key_field
        and (refusal.code == KEY_EXISTS or any(m in refusal.message for m in DUPLICATE_MESSAGES))
    )


@dataclass(frozen=True)
class Deletions:
    """What the end of a run deletes, and what it forgets."""

    record_ids: list[int]
    """Records to delete: written by this job, mapped to by no row the run read."""
    forget_rows: list[str]
    forget_released: list[int]


def taken_over(
    waiting: Sequence[Candidate],
    known: Mapping[str, RowState],
    claims: Mapping[str, Sequence[Claim]],
) -> set[int]:
    """Records of rows that left the source whose key value a waiting row will take: a row
    without a record of its own takes the record over by key, so it must not be deleted. (A
    row with a record of its own moves it to the value, so the gone record must go first.)"""
    kept: set[int] = set()
    for row in waiting:
        before = known.get(row.key.id)
        if row.match is None or (before is not None and before.record_id is not None):
            continue
        for holder in claims.get(row.match, ()):
            if holder.row_id != row.key.id and not holder.seen and holder.record_id is not None:
                kept.add(holder.record_id)
    return kept


def deletions(gone: Iterable[Gone], keep: Set[int] = frozenset()) -> Deletions:
    """A record is deleted only when this job wrote it and no row the run read maps to it
    (nor will take it over: `keep`); a gone row whose record stays is only forgotten."""
    doomed: dict[int, None] = {}
    forget_rows: list[str] = []
    forget_released: list[int] = []
    for g in gone:
        if not g.live and g.record_id not in keep:
            doomed[g.record_id] = None
        if g.row_id is not None:
            forget_rows.append(g.row_id)
        else:
            forget_released.append(g.record_id)
    return Deletions(sorted(doomed), forget_rows, forget_released)


def check_cap(job: str, what: str, removing: int, total: int, share: float, *, force: bool) -> None:
    """Raises DeleteCapError when `removing` of `total` is past the mapping's share.

    Raises:
        DeleteCapError: unless `force`.
    """
    if removing == 0 or force:
        return
    ratio = removing / max(total, 1)
    if ratio > share:
        raise DeleteCapError(
            f"job {job} would delete {removing} of its {total} {what} ({ratio:.0%} > "
            f"max_delete_share {share:.0%}); nothing was deleted. Check the source, then run "
            "with --force if the deletes are meant"
        )


@dataclass(frozen=True)
class Identity:
    """What a job's state is about: where it writes, and how rows and records are matched."""

    target: str
    """Domain, guest space and app: record ids mean something only there."""
    primary_key: tuple[str, ...]
    key_field: str | None
    mode: str

    def as_dict(self) -> dict[str, object]:
        return {
            "target": self.target,
            "primary_key": list(self.primary_key),
            "key": self.key_field,
            "mode": self.mode,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Identity:
        key = data.get("key")
        primary = data.get("primary_key")
        return cls(
            str(data.get("target", "")),
            tuple(str(c) for c in primary) if isinstance(primary, list) else (),
            str(key) if key is not None else None,
            str(data.get("mode", "")),
        )


@dataclass(frozen=True)
class IdentityChange:
    """What a changed identity means for the state, and what to tell the user."""

    release_rows: bool = False
    """The primary key changed: stored rows can no longer be matched to source rows; their
    records are released, matched again by key value, and deleted only if none matches."""
    forget_key_values: bool = False
    """The key field changed: the stored match values belong to the old field."""
    stop: str | None = None
    """Why the run cannot go on safely."""
    notes: tuple[str, ...] = ()


def identity_change(before: Identity | None, now: Identity) -> IdentityChange:
    """The consequences of running a job whose identity differs from its last run's.

    A new target is not a change here: the state is scoped by target, so it starts cold (or
    resumes what it knew of that target) without touching the old one.
    """
    if before is None or before.target != now.target:
        return IdentityChange()
    notes: list[str] = []
    release = before.primary_key != now.primary_key
    if release:
        if now.key_field is None:
            return IdentityChange(
                stop=(
                    f"the primary key changed ({', '.join(before.primary_key)} -> "
                    f"{', '.join(now.primary_key)}) and the mapping has no key field, so the "
                    "records already written cannot be matched to the rows again and would be "
                    "added twice: restore primary_key, give the mapping a unique key field, or "
                    "reset the job's state (kintone-sync state reset JOB) to start over knowingly"
                )
            )
        notes.append(
            f"the primary key changed ({', '.join(before.primary_key)} -> "
            f"{', '.join(now.primary_key)}): rows are matched to their records again by "
            f"{now.key_field}; records no row matches are deleted only under on_delete: delete"
        )
    forget = before.key_field != now.key_field
    if forget:
        notes.append(
            f"the key field changed ({before.key_field} -> {now.key_field}): records the state "
            "knows are updated by record id, and take the new key values"
        )
    if before.mode != now.mode:
        notes.append(f"the mode changed ({before.mode} -> {now.mode})")
    return IdentityChange(release, forget and not release, None, tuple(notes))


def merged_list(
    current: Sequence[Mapping[str, Any]],
    owned: Set[str],
    desired: Sequence[Mapping[str, Any]],
    identity: str,
) -> list[dict[str, Any]]:
    """A user's list as a USER membership job leaves it (the API replaces the whole list).

    The source's entries, in its order, then the entries the job never set, kept as they
    were (a department added by hand, a group another tool manages). An entry the job set
    and the source no longer holds is removed. An entry the source names takes the source's
    attributes (a title), whoever added it.
    """
    wanted = {str(item[identity]) for item in desired}
    kept = [
        dict(item)
        for item in current
        if str(item[identity]) not in wanted and str(item[identity]) not in owned
    ]
    return [*(dict(item) for item in desired), *kept]


def released_list(
    current: Sequence[Mapping[str, Any]], owned: Set[str], identity: str
) -> list[dict[str, Any]]:
    """A user's list once the source holds no entries for the user: what the job set goes."""
    return merged_list(current, owned, (), identity)
