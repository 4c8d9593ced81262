"""A record edited in Kintone between two runs, under each on_conflict: seen, never lost blindly."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from click.testing import CliRunner
from starlette.testclient import TestClient

from connector.cli import main
from connector.config import ProjectConfig
from connector.errors import ConflictError
from connector.runner import sync
from connector.state import SCHEMA_VERSION, StateStore

EDITED = "C-0001"
"""The row whose record a person edits in Kintone, and whose source row changes too."""
CHANGED = "C-0002"
"""A row that changes in the source only: written under every setting but fail."""


def sql(project_dir: Path, *statements: str) -> None:
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        for statement in statements:
            con.execute(statement)


def record(kintone: TestClient, customer_id: str) -> dict[str, Any]:
    answer = kintone.get(
        "/k/v1/records.json", params={"app": 1, "query": f'customer_id = "{customer_id}"'}
    )
    assert answer.status_code == 200, answer.text
    (found,) = answer.json()["records"]
    return dict(found)


def edit_by_hand(kintone: TestClient, customer_id: str, **values: Any) -> None:
    """What a person does in Kintone: change fields of the record."""
    record_id = record(kintone, customer_id)["$id"]["value"]
    body = {"app": 1, "id": record_id, "record": {k: {"value": v} for k, v in values.items()}}
    answer = kintone.put("/k/v1/record.json", json=body)
    assert answer.status_code == 200, answer.text


def rejects(project_dir: Path) -> list[Any]:
    store = StateStore.open(None, project_dir)
    try:
        return list(store.log.rejects("customers"))
    finally:
        store.close()


@pytest.fixture
def edited(project: ProjectConfig, kintone: TestClient, project_dir: Path) -> TestClient:
    """A first run; then a person edits C-0001's name and notes in Kintone while the source
    changes C-0001's name and C-0002's name."""
    first = sync(project, "customers", http=kintone)
    assert first.inserted == 1000
    edit_by_hand(kintone, EDITED, name="Typed in Kintone", notes="called the customer")
    sql(
        project_dir,
        f"UPDATE customers SET full_name = 'From the warehouse' WHERE customer_id = '{EDITED}'",
        f"UPDATE customers SET full_name = 'Also new' WHERE customer_id = '{CHANGED}'",
    )
    return kintone


def test_overwrite_writes_over_the_edit_and_lists_it(
    project: ProjectConfig, edited: TestClient, project_dir: Path
) -> None:
    report = sync(project, "customers", http=edited)  # overwrite is the default
    (conflict,) = report.conflicts
    assert conflict.key.values == (EDITED,)
    assert conflict.fields == ("name", "notes")
    assert (conflict.stored, conflict.current) == (1, 2)
    assert str(conflict.resolution) == "overwrite"
    assert (report.updated, report.refused) == (2, 0)
    assert record(edited, EDITED)["name"]["value"] == "From the warehouse"
    assert rejects(project_dir) == []
    # Our own write's revision is stored: the next change is no conflict.
    sql(project_dir, f"UPDATE customers SET email = 'x@y.example' WHERE customer_id = '{EDITED}'")
    again = sync(project, "customers", http=edited)
    assert (again.updated, again.conflicts) == (1, [])


def test_the_revision_check_reads_500_records_a_request_without_paging(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    sql(project_dir, "UPDATE customers SET full_name = full_name || ' (new)'")
    reads = "GET /k/v1/records.json"
    before = kintone.get("/_emulator/stats").json()["endpoints"].get(reads, 0)
    report = sync(project, "customers", http=kintone)
    after = kintone.get("/_emulator/stats").json()["endpoints"].get(reads, 0)
    assert (report.updated, report.conflicts) == (1000, [])
    # 1,000 updates in one batch: two reads of 500 ids (a read of ids is never paged on).
    assert after - before == 2


def test_skip_leaves_the_edit_reports_it_and_tries_again_next_run(
    project: ProjectConfig, edited: TestClient, project_dir: Path
) -> None:
    report = sync(project, "customers", http=edited, on_conflict="skip")
    (conflict,) = report.conflicts
    assert str(conflict.resolution) == "skip"
    assert (report.updated, report.refused) == (1, 1)
    assert record(edited, EDITED)["name"]["value"] == "Typed in Kintone"
    assert record(edited, CHANGED)["name"]["value"] == "Also new"
    (reject,) = rejects(project_dir)
    assert (reject.pk, reject.code) == ([EDITED], "CONFLICT")
    number = record(edited, EDITED)["$id"]["value"]
    assert f"record {number} was changed in Kintone" in reject.message
    assert "would change name, notes" in reject.message

    # Still a conflict on the next run: the edit is never lost on its own.
    again = sync(project, "customers", http=edited, on_conflict="skip")
    assert [c.key.values for c in again.conflicts] == [(EDITED,)]
    assert record(edited, EDITED)["name"]["value"] == "Typed in Kintone"

    # One run with overwrite settles it; after that skip finds nothing.
    settled = sync(project, "customers", http=edited, on_conflict="overwrite")
    assert (settled.updated, len(settled.conflicts)) == (1, 1)
    assert rejects(project_dir) == []
    assert sync(project, "customers", http=edited, on_conflict="skip").conflicts == []


def test_skip_settles_when_the_source_takes_the_edit(
    project: ProjectConfig, edited: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=edited, on_conflict="skip")
    sql(
        project_dir,
        "UPDATE customers SET full_name = 'Typed in Kintone', notes = 'called the customer' "
        f"WHERE customer_id = '{EDITED}'",
    )
    report = sync(project, "customers", http=edited, on_conflict="skip")
    assert (report.conflicts, report.refused, report.updated) == ([], 0, 1)
    assert rejects(project_dir) == []


def test_fail_stops_before_the_batch_is_written(
    project: ProjectConfig, edited: TestClient, project_dir: Path
) -> None:
    with pytest.raises(ConflictError) as caught:
        sync(project, "customers", http=edited, on_conflict="fail")
    text = str(caught.value)
    assert f"row {EDITED}: record" in text
    assert "would change name, notes" in text
    assert "--on-conflict skip" in text
    assert record(edited, EDITED)["name"]["value"] == "Typed in Kintone"
    assert record(edited, CHANGED)["name"]["value"] != "Also new"  # same batch: not sent
    (reject,) = rejects(project_dir)
    assert reject.code == "CONFLICT"


def test_an_edit_the_run_does_not_touch_is_no_conflict(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    edit_by_hand(kintone, EDITED, notes="called the customer")
    report = sync(project, "customers", http=kintone, on_conflict="fail")
    assert (report.unchanged, report.conflicts) == (1000, [])
    assert record(kintone, EDITED)["notes"]["value"] == "called the customer"


def test_an_edit_typed_back_leaves_nothing_to_overwrite(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    """The revision moved, but the record holds every value the run sends: no conflict."""
    sync(project, "customers", http=kintone)
    edit_by_hand(kintone, EDITED, name="Typed in Kintone")
    edit_by_hand(kintone, EDITED, name="Jane Doe 1")  # and typed back: the revision moved twice
    sql(
        project_dir, f"UPDATE customers SET full_name = 'Jane Doe 1' WHERE customer_id = '{EDITED}'"
    )
    report = sync(project, "customers", http=kintone, on_conflict="fail")
    assert report.conflicts == []
    assert report.updated == 1


@pytest.mark.parametrize("setting", ["overwrite", "skip", "fail"])
def test_plan_shows_the_conflict_and_writes_nothing(
    project: ProjectConfig, edited: TestClient, project_dir: Path, setting: Any
) -> None:
    plan = sync(project, "customers", http=edited, dry_run=True, on_conflict=setting)
    (conflict,) = plan.conflicts
    assert conflict.fields == ("name", "notes")
    if setting == "fail":
        assert any("a run would stop here" in w and EDITED in w for w in plan.warnings)
    assert [r.code for r in plan.refusals] == ([] if setting == "overwrite" else ["CONFLICT"])
    assert record(edited, EDITED)["name"]["value"] == "Typed in Kintone"
    assert rejects(project_dir) == []


def test_a_write_refused_as_stale_is_a_conflict_too(
    project: ProjectConfig, edited: TestClient, project_dir: Path
) -> None:
    """A person edits the record between the run's check and its write: Kintone refuses the
    write for its revision (GAIA_CO02), and the row is skipped, not written over."""
    racing = {"done": False}

    def person_edits_now(request: httpx.Request) -> None:
        if request.url.path.endswith("bulkRequest.json") and not racing["done"]:
            racing["done"] = True
            edit_by_hand(edited, CHANGED, notes="typed just now")

    edited.event_hooks["request"] = [person_edits_now]
    report = sync(project, "customers", http=edited, on_conflict="skip")
    edited.event_hooks["request"] = []
    assert racing["done"]
    keys = sorted(c.key.values for c in report.conflicts)
    assert keys == [(EDITED,), (CHANGED,)]
    assert record(edited, CHANGED)["notes"]["value"] == "typed just now"
    assert record(edited, CHANGED)["name"]["value"] != "Also new"
    assert sorted(r.pk[0] for r in rejects(project_dir)) == [EDITED, CHANGED]


def test_runs_and_rejects_show_the_conflicts(
    project: ProjectConfig, edited: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=edited, on_conflict="skip")
    os.chdir(project_dir)
    listed = json.loads(CliRunner().invoke(main, ["runs", "customers", "--output", "json"]).output)
    (shown,) = listed[0]["conflicts"]
    assert (shown["key"], shown["fields"], shown["resolution"]) == (
        [EDITED],
        ["name", "notes"],
        "skip",
    )
    text = CliRunner().invoke(main, ["runs", "customers"]).output
    assert f"conflict: row {EDITED} record" in text
    assert "fields name, notes: skip" in text
    listed_rejects = CliRunner().invoke(main, ["rejects", "customers"]).output
    assert "[CONFLICT]" in listed_rejects
    assert "would change name, notes" in listed_rejects


def test_a_layout_3_store_gains_revisions_and_checks_from_the_next_write(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    """A store written before revisions were kept: migrated in place; its rows' revisions are
    unknown, so the first run after it writes as before and the one after checks."""
    sync(project, "customers", http=kintone)
    path = project_dir / ".kintone-sync" / "state.db"
    with sqlite3.connect(path) as con:
        con.execute("ALTER TABLE row_state DROP COLUMN revision")
        con.execute("UPDATE state_meta SET value = '3' WHERE name = 'version'")
    edit_by_hand(kintone, EDITED, name="Typed in Kintone")
    sql(project_dir, f"UPDATE customers SET full_name = 'One' WHERE customer_id = '{EDITED}'")
    first = sync(project, "customers", http=kintone, on_conflict="fail")
    assert (first.updated, first.conflicts) == (1, [])
    store = StateStore.open(None, project_dir)
    try:
        assert store.rows.schema_version() == SCHEMA_VERSION
    finally:
        store.close()
    edit_by_hand(kintone, EDITED, name="Typed again")
    sql(project_dir, f"UPDATE customers SET full_name = 'Two' WHERE customer_id = '{EDITED}'")
    with pytest.raises(ConflictError):
        sync(project, "customers", http=kintone, on_conflict="fail")
