"""Benchmark: a cold upsert of a 20-field table with a subtable under Kintone-like latency.

Run: python tests/benchmarks/bench_pipeline.py [--rows 100000] [--concurrency 4] [--cli]
     [--rerun] [--stages N] [--profile FILE] [--latency-ms 100] [--per-record-ms 2]

A DuckDB warehouse of `--rows` customers (20 columns) with one or two contacts each (a SUBTABLE
of three fields) is upserted by `kintone-sync run customers` in a subprocess into an emulator
served by another subprocess, with a latency of `--latency-ms` per request plus
`--per-record-ms` per record. Reported, each from the same run:

- efficiency: the model's limit, ceil(bulkRequests / concurrency) x the time one full
  bulkRequest takes (latency + 2,000 x per-record), over the measured wall time;
- rows/s, CPU time (user + system) and peak RSS of the connector process (`wait4`);
- the emulator's CPU time and its share of the wall time (it must never be the bottleneck).

`--cli` runs cli-kintone (`record import --update-key code`) with the same rows as CSV against a
fresh emulator with the same latency, and prints the ratios. `--rerun` runs the connector again
on the unchanged warehouse and reports its time; `--change PCT` changes PCT% of the rows and
runs again, counting the bulkRequests. `--stages N` times a bare read of every row
and the mapping of N rows on one thread. `--profile FILE` records the run with py-spy (every
thread, collapsed stacks).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb
import httpx
import yaml

from connector.mapping.mapper import Mapper

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CLI_KINTONE = REPO / "tests" / "official" / "node_modules" / ".bin" / "cli-kintone"
TOKEN = "bench-token"
BULK_RECORDS = 2000

_TEXT = {"type": "SINGLE_LINE_TEXT", "required": False, "unique": False, "defaultValue": ""}
_NUMBER = {"type": "NUMBER", "required": False, "unique": False, "defaultValue": ""}


def _options(*names: str) -> dict[str, Any]:
    return {name: {"label": name, "index": str(i)} for i, name in enumerate(names)}


PROPERTIES: dict[str, dict[str, Any]] = {
    "code": {**_TEXT, "required": True, "unique": True},
    "name": {**_TEXT, "required": True},
    "kana": _TEXT,
    "email": _TEXT,
    "phone": _TEXT,
    "zip": _TEXT,
    "prefecture": {
        "type": "DROP_DOWN",
        "required": False,
        "defaultValue": "",
        "options": _options("Tokyo", "Osaka", "Aichi", "Fukuoka"),
    },  # fmt: skip
    "city": _TEXT,
    "address": {"type": "MULTI_LINE_TEXT", "required": False, "defaultValue": ""},
    "company": _TEXT,
    "department": _TEXT,
    "title": _TEXT,
    "status": {
        "type": "RADIO_BUTTON",
        "required": False,
        "defaultValue": "active",
        "options": _options("active", "dormant", "closed"),
    },  # fmt: skip
    "rank": {
        "type": "DROP_DOWN",
        "required": False,
        "defaultValue": "",
        "options": _options("A", "B", "C"),
    },  # fmt: skip
    "credit_limit": _NUMBER,
    "balance": _NUMBER,
    "signed_up": {"type": "DATE", "required": False, "unique": False, "defaultValue": ""},
    "last_order": {"type": "DATETIME", "required": False, "unique": False, "defaultValue": ""},
    "tags": {
        "type": "CHECK_BOX",
        "required": False,
        "defaultValue": [],
        "options": _options("vip", "new", "b2b"),
    },  # fmt: skip
    "notes": {"type": "MULTI_LINE_TEXT", "required": False, "defaultValue": ""},
    "contacts": {
        "type": "SUBTABLE",
        "fields": {
            "contact_name": _TEXT,
            "contact_phone": _TEXT,
            "since": {**_TEXT, "type": "DATE"},
        },
    },
}
COLUMNS = [code for code in PROPERTIES if code != "contacts"]


def seed(latency_ms: float, per_record_ms: float) -> dict[str, Any]:
    properties = {}
    for code, prop in PROPERTIES.items():
        prop = {**prop, "code": code, "label": code}
        if "fields" in prop:
            prop["fields"] = {c: {**p, "code": c, "label": c} for c, p in prop["fields"].items()}
        properties[code] = prop
    return {
        "apps": [
            {
                "id": 1,
                "code": "CUST",
                "name": "Customers",
                "properties": properties,
                "tokens": [{"token": TOKEN, "view": True, "add": True, "edit": True}],
            }
        ],
        "options": {"latency": {"per_request_ms": latency_ms, "per_record_ms": per_record_ms}},
    }


def build(path: Path, rows: int) -> None:
    """The warehouse, generated in SQL so a million rows take seconds."""
    with duckdb.connect(str(path)) as con:
        con.execute(f"""
            CREATE TABLE customers AS SELECT
              printf('C-%07d', i) AS code, 'Customer ' || i AS name, 'kana ' || i AS kana,
              'c' || i || '@example.com' AS email, printf('03-%04d-%04d', i % 10000, i % 7919)
              AS phone, printf('%03d-%04d', i % 1000, i % 10000) AS zip,
              ['Tokyo', 'Osaka', 'Aichi', 'Fukuoka'][1 + i % 4] AS prefecture,
              'City ' || (i % 500) AS city, (i % 90) || ' Chome, Block ' || (i % 13) AS address,
              'Company ' || (i % 3000) AS company, 'Dept ' || (i % 20) AS department,
              'Title ' || (i % 7) AS title, ['active', 'dormant', 'closed'][1 + i % 3] AS status,
              ['A', 'B', 'C'][1 + i % 3] AS rank, (i % 100) * 1000 AS credit_limit,
              round((i % 9973) * 1.25, 2)::DECIMAL(12, 2) AS balance,
              DATE '2020-01-01' + (i % 1500)::INTEGER AS signed_up,
              TIMESTAMP '2024-01-01 09:00:00' + to_seconds(i * 37) AS last_order,
              CASE i % 3 WHEN 0 THEN 'vip' WHEN 1 THEN 'new,b2b' ELSE '' END AS tags,
              'note for customer ' || i AS notes
            FROM range(1, {rows + 1}) AS t(i)
        """)
        con.execute(f"""
            CREATE TABLE contacts AS SELECT printf('C-%07d', i) AS code, n AS line_no,
              'Contact ' || i || '-' || n AS contact_name, printf('090-%04d-%04d', i % 10000, n)
              AS contact_phone, DATE '2021-01-01' + ((i + n) % 900)::INTEGER AS since
            FROM range(1, {rows + 1}) AS t(i), range(1, 3) AS u(n) WHERE n <= 1 + i % 2
        """)


def project_in(root: Path, base_url: str, concurrency: int) -> None:
    fields: dict[str, Any] = {c: c for c in COLUMNS}
    fields["tags"] = {"column": "tags", "separator": ","}
    mapping = {
        "app": 1,
        "source": {"table": "customers", "primary_key": ["code"]},
        "mode": "upsert",
        "key": "code",
        "fields": fields,
        "subtables": {
            "contacts": {
                "source": {"table": "contacts", "parent_key": ["code"], "order_by": ["line_no"]},
                "fields": {
                    "contact_name": "contact_name",
                    "contact_phone": "contact_phone",
                    "since": "since",
                },  # fmt: skip
            }
        },
    }
    (root / "mappings").mkdir(exist_ok=True)
    (root / "mappings" / "customers.yaml").write_text(yaml.safe_dump(mapping))
    project = {
        "source": {"url": "duckdb:///warehouse.duckdb"},
        "connections": {
            "default": {"base_url": base_url, "auth": {"api_token_env": "KINTONE_API_TOKEN"}}
        },
        "limits": {"concurrency": concurrency},
    }
    (root / "kintone-sync.yaml").write_text(yaml.safe_dump(project))


def csv_in(root: Path, con: duckdb.DuckDBPyConnection) -> Path:
    """The same rows as cli-kintone's CSV: one line per contact, `*` on a record's first."""
    path = root / "customers.csv"
    query = f"""
        SELECT {", ".join("c." + c for c in COLUMNS)}, k.line_no, k.contact_name,
               k.contact_phone, k.since
        FROM customers c JOIN contacts k USING (code) ORDER BY c.code, k.line_no"""
    with path.open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["*", *COLUMNS, "contacts", "contact_name", "contact_phone", "since"])
        cursor = con.execute(query)
        while chunk := cursor.fetchmany(10_000):
            for row in chunk:
                first = row[len(COLUMNS)] == 1
                values = ["" if v is None else str(v) for v in row[: len(COLUMNS)]]
                values[COLUMNS.index("tags")] = str(row[COLUMNS.index("tags")]).replace(",", "\n")
                values[COLUMNS.index("last_order")] = row[COLUMNS.index("last_order")].strftime(
                    "%Y-%m-%dT%H:%M:%S+09:00"
                )
                out.writerow(["*" if first else "", *values, "", *map(str, row[-3:])])
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Emulator:
    """The emulator in a process of its own, so its CPU time is its own."""

    def __init__(self, seed_file: Path) -> None:
        self.port = free_port()
        code = (
            "import sys, time; from connector.demo import serve_app; "
            "from connector.emulator import create_app, load_seed; "
            "cm = serve_app(create_app(load_seed(sys.argv[1])), int(sys.argv[2])); cm.__enter__(); "
            "print('ready', flush=True); sys.stdin.read()"
        )
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, str(seed_file), str(self.port)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()
        self.base = f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.base}/_emulator/stats", timeout=600).json())

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(timeout=30)


def measured(argv: list[str], cwd: Path, env: dict[str, str], emulator: Emulator) -> dict[str, Any]:
    """Run a process to its end: wall time, its CPU time and peak RSS, the emulator's CPU."""
    cpu_before = emulator.cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    emulator_cpu = emulator.cpu() - cpu_before
    return {
        "exit": os.waitstatus_to_exitcode(status),
        "output": output,
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mib": usage.ru_maxrss / 1024,
        "emulator_cpu": emulator_cpu,
    }


def one_bulk(root: Path, env: dict[str, str], base: str) -> float:
    """Seconds one full bulkRequest takes alone: the first 2,000 rows mapped by the connector
    and upserted again (same values, same work for the emulator), as the writer sends them."""
    from connector.config import load_project
    from connector.job import open_job
    from connector.kintone.limits import RECORDS_PER_WRITE
    from connector.runner import rows_of

    project = load_project(root / "kintone-sync.yaml")
    job = open_job(project, "customers", env=env)
    try:
        mapper = Mapper(job.spec, job.form, base_dir=root)
        records = []
        for row, children in rows_of(job.source, job.children):
            out = mapper.map(row, children)
            assert not isinstance(out, list)
            records.append({"updateKey": {"field": "code", "value": out.key_value},
                            "record": out.record})  # fmt: skip
            if len(records) == BULK_RECORDS:
                break
    finally:
        job.close()
    requests = [
        {
            "method": "PUT",
            "api": "/k/v1/records.json",
            "payload": {"app": 1, "upsert": True, "records": records[i : i + RECORDS_PER_WRITE]},
        }
        for i in range(0, len(records), RECORDS_PER_WRITE)
    ]
    body = json.dumps({"requests": requests}, default=str)
    headers = {"X-Cybozu-API-Token": TOKEN, "Content-Type": "application/json"}
    started = time.perf_counter()
    answer = httpx.post(f"{base}/k/v1/bulkRequest.json", content=body, headers=headers, timeout=60)
    seconds = time.perf_counter() - started
    assert answer.status_code == 200, answer.text[:500]
    return seconds


def stages(root: Path, env: dict[str, str], limit: int) -> None:
    """Reading every row alone (the source's streaming read, children merged in), and mapping
    alone, on one core, the first `limit` rows: the floors under a re-run and under the writes."""
    from connector.config import load_project
    from connector.job import open_job
    from connector.runner import rows_of

    cwd = os.getcwd()
    os.chdir(root)
    try:
        project = load_project(root / "kintone-sync.yaml")
        job = open_job(project, "customers", env=env)
    finally:
        os.chdir(cwd)
    try:
        mapper = Mapper(job.spec, job.form, base_dir=root)
        started = time.process_time()
        pairs, total = [], 0
        for pair in rows_of(job.source, job.children):
            total += 1
            if len(pairs) < limit:
                pairs.append(pair)
        read = time.process_time() - started
        mapped = math.inf
        for _ in range(3):  # the best of three: the machine is shared
            started = time.perf_counter()
            for row, children in pairs:
                mapper.map(row, children)
            mapped = min(mapped, time.perf_counter() - started)
    finally:
        job.close()
    n = len(pairs)
    print(f"  bare read (SqlSource, children merged): {total:,} rows, {read:.2f} s CPU")
    print(
        f"  mapping alone, one thread, best of 3: {n:,} rows in {mapped:.2f} s = "
        f"{n / mapped:,.0f} rows/s"
    )


def bare_read(root: Path) -> tuple[float, int]:
    """A bare SQLAlchemy read of the columns the job maps, parents and contacts, streamed in
    the source's chunks (no merge, no mapping), in a fresh process: its wall time and rows."""
    script = f"""
import sys, time
import sqlalchemy as sa
engine = sa.create_engine("duckdb:///{root / "warehouse.duckdb"}?access_mode=read_only")
quiet = "SET enable_progress_bar = false"
sa.event.listen(engine, "connect", lambda c, _: c.cursor().execute(quiet))
started = time.perf_counter()
total = 0
with engine.connect() as conn:
    for query in ("SELECT * FROM customers", "SELECT * FROM contacts"):
        result = conn.execution_options(stream_results=True, yield_per=5000).execute(sa.text(query))
        for part in result.partitions():
            total += len(part)
print(time.perf_counter() - started, total)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    return float(out[0]), int(out[1])


def show(name: str, rows: int, run: dict[str, Any]) -> None:
    print(
        f"  {name}: exit {run['exit']}, {run['wall']:.1f} s wall, "
        f"{rows / run['wall']:,.0f} rows/s, "
        f"CPU {run['cpu']:.1f} s, peak RSS {run['rss_mib']:.0f} MiB, emulator CPU "
        f"{run['emulator_cpu']:.1f} s ({run['emulator_cpu'] / run['wall']:.0%} of wall)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--per-record-ms", type=float, default=2.0)
    parser.add_argument("--cli", action="store_true", help="also run cli-kintone")
    parser.add_argument("--rerun", action="store_true", help="also run again, unchanged")
    parser.add_argument("--change", type=float, default=0, help="re-run with PCT%% changed")
    parser.add_argument("--stages", type=int, default=0, help="time reading every row, mapping N")
    parser.add_argument("--profile", type=Path, help="py-spy stacks of the run to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root / "warehouse.duckdb", args.rows)
        seed_file = root / "seed.yaml"
        seed_file.write_text(yaml.safe_dump(seed(args.latency_ms, args.per_record_ms)))
        env = {**os.environ, "KINTONE_API_TOKEN": TOKEN, "NO_PROXY": "127.0.0.1,localhost"}
        print(
            f"rows {args.rows:,}, concurrency {args.concurrency}, latency {args.latency_ms:g} ms "
            f"+ {args.per_record_ms:g} ms/record, {os.cpu_count()} cores"
        )
        emulator = Emulator(seed_file)
        try:
            project_in(root, emulator.base, args.concurrency)
            argv = [str(VENV_BIN / "kintone-sync"), "run", "customers", "--output", "json"]
            if args.profile:
                # py-spy samples every thread (the job and its writes run in threads of their own).
                py_spy = str(VENV_BIN / "py-spy")
                argv = [py_spy, "record", "-o", str(args.profile), "-f", "raw", "-r", "200", "--",
                        *argv]  # fmt: skip
            run = measured(argv, root, env, emulator)
            stats = emulator.stats()
            bulks = stats["endpoints"].get("POST /k/v1/bulkRequest.json", 0)
            one = (args.latency_ms + BULK_RECORDS * args.per_record_ms) / 1000
            model = math.ceil(bulks / args.concurrency) * one
            show("kintone-sync cold", args.rows, run)
            rounds = math.ceil(bulks / args.concurrency)
            print(
                f"    {bulks} bulkRequests; model limit {model:.1f} s "
                f"(ceil({bulks}/{args.concurrency}) x {one:.2f} s of latency); "
                f"efficiency {model / run['wall']:.2f}"
            )
            cwd = os.getcwd()
            os.chdir(root)
            try:
                alone = one_bulk(root, env, emulator.base)
            finally:
                os.chdir(cwd)
            print(
                f"    one full bulkRequest alone takes {alone:.2f} s (latency, the emulator's "
                f"work, encoding): limit {rounds * alone:.1f} s, "
                f"efficiency {rounds * alone / run['wall']:.2f}"
            )
            if run["exit"] != 0:
                print(run["output"][-2000:])
            if args.rerun:
                again = measured(argv, root, env, emulator)
                show("kintone-sync unchanged re-run", args.rows, again)
                bare, total = bare_read(root)
                print(
                    f"    bare SQLAlchemy read of the same columns: {total:,} rows (parents and "
                    f"contacts) in {bare:.2f} s wall; the re-run takes {again['wall'] / bare:.2f}x"
                )
            if args.change:
                every = round(100 / args.change)
                with duckdb.connect(str(root / "warehouse.duckdb")) as con:
                    con.execute(
                        "UPDATE customers SET notes = notes || ' (changed)' "
                        f"WHERE CAST(substr(code, 3) AS INTEGER) % {every} = 0"
                    )
                bulk = "POST /k/v1/bulkRequest.json"
                before = emulator.stats()["endpoints"].get(bulk, 0)
                changed = measured(argv, root, env, emulator)
                bulks = emulator.stats()["endpoints"].get(bulk, 0) - before
                show(f"kintone-sync re-run, {args.change:g}% changed", args.rows, changed)
                print(f"    {bulks} bulkRequests for {args.rows // every:,} changed rows")
            if args.stages:
                stages(root, env, args.stages)
        finally:
            emulator.close()
        if args.cli:
            with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
                path = csv_in(root, con)
            emulator = Emulator(seed_file)
            try:
                cli_env = {**env, "KINTONE_BASE_URL": f"http://localhost:{emulator.port}",
                           "KINTONE_API_TOKEN": TOKEN, "KINTONE_APP": "1"}  # fmt: skip
                argv = [str(CLI_KINTONE), "record", "import", "--file-path", str(path),
                        "--update-key", "code", "--app", "1", "--base-url",
                        f"http://localhost:{emulator.port}", "--api-token", TOKEN]  # fmt: skip
                cli = measured(argv, root, cli_env, emulator)
                landed = emulator.stats()
            finally:
                emulator.close()
            show("cli-kintone", args.rows, cli)
            if cli["exit"] != 0:
                print(cli["output"][-2000:])
            print(f"    cli-kintone requests: {json.dumps(landed['endpoints'], sort_keys=True)}")
            print(
                f"  ratios, kintone-sync / cli-kintone: rows/s {cli['wall'] / run['wall']:.2f}x, "
                f"CPU {run['cpu'] / cli['cpu']:.2f}x, "
                f"peak RSS {run['rss_mib'] / cli['rss_mib']:.2f}x"
            )


if __name__ == "__main__":
    main()
