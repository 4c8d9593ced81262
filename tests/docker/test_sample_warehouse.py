"""Compose's PostgreSQL sample warehouse holds the same rows as the bundled DuckDB one."""

from __future__ import annotations

from pathlib import Path

import duckdb
import sqlalchemy as sa

from connector.demo import build_sample
from tests.pg import fresh_database

REPO = Path(__file__).resolve().parents[2]


def test_postgresql_sample_equals_the_duckdb_sample(tmp_path: Path) -> None:
    build_sample(tmp_path / "sample.duckdb")
    with duckdb.connect(str(tmp_path / "sample.duckdb"), read_only=True) as con:
        expected = {
            table: [tuple(map(str, r)) for r in con.execute(f"SELECT * FROM {table}").fetchall()]
            for table in ("customers", "orders")
        }
    with fresh_database() as url:
        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        try:
            raw = engine.raw_connection()  # as psql runs it: no parameter markers
            try:
                raw.cursor().execute((REPO / "docker" / "sample-warehouse.sql").read_text("utf-8"))
                raw.commit()
            finally:
                raw.close()
            with engine.connect() as conn:
                found = {
                    table: [
                        tuple(map(str, r)) for r in conn.exec_driver_sql(f"SELECT * FROM {table}")
                    ]
                    for table in ("customers", "orders")
                }
            inspector = sa.inspect(engine)
            assert inspector.get_pk_constraint("customers")["constrained_columns"] == [
                "customer_id"
            ]
        finally:
            engine.dispose()
    assert len(found["customers"]) == 1000
    # Sorted here, so that neither database's collation decides the order.
    assert {t: sorted(rows) for t, rows in found.items()} == {
        t: sorted(rows) for t, rows in expected.items()
    }
