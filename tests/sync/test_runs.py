"""Runs against the state: change detection, cursors, rejects, deletes, locks, history, retries."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import yaml
from click.testing import CliRunner
from starlette.testclient import TestClient

from connector.cli import main
from connector.config import ProjectConfig, load_project
from connector.emulator import FaultRule, Seed
from connector.errors import TransientKintoneError
from connector.kintone.client import KintoneClient, RetryPolicy
from connector.runner import DeleteCapError, sync
from connector.state import LockedError, StateStore, locks

from .conftest import emulator_client, stats, stored, write_mapping

NO_WAIT = RetryPolicy(attempts=4, backoff_seconds=0, max_backoff_seconds=0)


def bulk_calls(client: TestClient) -> int:
    return int(stats(client)["endpoints"].get("POST /k/v1/bulkRequest.json", 0))


def sql(project_dir: Path, *statements: str) -> None:
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        for statement in statements:
            con.execute(statement)


def with_cursor(project_dir: Path, *statements: str, **mapping: Any) -> None:
    """Every customer gains `changed_at` (the same time), the statements run, and the
    mapping reads by that cursor column, with `mapping`'s keys over the repository's."""
    sql(
        project_dir,
        "ALTER TABLE customers ADD COLUMN changed_at TIMESTAMP",
        "UPDATE customers SET changed_at = TIMESTAMP '2024-01-01 00:00:00'",
        *statements,
    )
    spec = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    spec["source"]["cursor"] = "changed_at"
    write_mapping(project_dir, "customers", {**spec, **mapping})


def faults(client: TestClient) -> Any:
    return client.app.state.emulator.api.faults  # type: ignore[attr-defined]


# --- change detection -------------------------------------------------------------------------


def test_an_unchanged_rerun_makes_no_write_calls(
    project: ProjectConfig, kintone: TestClient
) -> None:
    first = sync(project, "customers", http=kintone)
    assert (first.inserted, first.unchanged) == (1000, 0)
    writes = bulk_calls(kintone)
    second = sync(project, "customers", http=kintone)
    assert (second.inserted, second.updated, second.unchanged) == (0, 0, 1000)
    assert bulk_calls(kintone) == writes
    assert "POST bulkRequest" not in second.api_calls


def test_only_changed_rows_are_sent(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    sql(
        project_dir,
        "UPDATE customers SET segment = 'smb' WHERE customer_id = 'C-0003'",
        "UPDATE orders SET amount = 1 WHERE order_id = 'O-0007-1'",
    )
    report = sync(project, "customers", http=kintone)
    assert (report.updated, report.unchanged) == (2, 998)
    full = sync(project, "customers", http=kintone, full_refresh=True)
    assert (full.updated, full.unchanged) == (1000, 0)


def test_changes_spread_over_many_batches_share_one_bulk_request(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sql(
        project_dir,
        "INSERT INTO customers (customer_id, full_name) "
        "SELECT printf('D-%05d', i), 'Extra' FROM range(1, 9001) AS t(i)",
    )
    sync(project, "customers", http=kintone)
    # One row in 1,000 changes: 10 rows across all five 2,000-row batches the run reads.
    sql(project_dir, "UPDATE customers SET full_name = 'Changed' WHERE customer_id LIKE '%500'")
    before = bulk_calls(kintone)
    report = sync(project, "customers", http=kintone)
    assert (report.updated, report.unchanged) == (10, 9990)
    assert bulk_calls(kintone) - before == 1


def test_a_changed_mapping_resends_the_rows_it_changes(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    mapping = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    mapping["fields"]["notes"] = {"template": "{notes} (from the warehouse)"}
    write_mapping(project_dir, "customers", mapping)
    report = sync(project, "customers", http=kintone)
    assert report.updated == 1000
    assert any("mapping changed" in w for w in report.warnings)
    notes = {r["notes"]["value"] for r in stored(kintone)}
    assert notes == {" (from the warehouse)", "Account opened online. (from the warehouse)"}


def test_a_cursor_column_reads_only_newer_rows(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    with_cursor(project_dir)
    assert sync(project, "customers", http=kintone).rows_read == 1000
    assert sync(project, "customers", http=kintone).rows_read == 0
    sql(
        project_dir,
        "UPDATE customers SET full_name = 'Late', changed_at = TIMESTAMP '2024-02-01 00:00:00' "
        "WHERE customer_id = 'C-0009'",
    )
    report = sync(project, "customers", http=kintone)
    assert (report.rows_read, report.updated) == (1, 1)
    assert sync(project, "customers", http=kintone, full_refresh=True).rows_read == 1000


def test_refused_rows_are_read_again_past_the_cursor(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    with_cursor(project_dir, "UPDATE customers SET credit_limit = -5 WHERE customer_id = 'C-0500'")
    assert sync(project, "customers", http=kintone).refused == 1
    # Fixed without moving the cursor column: the row is read again by its key.
    sql(project_dir, "UPDATE customers SET credit_limit = 5 WHERE customer_id = 'C-0500'")
    report = sync(project, "customers", http=kintone)
    assert (report.rows_read, report.inserted, report.refused) == (1, 1, 0)
    assert sync(project, "customers", http=kintone).rows_read == 0


# --- rejects ----------------------------------------------------------------------------------


def test_rejects_are_kept_shown_and_tried_again(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sql(project_dir, "UPDATE customers SET credit_limit = -5 WHERE customer_id = 'C-0500'")
    report = sync(project, "customers", http=kintone)
    assert report.refused == 1
    store = StateStore.open(None, project_dir)
    try:
        (reject,) = store.log.rejects("customers")
    finally:
        store.close()
    assert (reject.pk, reject.field, reject.code) == (["C-0500"], "credit_limit", "VALUE")
    assert "under the field's minimum of 0" in reject.message

    os.chdir(project_dir)
    as_csv = CliRunner().invoke(main, ["rejects", "customers", "--output", "csv"])
    assert as_csv.output.splitlines()[0] == "key,field,code,message,error_id,run,at"
    assert as_csv.output.splitlines()[1].startswith("C-0500,credit_limit,VALUE,")
    as_json = json.loads(
        CliRunner().invoke(main, ["rejects", "customers", "--output", "json"]).output
    )
    assert "under the field's minimum of 0" in as_json[0]["message"]

    sql(project_dir, "UPDATE customers SET credit_limit = 5 WHERE customer_id = 'C-0500'")
    again = sync(project, "customers", http=kintone)
    assert (again.inserted, again.refused, again.unchanged) == (1, 0, 999)
    store = StateStore.open(None, project_dir)
    try:
        assert store.log.rejects("customers") == []
    finally:
        store.close()


# --- deletes ----------------------------------------------------------------------------------


def deleting(project_dir: Path, share: float = 0.1) -> None:
    mapping = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    mapping["on_delete"] = "delete"
    mapping["max_delete_share"] = share
    write_mapping(project_dir, "customers", mapping)


def test_rows_that_leave_the_source_delete_only_this_jobs_records(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    deleting(project_dir)
    sync(project, "customers", http=kintone)
    by_hand = {"customer_id": {"value": "HAND-1"}, "name": {"value": "Entered by hand"}}
    assert kintone.post("/k/v1/record.json", json={"app": 1, "record": by_hand}).is_success
    sql(project_dir, "DELETE FROM customers WHERE customer_id IN ('C-0001', 'C-0002')")
    report = sync(project, "customers", http=kintone)
    assert report.deleted == 2
    left = {r["customer_id"]["value"] for r in stored(kintone)}
    assert "HAND-1" in left
    assert not left & {"C-0001", "C-0002"}
    assert len(left) == 999
    assert sync(project, "customers", http=kintone).deleted == 0


def test_the_delete_cap_refuses_without_force(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    deleting(project_dir, share=0.1)
    sync(project, "customers", http=kintone)
    sql(project_dir, "DELETE FROM customers WHERE customer_id <= 'C-0200'")
    with pytest.raises(DeleteCapError, match="would delete 200 of its 1000 records"):
        sync(project, "customers", http=kintone)
    assert len(stored(kintone)) == 1000
    report = sync(project, "customers", http=kintone, force=True)
    assert report.deleted == 200
    assert len(stored(kintone)) == 800


# --- locks and history ------------------------------------------------------------------------


def test_two_runs_of_one_job_never_overlap(project: ProjectConfig, kintone: TestClient) -> None:
    store = StateStore.open(None, project.root)
    try:
        with store.log.lock("customers"), pytest.raises(LockedError, match="running elsewhere"):
            sync(project, "customers", http=kintone, state=store)
        assert sync(project, "customers", http=kintone, state=store).inserted == 1000
    finally:
        store.close()


def test_a_lock_left_by_a_dead_process_is_taken_over(
    project: ProjectConfig, kintone: TestClient
) -> None:
    import socket
    import subprocess
    import sys
    import time

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    store = StateStore.open(None, project.root)
    try:
        with store.engine.begin() as conn:
            conn.execute(
                locks.insert().values(
                    job="customers",
                    host=socket.gethostname(),
                    pid=int(dead.stdout),
                    heartbeat=time.time(),
                )
            )
        assert sync(project, "customers", http=kintone, state=store).inserted == 1000
    finally:
        store.close()


def test_run_history_and_api_usage(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    sql(project_dir, "UPDATE customers SET credit_limit = -5 WHERE customer_id = 'C-0500'")
    sync(project, "customers", http=kintone)
    kintone.headers["X-Cybozu-API-Token"] = "wrong"
    with pytest.raises(Exception, match="GAIA_IA02"):
        sync(project, "customers", http=kintone)
    os.chdir(project_dir)
    listed = CliRunner().invoke(main, ["runs", "customers", "--output", "json"])
    history = json.loads(listed.output)
    assert [r["status"] for r in history] == ["refused", "succeeded"]
    assert history[0]["refused"] == 1
    assert history[1]["inserted"] == 1000
    assert history[1]["api_calls"] == 3
    store = StateStore.open(None, project_dir)
    try:
        assert store.log.usage_today("1") == 3 + history[0]["api_calls"]
    finally:
        store.close()
    text = CliRunner().invoke(main, ["runs"]).output
    assert "succeeded" in text
    assert "refused" in text


def test_a_run_warns_before_passing_the_daily_budget(
    project: ProjectConfig, kintone: TestClient
) -> None:
    tight = project.model_copy(
        update={"limits": project.limits.model_copy(update={"daily_budget": 7})}
    )
    assert sync(tight, "customers", http=kintone).warnings == []
    warned = sync(tight, "customers", http=kintone, full_refresh=True).warnings
    assert warned == ["app 1 has used 3 of its 7 API calls today; this run may need up to 5 more"]


# --- retries ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rule",
    [
        FaultRule(path="bulkRequest.json", status=503, times=2),
        FaultRule(path="bulkRequest.json", code="GAIA_TO04", times=2),
        FaultRule(path="bulkRequest.json", code="GAIA_DA02", times=2),
        FaultRule(path="bulkRequest.json", code="GAIA_RE18", times=2),
        FaultRule(path="bulkRequest.json", drop="before", times=2),
        FaultRule(path="bulkRequest.json", drop="after", times=2),
    ],
    ids=["503", "429", "lock", "record-lock", "drop-before", "drop-after"],
)
def test_transient_errors_are_retried(
    project: ProjectConfig, kintone: TestClient, rule: FaultRule
) -> None:
    faults(kintone).add(rule)
    report = sync(project, "customers", http=kintone, retry=NO_WAIT)
    assert report.retries == 2
    assert report.inserted + report.updated == 1000
    assert len(stored(kintone)) == 1000


def test_retries_give_up_after_the_last_attempt(
    project: ProjectConfig, kintone: TestClient
) -> None:
    faults(kintone).add(FaultRule(path="bulkRequest.json", code="GAIA_DA02", times=0))
    with pytest.raises(TransientKintoneError, match="GAIA_DA02"):
        sync(project, "customers", http=kintone, retry=NO_WAIT)
    assert stored(kintone) == []
    faults(kintone).clear()
    assert sync(project, "customers", http=kintone, retry=NO_WAIT).inserted == 1000


def test_an_insert_whose_answer_was_lost_is_looked_up_not_resent(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    mapping = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    mapping["mode"] = "insert"
    write_mapping(project_dir, "adds", mapping)
    faults(kintone).add(FaultRule(path="bulkRequest.json", drop="after"))
    report = sync(project, "adds", http=kintone, retry=NO_WAIT)
    assert report.inserted == 1000
    assert bulk_calls(kintone) == 1  # the lost answer was checked by key, not sent again
    codes = [r["customer_id"]["value"] for r in stored(kintone)]
    assert len(codes) == len(set(codes)) == 1000


def test_retry_after_is_honoured(sample_seed: Seed) -> None:
    slept: list[float] = []
    with emulator_client(sample_seed) as http:
        faults(http).add(FaultRule(path="app.json", code="GAIA_TO04", retry_after=7))
        retry = RetryPolicy(attempts=4, backoff_seconds=0, max_backoff_seconds=30)
        client = KintoneClient(http, retry=retry, sleep=slept.append)
        assert client.app_info(1)["appId"] == "1"
    assert slept == [7.0]


def test_requests_per_second_spaces_the_calls(sample_seed: Seed) -> None:
    slept: list[float] = []
    with emulator_client(sample_seed) as http:
        # A clock that stands still: the waits add up to 0.1 s, then 0.2 s.
        client = KintoneClient(
            http, sleep=slept.append, requests_per_second=10, clock=lambda: 100.0
        )
        for _ in range(3):
            client.app_info(1)
    assert slept == pytest.approx([0.1, 0.2])


def test_concurrency_stays_within_the_limit(
    project: ProjectConfig, sample_seed: Seed, project_dir: Path
) -> None:
    from connector.demo import serve_app
    from connector.emulator import create_app

    options = sample_seed.options.model_copy(
        update={"latency": sample_seed.options.latency.model_copy(update={"per_request_ms": 40})}
    )
    app = create_app(sample_seed, options=options)
    limited = project.model_copy(
        update={"limits": project.limits.model_copy(update={"concurrency": 3})}
    )
    with serve_app(app) as port:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"X-Cybozu-API-Token": "sample-token"},
        ) as http:
            report = sync(limited, "customers", http=http, use_bulk=False)
        seen = httpx.get(f"http://127.0.0.1:{port}/_emulator/stats").json()
    assert report.inserted == 1000
    assert 2 <= seen["max_running"] <= 3


def test_a_second_project_file_reads_the_same_state(project_dir: Path, kintone: TestClient) -> None:
    project = load_project(project_dir / "kintone-sync.yaml")
    sync(project, "customers", http=kintone)
    again = load_project(project_dir / "kintone-sync.yaml")
    assert sync(again, "customers", http=kintone).unchanged == 1000


def test_the_state_can_live_in_postgresql(project: ProjectConfig, kintone: TestClient) -> None:
    from tests.pg import fresh_database

    with fresh_database() as url:
        remote = project.model_copy(update={"state": project.state.model_copy(update={"url": url})})
        assert sync(remote, "customers", http=kintone).inserted == 1000
        again = sync(remote, "customers", http=kintone)
        assert again.unchanged == 1000
        store = StateStore.open(url, project.root)
        try:
            assert store.rows.job_counts("customers") == {"synced": 1000}
            assert [r["status"] for r in store.log.runs("customers")] == ["succeeded", "succeeded"]
        finally:
            store.close()
    assert not (project.root / ".kintone-sync" / "state.db").exists()


def test_a_run_that_stops_midway_keeps_what_it_did(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sql(
        project_dir,
        "INSERT INTO customers (customer_id, full_name) "
        "SELECT printf('D-%05d', i), 'Extra' FROM range(1, 8001) AS t(i)",
    )
    # The second batch of bulkRequests fails for good: the first batch's work is recorded.
    faults(kintone).add(FaultRule(path="bulkRequest.json", code="GAIA_DA02", after=4, times=0))
    with pytest.raises(TransientKintoneError):
        sync(project, "customers", http=kintone, retry=NO_WAIT)
    store = StateStore.open(None, project_dir)
    try:
        (failed,) = store.log.runs("customers")
        assert failed["status"] == "failed"
        assert failed["inserted"] == 8000
        assert failed["retries"] == 3
        assert "GAIA_DA02" in failed["errors"][0]
        assert store.rows.job_counts("customers") == {"synced": 8000, "pending": 1000}
    finally:
        store.close()
    faults(kintone).clear()
    again = sync(project, "customers", http=kintone, retry=NO_WAIT)
    assert (again.inserted, again.unchanged) == (1000, 8000)
