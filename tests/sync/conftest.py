"""Fixtures: the sample warehouse, a project around it, and the emulator in-process."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from connector.config import ProjectConfig, load_project
from connector.demo import build_sample
from connector.emulator import Seed, create_app, load_seed

REPO = Path(__file__).resolve().parents[2]
SAMPLE_SEED = REPO / "connector" / "samples" / "emulator-seed.yaml"
BASE_URL = "https://example.cybozu.com"


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("warehouse") / "sample.duckdb"
    build_sample(path)
    return path


@pytest.fixture(scope="session")
def sample_seed() -> Seed:
    return load_seed(SAMPLE_SEED)


@pytest.fixture
def project_dir(tmp_path: Path, sample_warehouse: Path) -> Path:
    """A project directory: the repository's mappings and a project file on a warehouse copy."""
    shutil.copy(sample_warehouse, tmp_path / "warehouse.duckdb")
    shutil.copytree(REPO / "mappings", tmp_path / "mappings")
    project = {
        "source": {"url": "duckdb:///warehouse.duckdb", "chunk_size": 250},
        "connections": {
            "default": {"base_url": BASE_URL, "auth": {"api_token_env": "KINTONE_API_TOKEN"}}
        },
    }
    (tmp_path / "kintone-sync.yaml").write_text(yaml.safe_dump(project), encoding="utf-8")
    return tmp_path


@pytest.fixture
def project(project_dir: Path) -> ProjectConfig:
    return load_project(project_dir / "kintone-sync.yaml")


def emulator_client(seed: Seed, token: str = "sample-token", **options: Any) -> TestClient:
    app = create_app(seed, options=seed.options.model_copy(update=options))
    client = TestClient(app, base_url=BASE_URL)
    client.headers["X-Cybozu-API-Token"] = token
    return client


@pytest.fixture
def kintone(sample_seed: Seed) -> Iterator[TestClient]:
    with emulator_client(sample_seed) as client:
        yield client


def write_mapping(project_dir: Path, name: str, mapping: dict[str, Any]) -> None:
    (project_dir / "mappings" / f"{name}.yaml").write_text(
        yaml.safe_dump(mapping, allow_unicode=True), encoding="utf-8"
    )


def stored(client: TestClient, app: int = 1) -> list[dict[str, Any]]:
    """Every record of an app, read through the emulator's inspection endpoint."""
    return list(client.get("/_emulator/records", params={"app": app}).json()["records"])


def stats(client: TestClient) -> dict[str, Any]:
    return dict(client.get("/_emulator/stats").json())
