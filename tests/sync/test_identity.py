"""Never lose a record: key values, changed keys and targets, deletes, lost state, plans."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from starlette.testclient import TestClient

from connector.config import ProjectConfig, load_project
from connector.errors import DeleteCapError, RunStoppedError
from connector.runner import sync
from connector.state import StateStore

from .conftest import stored, write_mapping


def sql(project_dir: Path, *statements: str) -> None:
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        for statement in statements:
            con.execute(statement)


def mapping(project_dir: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(
        (project_dir / "mappings" / "customers.yaml").read_text()
    )
    return loaded


def keyed_by_code(project_dir: Path, **changes: Any) -> None:
    """The customers job with its key field fed by a `code` column, apart from the primary key."""
    sql(
        project_dir,
        "ALTER TABLE customers ADD COLUMN code VARCHAR",
        "UPDATE customers SET code = customer_id",
    )
    spec = mapping(project_dir)
    spec["fields"]["customer_id"] = "code"
    spec.update(changes)
    write_mapping(project_dir, "customers", spec)


def by_key(kintone: TestClient) -> dict[str, dict[str, Any]]:
    return {r["customer_id"]["value"]: r for r in stored(kintone)}


def reload(project_dir: Path) -> ProjectConfig:
    return load_project(project_dir / "kintone-sync.yaml")


def test_case_1_two_rows_with_one_key_value_never_cost_the_record(
    kintone: TestClient, project_dir: Path
) -> None:
    keyed_by_code(project_dir, on_delete="delete")
    sql(project_dir, "UPDATE customers SET code = 'C-0001' WHERE customer_id = 'C-0002'")
    project = reload(project_dir)
    first = sync(project, "customers", http=kintone)
    (refusal,) = first.refusals
    assert (refusal.key.values, refusal.code) == (("C-0002",), "KEY_TAKEN")
    assert '["C-0001"]' in refusal.message
    assert first.inserted == 999
    assert by_key(kintone)["C-0001"]["name"]["value"] != "Customer 2"
    # The row holding the value leaves the source: the other row takes the record over, and the
    # record, which a live row maps to, is not deleted.
    sql(project_dir, "DELETE FROM customers WHERE customer_id = 'C-0001'")
    second = sync(project, "customers", http=kintone)
    assert (second.deleted, second.refused, second.updated) == (0, 0, 1)
    records = by_key(kintone)
    assert len(records) == 999
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        (c2_name,) = con.execute(
            "SELECT full_name FROM customers WHERE customer_id = 'C-0002'"
        ).fetchone() or ("",)
    assert records["C-0001"]["name"]["value"] == c2_name
    third = sync(project, "customers", http=kintone)
    assert (third.unchanged, third.deleted, third.inserted, third.updated) == (999, 0, 0, 0)


def test_case_2_a_changed_primary_key_matches_records_again_and_deletes_none(
    kintone: TestClient, project_dir: Path
) -> None:
    spec = mapping(project_dir)
    spec.update(on_delete="delete", max_delete_share=1.0)
    write_mapping(project_dir, "customers", spec)
    project = reload(project_dir)
    assert sync(project, "customers", http=kintone).inserted == 1000
    ids = {k: r["$id"]["value"] for k, r in by_key(kintone).items()}
    sql(
        project_dir,
        "ALTER TABLE customers ADD COLUMN cid VARCHAR",
        "UPDATE customers SET cid = customer_id",
        "ALTER TABLE orders ADD COLUMN cid VARCHAR",
        "UPDATE orders SET cid = customer_id",
    )
    spec["source"]["primary_key"] = ["cid"]
    spec["subtables"]["orders"]["source"]["parent_key"] = ["cid"]
    write_mapping(project_dir, "customers", spec)
    report = sync(reload(project_dir), "customers", http=kintone, force=True)
    assert report.deleted == 0
    assert any("primary key changed" in w for w in report.warnings)
    assert {k: r["$id"]["value"] for k, r in by_key(kintone).items()} == ids
    again = sync(reload(project_dir), "customers", http=kintone)
    assert (again.unchanged, again.deleted) == (1000, 0)


def test_case_2_without_a_key_field_a_changed_primary_key_stops_the_run(
    kintone: TestClient, project_dir: Path
) -> None:
    spec = mapping(project_dir)
    spec.update(mode="insert", key=None)
    write_mapping(project_dir, "customers", spec)
    assert sync(reload(project_dir), "customers", http=kintone).inserted == 1000
    sql(
        project_dir,
        "ALTER TABLE customers ADD COLUMN cid VARCHAR",
        "UPDATE customers SET cid = customer_id",
    )
    spec["source"]["primary_key"] = ["cid"]
    write_mapping(project_dir, "customers", spec)
    with pytest.raises(RunStoppedError, match="would be added twice"):
        sync(reload(project_dir), "customers", http=kintone)
    assert len(stored(kintone)) == 1000


def test_case_3_a_changed_key_value_follows_its_record(
    kintone: TestClient, project_dir: Path
) -> None:
    keyed_by_code(project_dir, on_delete="delete")
    project = reload(project_dir)
    sync(project, "customers", http=kintone)
    before = by_key(kintone)["C-0001"]["$id"]["value"]
    sql(project_dir, "UPDATE customers SET code = 'X-0001' WHERE customer_id = 'C-0001'")
    report = sync(project, "customers", http=kintone)
    assert (report.inserted, report.updated, report.deleted) == (0, 1, 0)
    records = by_key(kintone)
    assert "C-0001" not in records
    assert records["X-0001"]["$id"]["value"] == before
    assert len(records) == 1000


def test_case_3_a_key_value_another_row_holds_is_refused_with_that_reason(
    kintone: TestClient, project_dir: Path
) -> None:
    keyed_by_code(project_dir)
    project = reload(project_dir)
    sync(project, "customers", http=kintone)
    sql(project_dir, "UPDATE customers SET code = 'C-0004' WHERE customer_id = 'C-0003'")
    report = sync(project, "customers", http=kintone)
    (refusal,) = report.refusals
    assert refusal.code == "KEY_TAKEN"
    assert "C-0004" in refusal.message
    assert by_key(kintone)["C-0003"]["name"]["value"]  # untouched, still there
    # A value only Kintone knows (a record entered by hand) is refused by Kintone.
    hand = {"customer_id": {"value": "HAND-1"}, "name": {"value": "By hand"}}
    assert kintone.post("/k/v1/record.json", json={"app": 1, "record": hand}).is_success
    sql(project_dir, "UPDATE customers SET code = 'HAND-1' WHERE customer_id = 'C-0005'")
    refused = {r.key.values: r for r in sync(project, "customers", http=kintone).refusals}
    assert refused[("C-0005",)].field == "customer_id"
    assert len(stored(kintone)) == 1001


def test_case_4_an_emptied_child_table_is_capped(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    sql(project_dir, "DELETE FROM orders")
    with pytest.raises(DeleteCapError, match="table rows"):
        sync(project, "customers", http=kintone)
    assert all(
        r["orders"]["value"] for r in stored(kintone) if r["customer_id"]["value"] == "C-0001"
    )
    report = sync(project, "customers", http=kintone, force=True)
    assert report.updated > 0
    assert not any(r["orders"]["value"] for r in stored(kintone))


def test_case_4_rows_removed_from_many_records_are_capped_in_the_run(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    # Each customer loses one order and gains another: the table's count is unchanged, but
    # the rows sent away from their records pass the cap.
    sql(
        project_dir,
        "UPDATE orders SET customer_id = 'C-0001' WHERE customer_id <> 'C-0001' "
        "AND order_id LIKE '%-0'",
    )
    with pytest.raises(DeleteCapError, match="table rows"):
        sync(project, "customers", http=kintone)


def test_case_5_a_record_synced_then_refused_then_removed_is_deleted(
    kintone: TestClient, project_dir: Path
) -> None:
    spec = mapping(project_dir)
    spec["on_delete"] = "delete"
    write_mapping(project_dir, "customers", spec)
    project = reload(project_dir)
    sync(project, "customers", http=kintone)
    sql(project_dir, "UPDATE customers SET credit_limit = -5 WHERE customer_id = 'C-0500'")
    assert sync(project, "customers", http=kintone).refused == 1
    sql(project_dir, "DELETE FROM customers WHERE customer_id = 'C-0500'")
    report = sync(project, "customers", http=kintone)
    assert report.deleted == 1
    assert "C-0500" not in by_key(kintone)


def test_case_6_another_target_starts_cold_and_says_so(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    settings = yaml.safe_load((project_dir / "kintone-sync.yaml").read_text())
    settings["connections"]["default"]["base_url"] = "https://other.cybozu.com"
    (project_dir / "kintone-sync.yaml").write_text(yaml.safe_dump(settings))
    report = sync(reload(project_dir), "customers", http=kintone)
    assert report.unchanged == 0
    assert report.updated == 1000  # matched by key in the (same) emulator, none inserted
    assert any("starts cold" in w for w in report.warnings)


def test_case_8_insert_mode_after_a_lost_state_links_the_records(
    kintone: TestClient, project_dir: Path
) -> None:
    spec = mapping(project_dir)
    spec["mode"] = "insert"
    write_mapping(project_dir, "customers", spec)
    project = reload(project_dir)
    assert sync(project, "customers", http=kintone).inserted == 1000
    shutil.rmtree(project_dir / ".kintone-sync")
    report = sync(project, "customers", http=kintone)
    assert (report.inserted, report.refused, report.linked) == (0, 0, 1000)
    assert len(stored(kintone)) == 1000
    assert sync(project, "customers", http=kintone).unchanged == 1000


def test_case_9_plan_shows_the_deletes_and_the_cap(kintone: TestClient, project_dir: Path) -> None:
    spec = mapping(project_dir)
    spec["on_delete"] = "delete"
    write_mapping(project_dir, "customers", spec)
    project = reload(project_dir)
    sync(project, "customers", http=kintone)
    sql(project_dir, "DELETE FROM customers WHERE customer_id <= 'C-0200'")
    plan = sync(project, "customers", http=kintone, dry_run=True)
    assert plan.deleted == 200
    assert any("would stop here" in w and "200 of its 1000" in w for w in plan.warnings)
    # The plan left the run's marks alone: the run finds the same deletes, and its cap.
    with pytest.raises(DeleteCapError):
        sync(project, "customers", http=kintone)
    assert sync(project, "customers", http=kintone, force=True).deleted == 200


def test_a_record_deleted_by_hand_is_sent_again_when_its_row_changes(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    record_id = by_key(kintone)["C-0007"]["$id"]["value"]
    assert kintone.request(
        "DELETE", "/k/v1/records.json", json={"app": 1, "ids": [record_id]}
    ).is_success
    sql(project_dir, "UPDATE customers SET full_name = 'Changed' WHERE customer_id = 'C-0007'")
    report = sync(project, "customers", http=kintone)
    assert report.recreated == 1
    assert by_key(kintone)["C-0007"]["name"]["value"] == "Changed"
    assert len(stored(kintone)) == 1000


def test_a_state_written_by_the_first_layout_is_migrated_and_used(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    """tests/state/state-v1.sqlite was written by the first layout: 1,000 customers synced,
    C-0500 refused (credit limit -5)."""
    sql(project_dir, "UPDATE customers SET credit_limit = -5 WHERE customer_id = 'C-0500'")
    sync(project, "customers", http=kintone)  # the same records, at the same ids
    shutil.copy(
        Path(__file__).parents[1] / "state" / "state-v1.sqlite",
        project_dir / ".kintone-sync" / "state.db",
    )
    for extra in ("state.db-wal", "state.db-shm"):
        (project_dir / ".kintone-sync" / extra).unlink(missing_ok=True)
    store = StateStore.open(None, project_dir)
    try:
        assert store.migrated_from == 1
        (reject,) = store.log.rejects("customers")
        assert (reject.pk, reject.code) == (["C-0500"], "CB_VA01")
        assert store.log.runs("customers")[0]["status"] == "refused"
    finally:
        store.close()
    report = sync(project, "customers", http=kintone)
    assert (report.unchanged, report.inserted, report.updated, report.refused) == (999, 0, 0, 1)


def test_case_7_verify_finds_hand_edits_and_repair_sends_exactly_those_rows(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    from connector.verify import verify

    sync(project, "customers", http=kintone)
    records = by_key(kintone)
    gone_id = records["C-0010"]["$id"]["value"]
    edited_id = records["C-0020"]["$id"]["value"]
    assert kintone.request(
        "DELETE", "/k/v1/records.json", json={"app": 1, "ids": [gone_id]}
    ).is_success
    edit = {"app": 1, "id": edited_id, "record": {"name": {"value": "Edited by hand"}}}
    assert kintone.put("/k/v1/record.json", json=edit).is_success
    hand = {"customer_id": {"value": "HAND-1"}, "name": {"value": "Entered by hand"}}
    assert kintone.post("/k/v1/record.json", json={"app": 1, "record": hand}).is_success
    # A run trusts its state: it notices none of this.
    assert sync(project, "customers", http=kintone).unchanged == 1000

    found = verify(project, "customers", http=kintone)
    assert found.missing == ["C-0010"]
    assert found.drifted == {"C-0020": ["name"]}
    assert len(found.unmapped) == 1
    assert found.unmapped_ours == []  # entered by hand: reported, never deleted
    assert not found.clean

    repaired = verify(project, "customers", http=kintone, repair=True)
    assert repaired.marked == 2
    report = sync(project, "customers", http=kintone)
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 998)
    records = by_key(kintone)
    assert records["C-0020"]["name"]["value"] != "Edited by hand"
    assert "C-0010" in records
    assert verify(project, "customers", http=kintone).clean
