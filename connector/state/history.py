"""What runs did, and who runs now: run history, refused rows, API usage, and the job lock."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from connector.errors import LockedError, LockLostError, StateError
from connector.mapping.mapper import Refusal
from connector.state.access import Access, chunks
from connector.state.rows import Scope
from connector.state.schema import locks, rejects, runs, usage

STALE_LOCK_SECONDS = 600.0
"""A lock whose holder, on another host, has not been heard from for this long is taken over."""
HEARTBEAT_SECONDS = 30.0
"""How often a running job's lock is renewed, from a thread of its own."""


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


class RunLog:
    """Run history, rejects, API usage per app and day, and the job locks."""

    def __init__(self, access: Access) -> None:
        self.db = access

    # --- runs ---------------------------------------------------------------------------------

    def begin_run(self, job: str, target: str, app: str, mode: str, mapping_hash: str) -> int:
        """Record a run's start; runs a crash left open are marked interrupted."""
        with self.db.begin() as conn:
            conn.execute(
                sa.update(runs)
                .where(runs.c.job == job, runs.c.status == "running")
                .values(status="interrupted")
            )
            result = conn.execute(
                sa.insert(runs).values(
                    job=job,
                    target=target,
                    app=app,
                    mode=mode,
                    status="running",
                    started=time.time(),
                    mapping_hash=mapping_hash,
                )
            )
            inserted = result.inserted_primary_key
            assert inserted is not None
            return int(inserted[0])

    def progress(self, run_id: int, report: Mapping[str, Any]) -> None:
        """Keep a running run's report current, so a run that is killed still shows its work."""
        with self.db.begin() as conn:
            conn.execute(
                sa.update(runs)
                .where(runs.c.id == run_id)
                .values(report=json.dumps(report, default=str))
            )

    def end_run(self, run_id: int, status: str, report: Mapping[str, Any]) -> None:
        with self.db.begin() as conn:
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
        with self.db.connect() as conn:
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

    def last_started(self, job: str) -> float | None:
        """When the job's latest run started (seconds since the epoch); plans leave none."""
        with self.db.connect() as conn:
            value = conn.execute(sa.select(sa.func.max(runs.c.started)).where(runs.c.job == job))
            found = value.scalar()
        return float(found) if found is not None else None

    # --- rejects ------------------------------------------------------------------------------

    def record_rejects(self, scope: Scope, refused: Sequence[Refusal], run_id: int) -> None:
        """Each refused row's reasons replace the ones an earlier run kept."""
        if not refused:
            return
        now = time.time()
        with self.db.begin() as conn:
            _clear(conn, scope, sorted({r.key.id for r in refused}))
            conn.execute(
                sa.insert(rejects),
                [
                    {
                        "job": scope.job,
                        "target": scope.target,
                        "row_id": r.key.id,
                        "pk": r.key.text,
                        "run_id": run_id,
                        "field": r.field,
                        "code": r.code,
                        "message": r.message,
                        "error_id": r.error_id,
                        "at": now,
                    }
                    for r in refused
                ],
            )

    def clear_rejects(self, scope: Scope, row_ids: Sequence[str]) -> None:
        """Rows that were written at last."""
        with self.db.begin() as conn:
            _clear(conn, scope, row_ids)

    def rejects(self, job: str, target: str | None = None) -> list[Reject]:
        """A job's refused rows (at one target, or at every target), by key."""
        stmt = sa.select(rejects).where(rejects.c.job == job)
        if target is not None:
            stmt = stmt.where(rejects.c.target == target)
        with self.db.connect() as conn:
            return [
                Reject(json.loads(r.pk), r.field, r.code, r.message, r.error_id, r.run_id, r.at)
                for r in conn.execute(stmt.order_by(rejects.c.pk, rejects.c.id))
            ]

    # --- API usage ----------------------------------------------------------------------------

    def add_usage(self, app: str, calls: int) -> int:
        """Add calls to today's count for an app (UTC day); today's total."""
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        with self.db.begin() as conn:
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
        with self.db.connect() as conn:
            value = conn.execute(
                sa.select(usage.c.calls).where(usage.c.app == app, usage.c.day == day)
            ).scalar()
        return int(value or 0)

    # --- the lock -----------------------------------------------------------------------------

    @contextmanager
    def lock(self, job: str, *, heartbeat: float = HEARTBEAT_SECONDS) -> Iterator[Lock]:
        """Hold the job's lock for the block; two runs of one job never overlap.

        A thread renews the lock while the block runs, so a slow query or a long retry never
        makes it look abandoned. A lock held on this host is taken over only when its process
        is gone; one held on another host, when it went silent for STALE_LOCK_SECONDS.

        Raises:
            LockedError: another live run holds the lock.
        """
        held = Lock(self, job, socket.gethostname(), os.getpid(), uuid.uuid4().hex)
        held.take()
        try:
            with held.beating(heartbeat):
                yield held
        finally:
            held.release()


class Lock:
    """One run's hold on its job's lock."""

    def __init__(self, log: RunLog, job: str, host: str, pid: int, token: str) -> None:
        self.log, self.job, self.host, self.pid, self.token = log, job, host, pid, token
        self.lost = False

    def take(self) -> None:
        with self.log.db.begin() as conn:
            held = conn.execute(sa.select(locks).where(locks.c.job == self.job)).first()
            if held is not None and not _abandoned(held, self.host):
                raise LockedError(
                    f"job {self.job} is running elsewhere (host {held.host}, process "
                    f"{held.pid}); wait for it, or run `kintone-sync unlock {self.job}` if that "
                    "process is gone"
                )
            if held is not None:
                conn.execute(sa.delete(locks).where(locks.c.job == self.job))
            try:
                conn.execute(
                    sa.insert(locks).values(
                        job=self.job,
                        host=self.host,
                        pid=self.pid,
                        heartbeat=time.time(),
                        token=self.token,
                    )
                )
            except IntegrityError:
                raise LockedError(f"job {self.job} was started by another run just now") from None

    def check(self) -> None:
        """Before a write: is the lock still this run's?

        Raises:
            LockLostError: another run took it over; this run must not write again.
        """
        with self.log.db.connect() as conn:
            token = conn.execute(sa.select(locks.c.token).where(locks.c.job == self.job)).scalar()
        if token != self.token:
            self.lost = True
            raise LockLostError(
                f"job {self.job}: another run took this run's lock over, so this run stopped "
                "before its next write; what it wrote is recorded. Check for a second scheduler "
                "running the same job"
            )

    def beat(self) -> None:
        with self.log.db.begin() as conn:
            result = conn.execute(
                sa.update(locks)
                .where(locks.c.job == self.job, locks.c.token == self.token)
                .values(heartbeat=time.time())
            )
        if result.rowcount == 0:
            self.lost = True

    @contextmanager
    def beating(self, every: float) -> Iterator[None]:
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(every):
                try:
                    self.beat()
                except StateError:
                    continue  # the next beat, or the check before a write, will tell

        thread = threading.Thread(target=run, name=f"lock-{self.job}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def release(self) -> None:
        with self.log.db.begin() as conn:
            conn.execute(
                sa.delete(locks).where(locks.c.job == self.job, locks.c.token == self.token)
            )


def _clear(conn: sa.Connection, scope: Scope, row_ids: Sequence[str]) -> None:
    for chunk in chunks(row_ids):
        conn.execute(
            sa.delete(rejects).where(
                rejects.c.job == scope.job,
                rejects.c.target == scope.target,
                rejects.c.row_id.in_(chunk),
            )
        )


def _abandoned(held: Any, host: str) -> bool:
    if held.host == host:
        # On this host the process table is the truth; a live process keeps its lock however
        # long it has been silent.
        try:
            os.kill(int(held.pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return time.time() - float(held.heartbeat) > STALE_LOCK_SECONDS


def _iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
