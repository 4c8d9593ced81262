"""Fixtures: the conformance seed and the emulator in-process behind starlette's TestClient."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.emulator import Options, Seed, create_app, load_seed

SEED_FILE = Path(__file__).with_name("seed.yaml")
BASE_URL = "https://example.cybozu.com"


@pytest.fixture(scope="session")
def seed() -> Seed:
    return load_seed(SEED_FILE)


def make_client(seed: Seed, headers: dict[str, str] | None = None, **options: object) -> TestClient:
    """A TestClient on a fresh emulator; `options` override the seed's switches."""
    app = create_app(seed, options=Options.model_validate({**seed.options.model_dump(), **options}))
    client = TestClient(app, base_url=BASE_URL)
    client.headers.update(headers if headers is not None else {"X-Cybozu-API-Token": "full-token"})
    return client


def error(resp: Any, status: int, code: str) -> dict[str, Any]:
    """Assert a Kintone error answer (status, code, an id and a message) and return its body."""
    assert resp.status_code == status, resp.text
    body: dict[str, Any] = resp.json()
    assert body["code"] == code, body
    assert body["id"]
    assert body["message"]
    return body


def password_header(login: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{login}:{password}".encode()).decode()
    return {"X-Cybozu-Authorization": raw}


@pytest.fixture
def client(seed: Seed) -> Iterator[TestClient]:
    with make_client(seed) as c:
        yield c


@pytest.fixture
def options() -> Options:
    return Options()
