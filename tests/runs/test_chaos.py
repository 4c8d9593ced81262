"""20,000 rows with subtables through 10% transient faults and three kills: Kintone equals the
source exactly, with no duplicates."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.emulator import Seed

from .chaos import run_chaos
from .harness import EXIT_OK, comparable


@pytest.mark.slow
def test_chaos_sync_ends_equal_to_the_source(tmp_path: Path, seed: Seed) -> None:
    chaos = run_chaos(tmp_path, seed, rows=20_000, fault_rate=0.1, kills=3)
    print("\n" + chaos.figures())  # noqa: T201 - the figures docs/benchmarks.md quotes (-s)
    runs = chaos.runs
    assert len(runs.kills) == 3, runs
    assert any(runs.pending_at_kill), runs  # a kill caught records on their way
    assert runs.exits[-1] == EXIT_OK, runs.outputs[-1]
    # The faults were there, and the runs went through them.
    assert chaos.errors > 0
    assert chaos.requests > chaos.clean_requests
    want = comparable(chaos.want)
    got = comparable(chaos.got)  # raises on a duplicate customer_id
    assert len(want) == 20_000
    assert len(chaos.got) == len(got) == 20_000
    assert got.keys() == want.keys()
    wrong = [k for k in sorted(want) if got[k] != want[k]]
    assert not wrong, f"{len(wrong)} records differ, first {wrong[0]}: {got[wrong[0]]}"
    # Orders came through: the sample gives three in four customers 1 to 3 orders.
    assert sum(len(r["orders"]) for r in got.values()) == 30_000
