"""sync_frame: a DataFrame through the same mapping, diff, writer and state as a table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from starlette.testclient import TestClient

from connector import sync_frame
from connector.config import load_project
from connector.diff import NULL_KEY
from connector.errors import ConfigError, SourceError
from tests.sync.conftest import stored, write_mapping

PEOPLE = {
    "app": 1,
    "source": {"table": "people", "primary_key": ["customer_id"]},
    "mode": "upsert",
    "key": "customer_id",
    "fields": {"customer_id": "customer_id", "name": "full_name", "credit_limit": "credit_limit"},
}


@pytest.fixture
def people(project_dir: Path) -> Path:
    write_mapping(project_dir, "people", PEOPLE)
    return project_dir / "kintone-sync.yaml"


def frame(*rows: tuple[str | None, str, object]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "full_name", "credit_limit"])


def names(kintone: TestClient) -> dict[str, tuple[str, str]]:
    return {
        r["customer_id"]["value"]: (r["name"]["value"], r["credit_limit"]["value"])
        for r in stored(kintone)
    }


def test_a_frame_inserts_then_updates_only_what_changed(people: Path, kintone: TestClient) -> None:
    project = load_project(people)
    first = sync_frame(
        project, "people", frame(("P-1", "Ann", 10.5), ("P-2", "Bo", 20.25)), http=kintone
    )
    assert (first.inserted, first.updated, first.refused) == (2, 0, 0)
    assert names(kintone) == {"P-1": ("Ann", "10.5"), "P-2": ("Bo", "20.25")}

    again = sync_frame(
        project, "people", frame(("P-1", "Ann", 10.5), ("P-2", "Bob", 20.25)), http=kintone
    )
    # The state the first call kept tells the unchanged row from the changed one.
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, 1)
    assert names(kintone)["P-2"] == ("Bob", "20.25")


def test_a_null_key_is_refused_and_the_other_rows_land(people: Path, kintone: TestClient) -> None:
    report = sync_frame(
        load_project(people), "people", frame(("P-1", "Ann", 1), (None, "Nobody", 2)), http=kintone
    )
    assert (report.inserted, report.refused) == (1, 1)
    assert report.refusals[0].code == NULL_KEY
    assert "full_name='Nobody'" in report.refusals[0].message
    assert list(names(kintone)) == ["P-1"]


def test_numbers_mixed_with_text_are_named_before_anything_is_sent(
    people: Path, kintone: TestClient
) -> None:
    mixed = frame(("P-1", "Ann", 1), ("P-2", "Bo", "two"))
    with pytest.raises(SourceError, match=r"column 'credit_limit' \(dtype object\) holds mixed"):
        sync_frame(load_project(people), "people", mixed, http=kintone)
    assert stored(kintone) == []


@pytest.mark.parametrize(
    ("column", "values", "found"),
    [
        ("credit_limit", [{"a": 1}, {"b": 2}], r"holds mixed values \(dict\)"),
        ("credit_limit", [1 + 2j, 3j], "complex numbers"),
        (7, ["x", "y"], "column name 7 is a int"),
    ],
)
def test_other_dtype_problems_are_named(
    people: Path, kintone: TestClient, column: object, values: list[object], found: str
) -> None:
    data = pd.DataFrame({"customer_id": ["P-1", "P-2"], "full_name": ["A", "B"]})
    data[column] = values
    with pytest.raises(SourceError, match=found):
        sync_frame(load_project(people), "people", data, http=kintone)


def test_a_frame_with_its_subtable_rows_lands_like_the_sample(
    project_dir: Path, kintone: TestClient
) -> None:
    customers = pd.DataFrame(
        {
            "customer_id": ["C-1"],
            "full_name": ["Ann"],
            "email": [None],
            "segment": ["smb"],
            "credit_limit": [5.0],
            "signed_up": [pd.Timestamp("2024-01-02").date()],
            "last_seen": [pd.Timestamp("2024-06-01 09:34")],
            "tags": ["vip"],
            "notes": ["hi"],
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": ["O-1", "O-2"],
            "customer_id": ["C-1", "C-1"],
            "ordered_on": [pd.Timestamp("2024-02-01").date(), pd.Timestamp("2024-03-01").date()],
            "amount": [1.5, 2.25],
            "status": ["shipped", "open"],
        }
    )
    project = load_project(project_dir / "kintone-sync.yaml")
    report = sync_frame(project, "customers", customers, tables={"orders": orders}, http=kintone)
    assert (report.inserted, report.refused) == (1, 0), report.refusals
    (record,) = stored(kintone)
    assert [r["value"]["order_id"]["value"] for r in record["orders"]["value"]] == ["O-1", "O-2"]
    assert record["last_seen"]["value"] == "2024-06-01T00:34:00Z"  # Tokyo wall clock, as mapped


def test_a_mapping_over_a_query_is_refused(project_dir: Path, kintone: TestClient) -> None:
    query = {
        **PEOPLE,
        "source": {"query": "SELECT 1 AS customer_id", "primary_key": ["customer_id"]},
    }
    write_mapping(project_dir, "people", query)
    with pytest.raises(ConfigError, match="reads a query"):
        sync_frame(load_project(project_dir / "kintone-sync.yaml"), "people", frame(), http=kintone)


def test_progress_is_called_after_each_batch_with_the_estimate(
    people: Path, kintone: TestClient
) -> None:
    project = load_project(people)
    one_at_a_time = project.model_copy(
        update={"limits": project.limits.model_copy(update={"concurrency": 1})}
    )
    rows = pd.DataFrame(
        {
            "customer_id": [f"P-{i:05}" for i in range(4500)],
            "full_name": "x",
            "credit_limit": 1.5,
        }
    )
    seen: list[tuple[int, int, int | None]] = []
    report = sync_frame(
        one_at_a_time,
        "people",
        rows,
        http=kintone,
        progress=lambda r: seen.append((r.rows_read, r.inserted, r.rows_expected)),
    )
    # 2,000 records a bulkRequest (20 requests of 100), one bulkRequest in flight: each is
    # recorded once the next batch is read and decided (the run reads while a write is out).
    assert seen == [(4000, 2000, 4500), (4500, 4000, 4500), (4500, 4500, 4500)]
    assert report.inserted == 4500
