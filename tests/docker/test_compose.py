"""Compose and the scheduled example, run outside Docker: the commands, the healthcheck, the
walkthrough of docs/scheduling.md, and the scheduler against PostgreSQL as compose runs it."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connector.cli import main
from connector.demo import serve_app, serve_emulator
from connector.emulator import load_seed
from tests.pg import fresh_database

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker" / "compose.yaml"
EXAMPLE = REPO / "docs" / "examples" / "scheduled"


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text(encoding="utf-8")))


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A chat webhook on loopback: its URL and the bodies it received."""
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> JSONResponse:
        received.append(await request.json())
        return JSONResponse({"ok": True})

    with serve_app(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as port:
        yield f"http://127.0.0.1:{port}/hook", received


def pointed(project: Path, port: int) -> None:
    text = project.read_text(encoding="utf-8").replace("localhost:8080", f"localhost:{port}")
    project.write_text(text, encoding="utf-8")


def test_compose_runs_real_commands_on_files_that_exist() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert "site-packages" not in text
    services = compose()["services"]
    assert set(services) == {"postgres", "emulator", "scheduler"}
    for name in ("emulator", "scheduler"):
        command = services[name]["command"]
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0, (name, result.output)
        for volume in services[name]["volumes"]:
            host = volume.split(":")[0]
            if host.startswith("."):
                assert (COMPOSE.parent / host).exists(), volume
    init = services["postgres"]["volumes"][0].split(":")[0]
    assert (COMPOSE.parent / init).is_file()
    assert services["scheduler"]["network_mode"] == "service:emulator"
    assert services["scheduler"]["depends_on"]["emulator"]["condition"] == "service_healthy"
    seed = services["emulator"]["command"][2].replace("/project/", "")
    assert (EXAMPLE / seed).is_file()


def test_the_emulators_healthcheck_passes_on_a_served_emulator() -> None:
    check = compose()["services"]["emulator"]["healthcheck"]["test"]
    assert check[:3] == ["CMD", "python", "-c"]
    with serve_emulator(seed=load_seed(EXAMPLE / "emulator-seed.yaml")) as port:
        code = check[3].replace("127.0.0.1:8080", f"127.0.0.1:{port}")
        subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_emulator/stats", timeout=2)


def test_the_scheduler_runs_both_jobs_from_postgresql_as_compose_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scheduler = compose()["services"]["scheduler"]
    project = tmp_path / "project"
    shutil.copytree(EXAMPLE, project)
    with fresh_database() as url:
        import sqlalchemy as sa

        engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        raw = engine.raw_connection()
        try:
            raw.cursor().execute((REPO / "docker" / "sample-warehouse.sql").read_text("utf-8"))
            raw.commit()
        finally:
            raw.close()
            engine.dispose()
        env = dict(scheduler["environment"])
        env["WAREHOUSE_URL"] = url.replace("postgresql://", "postgresql+psycopg://")
        env["ALERT_WEBHOOK_URL"] = ""
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.chdir(project)
        with serve_emulator(seed=load_seed(project / "emulator-seed.yaml")) as port:
            pointed(project / "kintone-sync.yaml", port)
            result = CliRunner().invoke(main, [*scheduler["command"], "--once"])
            assert result.exit_code == 0, result.output
            records = urllib.request.urlopen(
                f"http://127.0.0.1:{port}/_emulator/records?app=2", timeout=5
            ).read()
    assert b'"customer_name"' in records
    history = CliRunner().invoke(main, ["runs", "--output", "json"])
    runs = {r["job"]: r for r in json.loads(history.output)}
    assert runs["customers"]["status"] == runs["orders"]["status"] == "succeeded"


def walkthrough() -> list[str]:
    text = (REPO / "docs" / "scheduling.md").read_text(encoding="utf-8")
    section = text.split("## Try it: two scheduled jobs", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def test_the_scheduling_walkthrough_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    lines = walkthrough()
    place = tmp_path / "scheduled"
    runner = CliRunner()
    url, received = webhook
    emulator: Any = None
    try:
        for line in lines:
            line = line.replace("/tmp/scheduled", str(place))
            command = line.split("  #")[0].strip()
            if command.startswith("cp -r "):
                shutil.copytree(EXAMPLE, place)
                monkeypatch.chdir(place)
            elif command.startswith("python -c"):
                args = shlex.split(command)
                subprocess.run([sys.executable, *args[1:]], check=True, cwd=place, timeout=120)
            elif command.startswith("export "):
                for pair in shlex.split(command)[1:]:
                    name, _, value = pair.partition("=")
                    monkeypatch.setenv(name, url if name == "ALERT_WEBHOOK_URL" else value)
            elif command.startswith("kintone-sync emulator"):
                args = shlex.split(command.rstrip("&"))
                emulator = serve_emulator(seed=load_seed(place / args[args.index("--seed") + 1]))
                port = emulator.__enter__()
                pointed(place / "kintone-sync.yaml", port)
            elif command.startswith("kintone-sync schedule"):
                result = runner.invoke(main, [*shlex.split(command)[1:], "--once"])
                assert result.exit_code == 0, result.output
            elif command.startswith("kintone-sync "):
                result = runner.invoke(main, shlex.split(command)[1:])
                assert result.exit_code == 0, (command, result.output)
            else:
                pytest.fail(f"the walkthrough has a line this test does not know: {line}")
        assert received == []  # nothing refused, nothing failed: no alert
        # "at the next run `orders` refuses that row, the run exits 3"
        result = runner.invoke(main, ["run", "--all"])
        assert result.exit_code == 3, result.output
        (alert,) = received
        assert "job orders refused 1 row(s)" in alert["text"]
        assert "O-0002-0" in alert["text"]
        rejects = runner.invoke(main, ["rejects", "orders", "--output", "json"])
        assert "O-0002-0" in rejects.output
    finally:
        if emulator is not None:
            emulator.__exit__(None, None, None)


def test_schedule_once_says_when_nothing_is_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "scheduled"
    shutil.copytree(EXAMPLE, project)
    text = (project / "kintone-sync.yaml").read_text(encoding="utf-8")
    (project / "kintone-sync.yaml").write_text(
        text.replace('"*/5 * * * *"', '"0 0 1 1 *"'), encoding="utf-8"
    )
    monkeypatch.chdir(project)
    for name, value in {
        "WAREHOUSE_URL": "duckdb:///warehouse.duckdb",
        "CUSTOMERS_TOKEN": "customers-token",
        "ORDERS_TOKEN": "orders-token",
        "ALERT_WEBHOOK_URL": "",
    }.items():
        monkeypatch.setenv(name, value)
    from connector.demo import build_sample

    build_sample(project / "warehouse.duckdb")
    runner = CliRunner()
    with serve_emulator(seed=load_seed(project / "emulator-seed.yaml")) as port:
        pointed(project / "kintone-sync.yaml", port)
        first = runner.invoke(main, ["schedule", "--once"])  # never ran: both are due
        assert first.exit_code == 0, first.output
        again = runner.invoke(main, ["schedule", "--once"])
    assert again.exit_code == 0
    assert "no job is due; the next scheduled time is" in again.stdout
