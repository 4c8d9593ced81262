"""What earlier runs did, kept in SQL: row to record id and payload hash, rejects, runs, locks."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from connector.errors import KintoneSyncError
from connector.source import create_engine_from_url, mask_password

DEFAULT_STATE = ".kintone-sync/state.db"
STALE_LOCK_SECONDS = 600.0
"""A lock whose holder has not been heard from for this long is taken over."""

metadata = sa.MetaData()

rows = sa.Table(
    "sync_rows",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("pk", sa.String(1000), primary_key=True),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    sa.Column("payload_hash", sa.String(64), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    # pending: sent, answer not yet stored; synced; refused.
    sa.Column("created", sa.Boolean, nullable=False, default=False),
    sa.Column("seen_run", sa.Integer, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
)
rejects = sa.Table(
    "rejects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(200), nullable=False, index=True),
    sa.Column("pk", sa.String(1000), nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("field", sa.String(300), nullable=True),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("error_id", sa.String(100), nullable=True),
    sa.Column("at", sa.Float, nullable=False),
)
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(200), nullable=False, index=True),
    sa.Column("app", sa.String(100), nullable=True),
    sa.Column("mode", sa.String(16), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("ended", sa.Float, nullable=True),
    sa.Column("report", sa.Text, nullable=True),
    sa.Column("mapping_hash", sa.String(64), nullable=True),
)
locks = sa.Table(
    "locks",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Column("heartbeat", sa.Float, nullable=False),
)
checkpoints = sa.Table(
    "checkpoints",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("cursor_value", sa.Text, nullable=True),
    sa.Column("mapping_hash", sa.String(64), nullable=True),
)
usage = sa.Table(
    "api_usage",
    metadata,
    sa.Column("app", sa.String(100), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("calls", sa.Integer, nullable=False),
)


class StateError(KintoneSyncError):
    """The state store cannot be used: unreachable, locked by another run, or damaged."""


class LockedError(StateError):
    """Another run of the same job holds the lock."""


@dataclass(frozen=True)
class RowState:
    """What the last run stored for one source row."""

    record_id: int | None
    payload_hash: str | None
    status: str
    created: bool


@dataclass(frozen=True)
class Reject:
    """A refused row as the state keeps it."""

    pk: list[Any]
    field: str | None
    code: str
    message: str
    error_id: str | None
    run_id: int
    at: float


def pk_text(key: Sequence[Any]) -> str:
    """A source primary key as stored: JSON, so composite and typed keys stay distinct."""
    return json.dumps(list(key), default=str, ensure_ascii=False, separators=(",", ":"))


class StateStore:
    """The state of every job of a project, in any SQLAlchemy database (SQLite by default)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        try:
            metadata.create_all(engine)
        except SQLAlchemyError as exc:
            raise StateError(
                f"cannot open the state store {_shown(engine)}: {mask_password(_first(exc))}"
            ) from None

    @classmethod
    def open(cls, url: str | None, root: Path) -> StateStore:
        """The store at a SQLAlchemy URL, or the embedded default beside the project."""
        if url is None:
            path = root / DEFAULT_STATE
            path.parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{path}"
        try:
            engine = create_engine_from_url(url)
        except KintoneSyncError as exc:
            raise StateError(f"state store: {exc}") from None
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        return cls(engine)

    def close(self) -> None:
        self.engine.dispose()

    # --- the lock -----------------------------------------------------------------------------

    @contextmanager
    def lock(self, job: str) -> Iterator[None]:
        """Hold the job's lock for the block; two runs of one job never overlap.

        A lock left by a run that died (same host, process gone) or went silent for
        STALE_LOCK_SECONDS is taken over.

        Raises:
            LockedError: another live run holds the lock.
        """
        host, pid = socket.gethostname(), os.getpid()
        with self.engine.begin() as conn:
            held = conn.execute(sa.select(locks).where(locks.c.job == job)).first()
            if held is not None and not _abandoned(held, host):
                raise LockedError(
                    f"job {job} is running elsewhere (host {held.host}, process {held.pid}); "
                    "wait for it, or remove its lock if that process is gone"
                )
            if held is not None:
                conn.execute(sa.delete(locks).where(locks.c.job == job))
            try:
                conn.execute(
                    sa.insert(locks).values(job=job, host=host, pid=pid, heartbeat=time.time())
                )
            except IntegrityError:
                raise LockedError(f"job {job} was started by another run just now") from None
        try:
            yield
        finally:
            with self.engine.begin() as conn:
                conn.execute(sa.delete(locks).where(locks.c.job == job, locks.c.pid == pid))

    def heartbeat(self, job: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(locks).where(locks.c.job == job).values(heartbeat=time.time()))

    # --- runs ---------------------------------------------------------------------------------

    def begin_run(self, job: str, app: str, mode: str, mapping_hash: str) -> int:
        """Record a run's start; runs a crash left open are marked interrupted."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(runs)
                .where(runs.c.job == job, runs.c.status == "running")
                .values(status="interrupted")
            )
            result = conn.execute(
                sa.insert(runs).values(
                    job=job,
                    app=app,
                    mode=mode,
                    status="running",
                    started=time.time(),
                    mapping_hash=mapping_hash,
                )
            )
            inserted = result.inserted_primary_key
            assert inserted is not None
            run_id = int(inserted[0])
        return run_id

    def progress(self, run_id: int, report: Mapping[str, Any]) -> None:
        """Keep a running run's report current, so a run that is killed still shows its work."""
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(runs)
                .where(runs.c.id == run_id)
                .values(report=json.dumps(report, default=str))
            )

    def end_run(self, run_id: int, status: str, report: Mapping[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.update(runs)
                .where(runs.c.id == run_id)
                .values(status=status, ended=time.time(), report=json.dumps(report, default=str))
            )

    def runs(self, job: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        """The latest runs, newest first, with their reports."""
        stmt = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
        if job is not None:
            stmt = stmt.where(runs.c.job == job)
        with self.engine.connect() as conn:
            found = conn.execute(stmt).all()
        out = []
        for r in found:
            entry = {
                "id": r.id,
                "job": r.job,
                "app": r.app,
                "mode": r.mode,
                "status": r.status,
                "started": _iso(r.started),
                "ended": _iso(r.ended) if r.ended else None,
            }
            entry.update(json.loads(r.report) if r.report else {})
            out.append(entry)
        return out

    def last_mapping_hash(self, job: str) -> str | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(checkpoints.c.mapping_hash).where(checkpoints.c.job == job)
            ).scalar()
        return str(value) if value is not None else None

    def cursor(self, job: str) -> str | None:
        """The incremental cursor value the last complete run reached."""
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(checkpoints.c.cursor_value).where(checkpoints.c.job == job)
            ).scalar()
        return str(value) if value is not None else None

    def save_checkpoint(self, job: str, cursor_value: str | None, mapping_hash: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.delete(checkpoints).where(checkpoints.c.job == job))
            conn.execute(
                sa.insert(checkpoints).values(
                    job=job, cursor_value=cursor_value, mapping_hash=mapping_hash
                )
            )

    # --- rows ---------------------------------------------------------------------------------

    def rows(self, job: str, keys: Iterable[str]) -> dict[str, RowState]:
        """The stored state of these rows (pk text -> state); rows never seen are absent."""
        found: dict[str, RowState] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(keys):
                stmt = sa.select(rows).where(rows.c.job == job, rows.c.pk.in_(chunk))
                for r in conn.execute(stmt):
                    found[r.pk] = RowState(r.record_id, r.payload_hash, r.status, bool(r.created))
        return found

    def mark_seen(self, job: str, keys: Iterable[str], run_id: int) -> None:
        """Note the rows a run read, so rows that left the source can be found at the end."""
        with self.engine.begin() as conn:
            for chunk in _chunks(keys):
                conn.execute(
                    sa.update(rows)
                    .where(rows.c.job == job, rows.c.pk.in_(chunk))
                    .values(seen_run=run_id)
                )

    def mark_pending(self, job: str, keys: Iterable[str], run_id: int) -> None:
        """Before a write: these rows are on their way, their outcome unknown until stored."""
        self._upsert(job, [(k, {"status": "pending", "seen_run": run_id}) for k in keys])

    def record_written(
        self, job: str, written: Iterable[tuple[str, int, str, bool]], run_id: int
    ) -> None:
        """After a write: pk, record id, payload hash, and whether this job created the record."""
        changes = []
        for key, record_id, payload_hash, created in written:
            values: dict[str, Any] = {
                "status": "synced",
                "record_id": record_id,
                "payload_hash": payload_hash,
                "seen_run": run_id,
            }
            if created:
                values["created"] = True
            changes.append((key, values))
        self._upsert(job, changes)
        with self.engine.begin() as conn:
            _clear_rejects(conn, job, [k for k, _ in changes])

    def record_refused(
        self, job: str, refused: Iterable[tuple[str, str | None, str, str, str | None]], run_id: int
    ) -> None:
        """Refused rows (pk, field, code, message, error id): kept, and tried again next run."""
        items = list(refused)
        keys = sorted({k for k, *_ in items})
        self._upsert(
            job,
            [(k, {"status": "refused", "payload_hash": None, "seen_run": run_id}) for k in keys],
        )
        now = time.time()
        with self.engine.begin() as conn:
            _clear_rejects(conn, job, keys)
            if items:
                conn.execute(
                    sa.insert(rejects),
                    [
                        {
                            "job": job,
                            "pk": k,
                            "run_id": run_id,
                            "field": f,
                            "code": c,
                            "message": m,
                            "error_id": e,
                            "at": now,
                        }
                        for k, f, c, m, e in items
                    ],
                )

    def forget(self, job: str, keys: Iterable[str]) -> None:
        """Drop rows whose records were deleted (or that left the source unsynced)."""
        wanted = list(keys)
        with self.engine.begin() as conn:
            for chunk in _chunks(wanted):
                conn.execute(sa.delete(rows).where(rows.c.job == job, rows.c.pk.in_(chunk)))
            _clear_rejects(conn, job, wanted)

    def unseen(self, job: str, run_id: int) -> Iterator[tuple[str, RowState]]:
        """Rows stored for the job that this run did not read: they left the source."""
        stmt = sa.select(rows).where(
            rows.c.job == job, sa.or_(rows.c.seen_run.is_(None), rows.c.seen_run != run_id)
        )
        with self.engine.connect() as conn:
            for r in conn.execute(stmt):
                yield r.pk, RowState(r.record_id, r.payload_hash, r.status, bool(r.created))

    def counts(self, job: str) -> dict[str, int]:
        """Rows per status."""
        stmt = (
            sa.select(rows.c.status, sa.func.count())
            .where(rows.c.job == job)
            .group_by(rows.c.status)
        )
        with self.engine.connect() as conn:
            return {str(s): int(n) for s, n in conn.execute(stmt)}

    def rejects(self, job: str) -> list[Reject]:
        stmt = sa.select(rejects).where(rejects.c.job == job).order_by(rejects.c.pk, rejects.c.id)
        with self.engine.connect() as conn:
            return [
                Reject(json.loads(r.pk), r.field, r.code, r.message, r.error_id, r.run_id, r.at)
                for r in conn.execute(stmt)
            ]

    def _upsert(self, job: str, changes: Sequence[tuple[str, dict[str, Any]]]) -> None:
        if not changes:
            return
        now = time.time()
        with self.engine.begin() as conn:
            existing: set[str] = set()
            for chunk in _chunks([k for k, _ in changes]):
                stmt = sa.select(rows.c.pk).where(rows.c.job == job, rows.c.pk.in_(chunk))
                existing.update(conn.execute(stmt).scalars())
            inserts = [
                {"job": job, "pk": k, "created": False, "updated_at": now, **v}
                for k, v in changes
                if k not in existing
            ]
            if inserts:
                full = [{"record_id": None, "payload_hash": None, **row} for row in inserts]
                conn.execute(sa.insert(rows), full)
            # One executemany per shape of change, not one statement per row.
            shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for key, values in changes:
                if key in existing:
                    params = {f"v_{c}": v for c, v in values.items()}
                    params.update(k_job=job, k_pk=key, v_updated_at=now)
                    shapes.setdefault(tuple(sorted(values)), []).append(params)
            for columns, batch in shapes.items():
                update = (
                    sa.update(rows)
                    .where(rows.c.job == sa.bindparam("k_job"), rows.c.pk == sa.bindparam("k_pk"))
                    .values({c: sa.bindparam(f"v_{c}") for c in (*columns, "updated_at")})
                )
                conn.execute(update, batch)

    # --- API usage ----------------------------------------------------------------------------

    def add_usage(self, app: str, calls: int) -> int:
        """Add calls to today's count for an app (UTC day); today's total."""
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        with self.engine.begin() as conn:
            current = conn.execute(
                sa.select(usage.c.calls).where(usage.c.app == app, usage.c.day == day)
            ).scalar()
            if current is None:
                conn.execute(sa.insert(usage).values(app=app, day=day, calls=calls))
                return calls
            total = int(current) + calls
            conn.execute(
                sa.update(usage).where(usage.c.app == app, usage.c.day == day).values(calls=total)
            )
            return total

    def usage_today(self, app: str) -> int:
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        with self.engine.connect() as conn:
            value = conn.execute(
                sa.select(usage.c.calls).where(usage.c.app == app, usage.c.day == day)
            ).scalar()
        return int(value or 0)


def _chunks(keys: Iterable[str], size: int = 500) -> Iterator[list[str]]:
    """Keys in slices small enough for one `IN (...)` on every database."""
    wanted = list(keys)
    for start in range(0, len(wanted), size):
        yield wanted[start : start + size]


def _clear_rejects(conn: sa.Connection, job: str, keys: Iterable[str]) -> None:
    for chunk in _chunks(keys):
        conn.execute(sa.delete(rejects).where(rejects.c.job == job, rejects.c.pk.in_(chunk)))


def _abandoned(held: Any, host: str) -> bool:
    if time.time() - float(held.heartbeat) > STALE_LOCK_SECONDS:
        return True
    if held.host == host:
        try:
            os.kill(int(held.pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
    return False


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shown(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def _first(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
