"""The sample project, the in-process emulator, and the sample emulator served on a port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from starlette.applications import Starlette

from connector.demo import serve_app
from connector.emulator import Seed, create_app
from tests.sync.conftest import (  # noqa: F401  (fixtures)
    kintone,
    project,
    project_dir,
    sample_seed,
    sample_warehouse,
)

TOKEN = "sample-token"


@pytest.fixture(scope="module")
def emulator(sample_seed: Seed) -> Iterator[tuple[int, Starlette]]:  # noqa: F811
    app = create_app(sample_seed)
    with serve_app(app) as port:
        yield port, app


@pytest.fixture
def cli_project(
    project_dir: Path,  # noqa: F811
    emulator: tuple[int, Starlette],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The sample project on the served emulator, reset; retries without waiting."""
    port, _ = emulator
    httpx.post(f"http://127.0.0.1:{port}/_emulator/reset")
    project_file = project_dir / "kintone-sync.yaml"
    settings = yaml.safe_load(project_file.read_text())
    settings["connections"]["default"]["base_url"] = f"http://localhost:{port}"
    settings["retry"] = {"backoff_seconds": 0}
    project_file.write_text(yaml.safe_dump(settings))
    monkeypatch.setenv("KINTONE_API_TOKEN", TOKEN)
    monkeypatch.chdir(project_dir)
    return project_file
