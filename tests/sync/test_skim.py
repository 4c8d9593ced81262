"""Unchanged rows found by their warehouse digest: a skim of keys and digests, then only the
changed rows read whole and mapped (connector/skim.py)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from connector import skim
from connector.config import ProjectConfig
from connector.mapping.form import Form
from connector.mapping.spec import MappingSpec
from connector.runner import sync
from connector.source import DIGEST, SqlSource, TableSpec, create_engine_from_url
from connector.state import SCHEMA_VERSION, StateStore

from .conftest import stored, write_mapping
from .test_runs import bulk_calls, sql, with_cursor


def records_by_id(kintone: TestClient) -> dict[str, dict[str, object]]:
    return {str(r["customer_id"]["value"]): r for r in stored(kintone)}


def test_an_unchanged_rerun_maps_no_row(project: ProjectConfig, kintone: TestClient) -> None:
    first = sync(project, "customers", http=kintone)
    assert (first.inserted, first.skimmed) == (1000, 0)
    second = sync(project, "customers", http=kintone)
    assert (second.rows_read, second.unchanged, second.skimmed) == (1000, 1000, 1000)
    assert second.as_dict()["unchanged_by_digest"] == 1000


def test_a_change_in_a_row_or_a_child_row_is_read_and_sent(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    sql(
        project_dir,
        "UPDATE customers SET segment = 'smb' WHERE customer_id = 'C-0003'",
        "UPDATE orders SET amount = 1 WHERE order_id = 'O-0007-1'",
        # A child row moved from one customer to another changes both.
        "UPDATE orders SET customer_id = 'C-0011' WHERE order_id = 'O-0010-1'",
    )
    report = sync(project, "customers", http=kintone)
    assert (report.updated, report.skimmed, report.rows_read) == (4, 996, 1000)
    records = records_by_id(kintone)
    assert records["C-0003"]["segment"] == {"type": "DROP_DOWN", "value": "smb"}
    orders = records["C-0011"]["orders"]["value"]  # type: ignore[index]
    assert "O-0010-1" in {row["value"]["order_id"]["value"] for row in orders}


def test_child_rows_added_removed_and_reordered_are_changes(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    sql(
        project_dir,
        "INSERT INTO orders SELECT 'O-0023-9', customer_id, ordered_on, 5, status "
        "FROM orders WHERE order_id = 'O-0023-1'",
        "DELETE FROM orders WHERE order_id = 'O-0030-1'",
        # order_by is (ordered_on, order_id): a new date moves the row within its table.
        "UPDATE orders SET ordered_on = DATE '1999-01-01' WHERE order_id = 'O-0043-2'",
    )
    report = sync(project, "customers", http=kintone)
    assert (report.updated, report.skimmed) == (3, 997)
    rows = records_by_id(kintone)["C-0043"]["orders"]["value"]  # type: ignore[index]
    assert rows[0]["value"]["order_id"]["value"] == "O-0043-2"


def test_a_changed_mapping_maps_every_row_again_and_sends_what_changes(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    mapping = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    mapping["fields"]["notes"] = {"template": "{notes}!"}
    write_mapping(project_dir, "customers", mapping)
    changed = sync(project, "customers", http=kintone)
    assert (changed.updated, changed.skimmed) == (1000, 0)
    # A change that leaves every record as it was maps every row and sends nothing.
    mapping["max_delete_share"] = 0.25
    write_mapping(project_dir, "customers", mapping)
    same = sync(project, "customers", http=kintone)
    assert (same.updated, same.unchanged, same.skimmed) == (0, 1000, 0)
    again = sync(project, "customers", http=kintone)
    assert again.skimmed == 1000


def test_the_digests_context_holds_the_mapping_the_form_and_the_app() -> None:
    def form(label: str) -> Form:
        return Form.from_properties(
            {"notes": {"type": "MULTI_LINE_TEXT", "code": "notes", "label": label}}
        )

    base = skim.Digests.of_job("m1", form("Notes"), 1)
    assert base == skim.Digests.of_job("m1", form("Notes"), 1)
    others = [
        skim.Digests.of_job("m2", form("Notes"), 1),
        skim.Digests.of_job("m1", form("Remarks"), 1),
        skim.Digests.of_job("m1", form("Notes"), 2),
    ]
    assert all(other != base for other in others)
    row = {"id": 1, DIGEST: "abc"}
    assert base.of(dict(row), {}) != others[1].of(dict(row), {})


def test_rows_with_bad_keys_are_refused_every_run(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sql(
        project_dir,
        "INSERT INTO customers (customer_id, full_name) VALUES (NULL, 'No key'), "
        "('C-0005', 'Second C-0005')",
    )
    first = sync(project, "customers", http=kintone)
    second = sync(project, "customers", http=kintone)
    # Refused: the NULL row and both C-0005 rows (two keys), with the same messages each run.
    assert len(first.refusals) == len(second.refusals) == 3
    assert first.refused == second.refused == 2
    assert {r.code for r in second.refusals} == {r.code for r in first.refusals}
    assert [r.message for r in second.refusals if r.key.values == (None,)] == [
        r.message for r in first.refusals if r.key.values == (None,)
    ]
    assert second.skimmed == 999  # the 1,002 rows but the three refused


def test_a_refused_row_fixed_in_the_source_is_written(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sql(project_dir, "UPDATE customers SET segment = 'unknown' WHERE customer_id = 'C-0009'")
    first = sync(project, "customers", http=kintone)
    assert first.refused == 1
    unchanged = sync(project, "customers", http=kintone)
    assert (unchanged.refused, unchanged.skimmed) == (1, 999)  # read again, refused again
    sql(project_dir, "UPDATE customers SET segment = 'smb' WHERE customer_id = 'C-0009'")
    fixed = sync(project, "customers", http=kintone)
    assert (fixed.refused, fixed.inserted, fixed.skimmed) == (0, 1, 999)


def test_past_the_skim_limit_every_row_is_read_and_unchanged_ones_are_not_mapped(
    project: ProjectConfig,
    kintone: TestClient,
    project_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sync(project, "customers", http=kintone)
    monkeypatch.setattr(skim, "MAX_SKIMMED", 5)
    sql(project_dir, "UPDATE customers SET full_name = 'X' WHERE customer_id LIKE '%0'")
    before = bulk_calls(kintone)
    report = sync(project, "customers", http=kintone)
    assert (report.updated, report.rows_read, report.skimmed) == (100, 1000, 900)
    assert bulk_calls(kintone) - before == 1


def test_changed_rows_are_read_in_parts_of_keys(
    project: ProjectConfig,
    kintone: TestClient,
    project_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sync(project, "customers", http=kintone)
    monkeypatch.setattr(skim, "KEYS_PER_READ", 7)
    sql(
        project_dir,
        "UPDATE customers SET full_name = 'X' WHERE customer_id LIKE '%3'",
        "UPDATE orders SET amount = amount + 1 WHERE customer_id LIKE '%3'",
    )
    report = sync(project, "customers", http=kintone)
    assert (report.updated, report.skimmed) == (100, 900)
    records = records_by_id(kintone)
    assert {r["name"]["value"] for i, r in records.items() if i.endswith("3")} == {"X"}  # type: ignore[index]


def test_deleted_rows_are_deleted_after_a_skim(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    mapping = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    write_mapping(project_dir, "customers", {**mapping, "on_delete": "delete"})
    sync(project, "customers", http=kintone)
    sql(project_dir, "DELETE FROM customers WHERE customer_id IN ('C-0001', 'C-0500')")
    report = sync(project, "customers", http=kintone)
    assert (report.deleted, report.skimmed) == (2, 998)
    assert len(stored(kintone)) == 998


def test_a_row_unchanged_by_digest_still_holds_its_key_value(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    # The primary key is not the key: a new row taking the key value of a row the skim found
    # unchanged is refused, and the unchanged row keeps its record (it was read, unmarked).
    sql(
        project_dir,
        "ALTER TABLE customers ADD COLUMN row_pk VARCHAR",
        "UPDATE customers SET row_pk = 'P-' || customer_id",
    )
    mapping = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    mapping["source"]["primary_key"] = ["row_pk"]
    del mapping["subtables"]
    write_mapping(project_dir, "customers", {**mapping, "on_delete": "delete"})
    sync(project, "customers", http=kintone)
    before = records_by_id(kintone)["C-0005"]
    sql(
        project_dir,
        "INSERT INTO customers SELECT * REPLACE ('P-NEW' AS row_pk, 'Taker' AS full_name) "
        "FROM customers WHERE customer_id = 'C-0005'",
    )
    report = sync(project, "customers", http=kintone)
    assert report.skimmed == 1000
    assert [(r.key.values, r.code) for r in report.refusals] == [(("P-NEW",), "KEY_TAKEN")]
    assert (report.inserted, report.updated, report.deleted) == (0, 0, 0)
    after = records_by_id(kintone)
    assert len(after) == 1000
    assert after["C-0005"]["name"] == before["name"]
    assert before["name"]["value"] != "Taker"  # type: ignore[index]


def test_an_incremental_skim_marks_only_the_rows_past_the_cursor(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    with_cursor(project_dir, on_delete="delete")
    sync(project, "customers", http=kintone)
    sql(
        project_dir,
        "UPDATE customers SET changed_at = TIMESTAMP '2024-02-01 00:00:00' "
        "WHERE customer_id IN ('C-0001', 'C-0002')",
        "UPDATE customers SET full_name = 'Late', changed_at = TIMESTAMP '2024-02-01 00:00:00' "
        "WHERE customer_id = 'C-0003'",
    )
    report = sync(project, "customers", http=kintone)
    # The cursor column is part of each row's digest: the rows past the cursor are read whole.
    assert (report.rows_read, report.unchanged, report.updated, report.deleted) == (3, 2, 1, 0)
    with sqlite3.connect(project_dir / ".kintone-sync" / "state.db") as con:
        marks = dict(con.execute("SELECT seen_run, count(*) FROM row_state GROUP BY seen_run"))
    # Only the three rows read carry this run's mark; no row was marked missed.
    assert marks == {report.run_id - 1: 997, report.run_id: 3}
    assert len(stored(kintone)) == 1000


def test_a_plan_after_a_run_skims_and_leaves_the_run_marks(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    mapping = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    write_mapping(project_dir, "customers", {**mapping, "on_delete": "delete"})
    sync(project, "customers", http=kintone)
    plan = sync(project, "customers", http=kintone, dry_run=True)
    assert (plan.skimmed, plan.deleted) == (1000, 0)
    run = sync(project, "customers", http=kintone)
    assert (run.skimmed, run.deleted) == (1000, 0)


def test_a_full_refresh_maps_every_row(project: ProjectConfig, kintone: TestClient) -> None:
    sync(project, "customers", http=kintone)
    full = sync(project, "customers", http=kintone, full_refresh=True)
    assert (full.updated, full.skimmed) == (1000, 0)
    after = sync(project, "customers", http=kintone)
    assert after.skimmed == 1000


def test_a_file_field_or_an_env_value_turns_digests_off(project: ProjectConfig) -> None:
    engine = create_engine_from_url("duckdb:///:memory:")
    source = SqlSource(engine, TableSpec(query="SELECT 1 AS id", key=("id",)))
    form = Form.from_properties(
        {
            "id": {"type": "SINGLE_LINE_TEXT", "code": "id", "unique": True},
            "doc": {"type": "FILE", "code": "doc"},
        }
    )
    plain = MappingSpec.model_validate(
        {
            "app": 1,
            "source": {"table": "t", "primary_key": ["id"]},
            "key": "id",
            "fields": {"id": "id"},
        }  # fmt: skip
    )
    with_file = plain.model_copy(update={"fields": {**plain.fields, "doc": plain.fields["id"]}})
    assert skim.why_not(plain, form, source) is None
    assert "FILE" in str(skim.why_not(with_file, form, source))
    sqlite = SqlSource(create_engine_from_url("sqlite://"), TableSpec(table="t", key=("id",)))
    assert "sqlite" in str(skim.why_not(plain, form, sqlite))


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("NULL", "'NULL'"),  # NULL and the text NULL
        ("''", "NULL"),
        ("'a,b'", "'a','b'"),  # a separator inside a value
        ("1.5", "1.50"),  # a decimal's scale
        ("TIMESTAMP '2024-01-01 00:00:00'", "TIMESTAMP '2024-01-01 00:00:00.000001'"),
    ],
)
def test_digests_tell_values_apart(before: str, after: str) -> None:
    engine = create_engine_from_url("duckdb:///:memory:")

    def digest(values: str) -> str:
        source = SqlSource(
            engine,
            TableSpec(query=f"SELECT 1 AS id, {values}", key=("id",), digest=True),
        )
        [[row]] = list(source.read())
        return str(row[DIGEST])

    assert digest(before) != digest(after)
    assert digest(before) == digest(before)


def test_a_layout_4_store_gains_digests_from_the_next_run(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    """A store written before digests were kept: migrated in place; the first run maps every
    row and stores their digests without writing; the one after skims."""
    sync(project, "customers", http=kintone)
    path = project_dir / ".kintone-sync" / "state.db"
    with sqlite3.connect(path) as con:
        con.execute("ALTER TABLE row_state DROP COLUMN source_digest")
        con.execute("UPDATE state_meta SET value = '4' WHERE name = 'version'")
    before = bulk_calls(kintone)
    first = sync(project, "customers", http=kintone)
    assert (first.unchanged, first.skimmed, bulk_calls(kintone) - before) == (1000, 0, 0)
    store = StateStore.open(None, project_dir)
    try:
        assert store.rows.schema_version() == SCHEMA_VERSION
    finally:
        store.close()
    assert sync(project, "customers", http=kintone).skimmed == 1000


def test_the_digests_context_is_the_same_in_every_process() -> None:
    """A form's options are a set, whose order follows the process's hash seed."""
    script = (
        "from connector import skim; from connector.mapping.form import Form; "
        "f = Form.from_properties({'s': {'type': 'DROP_DOWN', 'code': 's', 'options': "
        "{n: {'label': n, 'index': str(i)} for i, n in enumerate('abcdefghij')}}}); "
        "print(skim.Digests.of_job('m', f, 1).context.decode())"
    )
    contexts = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(contexts) == 1


_ID = st.binary(min_size=16, max_size=16).map(bytes.hex) | st.sampled_from(
    # Trailing and leading zero bytes: an S16 numpy element drops trailing zeros.
    # Ids sharing their first 8 bytes are searched whole.
    ["00" * 16, "ab" + "00" * 15, "00" * 15 + "ab", "ab" * 15 + "00", "ab" * 15 + "01"]
    + ["11" * 8 + tail for tail in ("00" * 8, "01" * 8, "ff" * 8, "00" * 7 + "01")]
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(_ID, st.binary(min_size=16, max_size=16).map(bytes.hex), max_size=40),
    st.lists(st.sampled_from(["", "xyz", "abcd", "0" * 31]), max_size=3, unique=True),
    st.lists(_ID, max_size=20),
    st.data(),
)
def test_the_known_digests_index_answers_as_a_dict(
    known: dict[str, str], malformed: list[str], strangers: list[str], data: st.DataObject
) -> None:
    index = skim.Known([*known.items(), *((m, "00" * 16) for m in malformed)])
    assert len(index) == len(known) + len(malformed)
    asked = [*known, *strangers]
    assert index.stored(asked) == {i: known[i] for i in asked if i in known}
    seen = data.draw(st.lists(st.sampled_from(asked), unique=True) if asked else st.just([]))
    index.saw(seen)
    index.saw([])
    assert sorted(index.missed()) == sorted({*known} - {*seen} | {*malformed})
