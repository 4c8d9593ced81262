"""Fixtures: a project on the sample warehouse, pointed at the sample emulator on a socket."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result

from connector.cli import main
from connector.demo import build_sample, serve_emulator

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("warehouse") / "sample.duckdb"
    build_sample(path)
    return path


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with serve_emulator() as bound:
        yield bound


@pytest.fixture
def project_dir(
    tmp_path: Path, sample_warehouse: Path, port: int, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """The repository's mappings, a warehouse copy, and a project file on the served emulator
    (reset to its seed); the working directory is the project's."""
    httpx.post(f"http://127.0.0.1:{port}/_emulator/reset")
    shutil.copy(sample_warehouse, tmp_path / "warehouse.duckdb")
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    project = {
        "source": {"url": "duckdb:///warehouse.duckdb"},
        "connections": {
            "default": {
                "base_url": f"http://localhost:{port}",
                "auth": {"api_token_env": "KINTONE_API_TOKEN"},
            }
        },
    }
    (tmp_path / "kintone-sync.yaml").write_text(yaml.safe_dump(project), encoding="utf-8")
    monkeypatch.setenv("KINTONE_API_TOKEN", "sample-token")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def json_out(result: Result) -> Any:
    """The one JSON object a command printed on stdout."""
    return json.loads(result.stdout)


def edit_mapping(project_dir: Path, name: str, **changes: Any) -> Path:
    """mappings/<name>.yaml as the customers mapping with top-level keys changed."""
    path = project_dir / "mappings" / f"{name}.yaml"
    mapping = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    mapping.update(changes)
    path.write_text(yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8")
    return path
