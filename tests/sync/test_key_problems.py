"""Rows with a NULL or repeated primary key: refused one by one, the rest land; or a stop."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml
from starlette.testclient import TestClient

from connector.config import ProjectConfig, load_project
from connector.errors import SourceError
from connector.runner import sync
from connector.state import StateStore

from .conftest import stored, write_mapping


def dirty(project_dir: Path) -> None:
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute("INSERT INTO customers (customer_id, full_name) VALUES (NULL, 'No key')")
        con.execute(
            "INSERT INTO customers (customer_id, full_name) VALUES ('C-0007', 'Second C-0007')"
        )


def test_null_and_repeated_keys_are_refused_and_the_rest_land(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    dirty(project_dir)
    report = sync(project, "customers", http=kintone)
    refused = sorted((r.code, r.key.values) for r in report.refusals)
    assert refused == [
        ("DUPLICATE_KEY", ("C-0007",)),
        ("DUPLICATE_KEY", ("C-0007",)),
        ("NULL_KEY", (None,)),
    ]
    assert report.inserted == 999
    assert "C-0007" not in {r["customer_id"]["value"] for r in stored(kintone)}
    null = next(r for r in report.refusals if r.code == "NULL_KEY")
    assert "full_name='No key'" in null.message
    store = StateStore.open(None, project_dir)
    try:
        assert {r.code for r in store.log.rejects("customers")} == {"NULL_KEY", "DUPLICATE_KEY"}
    finally:
        store.close()
    # Fixed in the source: the rows land on the next run.
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute(
            "DELETE FROM customers WHERE customer_id IS NULL OR full_name = 'Second C-0007'"
        )
    again = sync(project, "customers", http=kintone)
    assert (again.inserted, again.refused) == (1, 0)


def test_on_key_problems_stop_keeps_the_all_or_nothing_run(
    kintone: TestClient, project_dir: Path
) -> None:
    dirty(project_dir)
    spec = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    spec["on_key_problems"] = "stop"
    write_mapping(project_dir, "customers", spec)
    with pytest.raises(SourceError, match="1 duplicate primary key"):
        sync(load_project(project_dir / "kintone-sync.yaml"), "customers", http=kintone)
    assert stored(kintone) == []


def test_check_maps_a_sample_and_finds_what_a_run_would_stop_on(
    project: ProjectConfig, kintone: TestClient, project_dir: Path
) -> None:
    from connector.job import check

    dirty(project_dir)
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute("UPDATE customers SET segment = 'bogus' WHERE customer_id = 'C-0900'")
    first = check(project, "customers", rows=100, http=kintone)
    assert first.rows_mapped == 100
    assert any("1 duplicate primary key" in p for p in first.problems)
    every = check(project, "customers", rows=None, http=kintone)
    assert every.rows_mapped == 1002
    codes = sorted(r.code for r in every.refusals)
    assert codes == ["DUPLICATE_KEY", "DUPLICATE_KEY", "NULL_KEY", "VALUE"]

    spec = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    spec["timezone"] = "Mars/Olympus"
    spec["source"]["cursor"] = "no_such_column"
    write_mapping(project_dir, "customers", spec)
    broken = check(load_project(project_dir / "kintone-sync.yaml"), "customers", http=kintone)
    joined = " ".join(broken.problems)
    assert "Mars/Olympus" in joined
    assert "no_such_column" in joined
    assert stored(kintone) == []  # check changed nothing


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_keys_of_any_length_work_on_every_state_store(
    store: str, kintone: TestClient, project_dir: Path
) -> None:
    from contextlib import nullcontext

    from tests.pg import fresh_database

    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute("ALTER TABLE customers ADD COLUMN code VARCHAR")
        con.execute("UPDATE customers SET code = customer_id")
        con.execute("UPDATE orders SET customer_id = customer_id || repeat('K', 5000)")
        con.execute("UPDATE customers SET customer_id = customer_id || repeat('K', 5000)")
    spec = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    spec["fields"]["customer_id"] = "code"
    write_mapping(project_dir, "customers", spec)
    project = load_project(project_dir / "kintone-sync.yaml")
    with fresh_database() if store == "postgresql" else nullcontext(None) as url:
        if url is not None:
            state = project.state.model_copy(update={"url": url})
            project = project.model_copy(update={"state": state})
        assert sync(project, "customers", http=kintone).inserted == 1000
        assert sync(project, "customers", http=kintone).unchanged == 1000
