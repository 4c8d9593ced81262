"""Hostile requests get Kintone-style JSON errors: never a 500, never a dropped connection."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from connector.emulator import FaultRule, Seed, create_app
from connector.emulator.params import MAX_JSON_DEPTH, is_integer_text
from connector.emulator.query import MAX_NESTING

from .conftest import BASE_URL, error, password_header

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def strict(seed: Seed) -> Iterator[TestClient]:
    """A client on which any exception inside the app fails the test."""
    with TestClient(create_app(seed), base_url=BASE_URL, raise_server_exceptions=True) as c:
        c.headers["X-Cybozu-API-Token"] = "full-token"
        yield c


def test_a_lone_surrogate_is_refused_at_write_and_reads_keep_working(strict: TestClient) -> None:
    body = b'{"app": 1, "record": {"code": {"value": "a\\ud800"}}}'
    error(strict.post("/k/v1/record.json", content=body, headers=JSON), 400, "CB_IJ01")
    assert strict.get("/k/v1/records.json", params={"app": 1}).status_code == 200
    assert strict.get("/_emulator/records", params={"app": 1}).json() == {"records": []}


def test_a_lone_surrogate_in_a_key_is_refused(strict: TestClient) -> None:
    body = b'{"app": 1, "record": {"\\udc00": {"value": "x"}}}'
    error(strict.post("/k/v1/record.json", content=body, headers=JSON), 400, "CB_IJ01")


@pytest.mark.parametrize("depth", [100_000, MAX_JSON_DEPTH + 1])
def test_deeply_nested_json_is_cb_ij01(strict: TestClient, depth: int) -> None:
    body = b'{"app": 1, "record": ' + b"[" * depth + b"]" * depth + b"}"
    error(strict.post("/k/v1/record.json", content=body, headers=JSON), 400, "CB_IJ01")


@pytest.mark.parametrize("body", [b"NaN", b'{"app": Infinity}', b'{"app": ' + b"9" * 5000 + b"}"])
def test_json_python_reads_but_kintone_does_not_is_cb_ij01(strict: TestClient, body: bytes) -> None:
    error(strict.post("/k/v1/record.json", content=body, headers=JSON), 400, "CB_IJ01")


def test_5000_nested_parentheses_are_a_query_error(strict: TestClient) -> None:
    query = "(" * 5000 + 'code = "a"' + ")" * 5000
    # Past 8 KB of URL a read goes as POST with the override header, as the clients do.
    headers = {"X-HTTP-Method-Override": "GET"}
    resp = strict.post("/k/v1/records.json", json={"app": 1, "query": query}, headers=headers)
    body = error(resp, 400, "CB_VA01")
    assert "parentheses" in body["errors"]["query"]["messages"][0]


def test_parentheses_up_to_the_bound_still_work(strict: TestClient) -> None:
    query = "(" * MAX_NESTING + 'code = "a"' + ")" * MAX_NESTING
    assert strict.get("/k/v1/records.json", params={"app": 1, "query": query}).status_code == 200


@pytest.mark.parametrize(
    "query",
    [
        "born = FROM_TODAY(99999999999, YEARS)",
        "born = FROM_TODAY(9000, YEARS)",
        "born = FROM_TODAY(x, DAYS)",
        "born = FROM_TODAY(², DAYS)",
        "limit ²",
        "limit " + "9" * 5000,
        'seen_at = "0001-01-01T00:00:00+09:00"',
    ],
)
def test_out_of_range_query_literals_are_query_errors(strict: TestClient, query: str) -> None:
    error(strict.get("/k/v1/records.json", params={"app": 1, "query": query}), 400, "CB_VA01")


def test_a_non_ascii_password_is_checked_not_crashed(seed: Seed) -> None:
    users = [
        u.model_copy(update={"password": "pässwörd"}) if u.code == "bob" else u for u in seed.users
    ]
    app = create_app(seed.model_copy(update={"users": users}))
    with TestClient(app, base_url=BASE_URL, raise_server_exceptions=True) as c:
        ok = c.get("/k/v1/app.json", params={"id": 1}, headers=password_header("bob", "pässwörd"))
        assert ok.status_code == 200
        wrong = c.get("/k/v1/app.json", params={"id": 1}, headers=password_header("bob", "päss"))
        error(wrong, 401, "CB_WA01")


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Cybozu-Authorization": "pässwörd".encode()},
        {"X-Cybozu-Authorization": base64.b64encode(b"\xff\xfe:x")},
        {"X-Cybozu-Authorization": "not base64!"},
    ],
)
def test_a_malformed_password_header_is_cb_wa01(
    strict: TestClient, headers: dict[str, str | bytes]
) -> None:
    strict.headers.pop("X-Cybozu-API-Token")
    resp = strict.get("/k/v1/app.json", params={"id": 1}, headers=headers)  # type: ignore[arg-type]
    error(resp, 401, "CB_WA01")


def test_a_non_ascii_token_is_gaia_ia02(strict: TestClient) -> None:
    resp = strict.get(
        "/k/v1/app.json", params={"id": 1}, headers={"X-Cybozu-API-Token": "tökén".encode()}
    )  # type: ignore[dict-item]
    error(resp, 400, "GAIA_IA02")


def test_a_non_ascii_basic_layer_is_cb_ba01(seed: Seed) -> None:
    options = seed.options.model_copy(update={"basic_auth": "user:pässwörd"})
    with TestClient(create_app(seed, options=options), base_url=BASE_URL) as c:
        basic = base64.b64encode("user:pässwörd".encode()).decode()
        headers = {"X-Cybozu-API-Token": "full-token", "Authorization": f"Basic {basic}"}
        assert c.get("/k/v1/app.json", params={"id": 1}, headers=headers).status_code == 200
        headers["Authorization"] = "Basic " + "ü"
        resp = c.get(
            "/k/v1/app.json", params={"id": 1}, headers={k: v.encode() for k, v in headers.items()}
        )  # type: ignore[misc]
        error(resp, 401, "CB_BA01")


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"offset": "abc"}, "offset"),
        ({"limit": "abc"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"limit": "0"}, "limit"),
        ({"offset": "²"}, "offset"),
        ({"limit": "9" * 5000}, "limit"),
    ],
)
def test_bad_apps_paging_is_cb_va01(strict: TestClient, params: dict[str, str], key: str) -> None:
    body = error(strict.get("/k/v1/apps.json", params=params), 400, "CB_VA01")
    assert key in body["errors"]


@pytest.mark.parametrize(
    "path",
    ["/k/v1/record.json?app=1&id=²", "/k/v1/record.json?app=" + "9" * 5000 + "&id=1"],
)
def test_ids_python_cannot_convert_are_cb_va01(strict: TestClient, path: str) -> None:
    error(strict.get(path), 400, "CB_VA01")


def test_a_guest_space_id_python_cannot_convert_is_cb_nf01(strict: TestClient) -> None:
    error(strict.get("/k/guest/²/v1/app.json", params={"id": 1}), 404, "CB_NF01")


def test_a_row_id_python_cannot_convert_is_cb_ij01(strict: TestClient) -> None:
    record = {"code": {"value": "R1"}, "orders": {"value": [{"id": "9" * 5000, "value": {}}]}}
    resp = strict.post("/k/v1/record.json", json={"app": 1, "record": record})
    error(resp, 400, "CB_IJ01")


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ({"path": "*", "status": 99}, "status"),
        ({"path": "*", "status": 200}, "status"),
        ({"path": "*", "status": "503"}, "status"),
        ({"path": "*", "status": True}, "status"),
        ({"path": 5, "status": 503}, "path"),
        ({"path": "", "status": 503}, "path"),
        ({"path": "*", "method": "FETCH", "status": 503}, "method"),
        ({"path": "*", "method": 1, "status": 503}, "method"),
        ({"path": "*", "code": "GAIA DA02"}, "code"),
        ({"path": "*", "code": ["GAIA_DA02"]}, "code"),
        ({"path": "*", "code": "GAIA_DA02", "message": 5}, "message"),
        ({"path": "*", "status": 503, "after": "2"}, "after"),
        ({"path": "*", "status": 503, "times": -1}, "times"),
        ({"path": "*", "status": 503, "retry_after": 1.5}, "retry_after"),
        ({"path": "*", "status": 503, "seen": 3}, "unknown key 'seen'"),
        ({"path": "*", "drop": "sideways"}, "drop"),
    ],
)
def test_an_invalid_fault_rule_is_refused_when_added(
    strict: TestClient, rule: dict[str, object], words: str
) -> None:
    resp = strict.post("/_emulator/faults", json=rule)
    assert resp.status_code == 400
    assert words in resp.json()["message"]
    assert strict.get("/_emulator/faults").json() == {"rules": []}
    assert strict.get("/k/v1/app.json", params={"id": 1}).status_code == 200


@pytest.mark.parametrize("body", [b"[]", b"{", b"\xff", b"[" * 100_000])
def test_a_fault_body_that_is_not_an_object_is_refused(strict: TestClient, body: bytes) -> None:
    resp = strict.post("/_emulator/faults", content=body, headers=JSON)
    assert resp.status_code == 400
    assert resp.json()["message"].startswith("bad fault rule")


def test_the_method_of_a_fault_rule_is_case_insensitive() -> None:
    assert FaultRule(path="*", method="put", status=503).method == "PUT"


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("12", True),
        ("-3", True),
        ("", False),
        ("-", False),
        ("²", False),
        ("١٢", False),
        ("9" * 18, True),
        ("9" * 19, False),
        ("1.5", False),
        (" 1", False),
    ],
)
def test_integer_text(text: str, ok: bool) -> None:
    assert is_integer_text(text) is ok


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "multipart/form-data; boundary=xx"]
)
def test_a_malformed_upload_is_cb_va01(strict: TestClient, content_type: str) -> None:
    resp = strict.post(
        "/k/v1/file.json", content=b"garbage", headers={"Content-Type": content_type}
    )
    body = error(resp, 400, "CB_VA01")
    assert "file" in body["errors"]


def test_a_malformed_oauth_form_is_invalid_request(strict: TestClient) -> None:
    headers = {"Content-Type": "multipart/form-data; boundary=xx"}
    resp = strict.post("/oauth2/token", content=b"garbage", headers=headers)
    assert (resp.status_code, resp.json()) == (400, {"error": "invalid_request"})
