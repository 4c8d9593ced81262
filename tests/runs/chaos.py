"""The chaos scenario: a large sync through random transient faults and kills, then completion."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from connector.emulator import Seed

from .harness import (
    Runs,
    build_warehouse,
    clean_sync,
    cli,
    kill_then_finish,
    records_of,
    sample_mapping,
    served,
    write_project,
)

JOB = "customers"


@dataclass
class Chaos:
    """What the scenario took, beside what a clean run of the same source takes."""

    rows: int
    runs: Runs
    reports: list[dict[str, Any]]
    """`kintone-sync runs --output json`: runs that ended (killed runs end with no report)."""
    requests: int
    """HTTP requests the emulator answered, faulted ones included, over every run."""
    api_calls: int
    """API calls app 1 was charged (bulkRequest sub-requests each count), over every run."""
    errors: int
    """Requests answered with an error status (dropped connections are not counted)."""
    clean_requests: int
    clean_api_calls: int
    got: list[dict[str, Any]]
    want: list[dict[str, Any]]

    @property
    def retries(self) -> int:
        return sum(int(r.get("retries") or 0) for r in self.reports)

    def figures(self) -> str:
        return (
            f"chaos sync of {self.rows:,} rows with orders: {self.runs.runs} runs "
            f"({len(self.runs.kills)} killed at {self.runs.kills} s into their writing, "
            f"{self.runs.finished_early} ended before their kill, then exits {self.runs.exits}); "
            f"{self.errors} requests answered with an error status; "
            f"{self.retries} retries reported by the runs that ended; "
            f"{self.requests} HTTP requests / {self.api_calls} API calls against "
            f"{self.clean_requests} / {self.clean_api_calls} for a clean run "
            f"(+{self.requests - self.clean_requests} / +{self.api_calls - self.clean_api_calls}); "
            f"{self.runs.seconds:.1f} s wall time"
        )


def run_chaos(
    root: Path,
    seed: Seed,
    *,
    rows: int = 20_000,
    fault_rate: float = 0.1,
    kills: int = 3,
    latest: float = 2.0,
    random_seed: int = 7,
    mode: str = "upsert",
) -> Chaos:
    """Sync `rows` customers (`mode` by customer_id, orders subtable) into a served emulator
    answering a share `fault_rate` of requests with a random transient fault (dropped
    connections too), kill `kills` runs at random moments, then run until done; compare with
    a clean upsert of the same rows."""
    build_warehouse(root / "warehouse.duckdb", rows)
    rng = random.Random(random_seed)
    options: dict[str, Any] = {
        "fault_rate": fault_rate,
        "seed_random": random_seed,
        "per_request_ms": 5,
    }
    with served(seed, **options) as port:
        project_file = write_project(
            root, port, {JOB: sample_mapping(mode=mode), "reference": sample_mapping()}
        )
        runs = kill_then_finish(root, JOB, port, rng, kills=kills, latest=latest)
        got = records_of(port)
        stats = httpx.get(f"http://127.0.0.1:{port}/_emulator/stats", timeout=120).json()
    listed = cli(root, "runs", JOB, "--output", "json", "--limit", "100")
    assert listed.returncode == 0, listed.stderr
    clean = clean_sync(project_file, "reference", seed, root / "clean")
    return Chaos(
        rows=rows,
        runs=runs,
        reports=json.loads(listed.stdout),
        requests=int(stats["requests"]),
        api_calls=int(stats["apps"]["1"]["requests"]),
        errors=sum(n for status, n in stats["statuses"].items() if not status.startswith("2")),
        clean_requests=int(clean.stats["requests"]),
        clean_api_calls=int(clean.stats["apps"]["1"]["requests"]),
        got=got,
        want=clean.records,
    )
