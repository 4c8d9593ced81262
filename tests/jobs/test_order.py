"""Many jobs: cycles named, needs order, what starts and what is skipped, one run per domain."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

import pytest

from connector.cli.batch import worst
from connector.errors import ConfigError, KintoneError
from connector.jobs import Outcome, Status, find_cycle, order, run_jobs, step
from connector.report import SyncReport

NEEDS = {"orders": ["customers"], "invoices": ["orders", "customers"], "customers": []}


@pytest.mark.parametrize(
    ("needs", "cycle"),
    [
        ({}, None),
        (NEEDS, None),
        ({"a": ["b"], "b": ["a"]}, ["a", "b", "a"]),
        ({"a": ["b"], "b": ["c"], "c": ["b"]}, ["b", "c", "b"]),
        ({"a": ["a"]}, ["a", "a"]),
        ({"x": ["y"], "y": [], "z": ["x", "y"]}, None),
    ],
)
def test_find_cycle_names_the_loop(needs: Mapping[str, Sequence[str]], cycle: object) -> None:
    assert find_cycle(needs) == cycle


@pytest.mark.parametrize(
    ("selected", "expected"),
    [
        (["invoices", "orders", "customers"], ["customers", "orders", "invoices"]),
        (["orders", "customers"], ["customers", "orders"]),
        (["invoices", "customers"], ["customers", "invoices"]),
        # a need that is not selected is not added
        (["orders"], ["orders"]),
        (["invoices", "orders"], ["orders", "invoices"]),
        # independent jobs keep the order given; repeats collapse
        (["b", "a", "b"], ["b", "a"]),
    ],
)
def test_order_puts_needs_first_among_the_selected(
    selected: list[str], expected: list[str]
) -> None:
    assert order(selected, NEEDS) == expected


ORDERED = ["customers", "orders", "invoices", "staff"]
ONE_DOMAIN = {"customers": "d1", "orders": "d1", "invoices": "d1", "staff": "d2"}
TWO_DOMAINS = {"customers": "d1", "orders": "d2", "invoices": "d3", "staff": "d1"}


@pytest.mark.parametrize(
    ("domains", "finished", "running", "start", "skip"),
    [
        # at first: one job per domain, needs first
        (ONE_DOMAIN, {}, [], ("customers", "staff"), ()),
        (TWO_DOMAINS, {}, [], ("customers",), ()),
        # a running job keeps its domain busy
        (ONE_DOMAIN, {}, ["customers"], ("staff",), ()),
        (TWO_DOMAINS, {}, ["customers"], (), ()),
        # a need that ended OK, or with refused rows, lets its dependents go
        (ONE_DOMAIN, {"customers": "succeeded"}, ["staff"], ("orders",), ()),
        (TWO_DOMAINS, {"customers": "refused"}, [], ("orders", "staff"), ()),
        (
            TWO_DOMAINS,
            {"customers": "succeeded", "orders": "succeeded"},
            [],
            ("invoices", "staff"),
            (),
        ),
        # a failed need skips its dependents, and theirs
        (
            ONE_DOMAIN,
            {"customers": "failed"},
            [],
            ("staff",),
            (
                ("orders", "needs customers, which failed"),
                ("invoices", "needs orders, which was skipped"),
            ),
        ),
        (
            TWO_DOMAINS,
            {"customers": "succeeded", "orders": "stopped"},
            ["staff"],
            (),
            (("invoices", "needs orders, which was stopped"),),
        ),
        # all done: nothing to do
        (ONE_DOMAIN, dict.fromkeys(ORDERED, "succeeded"), [], (), ()),
    ],
)
def test_step_table(
    domains: Mapping[str, str],
    finished: Mapping[str, Status],
    running: list[str],
    start: tuple[str, ...],
    skip: tuple[tuple[str, str], ...],
) -> None:
    now = step(ORDERED, NEEDS, domains, finished, running)
    assert (now.start, now.skip) == (start, skip)


class Recorder:
    """A run that records what ran, when, and beside what; some jobs fail or refuse."""

    def __init__(self, domains: Mapping[str, str], fail: set[str] = frozenset()) -> None:
        self.domains, self.fail = domains, fail
        self.lock = threading.Lock()
        self.started: list[str] = []
        self.running: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.gates: dict[str, threading.Event] = {}

    def __call__(self, name: str) -> SyncReport:
        domain = self.domains[name]
        with self.lock:
            self.started.append(name)
            self.running[domain] = self.running.get(domain, 0) + 1
            self.most[domain] = max(self.most.get(domain, 0), self.running[domain])
        try:
            gate = self.gates.get(name)
            if gate is not None:
                # another job must be running at the same time for this to open
                assert gate.wait(10), f"{name} waited alone"
            if name in self.fail:
                raise RuntimeError(f"{name} broke")
            return SyncReport(name, 1, "upsert")
        finally:
            with self.lock:
                self.running[domain] -= 1


def test_jobs_on_one_domain_take_turns_and_a_failure_skips_its_dependents() -> None:
    domains = {**ONE_DOMAIN, "other": "d2"}
    run = Recorder(domains, fail={"customers"})
    heard: list[str] = []
    outcomes = run_jobs(
        ["customers", "orders", "invoices", "staff", "other"],
        NEEDS,
        domains,
        run,
        workers=4,
        on_outcome=lambda o: heard.append(o.job),
    )
    assert [(o.job, o.status) for o in outcomes] == [
        ("customers", "failed"),
        ("orders", "skipped"),
        ("invoices", "skipped"),
        ("staff", "succeeded"),
        ("other", "succeeded"),
    ]
    assert str(outcomes[0].error) == "customers broke"
    assert outcomes[2].reason == "needs orders, which was skipped"
    assert sorted(run.started) == ["customers", "other", "staff"]
    assert run.most == {"d1": 1, "d2": 1}
    assert sorted(heard) == sorted(domains)


def test_jobs_on_different_domains_run_at_the_same_time() -> None:
    domains = {"a": "d1", "b": "d2"}
    run = Recorder(domains)
    together = threading.Event()
    run.gates["a"] = together
    original = run.__call__

    def both(name: str) -> SyncReport:
        if name == "b":
            together.set()  # a is waiting for this: only a parallel run lets it finish
        return original(name)

    outcomes = run_jobs(["a", "b"], {}, domains, both, workers=2)
    assert [o.status for o in outcomes] == ["succeeded", "succeeded"]


def test_needs_wait_for_each_other_across_domains() -> None:
    domains = {"customers": "d1", "orders": "d2", "invoices": "d3"}
    run = Recorder(domains)
    outcomes = run_jobs(["customers", "orders", "invoices"], NEEDS, domains, run, workers=3)
    assert run.started == ["customers", "orders", "invoices"]
    assert [o.status for o in outcomes] == ["succeeded"] * 3


def test_a_stop_starts_nothing_more() -> None:
    stop = threading.Event()
    domains = dict.fromkeys(["a", "b", "c"], "d1")
    run = Recorder(domains)

    def stopping(name: str) -> SyncReport:
        stop.set()  # SIGTERM arrives during the first run
        return run(name)

    outcomes = run_jobs(["a", "b", "c"], {}, domains, stopping, workers=1, stop=stop)
    assert [(o.job, o.status) for o in outcomes] == [
        ("a", "succeeded"),
        ("b", "skipped"),
        ("c", "skipped"),
    ]
    assert outcomes[1].reason == "asked to stop before it started"


def test_needs_that_go_round_skip_instead_of_hanging() -> None:
    domains = {"a": "d1", "b": "d2"}
    outcomes = run_jobs(["a", "b"], {"a": ["b"], "b": ["a"]}, domains, Recorder(domains), workers=2)
    assert [o.status for o in outcomes] == ["skipped", "skipped"]


FAILED_RUN = Outcome("a", "failed", error=KintoneError("down", status=503))
FAILED_CONFIG = Outcome("b", "failed", error=ConfigError("no such field"))
REFUSED = Outcome("c", "refused")
DONE = Outcome("d", "succeeded")
SKIPPED = Outcome("e", "skipped", reason="needs a, which failed")
STOPPED = Outcome("f", "stopped")


@pytest.mark.parametrize(
    ("outcomes", "code"),
    [
        ([], 0),
        ([DONE, SKIPPED, STOPPED], 0),
        ([DONE, REFUSED], 3),
        ([REFUSED, FAILED_CONFIG], 2),
        ([FAILED_CONFIG, FAILED_RUN, REFUSED], 1),
        ([FAILED_RUN, DONE], 1),
        ([Outcome("g", "failed", error=KeyboardInterrupt())], 1),
    ],
)
def test_several_jobs_exit_with_the_worst_code_1_over_2_over_3(
    outcomes: list[Outcome], code: int
) -> None:
    assert worst(outcomes) == code
