"""The command line over a real socket: run, plan, check, init, auth login, exit codes, JSON."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
import yaml
from click.testing import CliRunner

from connector import rights
from connector.cli import EXIT_REFUSED, EXIT_USAGE, main
from connector.config import ConnectionConfig
from connector.demo import serve_emulator
from connector.emulator import Seed, load_seed
from connector.kintone.client import KintoneClient
from connector.kintone.login import login
from tests.cli_display.tables import table_rows

from .conftest import REPO

EMULATOR_SEED = REPO / "tests" / "emulator" / "seed.yaml"


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with serve_emulator() as bound:
        yield bound


@pytest.fixture
def cli_project(project_dir: Path, port: int, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The project pointed at the served sample emulator, reset to its seed."""
    httpx.post(f"http://127.0.0.1:{port}/_emulator/reset")
    project_file = project_dir / "kintone-sync.yaml"
    project = yaml.safe_load(project_file.read_text())
    project["connections"]["default"]["base_url"] = f"http://localhost:{port}"
    project_file.write_text(yaml.safe_dump(project))
    monkeypatch.setenv("KINTONE_API_TOKEN", "sample-token")
    monkeypatch.chdir(project_dir)
    return project_file


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_run_prints_the_summary_then_plan_sees_nothing_to_do(cli_project: Path) -> None:
    result = invoke("run", "customers")
    assert result.exit_code == 0, result.output
    assert "customers -> app 1 (upsert)" in result.output
    assert table_rows(result.output)["customers"]["inserted"] == 1000
    planned = invoke("plan", "customers", "--output", "json")
    report = json.loads(planned.output)
    assert (report["dry_run"], report["unchanged"], report["updated"]) == (True, 1000, 0)
    assert "POST bulkRequest" not in report["api_calls_by_endpoint"]


def test_refused_rows_end_with_their_own_exit_code(cli_project: Path) -> None:
    with duckdb.connect(str(cli_project.parent / "warehouse.duckdb")) as con:
        con.execute("UPDATE customers SET credit_limit = -1 WHERE customer_id = 'C-0042'")
    result = invoke("run", "customers", "--output", "json")
    assert result.exit_code == EXIT_REFUSED
    report = json.loads(result.output)
    assert report["refused"] == 1
    assert report["refusals"][0]["key"] == ["C-0042"]
    assert report["refusals"][0]["field"] == "credit_limit"


def test_check_lists_nothing_for_the_sample(cli_project: Path) -> None:
    result = invoke("check", "customers")
    assert result.exit_code == 0, result.output
    assert "no problems: ready to run" in result.output
    assert "source rows: 1,000" in result.output


def test_check_lists_every_problem(cli_project: Path) -> None:
    mapping = yaml.safe_load((cli_project.parent / "mappings" / "customers.yaml").read_text())
    mapping["fields"]["ghost"] = "email"
    mapping["fields"]["segment"] = "no_column"
    (cli_project.parent / "mappings" / "customers.yaml").write_text(yaml.safe_dump(mapping))
    with duckdb.connect(str(cli_project.parent / "warehouse.duckdb")) as con:
        con.execute("INSERT INTO customers (customer_id) VALUES ('C-0001')")
    result = invoke("check", "customers")
    assert result.exit_code == EXIT_USAGE
    assert "3 problem(s):" in result.output
    assert "the app has no field 'ghost'" in result.output
    assert "no column 'no_column'" in result.output
    assert "customer_id=C-0001 ×2" in result.output


def test_config_errors_name_the_file(cli_project: Path) -> None:
    (cli_project.parent / "mappings" / "broken.yaml").write_text("app: 1\nfields: [x\n")
    result = CliRunner().invoke(main, ["run", "broken"])
    assert result.exit_code == EXIT_USAGE
    assert "broken.yaml: not valid YAML" in result.output


def test_missing_secret_is_named_not_shown(cli_project: Path) -> None:
    os.environ.pop("KINTONE_API_TOKEN")
    result = CliRunner().invoke(main, ["run", "customers"])
    assert result.exit_code == EXIT_USAGE
    assert "environment variable KINTONE_API_TOKEN is not set" in result.output


def test_init_matches_columns_to_fields(cli_project: Path) -> None:
    result = invoke("init", "fresh", "--app", "CUST", "--table", "customers")
    assert result.exit_code == 0, result.output
    text = (cli_project.parent / "mappings" / "fresh.yaml").read_text()
    mapping = yaml.safe_load(text)
    assert mapping["key"] == "customer_id"
    assert mapping["source"]["primary_key"] == ["customer_id"]
    assert mapping["fields"] == {
        "customer_id": "customer_id",
        "email": "email",
        "segment": "segment",
        "credit_limit": "credit_limit",
        "signed_up": "signed_up",
        "last_seen": "last_seen",
        "tags": "tags",
        "notes": "notes",
    }
    assert "# Fields no column matched: name (SINGLE_LINE_TEXT, required)" in text
    assert "# Tables to map under `subtables:` from child rows: orders" in text
    assert "# Columns not mapped: full_name" in text
    again = CliRunner().invoke(main, ["init", "fresh", "--app", "1", "--table", "customers"])
    assert again.exit_code == EXIT_USAGE
    assert "pass --force" in again.output


# --- rights and OAuth login -------------------------------------------------------------------


@pytest.fixture(scope="module")
def emulator_seed() -> Seed:
    return load_seed(EMULATOR_SEED)


@pytest.mark.parametrize(
    ("token", "mode", "missing"),
    [
        ("full-token", "upsert", []),
        ("edit-token", "update", []),
        ("edit-token", "upsert", ["add records"]),
        ("view-token", "upsert", ["add records", "edit records"]),
        ("view-token", "insert", ["add records"]),
    ],
)
def test_rights_are_probed_without_writing(
    emulator_seed: Seed, token: str, mode: str, missing: list[str]
) -> None:
    from .conftest import emulator_client, stored

    with emulator_client(emulator_seed, token=token) as client:
        need = {"insert": ["add"], "update": ["edit"], "upsert": ["add", "edit"]}[mode]
        problems = rights.missing(
            {r: f"mode {mode}" for r in need}, rights.probe(KintoneClient(client), 1)
        )
        assert stored(client) == []
    assert len(problems) == len(missing)
    for problem, right in zip(problems, missing, strict=True):
        assert f"may not {right}, which mode {mode} needs [GAIA_NO01]" in problem


def test_auth_login_stores_a_private_refresh_token(emulator_seed: Seed, tmp_path: Path) -> None:
    redirect = "http://localhost:18765/callback"
    client = {"client_id": "cli", "client_secret": "cli-secret", "redirect_uris": [redirect]}
    seed = Seed.model_validate({**emulator_seed.model_dump(), "oauth_clients": [client]})
    env = {"CID": "cli", "CSECRET": "cli-secret"}
    with serve_emulator(seed=seed) as bound:
        conn = ConnectionConfig.model_validate(
            {
                "base_url": f"http://localhost:{bound}",
                "auth": {
                    "oauth": {
                        "client_id_env": "CID",
                        "client_secret_env": "CSECRET",
                        "redirect_port": 18765,
                    }
                },
            }
        )

        def browser(url: str) -> None:
            # The consent page redirects to our local listener, as a browser would.
            consent = httpx.get(url)
            assert consent.status_code == 302
            httpx.get(consent.headers["location"])

        path = login(conn, root=tmp_path, open_browser=browser, env=env, timeout=10)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        refresh = json.loads(path.read_text())["refresh_token"]
        token = httpx.post(
            f"http://127.0.0.1:{bound}/oauth2/token",
            data={"grant_type": "refresh_token", "refresh_token": refresh},
            auth=("cli", "cli-secret"),
        )
        assert token.status_code == 200
        records = httpx.get(
            f"http://127.0.0.1:{bound}/k/v1/records.json",
            params={"app": 3},
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
    assert records.status_code == 200
    assert len(records.json()["records"]) == 2


def test_the_demo_runs_the_sample_then_carries_on_from_where_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = invoke("demo")
    assert first.exit_code == 0, first.output
    counts = table_rows(first.output)["customers"]
    assert (counts["inserted"], counts["refused"]) == (1000, 0)
    # The same directory again: its state and the emulator's records were kept together.
    again = invoke("demo")
    assert again.exit_code == 0, again.output
    counts = table_rows(again.output)["customers"]
    assert (counts["inserted"], counts["unchanged"]) == (0, 1000)
    assert (tmp_path / "kintone-sync-demo" / "kintone-sync.yaml").is_file()
