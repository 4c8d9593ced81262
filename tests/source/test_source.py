"""SqlSource against real DuckDB files and a real PostgreSQL server."""

from __future__ import annotations

import getpass
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connector.errors import ConfigError, SourceError
from connector.source import (
    SqlSource,
    TableSpec,
    create_engine_from_url,
    expand_env,
)

PG_HOST = "127.0.0.1:5432"


# ---------------------------------------------------------------- fixtures


def _duckdb(path: Path, sql: str) -> Engine:
    with duckdb.connect(str(path)) as conn:
        conn.execute(sql)
    return create_engine_from_url(f"duckdb:///{path}")


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[Engine]:
    """customers 1..5 with orders and notes, rows inserted out of key order."""
    engine = _duckdb(
        tmp_path / "shop.duckdb",
        """
        CREATE TABLE customers (customer_id INTEGER, name VARCHAR);
        INSERT INTO customers VALUES (3, 'Cy'), (1, 'Ann'), (5, 'Eve'), (2, 'Bo'), (4, 'Di');
        CREATE TABLE orders (order_id VARCHAR, customer_id INTEGER, line_no INTEGER, sku VARCHAR);
        INSERT INTO orders VALUES
            ('O-3', 3, 2, 'pear'), ('O-1', 1, 1, 'apple'), ('O-3', 3, 1, 'plum'),
            ('O-0', 0, 1, 'orphan-before'), ('O-9', 9, 1, 'orphan-after'),
            ('O-1', 1, 2, 'kiwi');
        CREATE TABLE notes (customer_id INTEGER, written DATE, body VARCHAR);
        INSERT INTO notes VALUES
            (2, DATE '2024-03-01', 'second'), (2, DATE '2024-01-01', 'first'),
            (3, DATE '2024-02-02', 'only'), (6, DATE '2024-01-01', 'orphan');
        CREATE SCHEMA sales;
        CREATE TABLE sales.invoices (invoice_no INTEGER, total DECIMAL(10, 2));
        INSERT INTO sales.invoices VALUES (20, 5.50), (10, 12.00);
        """,
    )
    yield engine
    engine.dispose()


def _pg_admin_url() -> str | None:
    for user in dict.fromkeys(("postgres", getpass.getuser())):
        for database in ("postgres", "test"):
            url = f"postgresql+psycopg://{user}@{PG_HOST}/{database}"
            engine = sa.create_engine(url)
            try:
                engine.connect().close()
                return url
            except sa.exc.SQLAlchemyError:
                continue
            finally:
                engine.dispose()
    return None


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A throwaway PostgreSQL database, dropped afterwards."""
    admin_url = _pg_admin_url()
    if admin_url is None:
        pytest.skip(f"no PostgreSQL server answers at {PG_HOST} (users postgres, current user)")
    name = f"kintone_sync_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0].replace("+psycopg", "") + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    engine = create_engine_from_url(pg_url)
    yield engine
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    engine.dispose()


def _rows(source: SqlSource) -> list[dict[str, Any]]:
    return [row for chunk in source.read() for row in chunk]


# ---------------------------------------------------------------- env and URLs


def test_expand_env_substitutes_values_and_defaults() -> None:
    env = {"USER_NAME": "kintone", "EMPTY": "", "PORT": "6543"}
    text = "u=${USER_NAME} p=${PORT:-5432} h=${HOST:-localhost} e=${EMPTY:-fallback} $HOME"
    assert expand_env(text, env) == "u=kintone p=6543 h=localhost e=fallback $HOME"


def test_expand_env_missing_variable_names_it() -> None:
    with pytest.raises(ConfigError, match=r"environment variable DB_PASSWORD is not set"):
        expand_env("postgresql://me:${DB_PASSWORD}@db/warehouse", {"OTHER": "x"})


def test_duckdb_url_with_relative_path_and_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WAREHOUSE_FILE", "data/warehouse.duckdb")
    (tmp_path / "data").mkdir()
    engine = create_engine_from_url("duckdb:///${WAREHOUSE_FILE}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t AS SELECT 42 AS id")
    engine.dispose()
    assert engine.url.database == "data/warehouse.duckdb"
    assert (tmp_path / "data" / "warehouse.duckdb").is_file()


def test_postgresql_url_defaults_to_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASS_FOR_TEST", "s3cret")
    engine = create_engine_from_url("postgresql://etl:${PGPASS_FOR_TEST}@db.example:5433/dw")
    assert engine.url.drivername == "postgresql+psycopg"
    assert (engine.url.username, engine.url.password, engine.url.port) == ("etl", "s3cret", 5433)
    explicit = create_engine_from_url("postgresql+psycopg://etl@db.example/dw")
    assert explicit.url.drivername == "postgresql+psycopg"


def test_malformed_url_masks_password() -> None:
    with pytest.raises(SourceError, match="cannot parse database URL") as caught:
        create_engine_from_url("not a url://etl:hunter2@db/dw")
    assert "hunter2" not in str(caught.value)
    assert "etl:***@db" in str(caught.value)


def test_unknown_dialect_and_missing_driver_mask_password() -> None:
    with pytest.raises(SourceError, match="unknown dialect or driver 'nosuchdb'") as unknown:
        create_engine_from_url("nosuchdb://etl:hunter2@db/dw")
    assert "hunter2" not in str(unknown.value)
    with pytest.raises(SourceError, match="driver for 'postgresql\\+pg8000' is not installed") as e:
        create_engine_from_url("postgresql+pg8000://etl:hunter2@db/dw")
    assert "hunter2" not in str(e.value)
    assert "etl:***@db/dw" in str(e.value)


def test_table_spec_needs_exactly_one_source_and_reading_needs_a_key(shop: Engine) -> None:
    with pytest.raises(ConfigError, match="exactly one of table or query"):
        TableSpec(table="t", query="SELECT 1", key=("id",))
    with pytest.raises(ConfigError, match="exactly one of table or query"):
        TableSpec(key=("id",))
    keyless = SqlSource(shop, TableSpec(table="customers"))
    assert keyless.columns() == ["customer_id", "name"]
    with pytest.raises(ConfigError, match="needs its key columns"):
        next(iter(keyless.read()))


# ---------------------------------------------------------------- DuckDB sources


def test_table_source_reads_in_key_order(shop: Engine) -> None:
    source = SqlSource(shop, TableSpec(table="customers", key=("customer_id",)))
    assert source.columns() == ["customer_id", "name"]
    assert source.count() == 5
    assert _rows(source) == [
        {"customer_id": 1, "name": "Ann"},
        {"customer_id": 2, "name": "Bo"},
        {"customer_id": 3, "name": "Cy"},
        {"customer_id": 4, "name": "Di"},
        {"customer_id": 5, "name": "Eve"},
    ]
    source.verify_keys()  # unique and non-NULL: no error


def test_query_source_is_wrapped_as_subquery(shop: Engine) -> None:
    # The colon in '10:30' and the ::cast must not be read as bind parameters.
    query = """
        SELECT customer_id AS id, upper(name) AS shout, '10:30' AS at, customer_id::VARCHAR AS s
        FROM customers WHERE customer_id >= 3;
    """
    source = SqlSource(shop, TableSpec(query=query, key=("id",)))
    assert source.name == "query"
    assert source.columns() == ["id", "shout", "at", "s"]
    assert source.count() == 3
    assert _rows(source) == [
        {"id": 3, "shout": "CY", "at": "10:30", "s": "3"},
        {"id": 4, "shout": "DI", "at": "10:30", "s": "4"},
        {"id": 5, "shout": "EVE", "at": "10:30", "s": "5"},
    ]


def test_schema_qualified_table(shop: Engine) -> None:
    source = SqlSource(shop, TableSpec(table="sales.invoices", key=("invoice_no",)))
    assert source.count() == 2
    assert [(r["invoice_no"], str(r["total"])) for r in _rows(source)] == [
        (10, "12.00"),
        (20, "5.50"),
    ]


def test_composite_key_orders_by_every_column(shop: Engine) -> None:
    source = SqlSource(shop, TableSpec(table="orders", key=("order_id", "line_no")))
    assert [(r["order_id"], r["line_no"], r["sku"]) for r in _rows(source)] == [
        ("O-0", 1, "orphan-before"),
        ("O-1", 1, "apple"),
        ("O-1", 2, "kiwi"),
        ("O-3", 1, "plum"),
        ("O-3", 2, "pear"),
        ("O-9", 1, "orphan-after"),
    ]
    source.verify_keys()


def test_chunks_of_three_over_ten_rows(tmp_path: Path) -> None:
    engine = _duckdb(
        tmp_path / "ten.duckdb",
        "CREATE TABLE t AS SELECT (range * 7) % 10 AS id, range AS pos FROM range(10)",
    )
    chunks = list(SqlSource(engine, TableSpec(table="t", key=("id",)), chunk_size=3).read())
    assert [[row["id"] for row in chunk] for chunk in chunks] == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8],
        [9],
    ]
    engine.dispose()


def test_verify_keys_lists_duplicates_and_nulls(tmp_path: Path) -> None:
    engine = _duckdb(
        tmp_path / "dupes.duckdb",
        """
        CREATE TABLE customers (customer_id VARCHAR, name VARCHAR);
        INSERT INTO customers VALUES
            ('C-9', 'a'), ('C-7', 'b'), ('C-9', 'c'), ('C-1', 'd'), ('C-7', 'e'),
            ('C-9', 'f'), (NULL, 'g');
        """,
    )
    source = SqlSource(engine, TableSpec(table="customers", key=("customer_id",)))
    with pytest.raises(SourceError) as caught:
        source.verify_keys()
    assert str(caught.value) == (
        "customers: 2 duplicate primary keys (customer_id=C-7 ×2, customer_id=C-9 ×3) "
        "and 1 row with a NULL key column customer_id; "
        "fix the source or declare the right primary_key"
    )
    with pytest.raises(SourceError) as limited:
        source.verify_keys(limit=1)
    assert "2 duplicate primary keys (customer_id=C-7 ×2, and 1 more)" in str(limited.value)
    engine.dispose()


def test_verify_keys_composite_nulls_name_each_column(tmp_path: Path) -> None:
    engine = _duckdb(
        tmp_path / "lines.duckdb",
        """
        CREATE TABLE lines (order_id VARCHAR, line_no INTEGER);
        INSERT INTO lines VALUES ('O-1', 1), ('O-1', 1), (NULL, 2), (NULL, NULL), ('O-2', NULL);
        """,
    )
    source = SqlSource(engine, TableSpec(table="lines", key=("order_id", "line_no")))
    with pytest.raises(SourceError) as caught:
        source.verify_keys()
    assert str(caught.value) == (
        "lines: 1 duplicate primary key ((order_id, line_no)=(O-1, 1) ×2) "
        "and 3 rows with a NULL key column (order_id ×2, line_no ×2); "
        "fix the source or declare the right primary_key"
    )
    engine.dispose()


def test_unknown_table_names_table_and_fix(shop: Engine) -> None:
    source = SqlSource(shop, TableSpec(table="sales.customerz", key=("id",)))
    with pytest.raises(ConfigError) as caught:
        source.count()
    message = str(caught.value)
    assert message.startswith("unknown table 'sales.customerz' in duckdb:///")
    assert "fix source.table in the mapping" in message
    with pytest.raises(ConfigError, match="unknown table 'sales.customerz'"):
        source.read()


def test_unknown_key_column_lists_the_columns(shop: Engine) -> None:
    source = SqlSource(shop, TableSpec(table="customers", key=("cust_id",)))
    with pytest.raises(SourceError) as caught:
        source.read()
    assert str(caught.value) == (
        "customers: unknown column 'cust_id' in primary_key; the columns are customer_id, "
        "name; fix primary_key in the mapping"
    )
    with pytest.raises(SourceError, match="unknown column 'cust_id' in primary_key"):
        source.verify_keys()


def test_broken_query_names_the_query(shop: Engine) -> None:
    source = SqlSource(shop, TableSpec(query="SELECT nope FROM customers", key=("nope",)))
    with pytest.raises(SourceError) as caught:
        source.columns()
    assert str(caught.value).startswith("query: reading the source query failed: ")
    assert "nope" in str(caught.value)


def _shop_with_children(shop: Engine, chunk_size: int = 2) -> tuple[SqlSource, dict[str, Any]]:
    customers = SqlSource(
        shop, TableSpec(table="customers", key=("customer_id",)), chunk_size=chunk_size
    )
    children = {
        "orders": SqlSource(
            shop,
            TableSpec(table="orders", key=("customer_id",), order_by=("order_id", "line_no")),
            chunk_size=chunk_size,
        ),
        "notes": SqlSource(
            shop,
            TableSpec(table="notes", key=("customer_id",), order_by=("written",)),
            chunk_size=chunk_size,
        ),
    }
    return customers, children


def test_read_with_children_merges_in_step(shop: Engine) -> None:
    customers, children = _shop_with_children(shop)
    chunks = list(customers.read_with_children(children))
    assert [len(chunk) for chunk in chunks] == [2, 2, 1]
    joined = {
        parent["customer_id"]: {
            name: [r.get("sku") or r.get("body") for r in rows] for name, rows in kids.items()
        }
        for chunk in chunks
        for parent, kids in chunk
    }
    assert joined == {
        1: {"orders": ["apple", "kiwi"], "notes": []},
        2: {"orders": [], "notes": ["first", "second"]},
        3: {"orders": ["plum", "pear"], "notes": ["only"]},
        4: {"orders": [], "notes": []},
        5: {"orders": [], "notes": []},
    }
    assert customers.orphans == {"orders": 2, "notes": 1}


def test_read_with_children_stopped_early_still_counts_seen_orphans(shop: Engine) -> None:
    customers, children = _shop_with_children(shop)
    stream = customers.read_with_children(children)
    first = next(stream)
    assert [parent["customer_id"] for parent, _ in first] == [1, 2]
    stream.close()  # type: ignore[attr-defined]
    assert customers.orphans == {"orders": 1, "notes": 0}


def test_read_with_children_passes_repeated_and_null_parent_keys_without_children(
    tmp_path: Path,
) -> None:
    """Such rows are refused by the run (see `duplicate_keys`); the stream goes on."""
    engine = _duckdb(
        tmp_path / "dup.duckdb",
        """
        CREATE TABLE p AS SELECT * FROM (VALUES (1), (2), (2), (NULL), (3)) AS v(id);
        CREATE TABLE c AS SELECT * FROM (VALUES (2, 'x'), (NULL, 'y'), (3, 'z')) AS v(id, body);
        """,
    )
    parents = SqlSource(engine, TableSpec(table="p", key=("id",)))
    kids = {"c": SqlSource(engine, TableSpec(table="c", key=("id",)))}
    joined = [
        (p["id"], [c["body"] for c in k["c"]])
        for chunk in parents.read_with_children(kids)
        for p, k in chunk
    ]
    assert sorted(joined, key=str) == sorted(
        [(1, []), (2, ["x"]), (2, []), (None, []), (3, ["z"])], key=str
    )
    assert parents.orphans == {"c": 1}
    assert parents.duplicate_keys() == {(2,)}
    engine.dispose()


def test_duckdb_streaming_keeps_memory_flat(tmp_path: Path) -> None:
    engine = _duckdb(
        tmp_path / "big.duckdb",
        "CREATE TABLE big AS SELECT range AS id, 'customer-' || range AS name, "
        "range * 1.5 AS amount FROM range(200000)",
    )
    source = SqlSource(engine, TableSpec(table="big", key=("id",)), chunk_size=1000)
    source.columns()
    tracemalloc.start()
    try:
        count, expected_next = 0, 0
        for chunk in source.read():
            assert chunk[0]["id"] == expected_next
            expected_next = chunk[-1]["id"] + 1
            count += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Measured: about 1 MB streaming in chunks of 1000, about 107 MB holding all 200k rows.
    assert count == 200_000
    assert peak < 10 * 1024 * 1024
    engine.dispose()


# ---------------------------------------------------------------- PostgreSQL sources


def test_postgresql_table_chunks_verify_and_errors(pg: Engine) -> None:
    with pg.begin() as conn:
        conn.exec_driver_sql(
            "CREATE SCHEMA crm; CREATE TABLE crm.people (id INTEGER, name TEXT);"
            "INSERT INTO crm.people SELECT mod(g * 7, 10), 'p' || g FROM generate_series(0, 9) g;"
            "INSERT INTO crm.people VALUES (3, 'again'), (NULL, 'nobody');"
        )
    source = SqlSource(pg, TableSpec(table="crm.people", key=("id",)), chunk_size=3)
    assert source.count() == 12
    chunks = list(source.read())
    assert [[row["id"] for row in chunk] for chunk in chunks] == [
        [0, 1, 2],
        [3, 3, 4],
        [5, 6, 7],
        [8, 9, None],
    ]
    with pytest.raises(SourceError) as caught:
        source.verify_keys()
    assert str(caught.value) == (
        "crm.people: 1 duplicate primary key (id=3 ×2) and 1 row with a NULL key column id; "
        "fix the source or declare the right primary_key"
    )
    missing = SqlSource(pg, TableSpec(table="crm.nobody", key=("id",)))
    with pytest.raises(ConfigError, match="unknown table 'crm.nobody' in postgresql\\+psycopg"):
        missing.columns()


def test_postgresql_unreachable_server_is_a_source_error() -> None:
    engine = create_engine_from_url("postgresql://etl:hunter2@127.0.0.1:1/dw")
    source = SqlSource(engine, TableSpec(table="t", key=("id",)))
    with pytest.raises(
        SourceError, match="cannot connect to postgresql\\+psycopg://etl:\\*\\*\\*@"
    ):
        source.count()
    engine.dispose()


def test_postgresql_text_keys_merge_in_python_order(pg: Engine) -> None:
    with pg.connect() as conn:
        icu = conn.exec_driver_sql("SELECT 1 FROM pg_collation WHERE collname = 'en-x-icu'")
        if icu.first() is None:
            pytest.skip("PostgreSQL was built without ICU; no case-insensitive collation to test")
    # en-x-icu sorts a < B < c, Python sorts "B" < "a" < "c": only COLLATE "C" keeps them aligned.
    with pg.begin() as conn:
        conn.exec_driver_sql(
            """
            CREATE TABLE accounts (code TEXT COLLATE "en-x-icu", label TEXT);
            INSERT INTO accounts VALUES ('c', 'C-lower'), ('a', 'A-lower'), ('B', 'B-upper');
            CREATE TABLE contacts (account VARCHAR(10) COLLATE "en-x-icu", pos INTEGER, who TEXT);
            INSERT INTO contacts VALUES
                ('c', 1, 'c1'), ('a', 2, 'a2'), ('B', 1, 'B1'), ('a', 1, 'a1'),
                ('A', 1, 'orphan-A'), ('b', 1, 'orphan-b');
            CREATE TABLE tags (account TEXT COLLATE "en-x-icu", tag TEXT);
            INSERT INTO tags VALUES ('B', 'vip'), ('C', 'orphan-C');
            """
        )
        db_order = conn.exec_driver_sql("SELECT code FROM accounts ORDER BY code").scalars().all()
    assert db_order == ["a", "B", "c"]
    accounts = SqlSource(pg, TableSpec(table="accounts", key=("code",)), chunk_size=2)
    children = {
        "contacts": SqlSource(
            pg, TableSpec(table="contacts", key=("account",), order_by=("pos",)), chunk_size=2
        ),
        "tags": SqlSource(
            pg,
            TableSpec(
                query="SELECT account, tag FROM tags WHERE tag NOT LIKE 'zz%'", key=("account",)
            ),
            chunk_size=2,
        ),
    }
    joined = [
        (
            parent["code"],
            {name: [r.get("who") or r.get("tag") for r in rows] for name, rows in kids.items()},
        )
        for chunk in accounts.read_with_children(children)
        for parent, kids in chunk
    ]
    assert joined == [
        ("B", {"contacts": ["B1"], "tags": ["vip"]}),
        ("a", {"contacts": ["a1", "a2"], "tags": []}),
        ("c", {"contacts": ["c1"], "tags": []}),
    ]
    assert accounts.orphans == {"contacts": 2, "tags": 1}


def test_read_with_children_needs_one_child_column_per_parent_key(shop: Engine) -> None:
    customers = SqlSource(shop, TableSpec(table="customers", key=("customer_id",)))
    orders = SqlSource(shop, TableSpec(table="orders", key=("customer_id", "line_no")))
    with pytest.raises(ConfigError) as caught:
        next(customers.read_with_children({"orders": orders}))
    assert str(caught.value) == (
        "child orders joins on 2 column(s) customer_id, line_no but customers has 1 key "
        "column(s) customer_id; list one per parent key column"
    )


def test_unknown_child_order_by_column(shop: Engine) -> None:
    customers = SqlSource(shop, TableSpec(table="customers", key=("customer_id",)))
    notes = SqlSource(shop, TableSpec(table="notes", key=("customer_id",), order_by=("date",)))
    with pytest.raises(SourceError) as caught:
        next(customers.read_with_children({"notes": notes}))
    assert str(caught.value) == (
        "notes: unknown column 'date' in child notes order_by; the columns are customer_id, "
        "written, body; fix child notes order_by in the mapping"
    )


# ---------------------------------------------------------------- DuckDB edge cases


def test_duckdb_an_empty_table(tmp_path: Path) -> None:
    engine = _duckdb(
        tmp_path / "empty.duckdb",
        "CREATE TABLE p (id INTEGER); CREATE TABLE c AS SELECT 1 AS id, 'x' AS body",
    )
    parents = SqlSource(engine, TableSpec(table="p", key=("id",)))
    assert list(parents.read()) == []
    kids = {"c": SqlSource(engine, TableSpec(table="c", key=("id",)))}
    assert list(parents.read_with_children(kids)) == []
    assert parents.orphans == {"c": 1}
    engine.dispose()


def test_duckdb_child_rows_of_one_parent_span_pages_in_order(tmp_path: Path) -> None:
    """A parent with more child rows than a page, others straddling page boundaries, orphans
    before, between and after the parents, and a NULL child key: the merge join sees each
    parent's rows together, in order_by order."""
    engine = _duckdb(
        tmp_path / "kids.duckdb",
        """
        CREATE TABLE p (id INTEGER, name VARCHAR);
        INSERT INTO p VALUES (4, 'd'), (1, 'a'), (2, 'b'), (6, 'f');
        CREATE TABLE c (id INTEGER, pos INTEGER);
        INSERT INTO c SELECT 2, 9 - range FROM range(7);
        INSERT INTO c VALUES (1, 2), (0, 1), (4, 1), (1, 1), (3, 1), (3, 2), (NULL, 1), (9, 1),
            (6, 1), (4, 2), (5, 1);
        """,
    )
    parents = SqlSource(engine, TableSpec(table="p", key=("id",)), chunk_size=3)
    kids = {
        "c": SqlSource(engine, TableSpec(table="c", key=("id",), order_by=("pos",)), chunk_size=3)
    }
    joined = [
        (parent["id"], [row["pos"] for row in children["c"]])
        for chunk in parents.read_with_children(kids)
        for parent, children in chunk
    ]
    assert joined == [(1, [1, 2]), (2, [3, 4, 5, 6, 7, 8, 9]), (4, [1, 2]), (6, [1])]
    assert parents.orphans == {"c": 6}  # 0, 3 twice, 5, 9 and the NULL key
    engine.dispose()


def test_duckdb_since_and_also(tmp_path: Path) -> None:
    engine = _duckdb(
        tmp_path / "since.duckdb",
        "CREATE TABLE t AS SELECT range AS id, range % 10 AS version FROM range(40)",
    )
    spec = TableSpec(table="t", key=("id",), since=("version", 7), also=((3,), (21,)))
    ids = [row["id"] for chunk in SqlSource(engine, spec, chunk_size=2).read() for row in chunk]
    assert ids == sorted({3, 21} | {i for i in range(40) if i % 10 > 7})
    engine.dispose()


def test_duckdb_file_opens_with_a_small_memory_limit_unless_the_url_says(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    settings = "SELECT current_setting('memory_limit'), current_setting('threads')"
    engine = create_engine_from_url(f"duckdb:///{path}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql(settings).one() == ("122.0 MiB", 1)
    engine.dispose()
    roomy = create_engine_from_url(f"duckdb:///{path}?memory_limit=1GB&threads=2")
    with roomy.connect() as conn:
        assert conn.exec_driver_sql(settings).one() == ("953.6 MiB", 2)
    roomy.dispose()
    memory = create_engine_from_url("duckdb:///:memory:")
    assert "memory_limit" not in memory.url.query  # its tables live in that memory
    memory.dispose()


def test_duckdb_draws_no_progress_bar_on_stdout(tmp_path: Path) -> None:
    """DuckDB prints a progress bar on stdout for a query past 2 s, into `--output json`."""
    engine = create_engine_from_url(f"duckdb:///{tmp_path / 'w.duckdb'}")
    with engine.connect() as conn:
        setting = conn.exec_driver_sql("SELECT current_setting('enable_progress_bar')").scalar()
    engine.dispose()
    assert setting is False


def test_duckdb_out_of_memory_says_how_to_give_it_more(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    # No temporary directory: nothing may spill, so a big sort runs out of its 8 MB.
    engine = create_engine_from_url(f"duckdb:///{path}?memory_limit=8MB&temp_directory=")
    query = "SELECT range AS id, repeat('x', 100) AS pad FROM range(2000000) ORDER BY random()"
    source = SqlSource(engine, TableSpec(query=query, key=("id",)))
    with pytest.raises(SourceError) as caught:
        next(iter(source.read()))
    engine.dispose()
    message = str(caught.value)
    assert "DuckDB needed more memory than its limit (8MB)" in message
    assert "?memory_limit=1GB" in message
    assert "temp_directory" in message
