"""The state store under abuse: read-only, damaged or newer stores, and locks taken over."""

from __future__ import annotations

import os
import socket
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import duckdb
import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from starlette.testclient import TestClient

from connector.cli import main
from connector.config import ProjectConfig
from connector.errors import LockedError, LockLostError, StateError
from connector.runner import sync
from connector.state import StateStore, locks
from connector.state.schema import SCHEMA_VERSION

from .conftest import stored

STATE = Path(".kintone-sync") / "state.db"


def edit_state(project_dir: Path, *statements: str) -> None:
    """Change the state store by hand, as a person or an older version would have left it."""
    with closing(sqlite3.connect(project_dir / STATE)) as con:
        for statement in statements:
            con.execute(statement)
        con.commit()


def test_a_read_only_store_is_one_clear_error(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    url = f"sqlite:///file:{project_dir / STATE}?mode=ro&uri=true"
    store = StateStore.open(url, project_dir)
    try:
        with pytest.raises(StateError, match="readonly") as caught:
            store.log.begin_run("customers", "t", "1", "upsert", "h")
    finally:
        store.close()
    assert "INSERT" not in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


def test_a_renamed_column_is_one_line_without_the_statement(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    edit_state(project_dir, "ALTER TABLE row_state RENAME COLUMN status TO state")
    os.chdir(project_dir)
    result = CliRunner().invoke(main, ["runs", "customers"])
    assert result.exit_code == 0  # the history side still works
    with pytest.raises(StateError) as caught:
        sync(project, "customers", http=kintone)
    message = str(caught.value)
    assert "no such column" in message
    assert "tables were changed by hand" in message
    assert "C-0001" not in message
    assert "SELECT" not in message
    assert len(message.splitlines()) == 1


def test_a_store_from_a_newer_version_is_refused(project_dir: Path) -> None:
    store = StateStore.open(None, project_dir)
    with store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE state_meta SET value = '99' WHERE name = 'version'"))
    store.close()
    with pytest.raises(StateError, match=f"layout 99; this version reads up to {SCHEMA_VERSION}"):
        StateStore.open(None, project_dir)


def test_a_layout_5_store_gets_the_record_index_that_holds_table_rows(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    edit_state(
        project_dir,
        "DROP INDEX ix_row_state_records",
        "CREATE INDEX ix_row_state_record ON row_state (job, target, record_id)",
        "UPDATE state_meta SET value = '5' WHERE name = 'version'",
    )
    assert sync(project, "customers", http=kintone).skimmed == 1000
    with closing(sqlite3.connect(project_dir / STATE)) as con:
        indexes = dict(con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"))
        plan = con.execute(
            "EXPLAIN QUERY PLAN SELECT count(record_id), sum(child_rows) FROM row_state "
            "WHERE job = 'customers' AND target = 'x'"
        ).fetchall()
        version = con.execute("SELECT value FROM state_meta WHERE name = 'version'").fetchone()
    assert "ix_row_state_record" not in indexes
    assert "child_rows" in indexes["ix_row_state_records"]
    assert "COVERING INDEX ix_row_state_records" in str(plan)
    assert version == (str(SCHEMA_VERSION),)


def test_the_lock_beats_from_a_thread_and_a_live_process_keeps_it(project_dir: Path) -> None:
    store = StateStore.open(None, project_dir)
    try:
        with store.log.lock("job", heartbeat=0.01):
            with store.engine.begin() as conn:
                conn.execute(sa.update(locks).values(heartbeat=0.0))
            deadline = time.monotonic() + 30
            beat = 0.0
            while beat == 0.0 and time.monotonic() < deadline:
                time.sleep(0.02)
                with store.engine.connect() as conn:
                    beat = conn.execute(sa.select(locks.c.heartbeat)).scalar() or 0.0
            assert beat > 0.0
        # An ancient heartbeat from a live process on this host: not taken over.
        with store.engine.begin() as conn:
            conn.execute(
                locks.insert().values(
                    job="job", host=socket.gethostname(), pid=os.getpid(), heartbeat=0.0, token="x"
                )
            )
        with pytest.raises(LockedError, match="running elsewhere"), store.log.lock("job"):
            pass
    finally:
        store.close()


def test_a_run_whose_lock_was_taken_over_stops_before_its_next_write(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute(
            "INSERT INTO customers (customer_id, full_name) "
            "SELECT printf('D-%05d', i), 'Extra' FROM range(1, 3001) AS t(i)"
        )
    narrow = project.model_copy(
        update={"limits": project.limits.model_copy(update={"concurrency": 1})}
    )
    store = StateStore.open(None, project_dir)

    def steal(response: httpx.Response) -> None:
        if response.request.url.path.endswith("bulkRequest.json"):
            with store.engine.begin() as conn:
                conn.execute(sa.update(locks).values(token="another-run"))

    kintone.event_hooks["response"] = [steal]
    try:
        with pytest.raises(LockLostError, match="took this run's lock over"):
            sync(narrow, "customers", http=kintone, state=store)
        assert len(stored(kintone)) == 2000  # the first batch only
        assert store.rows.job_counts("customers") == {"synced": 2000}
    finally:
        store.close()
