"""`kintone-sync verify` and `run --verify` over a real socket: exit codes, JSON, repair."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from connector.cli import EXIT_DIFFERS, main
from connector.demo import serve_emulator
from tests.cli_display.tables import table_rows


@pytest.fixture
def served(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The project pointed at a served sample emulator; yields its base URL."""
    with serve_emulator() as port:
        base = f"http://localhost:{port}"
        project_file = project_dir / "kintone-sync.yaml"
        project = yaml.safe_load(project_file.read_text())
        project["connections"]["default"]["base_url"] = base
        project_file.write_text(yaml.safe_dump(project))
        monkeypatch.setenv("KINTONE_API_TOKEN", "sample-token")
        monkeypatch.chdir(project_dir)
        yield base


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_verify_exits_4_on_drift_and_run_verify_repairs_it(served: str) -> None:
    assert invoke("run", "customers").exit_code == 0
    headers = {"X-Cybozu-API-Token": "sample-token"}
    found = httpx.get(
        f"{served}/k/v1/records.json",
        params={"app": 1, "query": 'customer_id = "C-0030"'},
        headers=headers,
    ).json()["records"][0]
    edit = {"app": 1, "id": found["$id"]["value"], "record": {"notes": {"value": "hand"}}}
    assert httpx.put(f"{served}/k/v1/record.json", json=edit, headers=headers).is_success

    checked = invoke("verify", "customers", "--output", "json")
    assert checked.exit_code == EXIT_DIFFERS
    report = json.loads(checked.output)
    assert report["drifted"] == {"C-0030": ["notes"]}
    assert report["clean"] is False

    repaired = invoke("run", "customers", "--verify")
    assert repaired.exit_code == 0, repaired.output
    assert table_rows(repaired.output)["customers"]["updated"] == 1
    again = invoke("verify", "customers")
    assert again.exit_code == 0
    assert "drifted             0" in again.output
