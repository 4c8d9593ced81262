"""The progress display and the summary table, driven by reports and a clock of the test's."""

from __future__ import annotations

import io

import pytest

from connector.cli.display import (
    LiveProgress,
    PlainProgress,
    progress_for,
    progress_text,
    result_line,
    summary,
    table,
)
from connector.report import SyncReport
from tests.cli_display.tables import table_rows


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def report(read: int, *, expected: int | None = 10_000, job: str = "customers") -> SyncReport:
    return SyncReport(job, 1, "upsert", rows_read=read, inserted=read - 10, rows_expected=expected)


def test_the_text_has_rate_and_time_left_from_the_estimate() -> None:
    assert progress_text(report(2_000), 4.0) == (
        "2,000 of 10,000 rows read, 1,990 written, 0 refused, 500 rows/s, ETA 16 s"
    )
    assert progress_text(report(2_000), 1.0).endswith("2,000 rows/s, ETA 4 s")
    assert progress_text(report(100), 1.0).endswith("ETA 1 min 39 s")
    assert progress_text(report(2_000, expected=None), 4.0) == (
        "2,000 rows read, 1,990 written, 0 refused, 500 rows/s, ETA unknown"
    )


def test_plain_lines_come_every_n_seconds_of_the_clock() -> None:
    clock, lines = Clock(), []
    show = PlainProgress(lines.append, every=10, clock=clock)  # the run starts now
    for step, read in [(5, 1000), (5, 2000), (2, 2500), (8, 4000)]:
        clock.now += step
        show(report(read))
    clock.now += 4
    show(report(5_000, job="orders"))  # the next job's time starts at the last call
    clock.now += 6
    show(report(6_000, job="orders"))
    assert lines == [
        "customers: 2,000 of 10,000 rows read, 1,990 written, 0 refused, 200 rows/s, ETA 40 s",
        "customers: 4,000 of 10,000 rows read, 3,990 written, 0 refused, 200 rows/s, ETA 30 s",
        "orders: 6,000 of 10,000 rows read, 5,990 written, 0 refused, 600 rows/s, ETA 7 s",
    ]


def test_the_live_display_draws_a_bar_with_the_counts_on_a_terminal() -> None:
    clock, screen = Clock(), Terminal()
    live = LiveProgress(screen, clock=clock)
    with live.shown():
        clock.now += 4
        live(report(2_000))
        drawn = screen.getvalue()
    assert "customers" in drawn
    assert "2,000/10,000" in drawn or "2000/10000" in drawn
    assert "1,990 written, 0 refused, 500 rows/s, ETA 16 s" in drawn
    assert "\x1b[" in drawn  # drawn in place with terminal control sequences


@pytest.mark.parametrize(
    ("stream", "quiet", "log_format", "kind"),
    [
        (Terminal(), False, "text", LiveProgress),
        (io.StringIO(), False, "text", PlainProgress),
        (Terminal(), True, "text", type(None)),
        (io.StringIO(), False, "json", type(None)),
    ],
)
def test_the_display_follows_the_stream_and_the_root_options(
    stream: io.StringIO, quiet: bool, log_format: str, kind: type
) -> None:
    with progress_for(stream, quiet=quiet, log_format=log_format) as shown:
        assert type(shown) is kind


def test_the_table_has_a_row_per_job_and_a_total() -> None:
    a = SyncReport("customers", 1, "upsert", rows_read=1000, inserted=990, deleted=2, seconds=1.25)
    a.api_calls = {"POST bulkRequest": 3}
    b = SyncReport("orders", 12, "update", rows_read=50, updated=40, unchanged=10, seconds=0.5)
    rows = table_rows(table([a, b]))
    assert rows["customers"] == {
        "read": 1000,
        "inserted": 990,
        "updated": 0,
        "unchanged": 0,
        "refused": 0,
        "deleted": 2,
        "API calls": 3,
        "seconds": 1.2,
    }
    assert rows["orders"]["updated"] == 40
    assert rows["total"]["read"] == 1050
    assert rows["total"]["seconds"] == 1.8


def test_a_plan_says_its_counts_are_what_a_run_would_do() -> None:
    planned = SyncReport("customers", 1, "upsert", dry_run=True, rows_read=5, inserted=5)
    text = summary([planned])
    assert text.startswith("customers -> app 1 (upsert, dry run)")
    assert "dry run: nothing written" in text
    assert "nothing written" not in summary([report(5)])


def test_the_quiet_result_is_one_line() -> None:
    line = result_line([report(1_000), report(5, job="orders")])
    assert "\n" not in line
    assert line.startswith("customers: 1,000 read, 990 inserted, 0 updated")
    assert "; orders: 5 read" in line
