"""What the state commands read and change: a job's summary, its lock, its rejects."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from connector.state.access import Access
from connector.state.history import HEARTBEAT_SECONDS
from connector.state.schema import checkpoints, identities, locks, rejects, row_state, runs

FRESH_LOCK_SECONDS = 3 * HEARTBEAT_SECONDS
"""A running job renews its lock every HEARTBEAT_SECONDS; a lock heard from within three
beats may belong to a live run, so `unlock` leaves it alone without --force."""


@dataclass(frozen=True)
class Holder:
    """Who holds a job's lock, and when it was last renewed."""

    job: str
    host: str
    pid: int
    run_id: int | None
    heartbeat: float

    def age(self, now: float | None = None) -> float:
        """Seconds since the holder last renewed the lock."""
        return max(0.0, (time.time() if now is None else now) - self.heartbeat)

    def fresh(self, now: float | None = None) -> bool:
        return self.age(now) < FRESH_LOCK_SECONDS

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "pid": self.pid,
            "run_id": self.run_id,
            "heartbeat_age_seconds": round(self.age(), 1),
        }


@dataclass(frozen=True)
class Target:
    """A job's rows at one app: counts by status, and the cursor the last complete run reached."""

    target: str
    rows: dict[str, int]
    cursor: str | None
    current: bool
    """The target the job's last run wrote to."""


@dataclass(frozen=True)
class JobState:
    """Everything the state keeps of one job."""

    job: str
    targets: list[Target]
    rejects: int
    """Refused rows kept for `rejects` (reasons, not rows: a row may have several)."""
    last_run: dict[str, Any] | None
    lock: Holder | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "targets": [
                {"target": t.target, "rows": t.rows, "cursor": t.cursor, "current": t.current}
                for t in self.targets
            ],
            "rejects": self.rejects,
            "last_run": self.last_run,
            "lock": self.lock.as_dict() if self.lock is not None else None,
        }


def job_state(db: Access, job: str) -> JobState:
    """What the state holds for a job, at every target it has rows or a checkpoint at."""
    with db.connect() as conn:
        counts: dict[str, dict[str, int]] = {}
        for target, status, n in conn.execute(
            sa.select(row_state.c.target, row_state.c.status, sa.func.count())
            .where(row_state.c.job == job)
            .group_by(row_state.c.target, row_state.c.status)
        ):
            counts.setdefault(str(target), {})[str(status)] = int(n)
        cursors = {
            str(t): c
            for t, c in conn.execute(
                sa.select(checkpoints.c.target, checkpoints.c.cursor_value).where(
                    checkpoints.c.job == job
                )
            )
        }
        current = conn.execute(
            sa.select(identities.c.target).where(identities.c.job == job)
        ).scalar()
        refused = conn.execute(
            sa.select(sa.func.count()).select_from(rejects).where(rejects.c.job == job)
        ).scalar()
        last = conn.execute(
            sa.select(runs).where(runs.c.job == job).order_by(runs.c.id.desc()).limit(1)
        ).first()
    names = sorted(set(counts) | set(cursors) | ({str(current)} if current else set()))
    targets = [Target(t, counts.get(t, {}), cursors.get(t), t == current) for t in names]
    last_run = None
    if last is not None:
        report = json.loads(last.report) if last.report else {}
        last_run = {
            "id": last.id,
            "status": last.status,
            "started": _iso(last.started),
            "ended": _iso(last.ended) if last.ended else None,
            "rows_read": report.get("rows_read"),
        }
    return JobState(job, targets, int(refused or 0), last_run, holder(db, job))


def holder(db: Access, job: str) -> Holder | None:
    """Who holds the job's lock, if anyone."""
    with db.connect() as conn:
        found = conn.execute(sa.select(locks).where(locks.c.job == job)).first()
    if found is None:
        return None
    return Holder(job, str(found.host), int(found.pid), found.run_id, float(found.heartbeat))


def unlock(db: Access, seen: Holder) -> bool:
    """Remove the lock `seen` described; False when it changed since (renewed or taken), so a
    lock a live run just renewed is never removed on the strength of an old look."""
    with db.begin() as conn:
        result = conn.execute(
            sa.delete(locks).where(
                locks.c.job == seen.job,
                locks.c.host == seen.host,
                locks.c.pid == seen.pid,
                locks.c.heartbeat == seen.heartbeat,
            )
        )
    return bool(result.rowcount)


def clear_rejects(db: Access, job: str) -> int:
    """Forget a job's refused rows at every target; how many reasons were forgotten."""
    with db.begin() as conn:
        result = conn.execute(sa.delete(rejects).where(rejects.c.job == job))
    return int(result.rowcount)


def _iso(stamp: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(stamp))
