"""Row state: each source row's record id, key value, payload digest and status, per target."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from connector.errors import StateError
from connector.mapping.mapper import RowKey
from connector.state.access import Access, chunks
from connector.state.schema import (
    LEGACY_TARGET,
    checkpoints,
    identities,
    meta,
    owned,
    rejects,
    released,
    row_state,
)


@dataclass(frozen=True)
class Scope:
    """The rows of one job at one target: record ids mean something only in their own app."""

    job: str
    target: str


@dataclass(frozen=True)
class RowState:
    """What the state knows of one source row."""

    row_id: str
    pk: str
    record_id: int | None
    key_value: str | None
    """The match value this row last held in Kintone (text), when it owns one."""
    payload_hash: str | None
    status: str
    """pending (sent, answer not stored), synced, or refused."""
    created: bool
    child_rows: int
    revision: int | None = None
    """The record's revision as Kintone answered this job's last write; None when unknown."""
    source_digest: str | None = None
    """The digest of the warehouse row last written (see connector/skim.py); None when unknown."""


@dataclass(frozen=True)
class Written:
    """A row whose record Kintone confirmed: inserted, updated, or found and linked."""

    key: RowKey
    record_id: int
    key_value: str | None
    payload_hash: str
    created: bool
    child_rows: int
    revision: int | None = None
    """The revision Kintone answered for the write; None when not known (a record linked)."""
    source_digest: str | None = None
    """The digest of the warehouse row written; None when the warehouse cannot compute it."""


@dataclass(frozen=True)
class Claim:
    """A row that holds a match value: it last wrote or matched the record with that value."""

    row_id: str
    pk: str
    key_value: str
    record_id: int | None
    seen: bool
    """Read by the current run (or plan)."""


@dataclass(frozen=True)
class Gone:
    """A record this job wrote that no row read by the run maps to any longer."""

    record_id: int
    row_id: str | None
    """The row that left the source; None for a record released by a changed key."""
    pk: str | None
    live: bool
    """A row the run read maps to the same record id: it is never deleted."""


_ROW_COLUMNS = (
    row_state.c.row_id,
    row_state.c.pk,
    row_state.c.record_id,
    row_state.c.key_value,
    row_state.c.payload_hash,
    row_state.c.status,
    row_state.c.created,
    row_state.c.child_rows,
    row_state.c.revision,
    row_state.c.source_digest,
)


class RowStore:
    """Row state of every job of a project, scoped by target."""

    def __init__(self, access: Access) -> None:
        self.db = access

    # --- reading ------------------------------------------------------------------------------

    def get(self, scope: Scope, row_ids: Iterable[str]) -> dict[str, RowState]:
        """The stored state of these rows (row id -> state); rows never seen are absent."""
        found: dict[str, RowState] = {}
        with self.db.connect() as conn:
            for chunk in chunks(row_ids):
                stmt = sa.select(*_ROW_COLUMNS).where(_in(scope), row_state.c.row_id.in_(chunk))
                for r in conn.execute(stmt):
                    found[r.row_id] = _row(r)
        return found

    def synced_digests(self, scope: Scope) -> Iterator[tuple[str, str]]:
        """Every row whose record is written and synced, with the source digest it was
        written from (row id, digest): the rows a skim may find unchanged."""
        stmt = sa.select(row_state.c.row_id, row_state.c.source_digest).where(_in(scope), _SYNCED)
        with self.db.connect() as conn:
            result = conn.execution_options(yield_per=_STREAMED).execute(stmt)
            for part in result.partitions():
                yield from ((row_id, digest) for row_id, digest in part)

    def claims(
        self,
        scope: Scope,
        values: Iterable[str],
        run: int,
        *,
        plan: bool = False,
        skimmed: bool = False,
    ) -> dict[str, list[Claim]]:
        """The rows holding each of these match values (value text -> rows)."""
        wanted = {_digest(v): v for v in values}
        texts = set(wanted.values())
        found: dict[str, list[Claim]] = {}
        with self.db.connect() as conn:
            for chunk in chunks(wanted):
                stmt = sa.select(
                    row_state.c.row_id,
                    row_state.c.pk,
                    row_state.c.key_value,
                    row_state.c.record_id,
                    _read_by(run, plan=plan, skimmed=skimmed).label("seen"),
                ).where(_in(scope), row_state.c.key_digest.in_(chunk))
                for r in conn.execute(stmt):
                    if r.key_value in texts:
                        claim = Claim(r.row_id, r.pk, r.key_value, r.record_id, bool(r.seen))
                        found.setdefault(r.key_value, []).append(claim)
        return found

    def count(self, scope: Scope) -> int:
        """Rows the state knows for the job at the target (from an index alone)."""
        stmt = sa.select(sa.func.count()).select_from(row_state).where(_in(scope))
        with self.db.connect() as conn:
            return int(conn.execute(stmt).scalar() or 0)

    def counts(self, scope: Scope) -> dict[str, int]:
        """Rows per status."""
        stmt = (
            sa.select(row_state.c.status, sa.func.count())
            .where(_in(scope))
            .group_by(row_state.c.status)
        )
        with self.db.connect() as conn:
            return {str(s): int(n) for s, n in conn.execute(stmt)}

    def current(self, job: str) -> Scope | None:
        """The scope the job's last run wrote to."""
        found = self.identity(job)
        return Scope(job, found[0]) if found is not None else None

    def job_counts(self, job: str) -> dict[str, int]:
        """Rows per status at the target the job's last run wrote to."""
        scope = self.current(job)
        return self.counts(scope) if scope is not None else {}

    def totals(self, scope: Scope) -> tuple[int, int]:
        """Records this job knows (rows with a record id, plus released records) and the table
        rows they were last sent with: the denominators of the delete caps."""
        with self.db.connect() as conn:
            records, child_rows = conn.execute(
                sa.select(
                    sa.func.count(row_state.c.record_id),
                    sa.func.coalesce(sa.func.sum(row_state.c.child_rows), 0),
                ).where(_in(scope))
            ).one()
            extra = conn.execute(
                sa.select(sa.func.count()).select_from(released).where(_released_in(scope))
            ).scalar()
        return int(records) + int(extra or 0), int(child_rows)

    def record_ids(self, scope: Scope) -> Iterator[int]:
        """Every record id this job wrote at the target: rows' records and released ones."""
        with self.db.connect() as conn:
            for stmt in (
                sa.select(row_state.c.record_id).where(
                    _in(scope), row_state.c.record_id.is_not(None)
                ),
                sa.select(released.c.record_id).where(_released_in(scope)),
            ):
                for value in conn.execute(stmt).scalars():
                    yield int(value)

    def refused_keys(self, scope: Scope) -> list[list[Any]]:
        """The primary keys of the rows last refused: read again even past a cursor."""
        stmt = sa.select(row_state.c.pk).where(_in(scope), row_state.c.status == "refused")
        with self.db.connect() as conn:
            return [json.loads(pk) for pk in conn.execute(stmt).scalars()]

    def gone(
        self, scope: Scope, run: int, *, plan: bool = False, skimmed: bool = False
    ) -> Iterator[Gone]:
        """Records of rows the run did not read, and released records: the delete candidates,
        each marked `live` when a row the run read maps to the same record."""
        read = _read_by(run, plan=plan, skimmed=skimmed)
        live = (
            sa.select(row_state.c.record_id)
            .where(_in(scope), read, row_state.c.record_id.is_not(None))
            .scalar_subquery()
        )
        unseen = sa.select(
            row_state.c.record_id,
            row_state.c.row_id,
            row_state.c.pk,
            row_state.c.record_id.in_(live).label("live"),
        ).where(_in(scope), row_state.c.record_id.is_not(None), sa.not_(read))
        freed = sa.select(released.c.record_id, released.c.record_id.in_(live).label("live")).where(
            _released_in(scope)
        )
        with self.db.connect() as conn:
            for r in conn.execute(unseen):
                yield Gone(int(r.record_id), r.row_id, r.pk, bool(r.live))
            for r in conn.execute(freed):
                yield Gone(int(r.record_id), None, None, bool(r.live))

    def unseen_unlinked(self, scope: Scope, run: int) -> list[str]:
        """Rows the run did not read that have no record: forgotten, nothing to delete. (A
        skim finds only rows with a record, so its marks play no part here.)"""
        stmt = sa.select(row_state.c.row_id).where(
            _in(scope),
            row_state.c.record_id.is_(None),
            sa.or_(row_state.c.seen_run.is_(None), row_state.c.seen_run != run),
        )
        with self.db.connect() as conn:
            return list(conn.execute(stmt).scalars())

    # --- writing ------------------------------------------------------------------------------

    def mark_seen(
        self, scope: Scope, row_ids: Iterable[str], run: int, *, plan: bool = False
    ) -> None:
        """Note the rows a run (or plan) read, so rows that left the source can be found."""
        column = "seen_plan" if plan else "seen_run"
        with self.db.begin() as conn:
            for chunk in chunks(row_ids):
                conn.execute(
                    sa.update(row_state)
                    .where(_in(scope), row_state.c.row_id.in_(chunk))
                    .values({column: run})
                )

    def mark_missed(
        self, scope: Scope, row_ids: Iterable[str], run: int, *, plan: bool = False
    ) -> None:
        """After a skim: these rows, synced with a digest, were not found unchanged (they
        changed, or left the source). Every other such row counts as read by the run."""
        self.mark_seen(scope, row_ids, -run, plan=plan)

    def mark_unchanged(
        self, scope: Scope, rows: Sequence[tuple[str, str | None]], run: int
    ) -> None:
        """Note rows a run read whose records need no write, with their source digests where
        known: a later run finds them unchanged without mapping them."""
        plain = [row_id for row_id, digest in rows if digest is None]
        if plain:
            self.mark_seen(scope, plain, run)
        digested = [{"k_row": i, "v_run": run, "v_digest": d} for i, d in rows if d is not None]
        if not digested:
            return
        update = (
            sa.update(row_state)
            .where(_in(scope), row_state.c.row_id == sa.bindparam("k_row"))
            .values(seen_run=sa.bindparam("v_run"), source_digest=sa.bindparam("v_digest"))
        )
        with self.db.begin() as conn:
            conn.execute(update, digested)

    def mark_pending(self, scope: Scope, keys: Sequence[RowKey], run: int) -> None:
        """Before a write: these rows are on their way, their outcome unknown until stored."""
        self._upsert(scope, [(k, {"status": "pending", "seen_run": run}) for k in keys])

    def record_written(self, scope: Scope, written: Sequence[Written], run: int) -> None:
        """After a write: each row's record id, match value, payload digest; the record ids
        are no longer released, since a row maps to them again."""
        changes = []
        for w in written:
            values: dict[str, Any] = {
                "status": "synced",
                "record_id": w.record_id,
                "payload_hash": w.payload_hash,
                "key_value": w.key_value,
                "key_digest": _digest(w.key_value) if w.key_value is not None else None,
                "child_rows": w.child_rows,
                "revision": w.revision,
                "source_digest": w.source_digest,
                "seen_run": run,
            }
            if w.created:
                values["created"] = True
            changes.append((w.key, values))
        self._upsert(scope, changes)
        with self.db.begin() as conn:
            for ids in chunks([w.record_id for w in written]):
                conn.execute(
                    sa.delete(released).where(_released_in(scope), released.c.record_id.in_(ids))
                )

    def record_refused(self, scope: Scope, keys: Sequence[RowKey], run: int) -> None:
        """Refused rows: tried again next run. Their record id and match value stay, so a
        record a refused row maps to is neither deleted nor handed to another row."""
        values = {"status": "refused", "payload_hash": None, "source_digest": None, "seen_run": run}
        self._upsert(scope, [(k, values) for k in keys])

    def invalidate(self, scope: Scope, row_ids: Sequence[str]) -> None:
        """These rows' records drifted from what they sent: the next run sends them again,
        over the edits (the revision is forgotten, so the repair is no conflict)."""
        with self.db.begin() as conn:
            for chunk in chunks(row_ids):
                conn.execute(
                    sa.update(row_state)
                    .where(_in(scope), row_state.c.row_id.in_(chunk))
                    .values(payload_hash=None, source_digest=None, revision=None)
                )

    def unlink(self, scope: Scope, row_ids: Sequence[str]) -> None:
        """These rows' records are gone from Kintone (deleted by hand): forget the ids."""
        with self.db.begin() as conn:
            for chunk in chunks(row_ids):
                conn.execute(
                    sa.update(row_state)
                    .where(_in(scope), row_state.c.row_id.in_(chunk))
                    .values(
                        record_id=None,
                        key_value=None,
                        key_digest=None,
                        payload_hash=None,
                        source_digest=None,
                        revision=None,
                    )
                )

    def release(
        self, scope: Scope, record_ids: Iterable[int], run: int | None, reason: str
    ) -> None:
        """Records this job wrote that no row maps to any more (a changed key, a changed
        primary key): kept as delete candidates until a row maps to them again."""
        ids = sorted(set(record_ids))
        with self.db.begin() as conn:
            for numbers in chunks(ids):
                conn.execute(
                    sa.delete(released).where(
                        _released_in(scope), released.c.record_id.in_(numbers)
                    )
                )
                conn.execute(
                    sa.insert(released),
                    [
                        {
                            "job": scope.job,
                            "target": scope.target,
                            "record_id": i,
                            "run_id": run,
                            "reason": reason,
                        }
                        for i in numbers
                    ],
                )

    def forget(
        self, scope: Scope, row_ids: Iterable[str] = (), record_ids: Iterable[int] = ()
    ) -> None:
        """Drop rows (and released records) whose records were deleted or never existed."""
        with self.db.begin() as conn:
            for chunk in chunks(row_ids):
                conn.execute(sa.delete(row_state).where(_in(scope), row_state.c.row_id.in_(chunk)))
                conn.execute(
                    sa.delete(rejects).where(
                        rejects.c.job == scope.job,
                        rejects.c.target == scope.target,
                        rejects.c.row_id.in_(chunk),
                    )
                )
            for ids in chunks(record_ids):
                conn.execute(
                    sa.delete(released).where(_released_in(scope), released.c.record_id.in_(ids))
                )

    def _upsert(self, scope: Scope, changes: Sequence[tuple[RowKey, dict[str, Any]]]) -> None:
        """Set these columns of these rows, adding the rows the store lacks: one statement per
        shape of change (`INSERT ... ON CONFLICT DO UPDATE`, SQLite and PostgreSQL), no read."""
        if not changes:
            return
        now = time.time()
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for key, values in changes:
            row = {**_NEW_ROW, **values, "job": scope.job, "target": scope.target}
            row.update(row_id=key.id, pk=key.text, updated_at=now)
            shapes.setdefault(tuple(sorted(values)), []).append(row)
        dialect = self.db.engine.dialect.name
        with self.db.begin() as conn:
            for columns, rows in shapes.items():
                conn.execute(_insert_or_update(dialect, (*columns, "updated_at")), rows)

    # --- identity and checkpoints -------------------------------------------------------------

    def identity(self, job: str) -> tuple[str, dict[str, Any]] | None:
        """The target and identity the job's last run wrote with."""
        with self.db.connect() as conn:
            found = conn.execute(sa.select(identities).where(identities.c.job == job)).first()
        return (found.target, json.loads(found.identity)) if found is not None else None

    def set_identity(self, job: str, target: str, identity: dict[str, Any]) -> None:
        with self.db.begin() as conn:
            conn.execute(sa.delete(identities).where(identities.c.job == job))
            conn.execute(
                sa.insert(identities).values(
                    job=job, target=target, identity=json.dumps(identity, sort_keys=True)
                )
            )

    def adopt_legacy(self, scope: Scope) -> int:
        """Give rows migrated from layout 1 (which kept no target) the job's target."""
        with self.db.begin() as conn:
            moved = 0
            for table in (row_state, checkpoints, rejects):
                result = conn.execute(
                    sa.update(table)
                    .where(table.c.job == scope.job, table.c.target == LEGACY_TARGET)
                    .values(target=scope.target)
                )
                moved += result.rowcount if table is row_state else 0
        return moved

    def release_all(self, scope: Scope, run: int | None, reason: str) -> int:
        """A changed primary key: no stored row can be matched to a source row again, so
        their records are released (matched again by key value, or deleted as gone)."""
        with self.db.connect() as conn:
            ids = [
                int(i)
                for i in conn.execute(
                    sa.select(row_state.c.record_id).where(
                        _in(scope), row_state.c.record_id.is_not(None)
                    )
                ).scalars()
            ]
        self.release(scope, ids, run, reason)
        with self.db.begin() as conn:
            conn.execute(sa.delete(row_state).where(_in(scope)))
            conn.execute(
                sa.delete(rejects).where(
                    rejects.c.job == scope.job, rejects.c.target == scope.target
                )
            )
            conn.execute(
                sa.delete(checkpoints).where(
                    checkpoints.c.job == scope.job, checkpoints.c.target == scope.target
                )
            )
        return len(ids)

    def forget_key_values(self, scope: Scope) -> None:
        """A changed key field: the stored match values belong to the old field."""
        with self.db.begin() as conn:
            conn.execute(
                sa.update(row_state).where(_in(scope)).values(key_value=None, key_digest=None)
            )

    def cursor(self, scope: Scope) -> str | None:
        """The incremental cursor value the last complete run reached."""
        return self._checkpoint(scope, checkpoints.c.cursor_value)

    def last_mapping_hash(self, scope: Scope) -> str | None:
        return self._checkpoint(scope, checkpoints.c.mapping_hash)

    def _checkpoint(self, scope: Scope, column: sa.Column[Any]) -> str | None:
        with self.db.connect() as conn:
            value = conn.execute(
                sa.select(column).where(
                    checkpoints.c.job == scope.job, checkpoints.c.target == scope.target
                )
            ).scalar()
        return str(value) if value is not None else None

    def save_checkpoint(self, scope: Scope, cursor_value: str | None, mapping_hash: str) -> None:
        with self.db.begin() as conn:
            conn.execute(
                sa.delete(checkpoints).where(
                    checkpoints.c.job == scope.job, checkpoints.c.target == scope.target
                )
            )
            conn.execute(
                sa.insert(checkpoints).values(
                    job=scope.job,
                    target=scope.target,
                    cursor_value=cursor_value,
                    mapping_hash=mapping_hash,
                )
            )

    def reset(self, job: str) -> None:
        """Forget everything known of a job's rows, at every target."""
        with self.db.begin() as conn:
            for table in (row_state, released, checkpoints, rejects, identities, owned):
                conn.execute(sa.delete(table).where(table.c.job == job))

    def schema_version(self) -> int:
        with self.db.connect() as conn:
            value = conn.execute(sa.select(meta.c.value).where(meta.c.name == "version")).scalar()
        return int(value or 0)


_NEW_ROW: dict[str, Any] = {
    "record_id": None,
    "key_value": None,
    "key_digest": None,
    "payload_hash": None,
    "created": False,
    "child_rows": 0,
    "revision": None,
    "source_digest": None,
    "seen_run": None,
    "seen_plan": None,
}
"""What a row the store did not know holds, but for the columns a change sets."""
_ROW_KEY = [row_state.c.job, row_state.c.target, row_state.c.row_id]


def _insert_or_update(dialect: str, columns: Sequence[str]) -> sa.Executable:
    """Add a row, or set these columns of the row already there (SQLite and PostgreSQL)."""
    if dialect == "postgresql":
        pg = postgresql.insert(row_state)
        return pg.on_conflict_do_update(
            index_elements=_ROW_KEY, set_={c: pg.excluded[c] for c in columns}
        )
    if dialect != "sqlite":
        raise StateError(f"the state store must be SQLite or PostgreSQL, not {dialect}")
    lite = sqlite.insert(row_state)
    return lite.on_conflict_do_update(
        index_elements=_ROW_KEY, set_={c: lite.excluded[c] for c in columns}
    )


_SYNCED = sa.and_(
    row_state.c.source_digest.is_not(None),
    row_state.c.status == "synced",
    row_state.c.record_id.is_not(None),
)
"""Rows a skim may find unchanged: their record is written and synced from a known digest."""
_STREAMED = 10_000
"""Rows fetched at a time by a streamed read of the state."""


def _read_by(run: int, *, plan: bool, skimmed: bool) -> sa.ColumnElement[bool]:
    """Whether a row was read by this run (or plan): marked with its number, or, after a
    skim, synced from a known digest and not marked missed (`mark_missed`)."""
    seen = row_state.c.seen_plan if plan else row_state.c.seen_run
    read = sa.and_(seen.is_not(None), seen == run)  # never NULL, so that NOT read holds
    if not skimmed:
        return read
    return sa.or_(read, sa.and_(_SYNCED, sa.or_(seen.is_(None), seen != -run)))


def _in(scope: Scope) -> sa.ColumnElement[bool]:
    return sa.and_(row_state.c.job == scope.job, row_state.c.target == scope.target)


def _released_in(scope: Scope) -> sa.ColumnElement[bool]:
    return sa.and_(released.c.job == scope.job, released.c.target == scope.target)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _row(r: Any) -> RowState:
    return RowState(
        r.row_id,
        r.pk,
        int(r.record_id) if r.record_id is not None else None,
        r.key_value,
        r.payload_hash,
        r.status,
        bool(r.created),
        int(r.child_rows or 0),
        int(r.revision) if r.revision is not None else None,
        r.source_digest,
    )
