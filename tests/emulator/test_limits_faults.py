"""Concurrency limit, latency, scripted and random faults, request counts and persistence."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from connector.demo import serve_app
from connector.emulator import FaultRule, Seed, create_app
from connector.emulator.faults import DroppedConnection

from .conftest import BASE_URL, make_client

TOKEN = {"X-Cybozu-API-Token": "full-token"}


def add(client: httpx.Client, code: str) -> httpx.Response:
    return client.post("/k/v1/record.json", json={"app": 1, "record": {"code": {"value": code}}})


def codes(client: TestClient) -> list[str]:
    records = client.get("/_emulator/records", params={"app": 1}).json()["records"]
    return [r["code"]["value"] for r in records]


def faults_of(client: TestClient) -> Any:
    return client.app.state.emulator.api.faults  # type: ignore[attr-defined]


def test_every_kintone_answer_carries_the_concurrency_headers(client: TestClient) -> None:
    resp = client.get("/k/v1/app.json", params={"id": 1})
    assert resp.headers["X-ConcurrencyLimit-Limit"] == "100"
    assert resp.headers["X-ConcurrencyLimit-Running"] == "1"


def test_requests_past_the_concurrency_limit_get_429_to04(seed: Seed) -> None:
    options = seed.options.model_copy(
        update={
            "concurrency_limit": 2,
            "latency": seed.options.latency.model_copy(update={"per_request_ms": 30}),
        }
    )
    app = create_app(seed, options=options)

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=TOKEN) as c:
            calls = [c.get("/k/v1/app.json", params={"id": 1}) for _ in range(5)]
            return await asyncio.gather(*calls)

    answers = asyncio.run(burst())
    refused = [r for r in answers if r.status_code == 429]
    assert sorted(r.status_code for r in answers) == [200, 200, 429, 429, 429]
    for resp in refused:
        assert resp.json()["code"] == "GAIA_TO04"
        assert resp.headers["X-Cybozu-Error"] == "GAIA_TO04"
        assert resp.headers["X-ConcurrencyLimit-Limit"] == "2"
        assert resp.headers["X-ConcurrencyLimit-Running"] == "2"


def test_scripted_fault_skips_after_then_fires_times(client: TestClient) -> None:
    faults_of(client).add(
        FaultRule(path="record.json", method="POST", code="GAIA_DA02", after=1, times=2)
    )
    answers = [add(client, f"K{i}") for i in range(4)]
    assert [r.status_code for r in answers] == [200, 409, 409, 200]
    assert answers[1].json()["code"] == "GAIA_DA02"
    assert codes(client) == ["K0", "K3"]  # the refused calls wrote nothing


def test_bare_status_fault_has_a_non_json_body(client: TestClient) -> None:
    faults_of(client).add(FaultRule(path="*", status=503))
    resp = add(client, "A")
    assert resp.status_code == 503
    assert resp.headers["content-type"].startswith("text/html")
    assert codes(client) == []


def test_429_fault_names_its_code_in_a_header(client: TestClient) -> None:
    faults_of(client).add(FaultRule(path="/k/v1/record.json", code="GAIA_TO04"))
    resp = add(client, "A")
    assert resp.status_code == 429
    assert resp.headers["X-Cybozu-Error"] == "GAIA_TO04"


def test_drop_before_writes_nothing_and_drop_after_writes(client: TestClient) -> None:
    faults_of(client).add(FaultRule(path="record.json", drop="before"))
    with pytest.raises(httpx.RemoteProtocolError):
        add(client, "A")
    assert codes(client) == []
    faults_of(client).add(FaultRule(path="record.json", drop="after"))
    with pytest.raises(DroppedConnection):
        add(client, "B")
    assert codes(client) == ["B"]


def test_fault_rules_over_http(client: TestClient) -> None:
    resp = client.post("/_emulator/faults", json={"path": "records.json", "status": 502})
    assert resp.json()["rules"][0]["path"] == "records.json"
    bad = client.post("/_emulator/faults", json={"path": "x", "drop": "sideways"})
    assert bad.status_code == 400
    assert "drop" in bad.json()["message"]
    assert client.get("/k/v1/records.json", params={"app": 1}).status_code == 502
    client.delete("/_emulator/faults")
    assert client.get("/_emulator/faults").json() == {"rules": []}
    assert client.get("/k/v1/records.json", params={"app": 1}).status_code == 200


def statuses(seed: Seed, calls: int) -> list[str]:
    out = []
    with make_client(seed, fault_rate=0.3, seed_random=7) as c:
        for _ in range(calls):
            try:
                out.append(str(c.get("/k/v1/app.json", params={"id": 1}).status_code))
            except httpx.RemoteProtocolError:
                out.append("dropped")
    return out


def test_random_faults_repeat_for_a_seed(seed: Seed) -> None:
    first = statuses(seed, 60)
    assert first == statuses(seed, 60)
    faults = [s for s in first if s != "200"]
    assert 6 <= len(faults) <= 30
    assert set(faults) <= {"503", "429", "409", "dropped"}


def test_stats_count_endpoints_statuses_and_app_calls(client: TestClient) -> None:
    client.get("/k/v1/app.json", params={"id": 1})
    requests = [
        {"method": "POST", "api": "/k/v1/records.json", "payload": {"app": 1, "records": []}},
        {"method": "POST", "api": "/k/v1/record.json", "payload": {"app": 3, "record": {}}},
    ]
    client.headers["X-Cybozu-API-Token"] = "full-token,product-token"
    client.post("/k/v1/bulkRequest.json", json={"requests": requests})
    stats = client.get("/_emulator/stats").json()
    assert stats["requests"] == 2
    assert stats["endpoints"] == {"GET /k/v1/app.json": 1, "POST /k/v1/bulkRequest.json": 1}
    assert stats["statuses"] == {"200": 1, "400": 1}  # app 3's record lacks its required sku
    assert stats["apps"]["1"]["calls"] == {"GET /k/v1/app.json": 1, "POST /k/v1/records.json": 1}
    assert stats["apps"]["3"]["requests"] == 1
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert stats["apps"]["1"]["daily"] == {today: 2}
    client.delete("/_emulator/stats")
    assert client.get("/_emulator/stats").json()["requests"] == 0


def test_per_record_latency_waits_for_the_records_written(seed: Seed) -> None:
    with make_client(seed, latency={"per_request_ms": 0, "per_record_ms": 2}) as c:
        records = [{"code": {"value": f"L{i}"}} for i in range(100)]
        started = time.monotonic()
        resp = c.post("/k/v1/records.json", json={"app": 1, "records": records})
        elapsed = time.monotonic() - started
    assert resp.status_code == 200
    assert elapsed >= 0.2


def test_data_file_survives_a_restart(seed: Seed, tmp_path: Path) -> None:
    data = tmp_path / "domain.bin"
    with TestClient(create_app(seed, data=data), base_url=BASE_URL, headers=TOKEN) as c:
        assert add(c, "KEEP").status_code == 200
    assert data.exists()
    with TestClient(create_app(seed, data=data), base_url=BASE_URL, headers=TOKEN) as c:
        assert codes(c) == ["KEEP"]
        assert add(c, "NEXT").json()["id"] == "2"  # ids continue, never reused


# --- behind a real socket ---------------------------------------------------------------------


@pytest.fixture
def served(seed: Seed) -> Iterator[tuple[str, Any]]:
    app = create_app(seed)
    with serve_app(app) as port:
        yield f"http://127.0.0.1:{port}", app


def test_dropped_connection_over_a_socket(served: tuple[str, Any]) -> None:
    url, app = served
    app.state.emulator.api.faults.add(FaultRule(path="record.json", drop="after"))
    with httpx.Client(base_url=url, headers=TOKEN) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            add(c, "GHOST")
        records = c.get("/_emulator/records", params={"app": 1}).json()["records"]
    assert [r["code"]["value"] for r in records] == ["GHOST"]
