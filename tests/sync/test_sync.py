"""The sample sync end to end against the emulator: modes, subtables, refusals, dry runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from starlette.testclient import TestClient

from connector.config import ProjectConfig
from connector.runner import sync

from .conftest import stats, stored, write_mapping


def by_key(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["customer_id"]["value"]: r for r in records}


def test_sample_upsert_lands_every_row_with_its_orders(
    project: ProjectConfig, kintone: TestClient
) -> None:
    report = sync(project, "customers", http=kintone)
    assert (report.rows_read, report.inserted, report.updated, report.refused) == (1000, 1000, 0, 0)
    records = by_key(stored(kintone))
    assert len(records) == 1000
    c4 = records["C-0004"]
    assert c4["name"]["value"] == "Eve García"
    assert c4["credit_limit"]["value"] == "148.50"
    assert c4["segment"]["value"] == "smb"
    assert c4["signed_up"]["value"] == "2020-01-05"
    # 2024-06-01 09:34 in Tokyo is 00:34 UTC.
    assert c4["last_seen"]["value"] == "2024-06-01T00:34:00Z"
    assert c4["tags"]["value"] == ["vip", "newsletter"]
    assert c4["notes"]["value"] == "Account opened online."
    assert records["C-0010"]["notes"]["value"] == ""  # NULL becomes empty
    orders = records["C-0003"]["orders"]["value"]
    assert [r["value"]["order_id"]["value"] for r in orders] == ["O-0003-0", "O-0003-1", "O-0003-2"]
    assert orders[1]["value"]["amount"]["value"] == "55.99"
    assert records["C-0004"]["orders"]["value"] == []
    # One bulkRequest of 10 sub-requests wrote the 1,000 records.
    assert report.api_calls == {"GET apps": 1, "GET app/form/fields": 1, "POST bulkRequest": 1}
    assert report.record_ids[("C-0004",)] == int(c4["$id"]["value"])


def test_upsert_again_updates_without_duplicates(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute("UPDATE customers SET full_name = 'Renamed' WHERE customer_id = 'C-0001'")
        con.execute("INSERT INTO customers (customer_id, full_name) VALUES ('C-9999', 'New')")
    report = sync(project, "customers", http=kintone)
    assert (report.inserted, report.updated, report.unchanged) == (1, 1, 999)
    records = by_key(stored(kintone))
    assert len(records) == 1001
    assert records["C-0001"]["name"]["value"] == "Renamed"
    assert records["C-9999"]["segment"]["value"] is None


def test_dry_run_reads_and_writes_nothing(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)
    before = stats(kintone)["endpoints"]
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute("UPDATE customers SET full_name = 'Renamed' WHERE customer_id = 'C-0001'")
    report = sync(project, "customers", http=kintone, dry_run=True)
    assert (report.inserted, report.updated, report.unchanged) == (0, 1, 999)
    assert report.dry_run
    after = stats(kintone)["endpoints"]
    assert after.get("POST /k/v1/bulkRequest.json") == before.get("POST /k/v1/bulkRequest.json")


def customers_mapping(**changes: Any) -> dict[str, Any]:
    mapping: dict[str, Any] = {
        "app": 1,
        "source": {"table": "customers", "primary_key": ["customer_id"]},
        "mode": "upsert",
        "key": "customer_id",
        "fields": {"customer_id": "customer_id", "name": "full_name"},
    }
    mapping.update(changes)
    return mapping


def test_refused_rows_are_named_and_the_rest_land(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute("UPDATE customers SET credit_limit = -5 WHERE customer_id = 'C-0500'")
        con.execute("UPDATE customers SET segment = 'galactic' WHERE customer_id = 'C-0600'")
        con.execute(
            "UPDATE customers SET signed_up = NULL, full_name = NULL WHERE customer_id = 'C-0700'"
        )
    report = sync(project, "customers", http=kintone)
    refused = {(r.key.values, r.field): r for r in report.refusals}
    # The form declares all three invalid: the mapper refuses them before any request.
    assert refused[(("C-0500",), "credit_limit")].code == "VALUE"
    assert "under the field's minimum of 0" in refused[(("C-0500",), "credit_limit")].message
    assert "the field is required" in refused[(("C-0700",), "name")].message
    assert refused[(("C-0600",), "segment")].code == "VALUE"
    assert "galactic" in refused[(("C-0600",), "segment")].message
    assert report.refused == 3
    assert report.inserted == 997
    assert set(by_key(stored(kintone))) == {f"C-{i:04d}" for i in range(1, 1001)} - {
        "C-0500",
        "C-0600",
        "C-0700",
    }


def test_update_mode_reports_unmatched_keys_and_updates_the_rest(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    for code in ("C-0001", "C-0002"):
        record = {"customer_id": {"value": code}, "name": {"value": "old"}}
        assert kintone.post("/k/v1/record.json", json={"app": 1, "record": record}).is_success
    write_mapping(project_dir, "names", customers_mapping(mode="update"))
    report = sync(project, "names", http=kintone)
    assert report.updated == 2
    assert report.refused == 998
    assert {r.code for r in report.refusals} == {"GAIA_RE20"}
    assert by_key(stored(kintone))["C-0002"]["name"]["value"] == "Chika Tanaka"


def test_insert_mode_returns_new_ids(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    mapping = customers_mapping(mode="insert", key=None)
    mapping["source"] = {
        "query": "select * from customers where customer_id < 'C-0004'",
        "primary_key": ["customer_id"],
    }
    write_mapping(project_dir, "inserts", mapping)
    report = sync(project, "inserts", http=kintone)
    assert report.inserted == 3
    assert report.record_ids == {("C-0001",): 1, ("C-0002",): 2, ("C-0003",): 3}


def test_bulk_off_sends_one_request_per_hundred(
    project: ProjectConfig, kintone: TestClient
) -> None:
    report = sync(project, "customers", http=kintone, use_bulk=False)
    assert report.inserted == 1000
    assert report.api_calls["PUT records"] == 10
