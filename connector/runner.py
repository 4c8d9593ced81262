"""One run of a job: rows compared with the state, only changes written, every outcome kept."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from connector.config import ProjectConfig
from connector.errors import KintoneSyncError
from connector.job import Job, open_job
from connector.kintone.client import RetryPolicy
from connector.kintone.limits import RECORDS_PER_WRITE, REQUESTS_PER_BULK
from connector.kintone.writer import RecordWriter, WriteResult
from connector.mapping.convert import FileUpload
from connector.mapping.mapper import Mapper, Outgoing, Refusal, Row
from connector.report import SyncReport
from connector.source import SqlSource
from connector.state import StateStore, pk_text

log = logging.getLogger(__name__)
BATCH = RECORDS_PER_WRITE * REQUESTS_PER_BULK


class DeleteCapError(KintoneSyncError):
    """A run would delete more records than the mapping's max_delete_share allows."""


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
) -> SyncReport:
    """Run one job: check, read, compare with the state, write the changes, record everything.

    `dry_run` reads and maps but writes nothing; `full_refresh` sends every row again; `force`
    lets a run delete more than the mapping's `max_delete_share`.

    Raises:
        ConfigError, SourceError, PreflightError, StateError: before anything is written.
        KintoneError: an error about a whole call, or a transient one past its retries; what
            was written before it is recorded, so the next run carries on.
        DeleteCapError: the run would delete too many records; nothing was deleted.
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
        with store.lock(name):
            run = _Run(
                job, store, project, dry_run=dry_run, full_refresh=full_refresh, use_bulk=use_bulk
            )
            return run.execute(force=force, started=started)
    finally:
        job.close()
        if own_state:
            store.close()


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
        use_bulk: bool,
    ) -> None:
        self.job = job
        self.state = state
        self.project = project
        self.dry_run = dry_run
        self.full_refresh = full_refresh
        spec = job.spec
        self.report = SyncReport(job.name, job.app, spec.mode, dry_run=dry_run)
        self.mapper = Mapper(spec, job.form, base_dir=project.root)
        self.writer = RecordWriter(
            job.client,
            job.app,
            spec.mode,
            spec.key,
            use_bulk=use_bulk,
            concurrency=project.limits.concurrency,
        )
        self.mapping_hash = _digest(spec.model_dump(mode="json"))
        self.cursor_value: Any = None
        self.calls_recorded = 0

    def execute(self, *, force: bool, started: float) -> SyncReport:
        job, state, report = self.job, self.state, self.report
        job.source.verify_keys()
        if self.dry_run:
            self._loop(run_id=None)
            return self._finish(started)
        report.run_id = run_id = state.begin_run(
            job.name, str(job.app), job.spec.mode, self.mapping_hash
        )
        status = "failed"
        try:
            self._warn_about_budget()
            if state.last_mapping_hash(job.name) not in (None, self.mapping_hash):
                report.warnings.append(
                    "the mapping changed since the last complete run: rows whose records "
                    "change with it are sent again"
                )
            self._check_pending()
            incremental = self._loop(run_id)
            if job.spec.on_delete == "delete" and not incremental:
                self._delete_gone(run_id, force=force)
            state.save_checkpoint(job.name, _encode(self.cursor_value), self.mapping_hash)
            status = "refused" if report.refusals else "succeeded"
        except KintoneSyncError as exc:
            report.errors.append(str(exc))
            raise
        finally:
            self._finish(started)
            state.end_run(run_id, status, report.as_dict(refusals=False))
        return report

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
                self.state.add_usage(str(self.job.app), total - self.calls_recorded)
            self.calls_recorded = total

    # --- reading and writing ------------------------------------------------------------------

    def _sources(self) -> tuple[SqlSource, bool]:
        """The source, narrowed to rows past the last cursor value when the mapping has one."""
        job = self.job
        cursor = job.spec.source.cursor
        last = None if (self.full_refresh or cursor is None) else self.state.cursor(job.name)
        if cursor is None or last is None:
            return job.source, False
        # A run that finds nothing new keeps the cursor where it was.
        self.cursor_value = _decode(last)
        spec = replace(job.source.spec, since=(cursor, self.cursor_value))
        return SqlSource(job.engine, spec, chunk_size=job.source.chunk_size), True

    def _loop(self, run_id: int | None) -> bool:
        """Read, map and write every row; whether the read was incremental."""
        source, incremental = self._sources()
        cursor = self.job.spec.source.cursor
        batch: list[Outgoing] = []
        refused: list[Refusal] = []
        for row, children in _rows(source, self.job.children):
            self.report.rows_read += 1
            value = row.get(cursor) if cursor is not None else None
            if value is not None and (self.cursor_value is None or value > self.cursor_value):
                self.cursor_value = value
            mapped = self.mapper.map(row, children)
            if isinstance(mapped, list):
                refused += mapped
            else:
                batch.append(mapped)
            if len(batch) + len(refused) >= BATCH * self.writer.concurrency:
                self._flush(batch, refused, run_id)
                batch, refused = [], []
        self._flush(batch, refused, run_id)
        return incremental

    def _flush(self, batch: list[Outgoing], refused: list[Refusal], run_id: int | None) -> None:
        report, state, name, mode = self.report, self.state, self.job.name, self.job.spec.mode
        report.refusals += refused
        if refused and run_id is not None:
            state.record_refused(name, _reject_rows(refused), run_id)
        keys = [pk_text(o.key) for o in batch]
        text_of = dict(zip((o.key for o in batch), keys, strict=True))
        hashes = {
            k: _payload_hash(self.job.app, self.job.spec.key, o)
            for k, o in zip(keys, batch, strict=True)
        }
        known = state.rows(name, keys)
        changed: list[Outgoing] = []
        unchanged: list[str] = []
        in_flight: list[Outgoing] = []
        for key, out in zip(keys, batch, strict=True):
            before = known.get(key)
            if before is not None and before.status == "pending" and mode == "insert":
                in_flight.append(out)
            # Insert mode adds a row once; the other modes send it again when it changed.
            elif (
                before is not None
                and before.status == "synced"
                and before.record_id
                and (
                    mode == "insert"
                    or (not self.full_refresh and before.payload_hash == hashes[key])
                )
            ):
                unchanged.append(key)
            else:
                changed.append(out)
        if run_id is None:
            report.unchanged += len(unchanged)
            if changed or in_flight:
                _count(report, self.writer.plan([*changed, *in_flight]), dry_run=True)
            return
        if in_flight:
            changed += self._landed_earlier(in_flight, text_of, hashes, run_id)
        report.unchanged += len(unchanged)
        state.mark_seen(name, unchanged, run_id)
        if changed:
            state.mark_pending(name, [text_of[o.key] for o in changed], run_id)
            result = self.writer.write(changed)
            _count(report, result, dry_run=False)
            state.record_written(
                name,
                [(text_of[k], i, hashes[text_of[k]], True) for k, i in result.inserted]
                + [(text_of[k], i, hashes[text_of[k]], False) for k, i in result.updated],
                run_id,
            )
            state.record_refused(name, _reject_rows(result.refused), run_id)
            if result.error is not None:
                raise result.error
        state.heartbeat(name)
        self._record_usage()
        state.progress(run_id, report.as_dict(refusals=False))
        log.info(
            "%s: %d rows read; %d inserted, %d updated, %d unchanged, %d refused; %d API calls",
            name,
            report.rows_read,
            report.inserted,
            report.updated,
            report.unchanged,
            report.refused,
            report.calls,
        )

    def _landed_earlier(
        self,
        rows: list[Outgoing],
        text_of: Mapping[tuple[Any, ...], str],
        hashes: Mapping[str, str],
        run_id: int,
    ) -> list[Outgoing]:
        """Inserts a stopped run sent without recording the answer: an insert is never sent
        blind twice, so the records are looked up by key. Those found are recorded as this
        job's (and counted unchanged); the rest are returned to be sent."""
        found = self.writer.existing([o.key_value for o in rows], [])
        landed = [o for o in rows if str(o.key_value) in found]
        self.state.record_written(
            self.job.name,
            [
                (
                    text_of[o.key],
                    int(found[str(o.key_value)]["$id"]["value"]),
                    hashes[text_of[o.key]],
                    True,
                )
                for o in landed
            ],
            run_id,
        )
        self.report.unchanged += len(landed)
        return [o for o in rows if str(o.key_value) not in found]

    def _check_pending(self) -> None:
        """Without a key, inserts a stopped run left in flight cannot be looked up.

        Raises:
            KintoneSyncError: such rows exist; the run stops rather than risk duplicates.
        """
        job = self.job
        if job.spec.mode != "insert" or job.spec.key is not None:
            return
        in_flight = self.state.counts(job.name).get("pending", 0)
        if in_flight:
            raise KintoneSyncError(
                f"{in_flight} row(s) of job {job.name} were being inserted when a run stopped, "
                "and without a key field it cannot be told which landed; give the mapping a "
                "unique key field, or check the app and clear .kintone-sync state for the job"
            )

    def _delete_gone(self, run_id: int, *, force: bool) -> None:
        """Delete the records of rows that left the source: only records this job synced."""
        job, state, report = self.job, self.state, self.report
        gone = list(state.unseen(job.name, run_id))
        doomed = [(k, s.record_id) for k, s in gone if s.record_id and s.status == "synced"]
        others = [k for k, s in gone if not (s.record_id and s.status == "synced")]
        state.forget(job.name, others)
        if not doomed:
            return
        counts = state.counts(job.name)
        total = sum(counts.values())
        share = len(doomed) / max(total, 1)
        if share > job.spec.max_delete_share and not force:
            raise DeleteCapError(
                f"job {job.name} would delete {len(doomed)} of its {total} records "
                f"({share:.0%} > max_delete_share {job.spec.max_delete_share:.0%}); nothing was "
                "deleted. Check the source, then run with --force if the deletes are meant"
            )
        ids = [int(record_id) for _, record_id in doomed if record_id is not None]
        deleted = self.writer.delete(ids)
        report.deleted += len(deleted)
        state.forget(job.name, [k for k, _ in doomed])

    def _warn_about_budget(self) -> None:
        budget = self.project.limits.daily_budget
        used = self.state.usage_today(str(self.job.app))
        # The rows the job already knows, rather than a count over the warehouse each run.
        rows = sum(self.state.counts(self.job.name).values()) or self.job.source.count()
        worst = -(-rows // BATCH) + len(self.job.children) + 3
        if used + worst > budget:
            message = (
                f"app {self.job.app} has used {used:,} of its {budget:,} API calls today; this "
                f"run may need up to {worst:,} more"
            )
            log.warning(message)
            self.report.warnings.append(message)


def _rows(
    source: SqlSource, children: Mapping[str, SqlSource]
) -> Iterator[tuple[Row, Mapping[str, Sequence[Row]]]]:
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
    report.refusals += result.refused
    if not dry_run:
        for key, record_id in (*result.inserted, *result.updated):
            report.record_ids[key] = record_id


def _reject_rows(refusals: Sequence[Refusal]) -> list[tuple[str, str | None, str, str, str | None]]:
    return [(pk_text(r.key), r.field, r.code, r.message, r.error_id) for r in refusals]


def _payload_hash(app: int, key_field: str | None, out: Outgoing) -> str:
    """What a row sends, as a digest: app, key and record (files by content)."""
    return _digest({"app": app, "key": key_field, "value": out.key_value, "record": out.record})


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=_plain, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _plain(value: Any) -> Any:
    if isinstance(value, FileUpload):
        return {"name": value.name, "sha256": hashlib.sha256(value.data).hexdigest()}
    return str(value)


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
