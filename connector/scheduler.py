"""`kintone-sync schedule`: run each job when its cron time comes, once after any pause."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from connector import cron
from connector.config import ProjectConfig
from connector.jobs import Outcome

log = logging.getLogger(__name__)
MAX_NAP_SECONDS = 60.0
"""The longest sleep between looks at the clock, so a clock that jumps (a suspended host, a
corrected time) is noticed within a minute."""


@dataclass(frozen=True)
class Entry:
    """A scheduled job: its cron expression and the time zone it is read in."""

    job: str
    expression: str
    zone: ZoneInfo


def entries(project: ProjectConfig) -> list[Entry]:
    """The jobs of the project file that have a `schedule`."""
    return [
        Entry(name, job.schedule, cron.zone(job.timezone))
        for name, job in sorted(project.jobs.items())
        if job.schedule is not None
    ]


def due(
    scheduled: Sequence[Entry], last: Mapping[str, datetime | None], now: datetime
) -> list[str]:
    """The jobs to run now: those whose latest scheduled time passed after their last run
    started, or that never ran. However many times passed, the job is due once."""
    out = []
    for entry in scheduled:
        slot = cron.previous(entry.expression, entry.zone, now).astimezone(UTC)
        before = last.get(entry.job)
        # In UTC: datetimes sharing a tzinfo compare by wall clock, blind to a repeated hour.
        if before is None or before.astimezone(UTC) < slot:
            out.append(entry.job)
    return out


def next_time(scheduled: Sequence[Entry], now: datetime) -> datetime:
    """The first scheduled time of any job after `now`."""
    return min(cron.following(e.expression, e.zone, now) for e in scheduled)


class Scheduler:
    """The loop: run what is due as one batch, sleep until the next time, until stopped.

    The clock, the sleep and the runs are given, so tests drive it without waiting. A job is
    never queued twice: a batch runs to its end before the clock is read again, and a job
    started in a batch is not due again until its next scheduled time (even when its run left
    no record, say because another process held its lock).
    """

    def __init__(
        self,
        scheduled: Sequence[Entry],
        *,
        run_batch: Callable[[list[str]], list[Outcome]],
        last_run: Callable[[str], datetime | None],
        clock: Callable[[], datetime],
        sleep: Callable[[float], object],
        stop: threading.Event,
    ) -> None:
        self.scheduled = list(scheduled)
        self.run_batch, self.last_run = run_batch, last_run
        self.clock, self.sleep, self.stop = clock, sleep, stop
        self.launched: dict[str, datetime] = {}

    def tick(self) -> list[Outcome]:
        """Run the jobs due now (none: nothing happens); their outcomes."""
        now = self.clock()
        last = {}
        for entry in self.scheduled:
            times = [t for t in (self.last_run(entry.job), self.launched.get(entry.job)) if t]
            last[entry.job] = max(times) if times else None
        names = due(self.scheduled, last, now)
        if not names:
            return []
        for name in names:
            self.launched[name] = now
        log.info("due now: %s", ", ".join(names))
        return self.run_batch(names)

    def loop(self, *, once: bool = False) -> list[Outcome]:
        """Tick until stopped (or once); every outcome, in order."""
        outcomes: list[Outcome] = []
        if not self.scheduled:
            log.warning("no job has a schedule: nothing to do")
            return outcomes
        while not self.stop.is_set():
            ran = self.tick()
            outcomes += ran
            if once:
                break
            if ran:
                continue  # a batch that ran long may have let another time pass: look again
            now = self.clock()
            wake = next_time(self.scheduled, now)
            log.info("next scheduled time %s", wake.isoformat())
            self.sleep(min(max((wake - now).total_seconds(), 0.0), MAX_NAP_SECONDS))
        return outcomes
