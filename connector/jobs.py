"""Many jobs in one go: needs order, skips after a failure, one run at a time per domain."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Literal

from connector.config import ProjectConfig
from connector.errors import ConfigError
from connector.report import SyncReport

log = logging.getLogger(__name__)

Status = Literal["succeeded", "refused", "failed", "skipped", "stopped"]
OK: frozenset[Status] = frozenset({"succeeded", "refused"})
"""A need that ended so lets the jobs that need it run: refused rows are the rows' problem."""


@dataclass(frozen=True)
class Outcome:
    """How one job of a batch ended; `error` is what stopped it, `reason` why it was skipped."""

    job: str
    status: Status
    report: SyncReport | None = None
    error: BaseException | None = None
    reason: str | None = None


@dataclass(frozen=True)
class Step:
    """What to do next: jobs to start now, and jobs to skip with the reason."""

    start: tuple[str, ...]
    skip: tuple[tuple[str, str], ...]


def find_cycle(needs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle among the needs as the path that closes it (`a -> b -> a`), or None."""
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        for need in needs.get(name, ()):
            found = visit(need, [*path, name])
            if found:
                return found
        done.add(name)
        return None

    for name in sorted(needs):
        found = visit(name, [])
        if found:
            return found
    return None


def order(selected: Sequence[str], needs: Mapping[str, Sequence[str]]) -> list[str]:
    """The selected jobs, each after the selected jobs it needs; otherwise as given.

    A need that is not selected is not added: `run orders` runs orders alone, on what the
    last run of its needs left in Kintone.
    """
    chosen = list(dict.fromkeys(selected))
    placed: list[str] = []

    def place(name: str, seen: tuple[str, ...]) -> None:
        if name in placed or name in seen:
            return  # a cycle is refused when the project file is read
        for need in needs.get(name, ()):
            if need in chosen:
                place(need, (*seen, name))
        placed.append(name)

    for name in chosen:
        place(name, ())
    return placed


def step(
    ordered: Sequence[str],
    needs: Mapping[str, Sequence[str]],
    domains: Mapping[str, str],
    finished: Mapping[str, Status],
    running: Sequence[str],
) -> Step:
    """The next jobs to start and to skip, given which have finished and which run.

    A job starts when every selected need finished OK and no job on its domain runs or starts
    (jobs on one domain share its concurrency budget, so they take turns); it is skipped when a
    need failed or was skipped. Earlier jobs in `ordered` go first.
    """
    busy = {domains[name] for name in running}
    start: list[str] = []
    skip: list[tuple[str, str]] = []
    gone: dict[str, Status] = dict(finished)
    for name in ordered:
        if name in gone or name in running:
            continue
        wanted = [n for n in needs.get(name, ()) if n in ordered]
        failed = [n for n in wanted if n in gone and gone[n] not in OK]
        if failed:
            skip.append((name, f"needs {failed[0]}, which {_said(gone[failed[0]])}"))
            gone[name] = "skipped"
            continue
        if all(n in gone for n in wanted) and domains[name] not in busy:
            start.append(name)
            busy.add(domains[name])
    return Step(tuple(start), tuple(skip))


def _said(status: Status) -> str:
    return {"failed": "failed", "skipped": "was skipped", "stopped": "was stopped"}.get(
        status, status
    )


def domains(project: ProjectConfig, names: Sequence[str]) -> dict[str, str]:
    """Each job's Kintone domain: the base URL of its mapping's connection, so connections
    sharing a URL share it. A job whose mapping does not load gets a domain of its own (its
    run fails at once, with the reason)."""
    out: dict[str, str] = {}
    for name in names:
        try:
            connection = project.connections[project.mapping(name).connection]
        except ConfigError:
            out[name] = f"?{name}"
            continue
        out[name] = connection.base_url.strip().rstrip("/").lower()
    return out


def status_of(report: SyncReport) -> Status:
    if report.stopped:
        return "stopped"
    return "refused" if report.refused else "succeeded"


def run_jobs(
    ordered: Sequence[str],
    needs: Mapping[str, Sequence[str]],
    domain_of: Mapping[str, str],
    run: Callable[[str], SyncReport],
    *,
    workers: int,
    stop: threading.Event | None = None,
    on_outcome: Callable[[Outcome], None] = lambda _: None,
) -> list[Outcome]:
    """Run the jobs as `step` says, up to `workers` at a time (on different domains); the
    outcomes in `ordered`'s order. `on_outcome` hears of each as it ends, in this thread.

    A job's error is kept in its outcome, never raised. Once `stop` is set no job starts; the
    running ones finish their current batch (the runner checks the same event).
    """
    finished: dict[str, Outcome] = {}
    running: dict[Future[SyncReport], str] = {}

    def end(outcome: Outcome) -> None:
        finished[outcome.job] = outcome
        on_outcome(outcome)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="job") as pool:
        while len(finished) < len(ordered):
            waiting = [n for n in ordered if n not in finished and n not in running.values()]
            if stop is not None and stop.is_set():
                for name in waiting:
                    end(Outcome(name, "skipped", reason="asked to stop before it started"))
            else:
                now = step(
                    ordered,
                    needs,
                    domain_of,
                    {n: o.status for n, o in finished.items()},
                    list(running.values()),
                )
                for name, reason in now.skip:
                    end(Outcome(name, "skipped", reason=reason))
                for name in now.start:
                    log.info("%s: started", name)
                    running[pool.submit(run, name)] = name
                if not running and not now.skip:
                    # Only needs that go round (refused when the project file is read) get here.
                    for name in waiting:
                        end(Outcome(name, "skipped", reason="its needs go round in a cycle"))
            if not running:
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                name = running.pop(future)
                error = future.exception()
                if error is None:
                    report = future.result()
                    end(Outcome(name, status_of(report), report=report))
                else:
                    end(Outcome(name, "failed", error=error))
    return [finished[name] for name in ordered]
