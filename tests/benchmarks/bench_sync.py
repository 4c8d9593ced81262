"""Benchmark: HTTP write calls of a cold 100,000-row upsert, and mapping speed on one core.

Run: python tests/benchmarks/bench_sync.py [--rows 100000]

1. Builds a DuckDB warehouse of `--rows` customers (the sample's columns) and upserts it with the
   sample mapping (without the orders table) into a fresh in-process emulator; counts HTTP
   requests by endpoint from the emulator's /_emulator/stats.
2. Maps the same rows with the Mapper alone (no I/O) and reports rows per second.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path
from typing import Any

import duckdb
import yaml

from connector.config import load_project
from connector.emulator import create_app, load_seed
from connector.mapping.form import Form
from connector.mapping.mapper import Mapper
from connector.runner import sync
from connector.source import SqlSource, TableSpec, create_engine_from_url

REPO = Path(__file__).resolve().parents[2]


def build(path: Path, rows: int) -> None:
    sql = (REPO / "connector" / "samples" / "warehouse.sql").read_text(encoding="utf-8")
    sql = sql.replace("range(1, 1001) AS t(i)", f"range(1, {rows + 1}) AS t(i)")
    sql = sql.replace("printf('C-%04d', i)", "printf('C-%07d', i)")
    with duckdb.connect(str(path)) as con:
        con.execute(sql)


def project_in(root: Path) -> None:
    mapping: dict[str, Any] = yaml.safe_load((REPO / "mappings" / "customers.yaml").read_text())
    mapping.pop("subtables")
    (root / "mappings").mkdir()
    (root / "mappings" / "customers.yaml").write_text(yaml.safe_dump(mapping))
    project = {
        "source": {"url": f"duckdb:///{root / 'warehouse.duckdb'}"},
        "connections": {
            "default": {
                "base_url": "https://bench.cybozu.com",
                "auth": {"api_token_env": "KINTONE_API_TOKEN"},
            }
        },
    }
    (root / "kintone-sync.yaml").write_text(yaml.safe_dump(project))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root / "warehouse.duckdb", args.rows)
        project_in(root)
        project = load_project(root / "kintone-sync.yaml")
        seed = load_seed(REPO / "connector" / "samples" / "emulator-seed.yaml")
        with TestClient(create_app(seed), base_url="https://bench.cybozu.com") as client:
            client.headers["X-Cybozu-API-Token"] = "sample-token"
            started = time.perf_counter()
            report = sync(project, "customers", http=client)
            elapsed = time.perf_counter() - started
            endpoints = client.get("/_emulator/stats").json()["endpoints"]
        writes = {k: v for k, v in endpoints.items() if not k.startswith("GET")}
        print(
            f"cold upsert of {report.rows_read:,} rows: {report.inserted:,} inserted, "
            f"{report.refused} refused, {elapsed:.1f} s"
        )
        print(f"  HTTP write calls: {sum(writes.values())} {writes}")
        print(f"  all HTTP calls:   {sum(endpoints.values())} {endpoints}")

        spec = project.mapping("customers")
        form = Form.from_properties(seed.apps[0].properties)
        mapper = Mapper(spec, form, base_dir=root)
        with duckdb.connect(str(root / "warehouse.duckdb")) as con:
            cursor = con.execute("select * from customers order by customer_id")
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
        started = time.perf_counter()
        for row in rows:
            mapper.map(row, {})
        elapsed = time.perf_counter() - started
        print(f"mapping: {len(rows):,} rows in {elapsed:.2f} s = {len(rows) / elapsed:,.0f} rows/s")
        del rows

        # Memory of the streaming stages (source read + mapping), for a quarter and all rows.
        engine = create_engine_from_url(f"duckdb:///{root / 'warehouse.duckdb'}")
        source = SqlSource(engine, TableSpec(table="customers", key=("customer_id",)))
        for limit in (args.rows // 4, args.rows):
            tracemalloc.start()
            seen = 0
            for chunk in source.read():
                for row in chunk:
                    mapper.map(row, {})
                seen += len(chunk)
                if seen >= limit:
                    break
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            print(f"read + map {seen:,} rows: peak Python memory {peak / 2**20:.1f} MiB")
        engine.dispose()


if __name__ == "__main__":
    main()
