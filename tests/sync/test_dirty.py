"""A dirty warehouse syncs: every good row lands, every bad one is refused with its reason, and
the run costs at most 1.5 times a clean one plus one request per bad value only Kintone knows."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import yaml

from connector.config import load_project
from connector.emulator import load_seed
from connector.runner import sync

from .conftest import BASE_URL, emulator_client, stored
from .dirty import KINTONE_ONLY_VALUES, SEED_FILE, TOKENS, build_warehouse, write_project

ROWS = 2000
ENV = {"KINTONE_API_TOKEN": TOKENS}


def run(root: Path, *, dirty: bool, concurrency: int) -> tuple[object, dict[str, str | None], list]:
    bad = build_warehouse(root / "warehouse.duckdb", ROWS, dirty=dirty)
    project = load_project(write_project(root, BASE_URL, concurrency=concurrency))
    with emulator_client(load_seed(SEED_FILE), token=TOKENS) as http:
        report = sync(project, "orders", http=http, env=ENV)
        records = stored(http)
    return report, bad, records


@pytest.mark.slow
def test_a_dirty_table_lands_the_good_rows_at_a_bounded_cost(tmp_path: Path) -> None:
    # Concurrent groups: the first goes alone, so each bad value costs one failed request.
    concurrency = 4
    (tmp_path / "clean").mkdir()
    (tmp_path / "dirty").mkdir()
    clean, _, _ = run(tmp_path / "clean", dirty=False, concurrency=concurrency)
    report, bad, records = run(tmp_path / "dirty", dirty=True, concurrency=concurrency)
    spoiled = {key for key, kind in bad.items() if kind}
    assert len(spoiled) == ROWS // 50
    assert {r["order_no"]["value"] for r in records} == set(bad) - spoiled
    assert {r.key.values[0] for r in report.refusals} == spoiled
    assert all(r.message and r.code for r in report.refusals)
    assert report.inserted == ROWS - len(spoiled)
    assert report.calls <= 1.5 * clean.calls + KINTONE_ONLY_VALUES, (
        report.api_calls,
        clean.api_calls,
    )


def test_number_keys_match_as_kintone_stores_them(tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("CREATE TABLE nums (id INTEGER, num TEXT, note TEXT)")
        con.execute("INSERT INTO nums VALUES (1, '+3', 'THREE'), (2, '1e2', 'HUNDRED')")
    mapping = {
        "app": 3,
        "source": {"table": "nums", "primary_key": ["id"]},
        "mode": "update",
        "key": "num",
        "fields": {"num": "num", "note": "note"},
    }
    (tmp_path / "mappings").mkdir()
    (tmp_path / "mappings" / "nums.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    write_project(tmp_path, BASE_URL)
    project = load_project(tmp_path / "kintone-sync.yaml")
    with emulator_client(load_seed(SEED_FILE), token="num-token") as http:
        report = sync(project, "nums", http=http, env={"KINTONE_API_TOKEN": "num-token"})
        notes = {r["num"]["value"]: r["note"]["value"] for r in stored(http, 3)}
        again = sync(project, "nums", http=http, env={"KINTONE_API_TOKEN": "num-token"})
    # Kintone stores +3 as 3 and 1e2 as 100: the keys must match those records, every run.
    assert (report.updated, report.refused) == (2, 0)
    assert notes == {"3": "THREE", "100": "HUNDRED"}
    assert (again.unchanged, again.refused) == (2, 0)
