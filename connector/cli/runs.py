"""`run`, `plan`, `check` and `demo`: sync jobs and say what they did."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import click

from connector.cli import (
    EXIT_DIFFERS,
    EXIT_REFUSED,
    EXIT_USAGE,
    _errors,
    _root_option,
    display,
    main,
    output_option,
    project_option,
)
from connector.cli.batch import emit_many, run_many, runner, stopping_on_signals
from connector.report import destination

if TYPE_CHECKING:
    from connector.report import SyncReport


def _summary(report: SyncReport) -> str:
    return display.summary([report])


def _emit(report: SyncReport, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, default=str))
    elif _root_option("quiet"):
        click.echo(display.result_line([report]))
    else:
        click.echo(_summary(report))
    if report.refused:
        sys.exit(EXIT_REFUSED)


@contextmanager
def _progress() -> Iterator[display.Progress | None]:
    """The display a run shows on stderr while it works, as the root options ask."""
    with display.progress_for(
        sys.stderr,
        quiet=bool(_root_option("quiet")),
        log_format=str(_root_option("log_format") or "text"),
    ) as shown:
        yield shown


@main.command()
@click.argument("jobs", nargs=-1)
@click.option("--all", "every_job", is_flag=True, help="Run every job of the project.")
@project_option
@output_option
@click.option("--full-refresh", is_flag=True, help="Send every row again, changed or not.")
@click.option("--force", is_flag=True, help="Delete past the mapping's max_delete_share.")
@click.option(
    "--verify",
    "check_app",
    is_flag=True,
    help="First read the app and send again the rows whose records were deleted or edited there.",
)
@click.option(
    "--on-conflict",
    type=click.Choice(["overwrite", "skip", "fail"]),
    default=None,
    help="Records edited in Kintone since the last write: overwrite, skip or fail, for this "
    "run (default: the mapping's on_conflict).",
)
def run(
    jobs: tuple[str, ...],
    every_job: bool,
    project_file: Path,
    output: str,
    full_refresh: bool,
    force: bool,
    check_app: bool,
    on_conflict: Literal["overwrite", "skip", "fail"] | None,
) -> None:
    """Sync jobs (mapping files in mappings/) and print what they did.

    Several jobs, or --all, run in the order their `needs` ask, in parallel across Kintone
    domains; a job whose need failed is skipped, and the exit code is the worst of the runs.
    SIGTERM or Ctrl-C stops each run after the batch it is writing."""
    from connector.config import load_project

    if bool(jobs) == every_job:
        raise click.UsageError("name the jobs to run, or give --all (not both)")
    stop = threading.Event()
    with _errors(), stopping_on_signals(stop):
        project = load_project(project_file)
        names = project.job_names() if every_job else list(jobs)
        for name in names:
            project.require_job(name)  # a typo stops the command before any job runs
        with _progress() as progress:
            run_one = runner(
                project,
                full_refresh=full_refresh,
                force=force,
                check_app=check_app,
                on_conflict=on_conflict,
                stop=stop,
                progress=progress,
            )
            outcomes = run_many(project, names, run_one, stop=stop)
        if len(names) == 1 and not every_job:
            (outcome,) = outcomes
            if outcome.error is not None:
                raise outcome.error
    if len(names) == 1 and not every_job and outcome.report is not None:
        _emit(outcome.report, output)
    else:
        emit_many(outcomes, output, quiet=bool(_root_option("quiet")))


@main.command("verify")
@click.argument("job")
@project_option
@output_option
@click.option(
    "--repair",
    is_flag=True,
    help="Send again exactly the rows whose records are missing or edited.",
)
def verify_command(job: str, project_file: Path, output: str, repair: bool) -> None:
    """Compare the app with the source and the state: missing records, records no row maps
    to, and values edited in Kintone. Exit 4 when something differs and was not repaired."""
    from connector.config import load_project
    from connector.runner import sync
    from connector.verify import describe, verify

    with _errors():
        project = load_project(project_file)
        found = verify(project, job, repair=repair)
        report = sync(project, job) if repair and found.marked else None
    if output == "json":
        data = found.as_dict()
        data["repair_run"] = report.as_dict() if report is not None else None
        click.echo(json.dumps(data, ensure_ascii=False, default=str))
    else:
        click.echo(describe(found))
        if report is not None:
            click.echo(_summary(report))
    if report is not None and report.refused:
        sys.exit(EXIT_REFUSED)
    if not found.clean and report is None:
        sys.exit(EXIT_DIFFERS)


@main.command()
@click.argument("job")
@project_option
@output_option
def plan(job: str, project_file: Path, output: str) -> None:
    """Show what a run would insert, update and refuse; writes nothing."""
    from connector.config import load_project
    from connector.runner import sync

    with _errors(), _progress() as progress:
        report = sync(load_project(project_file), job, dry_run=True, progress=progress)
    _emit(report, output)


@main.command()
@click.argument("job")
@project_option
@click.option(
    "--rows",
    "sample",
    default=1000,
    show_default=True,
    type=click.IntRange(min=0),
    help="Source rows to map as a run would, to show their refusals now.",
)
@click.option("--all", "every_row", is_flag=True, help="Map every source row.")
@output_option
def check(job: str, project_file: Path, sample: int, every_row: bool, output: str) -> None:
    """Test connection, rights, mapping and source, changing nothing; every problem at once."""
    from dataclasses import asdict

    from connector.config import load_project
    from connector.job import check as run_check

    with _errors():
        result = run_check(load_project(project_file), job, rows=None if every_row else sample)
    code = EXIT_USAGE if result.problems else EXIT_REFUSED if result.refusals else 0
    if output == "json":
        data = {**asdict(result), "exit_code": code}
        click.echo(json.dumps(data, ensure_ascii=False, default=str))
        sys.exit(code)
    found = {True: "found its record", False: "no record has it yet", None: "not tried"}
    click.echo(f"{job}: {destination(result.app)} answers")
    click.echo(f"  records read: {result.records_read}")
    click.echo(f"  first source row's key: {found[result.key_found]}")
    click.echo(f"  source rows: {result.source_rows:,}")
    if result.rights is not None:
        from connector.rights import LABELS

        need = result.rights.needed
        click.echo(
            "  rights needed: " + "; ".join(f"{LABELS[r]} ({why})" for r, why in need.items())
        )
        held = [LABELS[r] for r in LABELS if r in result.rights.held and result.rights.held[r].held]
        click.echo("  rights held: " + (", ".join(held) or "none"))
    for warning in result.warnings:
        click.echo(f"  warning: {warning}")
    refused = len({r.key for r in result.refusals})
    click.echo(f"  rows mapped: {result.rows_mapped:,}, of which a run would refuse {refused:,}")
    for r in result.refusals[:20]:
        where = f" field {r.field}" if r.field else ""
        click.echo(f"    refused row {r.key}{where}: {r.message} [{r.code}]")
    if len(result.refusals) > 20:
        click.echo(f"    ... and {len(result.refusals) - 20} more refusals")
    if result.problems:
        click.echo(f"  {len(result.problems)} problem(s):")
        for problem in result.problems:
            click.echo(f"  - {problem}")
        sys.exit(EXIT_USAGE)
    if result.refusals:
        click.echo("  no configuration problems; the rows above would be refused")
        sys.exit(EXIT_REFUSED)
    click.echo("  no problems: ready to run")


@main.command()
@click.option(
    "--dir",
    "directory",
    default="kintone-sync-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Where the demo project stays: files, warehouse, state, the emulator's records.",
)
@click.option(
    "--port", default=0, type=int, help="Emulator port; the last demo's, or a free one, when 0."
)
@click.option(
    "--serve", is_flag=True, help="Keep the emulator running after the runs, until Ctrl-C."
)
def demo(directory: Path, port: int, serve: bool) -> None:
    """Write a sample project into a directory, start a local emulator, run every job; say
    what to try next. Running it again on the same directory carries on from there."""
    from connector.demo import open_demo

    with _errors(), ExitStack() as serving:
        with _progress() as progress:  # gone before the summary; the emulator stays up
            found, bound, reports = serving.enter_context(
                open_demo(directory, port=port, echo=click.echo, progress=progress)
            )
        click.echo(display.summary(reports))
        if serve:
            _next(found.next_commands(bound, served=True))
            click.echo(f"the emulator answers on http://localhost:{bound} until Ctrl-C")
            _wait_for_interrupt()
    if not serve:
        _next(found.next_commands(bound, served=False))
    if any(r.refused for r in reports):
        sys.exit(EXIT_REFUSED)


def _next(commands: list[str]) -> None:
    click.echo("\nnext, try:")
    for command in commands:
        click.echo(f"  {command}")


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C (SIGINT); the emulator's thread serves meanwhile."""
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("stopping the emulator")
