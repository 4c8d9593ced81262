"""`state show`, `state reset` and `unlock`: what the state keeps of a job, and changing it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connector.cli import _errors, confirm, main, output_option, project_option, yes_option

if TYPE_CHECKING:
    from connector.config import ProjectConfig
    from connector.state import StateStore
    from connector.state.admin import Holder, JobState


@contextmanager
def opened(project: ProjectConfig) -> Iterator[StateStore]:
    """The project's state store, closed after the block."""
    from connector.state import StateStore

    store = StateStore.open(project.state.url, project.root)
    try:
        yield store
    finally:
        store.close()


def describe_holder(lock: Holder) -> str:
    return (
        f"held by host {lock.host}, process {lock.pid}"
        + (f" (run {lock.run_id})" if lock.run_id is not None else "")
        + f", last heard from {lock.age():.0f} s ago"
    )


def _describe(found: JobState) -> list[str]:
    lines = [found.job]
    if not found.targets:
        lines.append("  no rows kept yet (no run has written)")
    for t in found.targets:
        counts = ", ".join(f"{n:,} {status}" for status, n in sorted(t.rows.items())) or "no rows"
        mark = " (current)" if t.current else ""
        lines.append(f"  target {t.target}{mark}: {counts}")
        if t.cursor is not None:
            lines.append(f"    cursor: {t.cursor}")
    lines.append(f"  rejects kept: {found.rejects:,}")
    run = found.last_run
    if run is not None:
        lines.append(f"  last run: {run['id']} {run['status']}, started {run['started']}")
    lines.append(f"  lock: {describe_holder(found.lock) if found.lock else 'free'}")
    return lines


@main.group()
def state() -> None:
    """What runs keep of each job: show it, or forget it."""


@state.command("show")
@click.argument("job", required=False)
@project_option
@output_option
def state_show(job: str | None, project_file: Path, output: str) -> None:
    """Jobs, their targets, rows by status, the cursor, the last run and the lock holder."""
    from connector.config import load_project
    from connector.state.admin import job_state

    with _errors():
        project = load_project(project_file)
        jobs = [job] if job is not None else project.job_names()
        for name in jobs:
            project.require_job(name)
        with opened(project) as store:
            found = [job_state(store.log.db, name) for name in jobs]
    if output == "json":
        click.echo(json.dumps([f.as_dict() for f in found], ensure_ascii=False))
        return
    for f in found:
        click.echo("\n".join(_describe(f)))
    if not found:
        click.echo("no jobs: add a mapping file to the mappings directory")


@state.command("reset")
@click.argument("job")
@project_option
@output_option
@yes_option
def state_reset(job: str, project_file: Path, output: str, yes: bool) -> None:
    """Forget a job's rows, checkpoints, rejects and identity; the next run matches records
    by key again."""
    from connector.config import load_project
    from connector.errors import KintoneSyncError, StateError
    from connector.state.admin import job_state

    with _errors():
        project = load_project(project_file)
        project.require_job(job)
        try:
            mode = project.mapping(job).mode
        except KintoneSyncError:
            mode = None  # a broken mapping file is no reason to keep old state
        with opened(project) as store:
            found = job_state(store.log.db, job)
            if found.lock is not None and found.lock.fresh():
                raise StateError(
                    f"job {job} is running ({describe_holder(found.lock)}); reset it after the "
                    "run ends"
                )
            then = (
                "the next run inserts every row again: mode insert matches nothing"
                if mode == "insert"
                else "the next run matches records by key again and links the ones it finds"
            )
            plan = "\n".join(
                [f"state reset forgets everything kept of job {job}:"]
                + _describe(found)[1:-1]
                + ["  and the identity (app, key, primary key) the job last ran with", then]
            )
            confirm(plan, yes, f"state reset {job}")
            store.rows.reset(job)
    if output == "json":
        click.echo(json.dumps({"job": job, "reset": True, "before": found.as_dict()}))
    else:
        click.echo(f"forgot the state of job {job}; {then}")


@main.command()
@click.argument("job")
@project_option
@output_option
@yes_option
@click.option("--force", is_flag=True, help="Remove a lock renewed less than 90 s ago too.")
def unlock(job: str, project_file: Path, output: str, yes: bool, force: bool) -> None:
    """Remove a job's lock that a run left behind (its process is gone)."""
    from connector.config import load_project
    from connector.errors import ConfigError, StateError
    from connector.state.admin import FRESH_LOCK_SECONDS, holder
    from connector.state.admin import unlock as remove

    with _errors():
        project = load_project(project_file)
        project.require_job(job)
        with opened(project) as store:
            lock = holder(store.log.db, job)
            if lock is None:
                if output == "json":
                    click.echo(json.dumps({"job": job, "unlocked": False, "lock": None}))
                else:
                    click.echo(f"job {job} is not locked")
                return
            if lock.fresh() and not force:
                raise ConfigError(
                    f"job {job}'s lock is {describe_holder(lock)}, less than "
                    f"{FRESH_LOCK_SECONDS:.0f} s: that run may be alive. Check that process; "
                    "pass --force to remove the lock anyway"
                )
            confirm(f"job {job}'s lock is {describe_holder(lock)}", yes, f"unlock {job}")
            if not remove(store.log.db, lock):
                raise StateError(
                    f"job {job}'s lock changed while you looked (renewed or taken by a new "
                    "run); run unlock again to see who holds it"
                )
    if output == "json":
        click.echo(json.dumps({"job": job, "unlocked": True, "lock": lock.as_dict()}))
    else:
        click.echo(f"removed job {job}'s lock; the next run can start")
