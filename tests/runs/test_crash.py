"""Runs killed at random moments and run again: Kintone ends equal to the source, once each."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from starlette.testclient import TestClient

from connector.config import load_project
from connector.emulator import Seed, create_app
from connector.errors import KintoneSyncError
from connector.runner import sync
from connector.state import StateStore

from .harness import (
    EXIT_OK,
    TOKEN,
    build_warehouse,
    clean_sync,
    cli_env,
    comparable,
    kill_then_finish,
    records_of,
    sample_mapping,
    sample_seed,
    served,
    write_project,
)

ROWS = 5000
# Each record written or read costs the emulator 0.5 ms, so a bulkRequest of 2,000 records is
# on its way for a second: a wide window for a kill to land in.
SLOW = {"per_record_ms": 0.5, "fault_rate": 0.02}


def assert_equal_to_source(
    got: list[dict[str, Any]], want: list[dict[str, Any]], rows: int
) -> None:
    """Every source row exactly once, with the values a clean run gives it."""
    expected = comparable(want)
    assert len(expected) == rows
    actual = comparable(got)  # raises on a duplicate customer_id
    assert len(got) == rows
    assert actual.keys() == expected.keys()
    wrong = [k for k in sorted(expected) if actual[k] != expected[k]]
    assert not wrong, f"{len(wrong)} records differ, first {wrong[0]}: {actual[wrong[0]]}"


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["upsert", "update", "insert"])
def test_killed_runs_then_a_full_run_leave_kintone_equal_to_the_source(
    tmp_path: Path, seed: Seed, mode: str
) -> None:
    build_warehouse(tmp_path / "warehouse.duckdb", ROWS)
    with served(seed, **SLOW) as port:
        mappings = {
            "preload": sample_mapping(),
            "customers": sample_mapping(mode=mode),  # insert keeps key: customer_id
        }
        project_file = write_project(tmp_path, port, mappings)
        if mode == "update":
            # Update changes existing records only: put them there first, then change the source.
            preload = sync(load_project(project_file), "preload", env=cli_env())
            assert preload.inserted == ROWS
            with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
                con.execute("UPDATE customers SET full_name = full_name || ' (renamed)'")
                con.execute("UPDATE orders SET status = 'cancelled' WHERE order_id LIKE '%-0'")
        runs = kill_then_finish(
            tmp_path, "customers", port, random.Random(f"crash-{mode}"), latest=0.8
        )
        got = records_of(port)
    # The reference: the source as it is now, upserted once into a fresh emulator.
    want = clean_sync(project_file, "preload", seed, tmp_path / "clean").records
    assert len(runs.kills) >= 2, runs
    # At least one kill caught records on their way, the moment whose answer is lost.
    assert any(runs.pending_at_kill), runs
    assert runs.exits[-1] == EXIT_OK, runs.outputs[-1]
    assert_equal_to_source(got, want, ROWS)
    if mode == "update":
        assert {r["name"]["value"].endswith(" (renamed)") for r in got} == {True}


def insert_project(tmp_path: Path, rows: int, **changes: Any) -> Path:
    build_warehouse(tmp_path / "warehouse.duckdb", rows)
    mapping = sample_mapping(mode="insert", **changes)
    return write_project(tmp_path, 0, {"customers": mapping})


def in_process(*, unique_key: bool = True) -> TestClient:
    """The emulator in-process. customer_id is unique in the sample app, so Kintone would refuse
    an insert sent twice (a refusal the tests count); without it, it would land twice."""
    seed = sample_seed(unique_key=unique_key)
    client = TestClient(
        create_app(seed),
        base_url="https://example.cybozu.com",
    )
    client.headers["X-Cybozu-API-Token"] = TOKEN
    return client


@pytest.mark.parametrize("drop", ["after", "before"])
def test_insert_whose_answer_is_lost_looks_up_what_landed(tmp_path: Path, drop: str) -> None:
    project = load_project(insert_project(tmp_path, 1000))
    with in_process() as kintone:
        # The first bulkRequest: after = the 1,000 records land and the answer is lost;
        # before = nothing lands. Either way the writer looks them up by customer_id.
        kintone.post("/_emulator/faults", json={"path": "bulkRequest.json", "drop": drop})
        report = sync(project, "customers", http=kintone)
        endpoints = kintone.get("/_emulator/stats").json()["endpoints"]
        records = kintone.get("/_emulator/records", params={"app": 1}).json()["records"]
    assert (report.inserted, report.refused) == (1000, 0)
    assert len(comparable(records)) == len(records) == 1000
    # after: nothing is sent again; before: everything is, once.
    assert endpoints["POST /k/v1/bulkRequest.json"] == (1 if drop == "after" else 2)
    assert endpoints["GET /k/v1/records.json"] == 10  # 1,000 keys looked up 100 at a time
    store = StateStore.open(None, project.root)
    try:
        assert store.rows.job_counts("customers") == {"synced": 1000}
    finally:
        store.close()


def test_insert_without_a_key_is_never_sent_blind_twice(tmp_path: Path) -> None:
    project = load_project(insert_project(tmp_path, 300, key=None))
    # Without a key nothing marks a record as a row's: let an insert sent twice land twice.
    with in_process(unique_key=False) as kintone:
        kintone.post("/_emulator/faults", json={"path": "bulkRequest.json", "drop": "after"})
        with pytest.raises(KintoneSyncError, match="connection lost"):
            sync(project, "customers", http=kintone)
        with pytest.raises(KintoneSyncError, match="cannot be told which landed"):
            sync(project, "customers", http=kintone)
        records = kintone.get("/_emulator/records", params={"app": 1}).json()["records"]
        endpoints = kintone.get("/_emulator/stats").json()["endpoints"]
    # The first write landed once; the second run refused to guess.
    assert endpoints["POST /k/v1/bulkRequest.json"] == 1
    assert len(comparable(records)) == len(records) == 300


def test_a_served_insert_with_dropped_answers_lands_each_row_once(
    tmp_path: Path, seed: Seed
) -> None:
    """Through a real socket: two bulkRequests lose their answer after landing."""
    build_warehouse(tmp_path / "warehouse.duckdb", 5000)
    with served(seed) as port:
        project_file = write_project(tmp_path, port, {"customers": sample_mapping(mode="insert")})
        for after in (0, 2):
            httpx.post(
                f"http://127.0.0.1:{port}/_emulator/faults",
                json={"path": "bulkRequest.json", "drop": "after", "after": after},
            ).raise_for_status()
        report = sync(load_project(project_file), "customers", env=cli_env())
        got = records_of(port)
    assert (report.inserted, report.refused, report.retries) == (5000, 0, 0)
    assert len(comparable(got)) == len(got) == 5000
