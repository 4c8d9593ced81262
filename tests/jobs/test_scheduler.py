"""The scheduler on a fake clock: cron times in their zones, clock changes, catch-up, stops."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from connector.cron import zone
from connector.jobs import Outcome
from connector.scheduler import MAX_NAP_SECONDS, Entry, Scheduler, due


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def entry(expression: str, tz: str = "UTC", job: str = "j") -> Entry:
    return Entry(job, expression, zone(tz))


@pytest.mark.parametrize(
    ("expression", "tz", "last", "now", "is_due"),
    [
        # 09:00 in Tokyo is 00:00 UTC
        ("0 9 * * *", "Asia/Tokyo", None, utc(2026, 1, 1, 0, 0), True),
        ("0 9 * * *", "Asia/Tokyo", utc(2025, 12, 31, 0, 5), utc(2025, 12, 31, 23, 59), False),
        ("0 9 * * *", "Asia/Tokyo", utc(2025, 12, 31, 0, 5), utc(2026, 1, 1, 0, 0), True),
        ("0 9 * * *", "Asia/Tokyo", utc(2026, 1, 1, 0, 0), utc(2026, 1, 1, 0, 0, 30), False),
        # the same expression in UTC is nine hours later
        ("0 9 * * *", "UTC", utc(2025, 12, 31, 9, 0), utc(2026, 1, 1, 0, 0), False),
        # Berlin springs forward at 01:00 UTC on 29 March 2026: 02:30 does not exist, the job
        # runs at 03:00 CEST (01:00 UTC), not at 02:30 CET (01:30 UTC) nor a day late
        ("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 0, 59), False),
        ("30 2 * * *", "Europe/Berlin", utc(2026, 3, 28, 1, 30), utc(2026, 3, 29, 1, 0), True),
        # Berlin falls back at 01:00 UTC on 25 October 2026: 02:30 comes twice, the job runs once
        ("30 2 * * *", "Europe/Berlin", utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30), False),
        ("30 2 * * *", "Europe/Berlin", utc(2026, 10, 24, 0, 30), utc(2026, 10, 25, 0, 30), True),
        # ... while a job every half hour runs in both passes of the repeated hour
        ("*/30 * * * *", "Europe/Berlin", utc(2026, 10, 25, 1, 0), utc(2026, 10, 25, 1, 29), False),
        ("*/30 * * * *", "Europe/Berlin", utc(2026, 10, 25, 1, 0), utc(2026, 10, 25, 1, 30), True),
        # New York falls back at 06:00 UTC on 1 November 2026
        ("15 1 * * *", "America/New_York", utc(2026, 11, 1, 5, 15), utc(2026, 11, 1, 6, 15), False),
        ("15 1 * * *", "America/New_York", utc(2026, 10, 31, 5, 15), utc(2026, 11, 1, 5, 15), True),
        # weeks of downtime: due (once)
        ("0 2 * * 1", "UTC", utc(2026, 1, 5, 2, 0), utc(2026, 2, 20, 12, 0), True),
    ],
)
def test_due_table(
    expression: str, tz: str, last: datetime | None, now: datetime, is_due: bool
) -> None:
    assert due([entry(expression, tz)], {"j": last}, now) == (["j"] if is_due else [])


class World:
    """A fake clock, a sleep that moves it, and a state that records each run's start."""

    def __init__(self, now: datetime, last: dict[str, datetime] | None = None) -> None:
        self.now = now
        self.last: dict[str, datetime] = dict(last or {})
        self.ran: list[tuple[str, datetime]] = []
        self.naps: list[float] = []
        self.stop = threading.Event()
        self.until = now + timedelta(days=365)
        self.batch_seconds = 0.0
        self.records = True

    def clock(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.naps.append(seconds)
        self.now += timedelta(seconds=seconds)
        if self.now >= self.until:
            self.stop.set()

    def run_batch(self, names: list[str]) -> list[Outcome]:
        for name in names:
            self.ran.append((name, self.now))
            if self.records:
                self.last[name] = self.now
        self.now += timedelta(seconds=self.batch_seconds)
        if self.now >= self.until:
            self.stop.set()
        return [Outcome(name, "succeeded") for name in names]

    def scheduler(self, *entries: Entry) -> Scheduler:
        return Scheduler(
            entries,
            run_batch=self.run_batch,
            last_run=self.last.get,
            clock=self.clock,
            sleep=self.sleep,
            stop=self.stop,
        )


def local_times(world: World, tz: str) -> list[str]:
    return [at.astimezone(zone(tz)).strftime("%m-%d %H:%M %Z") for _, at in world.ran]


def test_a_daily_job_runs_once_a_day_across_the_spring_change_in_berlin() -> None:
    world = World(utc(2026, 3, 27, 12, 0), {"j": utc(2026, 3, 27, 1, 30)})
    world.until = utc(2026, 3, 31, 12, 0)
    world.scheduler(entry("30 2 * * *", "Europe/Berlin")).loop()
    assert local_times(world, "Europe/Berlin") == [
        "03-28 02:30 CET",
        "03-29 03:00 CEST",  # 02:30 was skipped by the clock: the first minute after the gap
        "03-30 02:30 CEST",
        "03-31 02:30 CEST",
    ]
    assert max(world.naps) <= MAX_NAP_SECONDS


def test_a_daily_job_runs_once_when_the_hour_repeats_and_an_hourly_one_twice() -> None:
    world = World(utc(2026, 10, 24, 22, 0), {"d": utc(2026, 10, 24, 0, 30)})
    world.until = utc(2026, 10, 25, 4, 0)
    world.last["h"] = utc(2026, 10, 24, 22, 0)
    world.scheduler(
        entry("30 2 * * *", "Europe/Berlin", "d"), entry("30 * * * *", "Europe/Berlin", "h")
    ).loop()
    daily = [at for name, at in world.ran if name == "d"]
    hourly = [at.astimezone(zone("Europe/Berlin")).isoformat() for n, at in world.ran if n == "h"]
    assert daily == [utc(2026, 10, 25, 0, 30)]
    assert hourly == [
        "2026-10-25T00:30:00+02:00",
        "2026-10-25T01:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-25T02:30:00+01:00",
        "2026-10-25T03:30:00+01:00",
        "2026-10-25T04:30:00+01:00",
    ]


def test_a_job_that_missed_three_times_while_down_catches_up_once_then_keeps_time() -> None:
    world = World(utc(2026, 5, 10, 12, 0), {"j": utc(2026, 5, 7, 0, 0)})
    world.until = utc(2026, 5, 12, 0, 0)
    world.scheduler(entry("0 9 * * *", "Asia/Tokyo")).loop()
    assert local_times(world, "Asia/Tokyo") == [
        "05-10 21:00 JST",  # on start: one run for the three missed mornings
        "05-11 09:00 JST",
    ]


def test_a_job_that_never_ran_runs_at_start() -> None:
    world = World(utc(2026, 5, 10, 12, 0))
    world.scheduler(entry("0 3 1 * *")).loop(once=True)
    assert world.ran == [("j", utc(2026, 5, 10, 12, 0))]
    assert world.naps == []


def test_once_runs_nothing_when_nothing_is_due_and_never_sleeps() -> None:
    world = World(utc(2026, 5, 10, 12, 30), {"j": utc(2026, 5, 10, 12, 0, 5)})
    assert world.scheduler(entry("0 * * * *")).loop(once=True) == []
    assert (world.ran, world.naps) == ([], [])


def test_a_run_that_left_no_record_is_not_queued_again_until_its_next_time() -> None:
    # another process held the lock, say: the run failed before the state heard of it
    world = World(utc(2026, 5, 10, 12, 0, 10), {"j": utc(2026, 5, 10, 11, 0)})
    world.records = False
    world.until = utc(2026, 5, 10, 13, 30)
    world.scheduler(entry("0 * * * *")).loop()
    assert [at for _, at in world.ran] == [utc(2026, 5, 10, 12, 0, 10), utc(2026, 5, 10, 13, 0)]


def test_a_batch_that_ran_past_the_next_time_runs_again_at_once_not_twice() -> None:
    world = World(utc(2026, 5, 10, 12, 0), {"j": utc(2026, 5, 10, 11, 0)})
    world.batch_seconds = 2.5 * 3600  # each run takes two and a half hours
    world.until = utc(2026, 5, 10, 18, 0)
    world.scheduler(entry("0 * * * *")).loop()
    assert [at for _, at in world.ran] == [
        utc(2026, 5, 10, 12, 0),
        utc(2026, 5, 10, 14, 30),
        utc(2026, 5, 10, 17, 0),
    ]


def test_a_stop_ends_the_loop_after_the_batch() -> None:
    world = World(utc(2026, 5, 10, 12, 0))
    scheduler = world.scheduler(entry("* * * * *"))
    batches = 0

    def run_and_signal(names: list[str]) -> list[Outcome]:
        nonlocal batches
        batches += 1
        if batches == 3:
            world.stop.set()  # SIGTERM during the third batch
        return world.run_batch(names)

    scheduler.run_batch = run_and_signal
    outcomes = scheduler.loop()
    assert batches == 3
    assert [o.status for o in outcomes] == ["succeeded"] * 3


def test_no_scheduled_job_means_nothing_to_do() -> None:
    world = World(utc(2026, 5, 10, 12, 0))
    assert world.scheduler().loop() == []
    assert world.naps == []
