"""Benchmark: what a sync through transient faults and kills costs beside a clean one.

Run: python tests/benchmarks/bench_chaos.py [--rows 20000] [--fault-rate 0.1] [--kills 3]

The scenario of tests/runs/test_chaos.py, standalone: `--rows` customers with their orders are
upserted by `kintone-sync run` subprocesses into an emulator served on 127.0.0.1 (5 ms per
request) that answers a share `--fault-rate` of requests with a random transient fault (503,
429, lock error, a connection dropped before or after the write). `--kills` runs are SIGKILLed
at random moments of their writing; then the job runs until it completes. Prints the runs it
took, the retries the completed runs reported, the HTTP requests and API calls beside a clean
run of the same rows, and the wall time; then checks Kintone equals the source.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # tests.runs, when run as a script


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--fault-rate", type=float, default=0.1)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7, help="Seeds the faults and kill moments.")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from tests.runs.chaos import run_chaos
    from tests.runs.harness import comparable, sample_seed

    with tempfile.TemporaryDirectory() as tmp:
        chaos = run_chaos(
            Path(tmp),
            sample_seed(),
            rows=args.rows,
            fault_rate=args.fault_rate,
            kills=args.kills,
            random_seed=args.seed,
        )
    print(chaos.figures())
    for report in reversed(chaos.reports):
        print(
            f"  run {report['id']}: {report['status']}, {report.get('api_calls', '-')} API calls, "
            f"{report.get('retries', '-')} retries"
        )
    try:
        same = comparable(chaos.got) == comparable(chaos.want) and len(chaos.got) == args.rows
    except AssertionError as exc:  # a duplicate customer_id
        print(f"  {exc}")
        same = False
    print(f"  Kintone equals the source, no duplicates: {'yes' if same else 'NO'}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
