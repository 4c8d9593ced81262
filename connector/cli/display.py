"""What a run shows: live progress on a terminal, periodic lines elsewhere, a table at the end."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import IO, TYPE_CHECKING

import click

from connector.cli.history import one_line
from connector.report import SyncReport, destination

if TYPE_CHECKING:
    from rich.progress import TaskID

Clock = Callable[[], float]
Progress = Callable[[SyncReport], None]
EVERY_SECONDS = 10.0
"""How often a run not on a terminal prints a progress line."""
REFUSALS_SHOWN = 20


def progress_text(report: SyncReport, elapsed: float) -> str:
    """`2,000 of 10,000 rows read, 1,990 written, 10 refused, 500 rows/s, ETA 16 s`."""
    total = report.rows_expected
    read = f"{report.rows_read:,}" + (f" of {total:,}" if total else "")
    return f"{read} rows read, {_after_read(report, elapsed)}"


def _after_read(report: SyncReport, elapsed: float) -> str:
    """`1,990 written, 10 refused, 500 rows/s, ETA 16 s`: what the bar does not show."""
    total = report.rows_expected
    rate = report.rows_read / elapsed if elapsed > 0 else 0.0
    eta = "ETA unknown"
    if total and rate and report.rows_read < total:
        eta = f"ETA {_duration((total - report.rows_read) / rate)}"
    elif total and report.rows_read >= total:
        eta = "ETA soon"
    return (
        f"{report.inserted + report.updated:,} written, {report.refused:,} refused, "
        f"{rate:,.0f} rows/s, {eta}"
    )


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class PlainProgress:
    """A line every `every` seconds, for logs and pipes: nothing redrawn, nothing to strip."""

    def __init__(
        self, echo: Callable[[str], None], *, every: float = EVERY_SECONDS, clock: Clock
    ) -> None:
        self.echo, self.every, self.clock = echo, every, clock
        self.previous = clock()
        """When the display was made or last called: where the next job's time starts."""
        self.started: dict[str, float] = {}
        self.last: dict[str, float] = {}

    def __call__(self, report: SyncReport) -> None:
        now = self.clock()
        started = self.started.setdefault(report.job, self.previous)
        self.previous = now
        if now - self.last.get(report.job, started) < self.every:
            return
        self.last[report.job] = now
        self.echo(f"{report.job}: {progress_text(report, now - started)}")


class LiveProgress:
    """A bar per job, redrawn in place on a terminal by rich, gone when the run ends."""

    def __init__(self, stream: IO[str], *, clock: Clock) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn
        from rich.progress import Progress as Bars

        console = Console(file=stream, force_terminal=True)
        self.bars = Bars(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console,
            transient=True,
            auto_refresh=False,  # redrawn after each batch, when the numbers change
            # Lines printed meanwhile go where they were going (stdout stays the result's).
            redirect_stdout=False,
            redirect_stderr=False,
            get_time=clock,
        )
        self.clock = clock
        self.previous = clock()
        """When the display was made or last called: where the next job's time starts."""
        self.tasks: dict[str, tuple[TaskID, float]] = {}

    def __call__(self, report: SyncReport) -> None:
        now = self.clock()
        if report.job not in self.tasks:
            task = self.bars.add_task(report.job, total=report.rows_expected, detail="")
            self.tasks[report.job] = (task, self.previous)
        self.previous = now
        task, started = self.tasks[report.job]
        total = report.rows_expected
        self.bars.update(
            task,
            completed=report.rows_read,
            total=max(total, report.rows_read) if total else None,
            detail=_after_read(report, now - started),
        )
        self.bars.refresh()

    @contextmanager
    def shown(self) -> Iterator[LiveProgress]:
        with self.bars:
            yield self


@contextmanager
def progress_for(
    stream: IO[str],
    *,
    quiet: bool,
    log_format: str,
    clock: Clock = time.monotonic,
    every: float = EVERY_SECONDS,
) -> Iterator[Progress | None]:
    """The progress display a command should pass to `sync`: a live one when `stream` is a
    terminal, periodic lines when not, none under `--quiet` or `--log-format json` (whose
    `-v` lines already say what each batch did, as JSON)."""
    if quiet or log_format == "json":
        yield None
    elif stream.isatty():
        with LiveProgress(stream, clock=clock).shown() as live:
            yield live
    else:
        echo = partial(click.echo, file=stream)
        yield PlainProgress(echo, every=every, clock=clock)


HEADERS = (
    "job",
    "app",
    "read",
    "inserted",
    "updated",
    "unchanged",
    "refused",
    "deleted",
    "API calls",
    "seconds",
)


def table(reports: Sequence[SyncReport]) -> str:
    """One row per job: rows read, inserted, updated, unchanged, refused, deleted, API calls
    and seconds; a total row under several jobs."""
    rows = [_cells(r.job, str(r.app), [r]) for r in reports]
    if len(reports) > 1:
        rows.append(_cells("total", "", reports))
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(HEADERS)]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [list(HEADERS), *rows]
    )


def _cells(job: str, app: str, reports: Sequence[SyncReport]) -> list[str]:
    counts = [
        sum(r.rows_read for r in reports),
        sum(r.inserted for r in reports),
        sum(r.updated for r in reports),
        sum(r.unchanged for r in reports),
        sum(r.refused for r in reports),
        sum(r.deleted for r in reports),
        sum(r.calls for r in reports),
    ]
    return [job, app, *(f"{c:,}" for c in counts), f"{sum(r.seconds for r in reports):.1f}"]


def details(report: SyncReport) -> list[str]:
    """What the table cannot hold: the mode, links and re-sends, retries, conflicts, warnings,
    refusals."""
    lines = [
        f"{report.job} -> {destination(report.app)} "
        f"({report.mode}{', dry run' if report.dry_run else ''})"
    ]
    if report.linked:
        lines.append(f"  linked      {report.linked:>9,}  (found in the app by key)")
    if report.recreated:
        lines.append(f"  recreated   {report.recreated:>9,}  (deleted in the app, sent again)")
    if report.retries:
        lines.append(f"  retried     {report.retries:>9,}  API calls")
    if report.conflicts:
        lines.append(f"  conflicts   {len(report.conflicts):>9,}  (records edited in Kintone)")
    lines += [f"  warning: {w}" for w in report.warnings]
    done = {"overwrite": "overwritten", "skip": "skipped", "stop": "stopped the run"}
    for c in report.conflicts[:REFUSALS_SHOWN]:
        action = done.get(str(c.resolution), str(c.resolution))
        if report.dry_run:
            action = f"would be {action}" if action != "stopped the run" else "would stop the run"
        lines.append(one_line(f"  conflict row {c.key}: {c.description} ({action})"))
    if len(report.conflicts) > REFUSALS_SHOWN:
        lines.append(
            f"  ... and {len(report.conflicts) - REFUSALS_SHOWN} more conflicts (--output json)"
        )
    for r in report.refusals[:REFUSALS_SHOWN]:
        where = f" field {r.field}" if r.field else ""
        ref = f" (id {r.error_id})" if r.error_id else ""
        lines.append(one_line(f"  refused row {r.key}{where}: {r.message} [{r.code}]{ref}"))
    if len(report.refusals) > REFUSALS_SHOWN:
        lines.append(
            f"  ... and {len(report.refusals) - REFUSALS_SHOWN} more refusals (--output json)"
        )
    return lines


def summary(reports: Sequence[SyncReport]) -> str:
    """Each job's details, then the table; a plan says its counts are what a run would do."""
    lines = [line for r in reports for line in details(r)]
    if any(r.dry_run for r in reports):
        lines.append(
            "dry run: nothing written; inserted, updated and deleted are what a run would do"
        )
    return "\n".join([*lines, "", table(reports)])


def result_line(reports: Sequence[SyncReport]) -> str:
    """The one line `--quiet` prints: `customers: 1,000 read, 1,000 inserted, ... in 1.2 s`."""
    parts = []
    for r in reports:
        parts.append(
            f"{r.job}: {r.rows_read:,} read, {r.inserted:,} inserted, {r.updated:,} updated, "
            f"{r.unchanged:,} unchanged, {r.refused:,} refused, {r.deleted:,} deleted, "
            f"{r.calls:,} API calls, {r.seconds:.1f} s"
        )
    return "; ".join(parts)
