"""`kintone-sync demo`: a directory to explore afterwards, and --serve keeps the emulator up."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.demo import DEMO_TOKEN_ENV, SAMPLE_TOKEN

REPO = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).parent / "kintone-sync")


def test_the_demo_names_its_directory_and_the_commands_to_try(tmp_path: Path) -> None:
    where = tmp_path / "my demo"  # a space: the printed commands must quote it
    result = CliRunner().invoke(main, ["demo", "--dir", str(where)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    project = where / "kintone-sync.yaml"
    assert {p.name for p in where.iterdir()} >= {
        "kintone-sync.yaml",
        "mappings",
        "warehouse.duckdb",
        "emulator-seed.yaml",
        ".kintone-sync",
    }
    shown = f"--project '{project}'"
    for command in ("runs", "plan customers", "rejects customers", "verify customers"):
        assert f"kintone-sync {command} {shown}" in result.stdout
    assert f"export {DEMO_TOKEN_ENV}={SAMPLE_TOKEN}" in result.stdout
    # The state stayed: `runs` on the printed project lists the demo's run.
    runs = CliRunner().invoke(main, ["runs", "--project", str(project)], catch_exceptions=False)
    assert runs.exit_code == 0
    assert re.search(r"\s1\s+customers\s.*succeeded\s+1,000\s+1,000", runs.stdout), runs.stdout


def test_a_file_in_the_way_of_the_directory_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path / "taken")])
    assert result.exit_code == 2
    assert "taken" in result.output


def test_serve_keeps_the_emulator_answering_until_ctrl_c(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != DEMO_TOKEN_ENV}
    with subprocess.Popen(
        [CLI, "demo", "--dir", str(tmp_path), "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    ) as demo:
        assert demo.stdout is not None
        seen = []
        for line in demo.stdout:  # blocks until the demo prints; no sleeping
            seen.append(line)
            if "until Ctrl-C" in line:
                break
        else:
            pytest.fail("the demo ended without serving:\n" + "".join(seen) + demo.stderr.read())
        url = re.search(r"http://localhost:\d+", line)
        assert url is not None
        records = httpx.get(
            f"{url.group()}/k/v1/records.json",
            params={"app": 1, "totalCount": "true"},
            headers={"X-Cybozu-API-Token": SAMPLE_TOKEN},
        )
        assert records.json()["totalCount"] == "1000"
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, out
    assert "stopping the emulator" in out
    # The records it served were saved beside the state, for the next demo or emulator.
    assert (tmp_path / ".kintone-sync" / "emulator.json").stat().st_size > 0


def test_the_demo_overwrites_no_project_file_of_its_own(tmp_path: Path) -> None:
    mine = tmp_path / "kintone-sync.yaml"
    mine.write_text("source: {url: 'duckdb:///real.duckdb'}\n")
    result = CliRunner().invoke(main, ["demo", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a demo's project file" in result.output
    assert mine.read_text() == "source: {url: 'duckdb:///real.duckdb'}\n"
    assert not (tmp_path / "warehouse.duckdb").exists()
