"""SUBTABLE rows: replace rebuilds the table, merge keeps row ids and the subfields it does not own.

The emulator runs in its strict default, where subfields left out of an id-matched row are
cleared, so a merge that forgot to send them would show here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from starlette.testclient import TestClient

from connector.config import ProjectConfig
from connector.runner import sync

from .conftest import stored, write_mapping


def orders_of(client: TestClient, customer: str) -> list[dict[str, Any]]:
    record = next(r for r in stored(client) if r["customer_id"]["value"] == customer)
    return list(record["orders"]["value"])


def merge_mapping() -> dict[str, Any]:
    return {
        "app": 1,
        "source": {"table": "customers", "primary_key": ["customer_id"]},
        "key": "customer_id",
        "fields": {"customer_id": "customer_id", "name": "full_name"},
        "subtables": {
            "orders": {
                "source": {
                    "table": "orders",
                    "parent_key": ["customer_id"],
                    "order_by": ["order_id"],
                },
                "rows": "merge",
                "row_key": "order_id",
                "fields": {"order_id": "order_id", "amount": "amount"},
            }
        },
    }


def test_replace_rebuilds_rows_with_new_ids(project: ProjectConfig, kintone: TestClient) -> None:
    sync(project, "customers", http=kintone)
    first = [r["id"] for r in orders_of(kintone, "C-0003")]
    sync(project, "customers", http=kintone, full_refresh=True)
    second = orders_of(kintone, "C-0003")
    assert len(second) == 3
    assert not set(first) & {r["id"] for r in second}
    assert second[2]["value"]["status"]["value"] == "cancelled"


def test_merge_keeps_row_ids_and_unowned_subfields(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    sync(project, "customers", http=kintone)  # the full rows, status included
    before = orders_of(kintone, "C-0003")
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute("UPDATE orders SET amount = 1.25 WHERE order_id = 'O-0003-1'")
        con.execute("DELETE FROM orders WHERE order_id = 'O-0003-2'")
        con.execute(
            "INSERT INTO orders VALUES ('O-0003-9', 'C-0003', DATE '2024-12-24', 7, 'open')"
        )
    write_mapping(project_dir, "merge", merge_mapping())
    report = sync(project, "merge", http=kintone)
    assert report.updated == 1000
    after = orders_of(kintone, "C-0003")
    assert [r["value"]["order_id"]["value"] for r in after] == ["O-0003-0", "O-0003-1", "O-0003-9"]
    assert [r["id"] for r in after[:2]] == [r["id"] for r in before[:2]]
    assert after[1]["value"]["amount"]["value"] == "1.25"
    # status and ordered_on are not in the merge mapping: they survive from the stored rows.
    assert after[1]["value"]["status"]["value"] == before[1]["value"]["status"]["value"]
    assert after[0]["value"]["ordered_on"]["value"] == before[0]["value"]["ordered_on"]["value"]
    # The new row has no stored counterpart: a new id, and its unmapped subfields empty.
    assert after[2]["id"] not in {r["id"] for r in before}
    assert after[2]["value"]["status"]["value"] is None


def test_bad_child_value_refuses_its_parent_row(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute("UPDATE orders SET status = 'lost' WHERE order_id = 'O-0003-1'")
        con.execute("UPDATE orders SET order_id = NULL WHERE order_id = 'O-0005-0'")
    report = sync(project, "customers", http=kintone)
    refused = {(r.key.values, r.field): r for r in report.refusals}
    assert refused[(("C-0003",), "orders[1].status")].code == "VALUE"
    # An empty required subfield is refused before any request; the field names the row.
    assert "the field is required" in refused[(("C-0005",), "orders[0].order_id")].message
    assert refused[(("C-0005",), "orders[0].order_id")].code == "VALUE"
    assert report.refused == 2
    assert {r["customer_id"]["value"] for r in stored(kintone)} >= {"C-0001", "C-0004"}
