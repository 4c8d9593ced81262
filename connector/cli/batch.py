"""`schedule`, and `run` of several jobs: outcomes printed and alerted, one exit code."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from connector.cli import (
    EXIT_ERROR,
    EXIT_REFUSED,
    EXIT_USAGE,
    _errors,
    main,
    output_option,
    project_option,
)

if TYPE_CHECKING:
    from connector.config import ProjectConfig
    from connector.diff import OnConflict
    from connector.jobs import Outcome
    from connector.report import SyncReport

log = logging.getLogger("connector.jobs")
_WORST_FIRST = (EXIT_ERROR, EXIT_USAGE, EXIT_REFUSED, 0)
"""Several jobs exit with the worst of their codes, in this order (docs/scheduling.md)."""


def exit_code(outcome: Outcome) -> int:
    """The code one job's outcome would exit with alone."""
    from connector.cli import exit_code as code_of

    if outcome.status == "failed":
        return code_of(outcome.error) if isinstance(outcome.error, Exception) else EXIT_ERROR
    return EXIT_REFUSED if outcome.status == "refused" else 0


def worst(outcomes: Sequence[Outcome]) -> int:
    codes = {exit_code(o) for o in outcomes}
    return next((code for code in _WORST_FIRST if code in codes), 0)


def describe(outcome: Outcome) -> str:
    """One line for a log or a terminal: job, status, counts or the reason."""
    from connector.source import mask_password

    report = outcome.report
    text = f"{outcome.job}: {outcome.status}"
    if report is not None:
        text += (
            f" (run {report.run_id}): read {report.rows_read:,}, inserted {report.inserted:,}, "
            f"updated {report.updated:,}, unchanged {report.unchanged:,}, "
            f"refused {report.refused:,}, deleted {report.deleted:,}, "
            f"{report.calls:,} API calls, {report.seconds:.1f} s"
        )
    if outcome.error is not None:
        text += f": {mask_password(str(outcome.error))}"
    if outcome.reason is not None:
        text += f": {outcome.reason}"
    return text


def run_many(
    project: ProjectConfig,
    names: Sequence[str],
    run: Callable[[str], SyncReport],
    *,
    stop: threading.Event | None = None,
) -> list[Outcome]:
    """Run jobs in needs order, in parallel across domains; log and alert each outcome."""
    from connector.alerts import notify
    from connector.jobs import domains, order, run_jobs

    needs = {name: job.needs for name, job in project.jobs.items()}
    ordered = order(names, needs)
    domain_of = domains(project, ordered)

    def heard(outcome: Outcome) -> None:
        log.info("%s", describe(outcome))  # `run` prints it too; `schedule` shows INFO
        notify(project, outcome)

    return run_jobs(
        ordered,
        needs,
        domain_of,
        run,
        workers=len(set(domain_of.values())),
        stop=stop,
        on_outcome=heard,
    )


def runner(
    project: ProjectConfig,
    *,
    full_refresh: bool = False,
    force: bool = False,
    check_app: bool = False,
    on_conflict: OnConflict | None = None,
    stop: threading.Event | None = None,
    progress: Callable[[SyncReport], None] | None = None,
) -> Callable[[str], SyncReport]:
    """What one job's run is, for `run` and `schedule`."""
    from connector.runner import sync
    from connector.verify import verify

    def run(name: str) -> SyncReport:
        if check_app:
            verify(project, name, repair=True)
        return sync(
            project,
            name,
            full_refresh=full_refresh,
            force=force,
            on_conflict=on_conflict,
            stop=stop,
            progress=progress,
        )

    return run


def emit_many(outcomes: Sequence[Outcome], output: str, *, quiet: bool = False) -> None:
    """Print every outcome and exit with the worst code: the runs' details and table, then a
    line for each job that failed or did not run."""
    from connector.cli import display

    reports = [o.report for o in outcomes if o.report is not None]
    others = [describe(o) for o in outcomes if o.report is None]
    if output == "json":
        click.echo(json.dumps(as_json(outcomes), ensure_ascii=False, default=str))
    elif quiet:
        click.echo("; ".join(([display.result_line(reports)] if reports else []) + others))
    else:
        click.echo("\n".join(([display.summary(reports)] if reports else []) + others))
    code = worst(outcomes)
    if code:
        sys.exit(code)


def as_json(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    from connector.source import mask_password

    return {
        "exit_code": worst(outcomes),
        "jobs": [
            {
                "job": o.job,
                "status": o.status,
                "exit_code": exit_code(o),
                "report": o.report.as_dict() if o.report is not None else None,
                "error": mask_password(str(o.error)) if o.error is not None else None,
                "reason": o.reason,
            }
            for o in outcomes
        ],
    }


@contextmanager
def _logging_runs() -> Iterator[None]:
    """The scheduler's own lines and each run's start and end at INFO, whatever `-v` says:
    they are what a long-running scheduler's log is for."""
    loggers = [logging.getLogger(n) for n in ("connector.jobs", "connector.scheduler")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@contextmanager
def stopping_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and SIGINT set `stop`: the running jobs end after their batch, no other starts.

    Only the main thread may set signal handlers; elsewhere (a library caller's thread) this
    does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.warning("%s: stopping after the current batch", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@main.command()
@project_option
@output_option
@click.option("--once", is_flag=True, help="Run the jobs due now, then exit with their code.")
def schedule(project_file: Path, output: str, once: bool) -> None:
    """Run each job at the times its `schedule` names, until SIGTERM or Ctrl-C.

    A job whose time passed while the scheduler was down runs once on start. Set the times
    under `jobs:` in the project file (docs/scheduling.md). Each batch of runs is printed as
    it ends (--output json: one object per line); each run's start and end is logged."""
    from connector.config import load_project
    from connector.scheduler import Scheduler, entries, next_time
    from connector.state import StateStore

    stop = threading.Event()

    def batch(project: ProjectConfig, names: list[str]) -> list[Outcome]:
        outcomes = run_many(project, names, runner(project, stop=stop), stop=stop)
        if output == "json":
            click.echo(json.dumps(as_json(outcomes), ensure_ascii=False, default=str))
        else:
            click.echo("\n".join(describe(o) for o in outcomes))
        return outcomes

    with _errors():
        project = load_project(project_file)
        store = StateStore.open(project.state.url, project.root)

        def last_run(job: str) -> datetime | None:
            started = store.log.last_started(job)
            return datetime.fromtimestamp(started, UTC) if started is not None else None

        scheduler = Scheduler(
            entries(project),
            run_batch=lambda names: batch(project, names),
            last_run=last_run,
            clock=lambda: datetime.now(UTC),
            sleep=stop.wait,
            stop=stop,
        )
        try:
            with stopping_on_signals(stop), _logging_runs():
                outcomes = scheduler.loop(once=once)
        finally:
            store.close()
    if once and not outcomes and output == "text":
        scheduled = entries(project)
        if scheduled:
            upcoming = next_time(scheduled, datetime.now(UTC))
            click.echo(f"no job is due; the next scheduled time is {upcoming.isoformat()}")
        else:
            click.echo("no job has a schedule: give one under jobs: in the project file")
    if once and outcomes:
        sys.exit(worst(outcomes))
