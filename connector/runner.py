"""One run of a job: read, map, diff against the state, write, record; the diff decides."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from sqlalchemy.engine import Engine

from connector import conflicts, diff, logs, skim
from connector.config import ProjectConfig
from connector.diff import Candidate, Conflict, Decisions, Identity, OnConflict, Policy
from connector.errors import ConflictError, DeleteCapError, KintoneSyncError, RunStoppedError
from connector.job import Job, Writer, make_mapper, make_writer, open_job
from connector.kintone.client import RetryPolicy
from connector.kintone.limits import RECORDS_PER_WRITE, REQUESTS_PER_BULK
from connector.kintone.writer import WriteResult
from connector.mapping.convert import FileUpload
from connector.mapping.mapper import Outgoing, Refusal, RowKey
from connector.pipeline import InFlight, Sent
from connector.report import RECORD_IDS_KEPT, SyncReport
from connector.source import Key, Row, SqlSource
from connector.state import Claim, Lock, RowState, Scope, StateStore

log = logging.getLogger(__name__)
_T = TypeVar("_T")
BATCH = RECORDS_PER_WRITE * REQUESTS_PER_BULK
MAX_RETRIED_BY_KEY = 5000
"""Refused rows an incremental run reads again by key; past this, it reads every row."""

__all__ = ["DeleteCapError", "rows_of", "sync", "target_of"]


def sync(
    project: ProjectConfig,
    name: str,
    *,
    dry_run: bool = False,
    full_refresh: bool = False,
    force: bool = False,
    http: httpx.Client | None = None,
    engine: Engine | None = None,
    env: Mapping[str, str] | None = None,
    retry: RetryPolicy | None = None,
    use_bulk: bool = True,
    state: StateStore | None = None,
    progress: Callable[[SyncReport], None] | None = None,
    on_conflict: OnConflict | None = None,
    stop: threading.Event | None = None,
) -> SyncReport:
    """Run one job: check, read, compare with the state, write the changes, record everything.

    `dry_run` (what `plan` does) reads, maps and decides, writes nothing and leaves the
    state's run marks alone; `full_refresh` sends every row again; `force` lets a run delete
    more than the mapping's `max_delete_share` of records or table rows; `on_conflict`
    replaces the mapping's setting for this run. `progress` is called with the report so far
    after each batch (its `rows_expected` is the estimate).
    Once `stop` is set the run ends after the batch it is writing, records it as `stopped`
    and keeps its checkpoint and deletes for a complete run.

    Raises:
        ConfigError, SourceError, PreflightError, StateError: before anything is written.
        KintoneError: an error about a whole call, or a transient one past its retries; what
            was written before it is recorded, so the next run carries on.
        DeleteCapError: the run would delete too many records or table rows; it stopped first.
        RunStoppedError: the job's identity changed in a way no row can be matched across.
        ConflictError: under on_conflict: fail, records edited in Kintone; the batch was not
            written.
        LockLostError: another run took the lock over; this run stopped before writing again.
    """
    started = time.monotonic()
    retry = retry or RetryPolicy(
        project.retry.attempts, project.retry.backoff_seconds, project.retry.max_backoff_seconds
    )
    job = open_job(
        project,
        name,
        http=http,
        engine=engine,
        env=env,
        retry=retry,
        requests_per_second=project.limits.requests_per_second,
    )
    own_state = state is None
    store = state or StateStore.open(project.state.url, project.root)
    try:
        run = _Run(
            job,
            store,
            project,
            dry_run=dry_run,
            full_refresh=full_refresh,
            force=force,
            on_conflict=on_conflict,
        )
        run.progress = progress
        run.stop = stop
        with logs.bound(job=name, app=job.app):
            if dry_run:
                return run.execute(None, started)
            with store.log.lock(name) as lock:
                return run.execute(lock, started, use_bulk=use_bulk)
    finally:
        job.close()
        if own_state:
            store.close()


def target_of(project: ProjectConfig, job: Job) -> str:
    """Where a job writes: domain, guest space and app, as the state scopes its rows."""
    base = project.connections[job.spec.connection].base_url.strip().rstrip("/").lower()
    if job.spec.user_table is not None:
        return f"{base}|user={job.spec.user_table}"
    return f"{base}|space={job.spec.guest_space or ''}|app={job.app}"


class _Run:
    """The steps of one run, sharing the job, the state and the report."""

    def __init__(
        self,
        job: Job,
        state: StateStore,
        project: ProjectConfig,
        *,
        dry_run: bool,
        full_refresh: bool,
        force: bool,
        on_conflict: OnConflict | None = None,
    ) -> None:
        self.job, self.state, self.project = job, state, project
        self.dry_run, self.force = dry_run, force
        spec = job.spec
        self.scope = Scope(job.name, target_of(project, job))
        self.identity = Identity(
            self.scope.target, tuple(spec.source.primary_key), spec.key, spec.mode
        )
        self.policy = Policy(spec.mode, spec.key, full_refresh)
        self.report = SyncReport(job.name, job.app, spec.mode, dry_run=dry_run)
        self.on_conflict: OnConflict = on_conflict or spec.on_conflict
        # USER tables have no revisions: only an app's records are checked for conflicts.
        self.revisions = (
            conflicts.Revisions(job.client, job.app, job.form, spec.key)
            if isinstance(job.app, int) and spec.user_table is None
            else None
        )
        self.mapper = make_mapper(job, project.root)
        self.mapping_hash = _digest(spec.model_dump(mode="json"))
        why_not = skim.why_not(spec, job.form, job.source)
        self.digests = (
            skim.Digests.of_job(self.mapping_hash, job.form, job.app) if why_not is None else None
        )
        """How rows are digested in the warehouse; None when they cannot be (a FILE field, a
        warehouse without digests). A full refresh digests them but maps every row."""
        if why_not is not None:
            log.debug("%s: every row is mapped: %s", job.name, why_not)
        self.known: skim.Known | None = None
        """The digests the state knew when the run began, of rows synced from them; None when
        it knew none, or the run maps every row."""
        self.skimmed = False
        """Whether a skim ended, its unchanged rows counting as read without a mark each."""
        self.cursor_value: Any = None
        self.calls_recorded = 0
        self.deferred: list[Candidate] = []
        self.incremental = False
        self.duplicates: set[tuple[Any, ...]] = set()
        """Primary keys more than one source row holds: those rows are refused."""
        self.child_rows_removed = 0
        self.totals = (0, 0)
        self.lock: Lock | None = None
        self.writer: Writer | None = None
        self.inflight: InFlight[_Ticket, WriteResult] | None = None
        """Writes sent and not yet recorded; a run's batches overlap with them."""
        self.queued: list[Outgoing] = []
        """Decided writes waiting to fill a bulkRequest: sparse changes share the calls."""
        self.queued_rows: dict[str, Candidate] = {}
        self.queued_released: list[int] = []
        self.progress: Callable[[SyncReport], None] | None = None
        """Called with the report after each batch."""
        self.stop: threading.Event | None = None
        # A plan marks the rows it reads in a column of its own, under a number of its own.
        self.mark = random.randint(1, 2**31 - 1) if dry_run else 0

    def execute(self, lock: Lock | None, started: float, *, use_bulk: bool = True) -> SyncReport:
        job, state, report = self.job, self.state, self.report
        self.lock = lock
        owned = state.owned(self.scope) if job.spec.user_table is not None else None
        self.writer = make_writer(job, self.project, owned, use_bulk=use_bulk)
        if job.spec.on_key_problems == "stop":
            job.source.verify_keys()
        else:
            self.duplicates = job.source.duplicate_keys()
        self._settle_identity()
        self.totals = state.rows.totals(self.scope)
        if self.dry_run:
            self._run_rows()
            return self._finish(started)
        run_id = state.log.begin_run(
            job.name, self.scope.target, str(job.app), job.spec.mode, self.mapping_hash
        )
        report.run_id = self.mark = run_id
        status = "failed"
        with logs.bound(run_id=run_id):
            try:
                self._run_rows()
                if report.stopped:
                    status = "stopped"
                else:
                    state.rows.save_checkpoint(
                        self.scope, _encode(self.cursor_value), self.mapping_hash
                    )
                    status = "refused" if report.refusals else "succeeded"
            except KintoneSyncError as exc:
                report.errors.append(str(exc))
                raise
            finally:
                self._finish(started)
                state.log.end_run(run_id, status, report.as_dict(refusals=False))
        return report

    def _run_rows(self) -> None:
        """The same steps for a run and a plan: checks, every row, then deletes and the rows
        that waited; a plan reports where a run would stop instead of stopping."""
        self._warn_about_budget()
        if self.state.rows.last_mapping_hash(self.scope) not in (None, self.mapping_hash):
            self.report.warnings.append(
                "the mapping changed since the last complete run: rows whose records "
                "change with it are sent again"
            )
        self._safely(self._check_pending)
        self._safely(self._check_child_tables)
        incremental = self._loop()
        if self.report.stopped:
            return  # part of the rows was read: no deletes, no rows decided at the end
        self._end_of_rows(deleting=self.job.spec.on_delete != "keep" and not incremental)

    # --- before reading -----------------------------------------------------------------------

    def _settle_identity(self) -> None:
        """Compare the job's identity with its last run's and apply what a change means."""
        rows, job = self.state.rows, self.job
        stored = rows.identity(job.name)
        before = diff.Identity.from_dict(stored[1]) if stored is not None else None
        if stored is None:
            adopted = 0 if self.dry_run else rows.adopt_legacy(self.scope)
            if adopted:
                log.info("%s: %d rows from an earlier state layout adopted", job.name, adopted)
        elif stored[0] != self.scope.target:
            known = rows.counts(self.scope)
            self.report.warnings.append(
                f"job {job.name} now writes to {self.scope.target} (its last run wrote to "
                f"{stored[0]}): "
                + (
                    f"what the state knew of this target ({sum(known.values())} rows) is used"
                    if known
                    else "the state knows nothing of it, so this run starts cold and matches "
                    "records by key"
                )
                + "; the state of the other target is kept"
            )
        change = diff.identity_change(before, self.identity)
        if change.stop is not None:
            raise RunStoppedError(f"job {job.name}: {change.stop}")
        self.report.warnings.extend(change.notes)
        if self.dry_run:
            return
        if change.release_rows:
            rows.release_all(self.scope, None, "the primary key changed")
        if change.forget_key_values:
            rows.forget_key_values(self.scope)
        rows.set_identity(job.name, self.scope.target, self.identity.as_dict())

    def _safely(self, check: Callable[[], None]) -> None:
        """A safety check: it stops a run; a plan notes where a run would stop and goes on."""
        try:
            check()
        except RunStoppedError as exc:
            if not self.dry_run:
                raise
            self.report.warnings.append(f"a run would stop here: {exc}")

    def _check_pending(self) -> None:
        """Without a key, inserts a stopped run left in flight cannot be looked up.

        Raises:
            RunStoppedError: such rows exist; the run stops rather than risk duplicates.
        """
        job = self.job
        if job.spec.mode != "insert" or job.spec.key is not None:
            return
        in_flight = self.state.rows.counts(self.scope).get("pending", 0)
        if in_flight:
            raise RunStoppedError(
                f"{in_flight} row(s) of job {job.name} were being inserted when a run stopped, "
                "and without a key field it cannot be told which landed; give the mapping a "
                "unique key field, or check the app and reset the job's state"
            )

    def _check_child_tables(self) -> None:
        """Before any write: a child table that lost more than the cap's share of its rows
        (truncated, or a broken query) stops the run, as the records' tables would empty."""
        _, known = self.totals
        if not known or not self.job.children or self.force:
            return
        now = sum(child.count() for child in self.job.children.values())
        diff.check_cap(
            self.job.name,
            "table rows",
            max(0, known - now),
            known,
            self.job.spec.max_delete_share,
            force=self.force,
        )

    # --- reading, mapping, deciding, writing --------------------------------------------------

    def _sources(self) -> tuple[SqlSource, bool]:
        """The source, narrowed to rows past the last cursor value when the mapping has one,
        plus the rows refused last time (a fixed row is read again, whatever its cursor)."""
        job = self.job
        cursor = job.spec.source.cursor
        full = self.policy.full_refresh or cursor is None
        last = None if full else self.state.rows.cursor(self.scope)
        if cursor is None or last is None:
            return job.source, False
        refused = [
            tuple(key)
            for key in self.state.rows.refused_keys(self.scope)
            if None not in key and len(key) == len(job.spec.source.primary_key)
        ]
        if len(refused) > MAX_RETRIED_BY_KEY:
            self.report.warnings.append(
                f"{len(refused):,} refused rows are past what one incremental read retries by "
                f"key ({MAX_RETRIED_BY_KEY:,}): this run reads every row"
            )
            return job.source, False
        # A run that finds nothing new keeps the cursor where it was.
        self.cursor_value = _decode(last)
        spec = replace(job.source.spec, since=(cursor, self.cursor_value), also=tuple(refused))
        return SqlSource(job.engine, spec, chunk_size=job.source.chunk_size), True

    def _loop(self) -> bool:
        """Read, map and write every row; whether the read was incremental."""
        source, incremental = self._sources()
        self.incremental = incremental
        if incremental:  # the estimate counts every row; this run reads only the new ones
            self.report.rows_expected = None
        cursor = self.job.spec.source.cursor
        assert self.writer is not None
        # USER tables keep one write at a time: organizations go parents first, and list
        # writers keep their ledger in the state store.
        if not self.dry_run and self.job.spec.user_table is None:
            self.inflight = InFlight(self.writer.concurrency)
        try:
            self._read_all(source, cursor)
        except BaseException:
            self._drain(raising=False)
            raise
        finally:
            if self.inflight is not None:
                self.inflight.close()
        return incremental

    def _read_all(self, source: SqlSource, cursor: str | None) -> None:
        """Every row, in batches of one bulkRequest's worth; writes stay in flight meanwhile.

        Where the warehouse digests rows and the state knows digests, a skim of keys and
        digests comes first, and only the rows it found changed are read whole."""
        children = self.job.children
        if self.digests is None:
            self._consume(rows_of(source, children), cursor)
            return
        if not self.policy.full_refresh:
            known = skim.Known(self.state.rows.synced_digests(self.scope))
            self.known = known if len(known) else None
        if self.known is not None:
            changed = self._skim(source, cursor, self.known)
            if self.report.stopped:
                return
            if changed is not None:
                if not self.incremental:
                    # The rows not found unchanged are marked; the others count as read.
                    missed = self.known.missed()
                    self.state.rows.mark_missed(self.scope, missed, self.mark, plan=self.dry_run)
                    self.skimmed = True
                self.known = None
                keys, nulls = changed
                reads = skim.by_keys(source, children, keys, null_keys=nulls)
                self._consume(
                    itertools.chain.from_iterable(rows_of(*read) for read in reads), cursor
                )
                return
        whole = {name: skim.with_digests(child) for name, child in children.items()}
        self._consume(rows_of(skim.with_digests(source), whole), cursor)

    def _skim(
        self, source: SqlSource, cursor: str | None, known: skim.Known
    ) -> tuple[list[Key], bool] | None:
        """Read keys and digests only; rows whose digest is the one their record was written
        from are unchanged, and noted in `known`. Returns the keys of the other rows, and
        whether rows with a NULL key were found; None when more than `MAX_SKIMMED` rows
        changed (the run then reads every row)."""
        assert self.digests is not None
        sealed = self.digests.sealed
        changed: list[Key] = []
        nulls = False
        for chunk in source.skim(self.job.children, cursor):
            keyed: list[tuple[Key, str, str]] = []
            for values, mark, digest in chunk:
                self._note_cursor(mark)
                row_id = self._row_id(values)
                if row_id is not None:
                    keyed.append((values, row_id, sealed(digest)))
                elif None in values:
                    nulls = True  # read whole, to be refused with what the row holds
                else:
                    changed.append(values)  # a repeated key: read whole, to be refused
            same = self._unchanged({row_id: digest for _, row_id, digest in keyed})
            changed += [values for values, row_id, _ in keyed if row_id not in same]
            if self.incremental:
                # The few rows past the cursor are marked read; the many before it, not missed.
                self._read_unchanged(same)
            else:
                known.saw(same)
                self._count_unchanged(len(same))
            self.report.rows_read += len(same)
            if len(changed) > skim.MAX_SKIMMED:
                log.info(
                    "%s: more than %d rows changed; reading every row",
                    self.job.name,
                    skim.MAX_SKIMMED,
                )
                # Read again from the start: the rows skimmed so far count then.
                report = self.report
                report.rows_read -= report.skimmed
                report.unchanged -= report.skimmed
                report.skimmed = 0
                return None
            self._show_progress()
            if self._stopping():
                return None
        log.info(
            "%s: %d rows unchanged by digest, %d to read",
            self.job.name,
            self.report.skimmed,
            len(changed),
        )
        return changed, nulls

    def _consume(
        self, pairs: Iterator[tuple[Row, Mapping[str, Sequence[Row]]]], cursor: str | None
    ) -> None:
        """Map, diff and write rows, a bulkRequest's worth at a time; rows whose digest is the
        one their record was written from are unchanged without being mapped."""
        primary_key = self.mapper.primary_key
        for chunk in _chunked(pairs, BATCH):
            # Each row's id and digest, where the row has a usable key and the source digests.
            ids: list[str | None] = [None] * len(chunk)
            digests: dict[str, str] = {}
            if self.digests is not None:
                for i, (row, children) in enumerate(chunk):
                    digest = self.digests.of(row, children)
                    ids[i] = row_id = self._row_id(tuple(row[k] for k in primary_key))
                    if row_id is not None:
                        digests[row_id] = digest
            same = self._unchanged(digests)
            mapped: list[Outgoing] = []
            refused: list[Refusal] = []
            unchanged: list[str] = []
            for (row, children), known_id in zip(chunk, ids, strict=True):
                self.report.rows_read += 1
                if cursor is not None:
                    self._note_cursor(row.get(cursor))
                if known_id in same:
                    unchanged.append(known_id)
                    continue
                problem = diff.key_problem(row, primary_key, self.duplicates)
                out = [problem] if problem is not None else self.mapper.map(row, children)
                if isinstance(out, list):
                    refused += out
                else:
                    mapped.append(out)
            self._read_unchanged(unchanged)
            self._batch(mapped, refused, digests)
            if self._stopping():
                return
        self._drain()

    def _read_unchanged(self, row_ids: Collection[str]) -> None:
        """Rows unchanged by their digest, marked read in the state (so never taken for rows
        that left)."""
        if row_ids:
            self.state.rows.mark_seen(self.scope, row_ids, self.mark, plan=self.dry_run)
            self._count_unchanged(len(row_ids))

    def _count_unchanged(self, count: int) -> None:
        self.report.unchanged += count
        self.report.skimmed += count

    def _row_id(self, values: Key) -> str | None:
        """A row's id by its key values; None where the key is not usable (NULL or repeated)."""
        if None in values or values in self.duplicates:
            return None
        return RowKey.id_of(values)

    def _unchanged(self, digests: Mapping[str, str]) -> set[str]:
        """The rows among these (id -> digest) unchanged since their record was written."""
        if not digests or self.known is None:
            return set()  # a first run with digests: no row can be unchanged by its digest
        stored = self.known.stored(list(digests))
        return diff.unchanged_source(digests, stored, self.policy)

    def _note_cursor(self, value: Any) -> None:
        if value is not None and (self.cursor_value is None or value > self.cursor_value):
            self.cursor_value = value

    def _stopping(self) -> bool:
        """Whether the run was asked to stop: then it ends here, its writes recorded."""
        if self.stop is None or not self.stop.is_set():
            return False
        self._drain()
        self.report.stopped = True
        self.report.warnings.append(
            f"asked to stop, the run ended after {self.report.rows_read:,} rows; "
            "the next run carries on"
        )
        return True

    def _batch(
        self,
        mapped: Sequence[Outgoing],
        refused: Sequence[Refusal],
        digests: Mapping[str, str] | None = None,
    ) -> None:
        """Diff a batch against the state, then write and record what the diff decided."""
        rows, app, key_field = self.state.rows, self.job.app, self.job.spec.key
        digests = digests or {}
        candidates = [
            Candidate(o, _payload_hash(app, key_field, o), digests.get(o.key.id)) for o in mapped
        ]
        matches = [c.match for c in candidates if c.match is not None]
        claims = self._claims(matches)
        if self.inflight is not None and any(
            h.row_id in self.inflight.rows or h.row_id in self.queued_rows
            for held in claims.values()
            for h in held
        ):
            # A row in flight holds a value this batch wants: once its write is recorded, the
            # state says where the value went, as it would have with no write in flight.
            self._drain()
            claims = self._claims(matches)
        known = rows.get(self.scope, [c.key.id for c in candidates])
        decided = diff.decide(candidates, known, claims, self.policy)
        self._apply(decided, refused, candidates, known, pipelined=True)

    def _claims(self, matches: Sequence[str]) -> dict[str, list[Claim]]:
        """The rows holding these match values, each marked read or not by this run."""
        return self.state.rows.claims(
            self.scope, matches, self.mark, plan=self.dry_run, skimmed=self.skimmed
        )

    def _end_of_rows(self, *, deleting: bool) -> None:
        """Every row is read: delete what left the source, then decide the rows that waited.

        Deletes go first, so that a row taking the key value of a row that left frees it of
        the gone row's record; the waiting rows are marked read first, so their own records
        count as live and are never deleted.
        """
        if deleting:
            rows, waiting = self.state.rows, self.deferred
            ids = [c.key.id for c in waiting]
            rows.mark_seen(self.scope, ids, self.mark, plan=self.dry_run)
            claims = self._claims([c.match for c in waiting if c.match is not None])
            self._delete_gone(diff.taken_over(waiting, rows.get(self.scope, ids), claims))
        self._resolve_deferred()

    def _resolve_deferred(self) -> None:
        """Rows that waited for their match value's holder, decided now that every row of the
        run has been read; in rounds, since a holder that moves away frees its value only once
        its own write is recorded. Rows that only wait on each other (key values swapped
        between rows) are refused: Kintone's unique check refuses either write first."""
        rows = self.state.rows
        while self.deferred:
            waiting, self.deferred = self.deferred, []
            known = rows.get(self.scope, [c.key.id for c in waiting])
            claims = self._claims([c.match for c in waiting if c.match is not None])
            decided = diff.decide(
                waiting, known, claims, self.policy, final=True, complete=not self.incremental
            )
            if len(decided.deferred) == len(waiting):
                self._refuse([diff.swapped(c) for c in waiting])
                return
            self._apply(decided, [], waiting, known)
            self._drain()

    def _apply(
        self,
        decided: Decisions,
        refused: Sequence[Refusal],
        candidates: Sequence[Candidate],
        known: Mapping[str, RowState],
        *,
        pipelined: bool = False,
    ) -> None:
        """Record what needs no write, and send the writes; with `pipelined`, the writes may
        still be in flight on return, and are recorded as they end."""
        report, rows, scope, run = self.report, self.state.rows, self.scope, self.mark
        assert self.writer is not None
        refusals = [*refused, *decided.refused]
        self.deferred += decided.deferred
        report.unchanged += len(decided.unchanged)
        self.child_rows_removed += decided.child_rows_removed
        if self.dry_run:
            rows.mark_seen(
                scope, [c.key.id for c in candidates] + [r.key.id for r in refused], run, plan=True
            )
            report.refusals += refusals
            writes = self._check_conflicts(decided.writes, known)
            writes += [c.out for c in decided.check_landed]
            if writes:
                _count(report, self.writer.plan(writes), dry_run=True)
            self._show_progress()
            return
        if self.lock is not None:
            self.lock.check()
        # Rows unchanged by what they send, read from rows that changed (or under a changed
        # mapping): their digests now are the ones their records stand for.
        digests = {c.key.id: c.source_digest for c in candidates}
        rows.mark_unchanged(scope, [(k.id, digests.get(k.id)) for k in decided.unchanged], run)
        self._refuse(refusals)
        by_key = {c.key.id: c for c in candidates}
        writes = self._check_conflicts(decided.writes, known)
        if decided.check_landed:
            writes += self._landed_earlier(decided.check_landed)
        if writes and pipelined and self.inflight is not None:
            self.queued += writes
            self.queued_rows.update((o.key.id, by_key[o.key.id]) for o in writes)
            self.queued_released += decided.released
            while len(self.queued) >= BATCH:
                self._send_queued()
            return
        if writes:
            self._check_table_rows_cap()
            rows.mark_pending(scope, [o.key for o in writes], run)
            ticket = _Ticket(by_key, writes, decided.released)
            self._ended([Sent(ticket, self.writer.write(writes))])
            return
        if decided.released:
            rows.release(scope, decided.released, run, "the row now names another record")
        self._progressed()

    def _check_table_rows_cap(self) -> None:
        """Before a write: the table rows the run's writes remove stay under the cap.

        Raises:
            DeleteCapError: past `max_delete_share` of the job's table rows, without --force.
        """
        _, child_total = self.totals
        diff.check_cap(
            self.job.name,
            "table rows",
            self.child_rows_removed,
            child_total,
            self.job.spec.max_delete_share,
            force=self.force,
        )

    def _send_queued(self) -> None:
        """Send up to one bulkRequest of the queued writes, once the window has room."""
        assert self.inflight is not None
        assert self.writer is not None
        writes, self.queued = self.queued[:BATCH], self.queued[BATCH:]
        by_key = {o.key.id: self.queued_rows.pop(o.key.id) for o in writes}
        released, self.queued_released = (
            (self.queued_released, []) if not self.queued else ([], self.queued_released)
        )
        self._ended(self.inflight.room())
        # Checked once the window has room, right before the write.
        if self.lock is not None:
            self.lock.check()
        self._check_table_rows_cap()
        self.state.rows.mark_pending(self.scope, [o.key for o in writes], self.mark)
        writer = self.writer
        ids = frozenset(by_key)
        self.inflight.submit(lambda: writer.write(writes), _Ticket(by_key, writes, released), ids)

    def _drain(self, *, raising: bool = True) -> None:
        """Send the queued writes, wait for the writes in flight and record them all; then
        raise the first error one of them met. When the run is already failing
        (`raising=False`), queued writes are dropped: not marked, they are sent next run."""
        if self.inflight is None:
            return
        if raising:
            while self.queued:
                self._send_queued()
        else:
            self.queued, self.queued_rows, self.queued_released = [], {}, []
        failed: list[KintoneSyncError] = []
        for sent in self.inflight.drain():
            try:
                self._ended([sent])
            except KintoneSyncError as exc:
                failed.append(exc)
        if failed and raising:
            raise failed[0]

    def _ended(self, sent: Sequence[Sent[_Ticket, WriteResult]]) -> None:
        """Record writes that ended; a write that met an error stops the run once the other
        writes in flight are recorded too.

        Raises:
            KintoneError: a write met an error about a whole call.
        """
        error: KintoneSyncError | None = None
        for item in sent:
            try:
                self._record_sent(item.ticket, item.answer)
            except KintoneSyncError as exc:
                error = error or exc
        if error is not None:
            self._drain(raising=False)
            raise error

    def _record_sent(self, ticket: _Ticket, result: WriteResult) -> None:
        if result.missing:
            result.extend(self._recreate(result.missing, ticket.by_key))
        self._record(result, ticket.by_key, ticket.writes)
        if result.error is not None:
            raise result.error
        if ticket.released:
            self.state.rows.release(
                self.scope, ticket.released, self.mark, "the row now names another record"
            )
        self._progressed()

    def _progressed(self) -> None:
        report = self.report
        self._record_usage()
        self.state.log.progress(self.mark, report.as_dict(refusals=False))
        self._show_progress()
        log.info(
            "%s: %d rows read; %d inserted, %d updated, %d unchanged, %d refused; %d API calls",
            self.job.name,
            report.rows_read,
            report.inserted,
            report.updated,
            report.unchanged,
            report.refused,
            report.calls,
        )

    def _show_progress(self) -> None:
        if self.progress is not None:
            self.progress(self.report)

    def _check_conflicts(
        self, writes: Sequence[Outgoing], known: Mapping[str, RowState]
    ) -> list[Outgoing]:
        """The writes to send once records edited in Kintone are found: listed, and under
        skip refused; under fail, the run stops before the batch's write (a plan notes it).

        Raises:
            ConflictError: on_conflict is fail and a record the batch writes was edited.
        """
        if self.revisions is None or not writes:
            return list(writes)
        checked = conflicts.check(
            writes, known, self.policy.by_record_id, self.revisions, self.on_conflict
        )
        self._conflicted(checked.conflicts)
        return checked.writes

    def _conflicted(self, found: Sequence[Conflict]) -> None:
        """List conflicts; refuse those not written; stop on any that stops the run."""
        if not found:
            return
        self.report.conflicts += found
        left = [c.refusal() for c in found if c.resolution is not diff.Resolution.OVERWRITE]
        if self.dry_run:
            self.report.refusals += left
        else:
            self._refuse(left)
        stops = [c for c in found if c.resolution is diff.Resolution.STOP]
        if not stops:
            return
        shown = "; ".join(f"row {c.key}: {c.description}" for c in stops[:5])
        more = f" (and {len(stops) - 5} more)" if len(stops) > 5 else ""
        error = ConflictError(
            f"job {self.job.name}: {len(stops)} record(s) were changed in Kintone since the "
            f"job last wrote them, and on_conflict is fail: {shown}{more}. This write was not "
            "sent; bring the source in line with the edits, or run with --on-conflict skip "
            "(leave them) or overwrite (write over them)"
        )

        def stop() -> None:
            raise error

        self._safely(stop)

    def _refuse(self, refusals: Sequence[Refusal]) -> None:
        if not refusals:
            return
        self.report.refusals += refusals
        keys = list({r.key.id: r.key for r in refusals}.values())
        self.state.rows.record_refused(self.scope, keys, self.mark)
        self.state.log.record_rejects(self.scope, refusals, self.mark)

    def _record(
        self,
        result: WriteResult,
        by_key: Mapping[str, Candidate],
        sent: Sequence[Outgoing] = (),
    ) -> None:
        """Store what Kintone answered: record ids and revisions of the rows written, and the
        refusals; inserts refused only because their key is already in the app are linked
        instead; writes Kintone refused as stale (a record edited since the check) are
        conflicts."""
        relink = [r for r in result.refused if diff.relinkable(r, self.policy)]
        if relink:
            linked = self._link([by_key[r.key.id] for r in relink])
            done = {key.id for key, _ in linked}
            result.refused = [r for r in result.refused if r.key.id not in done]
            result.updated += linked
            self.report.linked += len(linked)
        guarded = {o.key.id: o for o in sent if o.revision is not None}
        stale = [
            guarded[r.key.id]
            for r in result.refused
            if r.code == "GAIA_CO02" and r.key.id in guarded
        ]
        result.refused = [
            r for r in result.refused if r.code != "GAIA_CO02" or r.key.id not in guarded
        ]
        _count(self.report, result, dry_run=False)
        created = {key.id for key, _ in result.inserted}
        self.state.rows.record_written(
            self.scope,
            [
                by_key[key.id].written(
                    record_id,
                    created=key.id in created,
                    revision=result.revisions.get(record_id),
                )
                for key, record_id in (*result.inserted, *result.updated)
            ],
            self.mark,
        )
        self.state.log.clear_rejects(
            self.scope, [k.id for k, _ in (*result.inserted, *result.updated)]
        )
        self._refuse(result.refused)
        if stale:
            self._stale(stale)

    def _stale(self, stale: Sequence[Outgoing]) -> None:
        """Writes Kintone refused (GAIA_CO02) because they carried a revision the record had
        moved past: edited between the check and the write. Conflicts, never overwritten."""
        assert self.revisions is not None
        hit = {o.record_id or int(o.key_value): o for o in stale}
        changes = self.revisions.changes(hit)
        stop = self.on_conflict == "fail"
        resolution = diff.Resolution.STOP if stop else diff.Resolution.SKIP
        self._conflicted(
            [
                Conflict(o.key, i, o.revision or 0, None, tuple(changes.get(i, [])), resolution)
                for i, o in hit.items()
            ]
        )

    def _link(self, rows: Sequence[Candidate]) -> list[tuple[Any, int]]:
        """Records already in the app with these rows' key values, found by key."""
        assert self.writer is not None
        found = self.writer.existing([c.out.key_value for c in rows], [])
        return [
            (c.key, int(found[str(c.out.key_value)]["$id"]["value"]))
            for c in rows
            if str(c.out.key_value) in found
        ]

    def _recreate(
        self, missing: Sequence[Outgoing], by_key: Mapping[str, Candidate]
    ) -> WriteResult:
        """Rows whose record was deleted by hand: the state forgets the record, and the diff
        decides again (upsert adds it back by key; update refuses it)."""
        assert self.writer is not None
        self.state.rows.unlink(self.scope, [o.key.id for o in missing])
        self.report.recreated += len(missing)
        again = diff.decide([by_key[o.key.id] for o in missing], {}, {}, self.policy, final=True)
        return self.writer.write(again.writes)

    def _landed_earlier(self, rows: Sequence[Candidate]) -> list[Outgoing]:
        """Inserts a stopped run sent without recording the answer: an insert is never sent
        blind twice, so the records are looked up by key. Those found are recorded as this
        job's (and counted unchanged); the rest are returned to be sent."""
        linked = self._link(rows)
        found = {key.id for key, _ in linked}
        by_id = {c.key.id: c for c in rows}
        self.state.rows.record_written(
            self.scope,
            [by_id[key.id].written(record_id, created=True) for key, record_id in linked],
            self.mark,
        )
        self.report.unchanged += len(linked)
        return [c.out for c in rows if c.key.id not in found]

    # --- after reading ------------------------------------------------------------------------

    def _delete_gone(self, keep: set[int]) -> None:
        """Delete the records this job wrote that no row the run read maps to any longer,
        but those in `keep`: records rows waiting for their key value will take over."""
        job, rows, report = self.job, self.state.rows, self.report
        if job.spec.on_delete == "keep":
            return
        gone = diff.deletions(
            rows.gone(self.scope, self.mark, plan=self.dry_run, skimmed=self.skimmed), keep
        )
        total, _ = self.totals
        share = job.spec.max_delete_share
        count = len(gone.record_ids)
        self._safely(
            lambda: diff.check_cap(job.name, "records", count, total, share, force=self.force)
        )
        if self.dry_run:
            report.deleted = count
            return
        rows.forget(self.scope, rows.unseen_unlinked(self.scope, self.mark))
        if gone.record_ids:
            assert self.writer is not None
            if self.lock is not None:
                self.lock.check()
            deleted = self.writer.delete(gone.record_ids)
            report.deleted += len(deleted)
        rows.forget(self.scope, gone.forget_rows, gone.forget_released)

    def _finish(self, started: float) -> SyncReport:
        self.report.seconds = time.monotonic() - started
        self._record_usage()
        return self.report

    def _record_usage(self) -> None:
        """Copy the client's counts into the report, and today's new calls into the state."""
        report = self.report
        report.api_calls = dict(self.job.client.calls)
        report.retries = self.job.client.retries
        if not self.dry_run:
            total = report.calls
            if total > self.calls_recorded:
                self.state.log.add_usage(str(self.job.app), total - self.calls_recorded)
            self.calls_recorded = total

    def _warn_about_budget(self) -> None:
        budget = self.project.limits.daily_budget
        used = self.state.log.usage_today(str(self.job.app))
        # The rows the job already knows, rather than a count over the warehouse each run.
        rows = self.state.rows.count(self.scope) or self.job.source.count()
        self.report.rows_expected = rows
        worst = -(-rows // BATCH) + len(self.job.children) + 3
        if used + worst > budget:
            message = (
                f"app {self.job.app} has used {used:,} of its {budget:,} API calls today; this "
                f"run may need up to {worst:,} more"
            )
            log.warning(message)
            self.report.warnings.append(message)


@dataclass(frozen=True)
class _Ticket:
    """What recording a write needs once it ends."""

    by_key: Mapping[str, Candidate]
    writes: Sequence[Outgoing]
    released: Sequence[Any]


def _chunked(items: Iterator[_T], size: int) -> Iterator[list[_T]]:
    while chunk := list(itertools.islice(items, size)):
        yield chunk


def rows_of(
    source: SqlSource, children: Mapping[str, SqlSource]
) -> Iterator[tuple[Row, Mapping[str, Sequence[Row]]]]:
    """Each source row with its child rows per SUBTABLE, streamed."""
    if not children:
        for chunk in source.read():
            for row in chunk:
                yield row, {}
        return
    for pairs in source.read_with_children(children):
        yield from pairs


def _count(report: SyncReport, result: WriteResult, *, dry_run: bool) -> None:
    report.inserted += len(result.inserted)
    report.updated += len(result.updated)
    if dry_run:
        report.refusals += result.refused  # a run's refusals are recorded by `_refuse`
    else:
        for key, record_id in (*result.inserted, *result.updated):
            if len(report.record_ids) < RECORD_IDS_KEPT or key.values in report.record_ids:
                report.record_ids[key.values] = record_id
            else:
                report.record_ids_left_out += 1


def _payload_hash(app: int | str, key_field: str | None, out: Outgoing) -> str:
    """What a row sends, as a digest: app, key and record (files by content)."""
    return _digest({"app": app, "key": key_field, "value": out.key_value, "record": out.record})


def _digest(value: Any) -> str:
    text = _DIGEST_JSON.encode(value)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _plain(value: Any) -> Any:
    if isinstance(value, FileUpload):
        return {"name": value.name, "sha256": hashlib.sha256(value.data).hexdigest()}
    return str(value)


_DIGEST_JSON = json.JSONEncoder(sort_keys=True, default=_plain, ensure_ascii=False)
"""What `json.dumps` with these options builds on every call, built once: the same text."""


def _encode(value: Any) -> str | None:
    """A cursor value kept in the state with its type."""
    if value is None:
        return None
    kind = (
        "datetime"
        if isinstance(value, datetime)
        else "date"
        if isinstance(value, date)
        else "int"
        if isinstance(value, int)
        else "decimal"
        if isinstance(value, Decimal | float)
        else "str"
    )
    text = value.isoformat() if isinstance(value, date) else str(value)
    return json.dumps({"type": kind, "value": text})


_DECODERS: dict[str, Any] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "int": int,
    "decimal": Decimal,
    "str": str,
}


def _decode(text: str) -> Any:
    data = json.loads(text)
    return _DECODERS[data["type"]](data["value"])
