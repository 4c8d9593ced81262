"""The User API under hostile bodies, secret-keeping across every read, and its speed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.emulator import Seed

from .conftest import error, make_client, password_header

ALICE = password_header("alice", "s3cret:x")
WRITES = [
    ("POST", "/v1/users.json", "users"),
    ("PUT", "/v1/users.json", "users"),
    ("DELETE", "/v1/users.json", "codes"),
    ("PUT", "/v1/users/codes.json", "codes"),
    ("PUT", "/v1/users/services.json", "users"),
    ("POST", "/v1/organizations.json", "organizations"),
    ("PUT", "/v1/organizations.json", "organizations"),
    ("DELETE", "/v1/organizations.json", "codes"),
    ("PUT", "/v1/organizations/codes.json", "codes"),
    ("PUT", "/v1/userOrganizations.json", "userOrganizations"),
    ("PUT", "/v1/user/groups.json", "groups"),
    ("PUT", "/v1/group/users.json", "users"),
]
HOSTILE_LISTS: list[Any] = [
    None,
    "text",
    12,
    {"a": 1},
    [None],
    [1, 2],
    [[[]]],
    [{"code": ["bob"], "name": {"x": 1}, "password": 5}],
    [{"code": "bob", "organizations": "sales", "services": "kintone", "currentCode": 1}],
    [{"code": "z" * 100_000, "name": "n" * 100_000, "password": "p"}],
    [{"code": "bob", "unknown": True, "orgCode": None, "titleCode": []}],
    [{"code": "bob", "customItemValues": [None, {"code": None}]}],
    [{"code": "bob", "organizations": [None, "sales", {"orgCode": 7}]}],
]
READS = [
    "/v1/users.json",
    "/v1/users/services.json",
    "/v1/organizations.json",
    "/v1/groups.json",
    "/v1/organization/users.json",
    "/v1/user/organizations.json",
    "/v1/user/groups.json",
    "/v1/group/users.json",
]
HOSTILE_QUERIES = [
    {"size": "1e309"},
    {"size": "-1"},
    {"offset": "99999999999999999999999"},
    {"ids[0]": "x"},
    {"ids[0]": "1", "codes[0]": "alice"},
    {"code": ""},
    {"codes[0]": "\u0000"},
]


@pytest.fixture
def admin(seed: Seed) -> Iterator[TestClient]:
    with make_client(seed, ALICE) as c:
        yield c


def clean_refusal(resp: Any) -> None:
    """A 4xx with a User API error body; never a 500 and never a success."""
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
    body = resp.json()
    assert body["code"]
    assert body["id"]
    assert body["message"]


@pytest.mark.parametrize(("method", "path", "name"), WRITES)
@pytest.mark.parametrize("value", HOSTILE_LISTS, ids=range(len(HOSTILE_LISTS)))
def test_hostile_write_bodies_get_a_clean_refusal(
    admin: TestClient, method: str, path: str, name: str, value: Any
) -> None:
    before = admin.get("/v1/users.json").json()
    clean_refusal(admin.request(method, path, json={name: value, "code": "staff"}))
    assert admin.get("/v1/users.json").json() == before


@pytest.mark.parametrize(("method", "path", "name"), WRITES)
@pytest.mark.parametrize(
    "raw", [b"{", b"[]", b'"x"', b"\xff\xfe", b'{"users": NaN}', b"[" * 5000 + b"]" * 5000]
)
def test_bodies_that_are_not_json_objects_are_cb_ij01(
    admin: TestClient, method: str, path: str, name: str, raw: bytes
) -> None:
    resp = admin.request(method, path, content=raw, headers={"Content-Type": "application/json"})
    error(resp, 400, "CB_IJ01")


@pytest.mark.parametrize("path", READS)
@pytest.mark.parametrize("query", HOSTILE_QUERIES, ids=range(len(HOSTILE_QUERIES)))
def test_hostile_queries_never_crash(admin: TestClient, path: str, query: dict[str, str]) -> None:
    resp = admin.get(path, params={"code": "alice", **query})
    assert resp.status_code < 500, resp.text
    assert isinstance(resp.json(), dict)


def test_unknown_user_api_paths_answer_json(admin: TestClient) -> None:
    error(admin.get("/v1/nothing.json"), 404, "CB_NF01")
    # A method a path does not take falls through to the same JSON 404.
    error(admin.request("DELETE", "/v1/groups.json"), 404, "CB_NF01")


def test_no_answer_ever_carries_a_password(admin: TestClient) -> None:
    admin.post(
        "/v1/users.json", json={"users": [{"code": "carol", "name": "C", "password": "pw-c4rol"}]}
    )
    admin.put("/v1/group/users.json", json={"code": "staff", "users": ["alice", "bob", "carol"]})
    code_for = {"/v1/organization/users.json": "sales", "/v1/group/users.json": "staff"}
    answers = [admin.get(p, params={"code": code_for.get(p, "alice")}) for p in READS]
    for resp in answers:
        assert resp.status_code == 200, resp.text
        for secret in ("password", "s3cret", "hunter2", "pw-c4rol"):
            assert secret not in resp.text, resp.request.url


def test_five_thousand_users_and_five_hundred_organizations_stay_fast(seed: Seed) -> None:
    """Well under a second of CPU per 1,000 users through 100-item calls (client included)."""
    with make_client(seed, ALICE) as admin:
        started = time.process_time()
        for start in range(0, 500, 100):
            orgs = [{"code": f"o{i}", "name": f"O{i}"} for i in range(start, start + 100)]
            assert (
                admin.post("/v1/organizations.json", json={"organizations": orgs}).status_code
                == 200
            )
        for start in range(0, 5000, 100):
            batch = [
                {"code": f"u{i}", "name": f"U{i}", "password": "pw", "email": f"u{i}@x.jp"}
                for i in range(start, start + 100)
            ]
            assert admin.post("/v1/users.json", json={"users": batch}).status_code == 200
            memberships = [
                {"code": f"u{i}", "organizations": [{"orgCode": f"o{i % 500}"}]}
                for i in range(start, start + 100)
            ]
            body = {"userOrganizations": memberships}
            assert admin.put("/v1/userOrganizations.json", json=body).status_code == 200
            changed = [{"code": f"u{i}", "phone": "1"} for i in range(start, start + 100)]
            assert admin.put("/v1/users.json", json={"users": changed}).status_code == 200
        for start in range(0, 5000, 100):
            codes = {f"codes[{k}]": f"u{start + k}" for k in range(100)}
            assert len(admin.get("/v1/users.json", params=codes).json()["users"]) == 100
        elapsed = time.process_time() - started
        last = admin.get("/v1/organization/users.json", params={"code": "o499"}).json()
    assert len(last["userTitles"]) == 10
    assert elapsed < 2.5, f"{elapsed:.2f}s of CPU for 5,000 users"
