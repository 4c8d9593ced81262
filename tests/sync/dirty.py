"""A dirty warehouse: orders with lines, one row in 50 holding one of twelve kinds of bad value.

Shared by tests/sync/test_dirty.py and tests/benchmarks/bench_dirty.py. The bad rows rotate
through the kinds, so every 100-row sub-request of a bulkRequest holds two of them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import yaml

SEED_FILE = Path(__file__).with_name("dirty-seed.yaml")
TOKENS = "orders-token,products-token"
EVERY = 50
"""One row in 50 is bad: 2%."""

Row = dict[str, Any]
Line = dict[str, Any]


def _set(column: str, value: Any) -> Callable[[Row, list[Line]], None]:
    def change(row: Row, lines: list[Line]) -> None:
        row[column] = value

    return change


def _line(column: str, value: Any) -> Callable[[Row, list[Line]], None]:
    def change(row: Row, lines: list[Line]) -> None:
        lines[0][column] = value

    return change


# kind -> (how the row is spoiled, whether only Kintone can tell)
KINDS: dict[str, tuple[Callable[[Row, list[Line]], None], bool]] = {
    "option the field lacks": (_set("kind", "galactic"), False),
    "text over the field's length": (_set("title", "t" * 41), False),
    "number under the field's minimum": (_set("qty", -1), False),
    "empty required field": (_set("title", None), False),
    "date before the year 1000": (_set("ordered", "0999-12-31"), False),
    "value the value map lacks": (_set("in_stock", "maybe"), False),
    "unique text over 64 characters": (_set("ref", "r" * 65), False),
    "table cell under its minimum": (_line("amount", -3), False),
    "unknown user": (_set("owner", "ghost"), True),
    "unknown organization": (_set("dept", "nowhere"), True),
    "lookup value the source app lacks": (_set("product", "P-404"), True),
    "unknown user in a table cell": (_line("packer", "phantom"), True),
}
KINTONE_ONLY_VALUES = sum(1 for _, only in KINDS.values() if only)
"""Distinct bad values only Kintone can detect: one each."""


def bad_kind(i: int) -> str | None:
    """The kind of bad value row i holds, if any."""
    if i % EVERY != EVERY // 2:
        return None
    names = list(KINDS)
    return names[(i // EVERY) % len(names)]


def rows(count: int, *, dirty: bool) -> tuple[list[Row], list[Line]]:
    orders: list[Row] = []
    lines: list[Line] = []
    for i in range(count):
        order_no = f"O-{i:06d}"
        row: Row = {
            "order_no": order_no,
            "ref": f"R-{i:06d}",
            "title": f"Order {i}",
            "qty": i % 1000,
            "kind": "retail" if i % 2 else "wholesale",
            "in_stock": "Y" if i % 3 else "N",
            "ordered": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "owner": "ann" if i % 2 else "ben",
            "dept": "sales" if i % 2 else "ops",
            "product": f"P-{1 + i % 3}",
        }
        own = [
            {"order_no": order_no, "line_no": n, "item": f"item {n}", "amount": n, "packer": "ann"}
            for n in range(1 + i % 2)
        ]
        kind = bad_kind(i) if dirty else None
        if kind is not None:
            KINDS[kind][0](row, own)
        orders.append(row)
        lines += own
    return orders, lines


def build_warehouse(path: Path, count: int, *, dirty: bool) -> dict[str, str | None]:
    """Write the DuckDB warehouse; returns order_no -> the bad kind it holds (None if good)."""
    orders, lines = rows(count, dirty=dirty)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE orders (order_no TEXT PRIMARY KEY, ref TEXT, title TEXT, qty INTEGER, "
            "kind TEXT, in_stock TEXT, ordered TEXT, owner TEXT, dept TEXT, product TEXT)"
        )
        con.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [tuple(r.values()) for r in orders],
        )
        con.execute(
            "CREATE TABLE order_lines (order_no TEXT, line_no INTEGER, item TEXT, "
            "amount INTEGER, packer TEXT)"
        )
        con.executemany(
            "INSERT INTO order_lines VALUES (?, ?, ?, ?, ?)", [tuple(r.values()) for r in lines]
        )
    return {r["order_no"]: (bad_kind(i) if dirty else None) for i, r in enumerate(orders)}


MAPPING: dict[str, Any] = {
    "app": 1,
    "source": {"table": "orders", "primary_key": ["order_no"]},
    "mode": "upsert",
    "key": "order_no",
    "fields": {
        "order_no": "order_no",
        "ref": "ref",
        "title": "title",
        "qty": "qty",
        "kind": "kind",
        "in_stock": {"column": "in_stock", "map": {"Y": "yes", "N": "no"}},
        "ordered": "ordered",
        "owner": "owner",
        "dept": "dept",
        "product": "product",
    },
    "subtables": {
        "lines": {
            "source": {"table": "order_lines", "parent_key": ["order_no"], "order_by": ["line_no"]},
            "fields": {"item": "item", "amount": "amount", "packer": "packer"},
        }
    },
}


def write_project(root: Path, base_url: str, *, concurrency: int = 4) -> Path:
    """A project around `root/warehouse.duckdb` with the `orders` job; the project file."""
    (root / "mappings").mkdir(exist_ok=True)
    (root / "mappings" / "orders.yaml").write_text(yaml.safe_dump(MAPPING), encoding="utf-8")
    project = {
        "source": {"url": "duckdb:///warehouse.duckdb", "chunk_size": 2000},
        "connections": {
            "default": {"base_url": base_url, "auth": {"api_token_env": "KINTONE_API_TOKEN"}}
        },
        "limits": {"concurrency": concurrency},
    }
    path = root / "kintone-sync.yaml"
    path.write_text(yaml.safe_dump(project), encoding="utf-8")
    return path
