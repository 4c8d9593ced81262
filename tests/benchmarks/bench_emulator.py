"""Benchmark: emulator answer times with 1,000,000 records of a 20-field app in memory.

Run: python tests/benchmarks/bench_emulator.py [--records 1000000] [--rounds 30]

Measures, through starlette's in-process TestClient (the full HTTP stack minus the socket):
- a 100-record upsert by key (`PUT records.json`, `upsert: true`, half updates, half inserts);
- a 2,000-record bulkRequest (20 such upserts).
Prints medians and 95th percentiles in milliseconds.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from typing import Any

from starlette.testclient import TestClient

from connector.emulator import Seed, create_app

FIELDS: dict[str, dict[str, Any]] = {
    "key": {
        "type": "SINGLE_LINE_TEXT",
        "code": "key",
        "label": "Key",
        "required": True,
        "unique": True,
    },
    **{
        f"text{i}": {"type": "SINGLE_LINE_TEXT", "code": f"text{i}", "label": f"Text {i}"}
        for i in range(6)
    },
    **{f"num{i}": {"type": "NUMBER", "code": f"num{i}", "label": f"Number {i}"} for i in range(5)},
    "note": {"type": "MULTI_LINE_TEXT", "code": "note", "label": "Note"},
    "day": {"type": "DATE", "code": "day", "label": "Day"},
    "at": {"type": "DATETIME", "code": "at", "label": "At"},
    "kind": {
        "type": "DROP_DOWN",
        "code": "kind",
        "label": "Kind",
        "options": {k: {"label": k, "index": str(i)} for i, k in enumerate(("a", "b", "c"))},
    },
    "flags": {
        "type": "CHECK_BOX",
        "code": "flags",
        "label": "Flags",
        "options": {k: {"label": k, "index": str(i)} for i, k in enumerate(("x", "y", "z"))},
    },
    "site": {"type": "LINK", "code": "site", "label": "Site", "protocol": "WEB"},
    "Updated_by": {"type": "MODIFIER", "code": "Updated_by", "label": "Updated by"},
    "Updated_datetime": {"type": "UPDATED_TIME", "code": "Updated_datetime", "label": "Updated"},
}


def stored(i: int) -> dict[str, Any]:
    """A trusted stored record for the bulk load."""
    return {
        "key": f"K{i:07d}",
        **{f"text{t}": f"text {t} of {i}" for t in range(6)},
        **{f"num{n}": str(i * (n + 1)) for n in range(5)},
        "note": "line one\nline two",
        "day": "2024-05-01",
        "at": "2024-05-01T10:20:00Z",
        "kind": "a",
        "flags": ["x", "z"],
        "site": "https://example.com",
        "Updated_by": {"code": "Administrator", "name": "Administrator"},
        "Updated_datetime": "2024-05-01T10:20:00Z",
    }


def written(i: int, round_no: int) -> dict[str, Any]:
    """A record payload in the write shape, without the key."""
    return {
        **{f"text{t}": {"value": f"round {round_no} text {t}"} for t in range(6)},
        **{f"num{n}": {"value": str(round_no * 1000 + n)} for n in range(5)},
        "note": {"value": "changed\nnote"},
        "day": {"value": "2024-06-02"},
        "at": {"value": "2024-06-02T11:22:33+09:00"},
        "kind": {"value": "b"},
        "flags": {"value": ["y"]},
        "site": {"value": "https://example.org"},
    }


def upsert_payload(first: int, round_no: int, existing: int) -> dict[str, Any]:
    """100 upserts: 50 keys that exist, 50 new ones."""
    items = []
    for j in range(100):
        i = first + j if j < 50 else existing + round_no * 100_000 + first + j
        items.append(
            {"updateKey": {"field": "key", "value": f"K{i:07d}"}, "record": written(i, round_no)}
        )
    return {"app": 1, "upsert": True, "records": items}


def measure(
    client: TestClient, method: str, path: str, bodies: list[dict[str, Any]]
) -> list[float]:
    times = []
    for body in bodies:
        start = time.perf_counter()
        resp = client.request(method, path, json=body)
        times.append((time.perf_counter() - start) * 1000)
        if resp.status_code != 200:
            raise SystemExit(f"{path} answered {resp.status_code}: {resp.text[:300]}")
    return times


def report(name: str, times: list[float]) -> None:
    times = sorted(times)
    median = statistics.median(times)
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    print(f"{name}: median {median:.1f} ms, p95 {p95:.1f} ms over {len(times)} calls")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()

    seed = Seed.model_validate(
        {
            "apps": [
                {
                    "id": 1,
                    "name": "Bench",
                    "properties": FIELDS,
                    "tokens": [
                        {"token": "t", "view": True, "add": True, "edit": True, "delete": True}
                    ],
                }
            ]
        }
    )
    app = create_app(seed)
    domain = app.state.emulator.api.domain
    started = time.perf_counter()
    domain.load_records(domain.app(1), (stored(i) for i in range(args.records)))
    print(f"loaded {args.records:,} records in {time.perf_counter() - started:.1f} s")
    gc.collect()
    gc.freeze()  # the loaded records are long-lived; keep the collector from rescanning them

    with TestClient(app, base_url="https://bench.cybozu.com") as client:
        client.headers["X-Cybozu-API-Token"] = "t"
        step = args.records // (args.rounds * 25 + 1)
        upserts = [upsert_payload(r * step, r, args.records) for r in range(args.rounds)]
        measure(client, "PUT", "/k/v1/records.json", upserts[:3])  # warm-up
        report(
            "100-record upsert by key", measure(client, "PUT", "/k/v1/records.json", upserts[3:])
        )

        bulks = []
        for r in range(args.rounds):
            base = (args.rounds + r) * step
            requests = [
                {
                    "method": "PUT",
                    "api": "/k/v1/records.json",
                    "payload": upsert_payload(base + s * 100, 1000 + r * 20 + s, args.records),
                }
                for s in range(20)
            ]
            bulks.append({"requests": requests})
        measure(client, "POST", "/k/v1/bulkRequest.json", bulks[:2])
        report(
            "2,000-record bulkRequest", measure(client, "POST", "/k/v1/bulkRequest.json", bulks[2:])
        )


if __name__ == "__main__":
    main()
