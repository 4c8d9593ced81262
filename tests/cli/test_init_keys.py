"""`init` takes the primary key the table declares; it guesses only when none is declared."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from .conftest import invoke


@pytest.fixture
def tables(project_dir: Path) -> Path:
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute(
            "CREATE TABLE accounts (account_no TEXT PRIMARY KEY, customer_id TEXT, email TEXT)"
        )
        con.execute(
            "CREATE TABLE lines (customer_id TEXT, line_no INTEGER, order_id TEXT, "
            "PRIMARY KEY (order_id, line_no))"
        )
        con.execute("CREATE SCHEMA crm")
        con.execute("CREATE TABLE crm.people (pid INTEGER PRIMARY KEY, customer_id TEXT)")
        con.execute("CREATE TABLE plain (email TEXT, customer_id TEXT)")
    return project_dir


@pytest.mark.parametrize(
    ("table", "options", "expected"),
    [
        ("accounts", [], ["account_no"]),
        ("lines", [], ["order_id", "line_no"]),  # the key's order, not the columns'
        ("crm.people", [], ["pid"]),
        ("plain", [], ["customer_id"]),  # none declared: the matched key field's column
        ("accounts", ["--primary-key", "customer_id, email"], ["customer_id", "email"]),
    ],
)
def test_init_takes_the_declared_primary_key(
    tables: Path, table: str, options: list[str], expected: list[str]
) -> None:
    result = invoke("init", "fresh", "--app", "1", "--table", table, *options)
    assert result.exit_code == 0, result.output
    mapping = yaml.safe_load((tables / "mappings" / "fresh.yaml").read_text())
    assert mapping["source"]["primary_key"] == expected
