"""Benchmark: a dirty 20,000-row table with subtables beside the same table clean, in HTTP requests.

Run: python tests/benchmarks/bench_dirty.py [--rows 20000] [--concurrency 4]

The warehouse of tests/sync/dirty.py: orders with one or two lines each, where one row in 50 holds
one of twelve kinds of bad value, rotating, so every 100-row sub-request holds two of them: eight
kinds the form declares invalid (refused by the mapper, before any request) and four only Kintone
can detect (an unknown user, organization, lookup value, and an unknown user in a table cell).
Each table is upserted by `kintone-sync run orders` (the CLI, in-process) into a fresh emulator
served on 127.0.0.1; the emulator counts the HTTP requests. The dirty run must land every good
row, refuse every bad one with its reason, end with exit code 3, and take at most 1.5 times the
requests of the clean run plus one per distinct bad value only Kintone can detect.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # tests.sync.dirty, when run as a script


def run(root: Path, rows: int, *, dirty: bool, concurrency: int) -> dict[str, Any]:
    from connector.cli import main
    from connector.demo import serve_app
    from connector.emulator import create_app, load_seed
    from tests.sync.dirty import SEED_FILE, TOKENS, build_warehouse, write_project

    root.mkdir()
    bad = build_warehouse(root / "warehouse.duckdb", rows, dirty=dirty)
    with serve_app(create_app(load_seed(SEED_FILE))) as port:
        base = f"http://127.0.0.1:{port}"
        write_project(root, base, concurrency=concurrency)
        os.environ["KINTONE_API_TOKEN"] = TOKENS
        cwd = os.getcwd()
        os.chdir(root)
        try:
            started = time.monotonic()
            result = CliRunner().invoke(main, ["run", "orders", "--output", "json"])
            seconds = time.monotonic() - started
        finally:
            os.chdir(cwd)
        stats = httpx.get(f"{base}/_emulator/stats", timeout=300).json()
        records = httpx.get(f"{base}/_emulator/records", params={"app": 1}, timeout=300).json()[
            "records"
        ]
    report = json.loads(result.output.splitlines()[-1])
    return {
        "exit": result.exit_code,
        "report": report,
        "stats": stats,
        "bad": bad,
        "stored": {r["order_no"]["value"] for r in records},
        "seconds": seconds,
    }


def requests_of(stats: dict[str, Any]) -> int:
    return int(stats["requests"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    from tests.sync.dirty import KINDS, KINTONE_ONLY_VALUES

    with tempfile.TemporaryDirectory() as tmp:
        clean = run(Path(tmp) / "clean", args.rows, dirty=False, concurrency=args.concurrency)
        dirty = run(Path(tmp) / "dirty", args.rows, dirty=True, concurrency=args.concurrency)
    spoiled = {key: kind for key, kind in dirty["bad"].items() if kind}
    refusals = dirty["report"]["refusals"]
    refused = {str(r["key"][0]) for r in refusals}
    kinds_refused = {spoiled[k] for k in refused if k in spoiled}
    target = 1.5 * requests_of(clean["stats"]) + KINTONE_ONLY_VALUES
    checks = {
        "every good row landed": dirty["stored"] == set(dirty["bad"]) - set(spoiled),
        "every bad row refused, with a reason": refused == set(spoiled)
        and all(r["message"] for r in refusals),
        f"all {len(KINDS)} kinds refused": kinds_refused == set(KINDS),
        "exit code 3": dirty["exit"] == 3,
        f"requests <= {target:g}": requests_of(dirty["stats"]) <= target,
    }
    print(f"rows {args.rows:,}, bad rows {len(spoiled):,}, concurrency {args.concurrency}")
    for name, run_ in (("clean", clean), ("dirty", dirty)):
        stats = run_["stats"]
        print(
            f"  {name}: {requests_of(stats)} HTTP requests "
            f"({json.dumps(stats['endpoints'], sort_keys=True)}), "
            f"exit {run_['exit']}, {run_['seconds']:.1f} s"
        )
    by_code: dict[str, int] = {}
    for r in refusals:
        by_code[r["code"]] = by_code.get(r["code"], 0) + 1
    print(f"  refusals by code: {json.dumps(by_code, sort_keys=True)}")
    print(f"  distinct bad values only Kintone detects: {KINTONE_ONLY_VALUES}")
    for name, ok in checks.items():
        print(f"  {name}: {'yes' if ok else 'NO'}")
    if not all(checks.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
