"""`run` of several jobs and `schedule --once` over real sockets: two emulators, a webhook."""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import yaml
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector.cli import EXIT_REFUSED, EXIT_USAGE, main
from connector.cli.batch import stopping_on_signals
from connector.config import load_project
from connector.demo import build_sample, serve_app, serve_emulator
from connector.runner import sync
from connector.state import StateStore

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ports() -> Iterator[tuple[int, int]]:
    """Two Kintone domains: two emulators on two ports."""
    with serve_emulator() as first, serve_emulator() as second:
        yield first, second


@pytest.fixture(scope="module")
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A chat webhook on a real socket; the bodies it was sent."""
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> JSONResponse:
        received.append(await request.json())
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route("/hooks/secret-part", hook, methods=["POST"])])
    with serve_app(app) as port:
        yield f"http://127.0.0.1:{port}/hooks/secret-part", received


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("warehouse") / "sample.duckdb"
    build_sample(path)
    with duckdb.connect(str(path)) as con:
        con.execute(
            "CREATE TABLE many AS SELECT 'M-' || lpad(i::VARCHAR, 5, '0') AS customer_id, "
            "'name ' || i AS full_name FROM range(2500) t(i)"
        )
    return path


def mapping(connection: str, table: str = "customers") -> dict[str, Any]:
    return {
        "app": "CUST",
        "connection": connection,
        "source": {"table": table, "primary_key": ["customer_id"]},
        "mode": "upsert",
        "key": "customer_id",
        "fields": {"customer_id": "customer_id", "name": "full_name"},
    }


@pytest.fixture
def project_file(
    tmp_path: Path,
    warehouse: Path,
    ports: tuple[int, int],
    webhook: tuple[str, list[dict[str, Any]]],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """customers and copy on two domains (copy needs customers), broken (no such table) and
    after_broken (needs it) on the second; alerts to the webhook."""
    for port in ports:
        httpx.post(f"http://127.0.0.1:{port}/_emulator/reset")
    webhook[1].clear()
    shutil.copy(warehouse, tmp_path / "warehouse.duckdb")
    (tmp_path / "mappings").mkdir()
    for name, spec in {
        "customers": mapping("first"),
        "copy": mapping("second"),
        "broken": mapping("second", "nowhere"),
        "after_broken": mapping("first"),
    }.items():
        (tmp_path / "mappings" / f"{name}.yaml").write_text(yaml.safe_dump(spec))
    auth = {"api_token_env": "KINTONE_API_TOKEN"}
    project = {
        "source": {"url": "duckdb:///warehouse.duckdb"},
        "connections": {
            "first": {"base_url": f"http://localhost:{ports[0]}", "auth": auth},
            "second": {"base_url": f"http://localhost:{ports[1]}", "auth": auth},
        },
        "jobs": {
            "copy": {"needs": ["customers"]},
            "after_broken": {"needs": ["broken"]},
        },
        "alerts": {"webhook_url_env": "TEAM_HOOK"},
    }
    path = tmp_path / "kintone-sync.yaml"
    path.write_text(yaml.safe_dump(project))
    monkeypatch.setenv("KINTONE_API_TOKEN", "sample-token")
    monkeypatch.setenv("TEAM_HOOK", webhook[0])
    monkeypatch.chdir(tmp_path)
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def records(port: int) -> int:
    answer = httpx.get(f"http://127.0.0.1:{port}/_emulator/records", params={"app": 1})
    return len(answer.json()["records"])


def test_run_all_orders_by_needs_skips_after_a_failure_and_exits_with_the_worst(
    project_file: Path, ports: tuple[int, int], webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    result = invoke("run", "--all", "--output", "json")
    data = json.loads(result.output)
    by_job = {j["job"]: j for j in data["jobs"]}
    # needs first, otherwise the order of the mapping files
    assert list(by_job) == ["broken", "after_broken", "customers", "copy"]
    assert {j: v["status"] for j, v in by_job.items()} == {
        "broken": "failed",
        "after_broken": "skipped",
        "customers": "succeeded",
        "copy": "succeeded",
    }
    assert by_job["after_broken"]["reason"] == "needs broken, which failed"
    assert by_job["broken"]["exit_code"] == EXIT_USAGE  # no such table: fix the mapping
    assert "nowhere" in by_job["broken"]["error"]
    assert data["exit_code"] == result.exit_code == by_job["broken"]["exit_code"]
    assert by_job["customers"]["report"]["inserted"] == 1000
    assert (records(ports[0]), records(ports[1])) == (1000, 1000)
    # one alert: the failure; the skip is its consequence, the successes need none
    texts = [body["text"] for body in webhook[1]]
    assert len(texts) == 1
    assert texts[0].startswith("kintone-sync: job broken failed: ")
    assert "secret-part" not in result.output


def test_run_of_named_jobs_in_needs_order_and_refused_rows_alerted(
    project_file: Path, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    with duckdb.connect(str(project_file.parent / "warehouse.duckdb")) as con:
        con.execute("UPDATE customers SET full_name = NULL WHERE customer_id = 'C-0042'")
    result = invoke("run", "copy", "customers")
    assert result.exit_code == EXIT_REFUSED, result.output
    first = result.output.index("customers -> app 1")
    assert result.output.index("copy -> app 1") > first > -1
    assert len(webhook[1]) == 2  # each run refused the row
    assert {b["text"].split(" refused")[0] for b in webhook[1]} == {
        "kintone-sync: job copy",
        "kintone-sync: job customers",
    }
    assert "- row C-0042 field name: " in webhook[1][0]["text"]


def test_run_one_job_prints_as_before_and_its_error_is_one_line(project_file: Path) -> None:
    ok = invoke("run", "customers")
    assert ok.exit_code == 0
    assert ok.output.startswith("customers -> app 1 (upsert)")
    failed = CliRunner().invoke(main, ["run", "broken"])
    assert failed.exit_code == EXIT_USAGE
    assert failed.output.startswith("error: unknown table 'nowhere'")


def test_run_needs_jobs_or_all_not_both(project_file: Path) -> None:
    assert invoke("run").exit_code == EXIT_USAGE
    assert invoke("run", "customers", "--all").exit_code == EXIT_USAGE


def test_schedule_once_runs_what_is_due_then_nothing(
    project_file: Path, ports: tuple[int, int]
) -> None:
    project = yaml.safe_load(project_file.read_text())
    project["jobs"] = {
        "customers": {"schedule": "0 0 1 1 *", "timezone": "Asia/Tokyo"},
        "copy": {"schedule": "0 0 1 1 *", "needs": ["customers"]},
    }
    project_file.write_text(yaml.safe_dump(project))
    first = invoke("schedule", "--once")
    assert first.exit_code == 0, first.output
    assert (records(ports[0]), records(ports[1])) == (1000, 1000)
    store = StateStore.open(None, project_file.parent)
    try:
        ran = [(r["job"], r["status"]) for r in store.log.runs()]
    finally:
        store.close()
    assert sorted(ran) == [("copy", "succeeded"), ("customers", "succeeded")]
    # both ran after their last scheduled time (1 January): nothing is due now
    again = invoke("schedule", "--once")
    assert again.exit_code == 0
    store = StateStore.open(None, project_file.parent)
    try:
        assert len(store.log.runs()) == 2
    finally:
        store.close()


def test_a_stopped_run_ends_after_its_batch_and_the_next_carries_on(
    project_file: Path, ports: tuple[int, int]
) -> None:
    (project_file.parent / "mappings" / "many.yaml").write_text(
        yaml.safe_dump(mapping("first", "many"))
    )
    project = yaml.safe_load(project_file.read_text())
    project["limits"] = {"concurrency": 1}  # one batch: 2,000 rows
    project_file.write_text(yaml.safe_dump(project))
    loaded = load_project(project_file)
    stop = threading.Event()
    stop.set()  # SIGTERM came before the first batch was written
    report = sync(loaded, "many", stop=stop)
    assert (report.stopped, report.rows_read, report.inserted) == (True, 2000, 2000)
    assert records(ports[0]) == 2000
    store = StateStore.open(None, project_file.parent)
    try:
        assert store.log.runs("many")[0]["status"] == "stopped"
    finally:
        store.close()
    rest = sync(loaded, "many")
    assert (rest.stopped, rest.inserted, rest.unchanged) == (False, 500, 2000)
    assert records(ports[0]) == 2500


def test_sigterm_and_sigint_set_the_stop_and_are_put_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    for sig in (signal.SIGTERM, signal.SIGINT):
        stop = threading.Event()
        with stopping_on_signals(stop):
            os.kill(os.getpid(), sig)
            assert stop.wait(5)
    assert signal.getsignal(signal.SIGTERM) is before
