"""Fixtures: the HR example project (docs/examples/hr) on a fresh warehouse, and its emulator."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from starlette.testclient import TestClient

from connector.config import ProjectConfig, load_project
from connector.emulator import create_app, load_seed
from connector.report import SyncReport
from connector.runner import sync

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "hr"
BASE_URL = "https://example.cybozu.com"
ADMIN = ("admin", "admin-password")
PASSWORD = "Initial-Pa55-word!"
ENV = {"HR_INITIAL_PASSWORD": PASSWORD}


@pytest.fixture
def hr_dir(tmp_path: Path) -> Path:
    """The HR example copied, with its warehouse built from hr.sql."""
    shutil.copytree(EXAMPLE, tmp_path, dirs_exist_ok=True)
    with duckdb.connect(str(tmp_path / "hr.duckdb")) as con:
        con.execute((tmp_path / "hr.sql").read_text(encoding="utf-8"))
    return tmp_path


@pytest.fixture
def hr(hr_dir: Path) -> ProjectConfig:
    return load_project(hr_dir / "kintone-sync.yaml")


def cybozu(seed_file: Path, login: tuple[str, str] = ADMIN, **options: Any) -> TestClient:
    seed = load_seed(seed_file)
    app = create_app(seed, options=seed.options.model_copy(update=options))
    client = TestClient(app, base_url=BASE_URL)
    pair = f"{login[0]}:{login[1]}".encode()
    client.headers["X-Cybozu-Authorization"] = base64.b64encode(pair).decode()
    return client


@pytest.fixture
def directory(hr_dir: Path) -> Iterator[TestClient]:
    with cybozu(hr_dir / "seed.yaml") as client:
        yield client


Run = Callable[..., SyncReport]


@pytest.fixture
def run(hr: ProjectConfig, directory: TestClient) -> Run:
    def go(job: str, **options: Any) -> SyncReport:
        return sync(hr, job, http=directory, env=ENV, **options)

    return go


def warehouse(hr_dir: Path, sql: str) -> None:
    with duckdb.connect(str(hr_dir / "hr.duckdb")) as con:
        con.execute(sql)


def users(client: TestClient, *codes: str) -> dict[str, dict[str, Any]]:
    params = {"codes": list(codes)} if codes else {}
    body = client.get("/v1/users.json", params=params).json()
    return {u["code"]: u for u in body["users"]}


def set_mapping(hr_dir: Path, job: str, **changes: Any) -> None:
    path = hr_dir / "mappings" / f"{job}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
