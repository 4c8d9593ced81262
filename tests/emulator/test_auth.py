"""Conformance: tokens, passwords, Basic auth, guest spaces and OAuth (docs/kintone-api.md §7)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from starlette.testclient import TestClient

from connector.emulator import Seed
from connector.emulator.seed import UserSeed

from .conftest import error, make_client, password_header

ALICE = password_header("alice", "s3cret:x")
BOB = password_header("bob", "hunter2")
CLIENT_ID = "sync-client"
SECRET = "sync-secret"
REDIRECT = "https://sync.example/callback"
RECORD = {"code": {"value": "C-1"}}


def token(value: str) -> dict[str, str]:
    return {"X-Cybozu-API-Token": value}


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def read(c: TestClient, app: int = 1) -> Any:
    return c.get("/k/v1/records.json", params={"app": app})


def add(
    c: TestClient, record: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> Any:
    return c.post("/k/v1/record.json", json={"app": 1, "record": record or RECORD}, headers=headers)


# --- credentials ------------------------------------------------------------------------------


def test_no_credentials_is_401_cb_au01(seed: Seed) -> None:
    with make_client(seed, {}) as c:
        error(read(c), 401, "CB_AU01")


@pytest.mark.parametrize(
    "header",
    [
        password_header("alice", "wrong"),
        password_header("nobody", "s3cret:x"),
        {"X-Cybozu-Authorization": "not base64!"},
        {"X-Cybozu-Authorization": base64.b64encode(b"\xff\xfe").decode()},
    ],
    ids=["bad-password", "unknown-user", "malformed-base64", "not-utf8"],
)
def test_bad_password_is_401_cb_wa01(seed: Seed, header: dict[str, str]) -> None:
    with make_client(seed, header) as c:
        error(read(c), 401, "CB_WA01")


def test_password_with_a_colon_in_it_logs_in(seed: Seed) -> None:
    # Only the first colon separates login from password: alice's is "s3cret:x".
    with make_client(seed, ALICE) as c:
        resp = read(c)
    assert resp.status_code == 200, resp.text
    assert resp.json()["records"] == []


def test_unknown_token_is_400_gaia_ia02(seed: Seed) -> None:
    with make_client(seed, token("nope")) as c:
        error(read(c), 400, "GAIA_IA02")


def test_unknown_token_is_520_with_legacy_520(seed: Seed) -> None:
    with make_client(seed, token("nope"), legacy_520=True) as c:
        error(read(c), 520, "GAIA_IA02")


def test_one_invalid_token_in_a_list_fails_the_request(seed: Seed) -> None:
    with make_client(seed, token("full-token, nope")) as c:
        error(read(c), 400, "GAIA_IA02")


def test_ten_tokens_are_too_many(seed: Seed) -> None:
    with make_client(seed, token(",".join(["full-token"] * 10))) as c:
        error(read(c), 400, "GAIA_IA02")


def test_two_tokens_of_one_app_is_gaia_da03(seed: Seed) -> None:
    with make_client(seed, token("full-token,view-token")) as c:
        error(read(c), 400, "GAIA_DA03")


def test_token_of_another_app_is_403_gaia_no01(seed: Seed) -> None:
    with make_client(seed, token("product-token")) as c:
        error(read(c), 403, "GAIA_NO01")
        assert read(c, 3).status_code == 200


def test_view_token_cannot_write(seed: Seed) -> None:
    with make_client(seed, token("view-token")) as c:
        error(add(c), 403, "GAIA_NO01")
        assert read(c).json()["records"] == []


def test_edit_token_cannot_delete(seed: Seed) -> None:
    with make_client(seed) as c:
        assert add(c).status_code == 200
    with make_client(seed, token("edit-token")) as c:
        error(c.delete("/k/v1/records.json", params={"app": 1, "ids[0]": 1}), 403, "GAIA_NO01")


def test_app_token_plus_lookup_source_token_copies_the_lookup(seed: Seed) -> None:
    with make_client(seed, token("full-token,product-token")) as c:
        resp = add(c, {**RECORD, "product": {"value": "P-2"}})
        assert resp.status_code == 200, resp.text
        got = c.get("/k/v1/record.json", params={"app": 1, "id": resp.json()["id"]}).json()
    assert got["record"]["product_name"]["value"] == "Paper"
    assert got["record"]["Created_by"]["value"]["code"] == "Administrator"


def test_lookup_without_the_source_apps_token_is_gaia_lo04(seed: Seed) -> None:
    # docs/kintone-api.md §7: a token of the lookup's source app is needed; GAIA_LO04 says "or you
    # do not have permission to view the app".
    with make_client(seed, token("full-token")) as c:
        error(add(c, {**RECORD, "product": {"value": "P-2"}}), 400, "GAIA_LO04")


def test_password_wins_over_a_bad_token_by_default(seed: Seed) -> None:
    with make_client(seed, {**ALICE, **token("nope")}) as c:
        resp = add(c)
        assert resp.status_code == 200, resp.text
        got = c.get("/k/v1/record.json", params={"app": 1, "id": resp.json()["id"]}).json()
    assert got["record"]["Created_by"]["value"] == {"code": "alice", "name": "Alice"}


def test_token_wins_with_token_precedence(seed: Seed) -> None:
    with make_client(seed, {**ALICE, **token("nope")}, auth_precedence="token") as c:
        error(read(c), 400, "GAIA_IA02")
    bad_password = password_header("alice", "wrong")
    with make_client(seed, {**bad_password, **token("full-token")}, auth_precedence="token") as c:
        resp = add(c)
        assert resp.status_code == 200, resp.text
        got = c.get("/k/v1/record.json", params={"app": 1, "id": resp.json()["id"]}).json()
    assert got["record"]["Created_by"]["value"]["code"] == "Administrator"


# --- user rights and guest spaces -------------------------------------------------------------


@pytest.fixture
def restricted(seed: Seed) -> Seed:
    """The seed with app 1 open to alice fully and to bob for viewing only."""
    app = seed.apps[0].model_copy(
        update={"user_rights": {"alice": ["view", "add", "edit", "delete"], "bob": ["view"]}}
    )
    return seed.model_copy(update={"apps": [app, *seed.apps[1:]]})


def test_user_rights_restrict_password_users(restricted: Seed) -> None:
    with make_client(restricted, BOB) as c:
        assert read(c).status_code == 200
        error(add(c), 403, "CB_NO02")
    with make_client(restricted, ALICE) as c:
        assert add(c).status_code == 200
        # Alice lacks "manage", so she may not set the creator herself (docs/kintone-api.md §5.1).
        who = {"Created_by": {"value": {"code": "bob"}}}
        error(add(c, {"code": {"value": "C-2"}, **who}), 400, "GAIA_BF02")


def test_user_rights_do_not_restrict_tokens(restricted: Seed) -> None:
    with make_client(restricted, token("full-token")) as c:
        assert add(c).status_code == 200


def test_user_without_an_entry_in_user_rights_has_none(restricted: Seed) -> None:
    carol = UserSeed(code="carol", name="Carol", password="pw")
    extra = restricted.model_copy(update={"users": [*restricted.users, carol]})
    with make_client(extra, password_header("carol", "pw")) as c:
        error(read(c), 403, "CB_NO02")


def test_guest_app_on_the_normal_path_is_gaia_il23(seed: Seed) -> None:
    with make_client(seed, token("guest-token")) as c:
        error(read(c, 2), 400, "GAIA_IL23")
    with make_client(seed, token("guest-token"), legacy_520=True) as c:
        error(read(c, 2), 520, "GAIA_IL23")


def test_guest_app_in_the_wrong_space_is_cb_no02(seed: Seed) -> None:
    with make_client(seed, token("guest-token")) as c:
        error(c.get("/k/guest/8/v1/records.json", params={"app": 2}), 403, "CB_NO02")


def test_normal_app_through_a_guest_path_is_cb_no02(seed: Seed) -> None:
    with make_client(seed) as c:
        error(c.get("/k/guest/7/v1/records.json", params={"app": 1}), 403, "CB_NO02")


def test_guest_app_in_its_space_works(seed: Seed) -> None:
    with make_client(seed, token("guest-token")) as c:
        record = {"title": {"value": "t"}}
        resp = c.post("/k/guest/7/v1/record.json", json={"app": 2, "record": record})
        assert resp.json() == {"id": "1", "revision": "1"}
        got = c.get("/k/guest/7/v1/records.json", params={"app": 2}).json()
    assert [r["title"]["value"] for r in got["records"]] == ["t"]


# --- Basic auth layer -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, basic("u", "wrong"), "Basic %%%", "Bearer x"],
    ids=["missing", "wrong", "malformed", "not-basic"],
)
def test_basic_layer_rejects_without_the_right_basic(seed: Seed, authorization: str | None) -> None:
    headers = token("full-token")
    if authorization is not None:
        headers["Authorization"] = authorization
    with make_client(seed, headers, basic_auth="u:p") as c:
        error(read(c), 401, "CB_BA01")


def test_basic_layer_then_token_works(seed: Seed) -> None:
    with make_client(
        seed, {"Authorization": basic("u", "p"), **token("full-token")}, basic_auth="u:p"
    ) as c:
        assert read(c).status_code == 200
    with make_client(
        seed, {"Authorization": basic("u", "p"), **token("nope")}, basic_auth="u:p"
    ) as c:
        error(read(c), 400, "GAIA_IA02")


def test_basic_layer_alone_is_not_a_login(seed: Seed) -> None:
    with make_client(seed, {"Authorization": basic("u", "p")}, basic_auth="u:p") as c:
        error(read(c), 401, "CB_AU01")


# --- OAuth ------------------------------------------------------------------------------------


def authorize(c: TestClient, scope: str, **extra: str) -> Any:
    params = {
        "client_id": CLIENT_ID,
        "redirect_uri": REDIRECT,
        "state": "s",
        "response_type": "code",
        "scope": scope,
        **extra,
    }
    return c.get("/oauth2/authorization", params=params, follow_redirects=False)


def code_for(c: TestClient, scope: str) -> str:
    resp = authorize(c, scope)
    assert resp.status_code == 302, resp.text
    return str(parse_qs(urlsplit(resp.headers["location"]).query)["code"][0])


def exchange(c: TestClient, code: str, **overrides: str) -> Any:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
        **overrides,
    }
    return c.post("/oauth2/token", data=form)


def bearer(access: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access}"}


@pytest.fixture
def oauth(seed: Seed) -> Iterator[TestClient]:
    with make_client(seed, {}) as c:
        yield c


def test_authorization_redirects_back_with_code_and_state(oauth: TestClient) -> None:
    resp = authorize(oauth, "k:app_record:read")
    assert resp.status_code == 302
    location = urlsplit(resp.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["s"]
    assert len(query["code"][0]) >= 20


def test_authorization_rejects_an_unregistered_redirect(oauth: TestClient) -> None:
    resp = authorize(oauth, "k:app_record:read", redirect_uri="https://evil.example/cb")
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid_request"}
    assert "location" not in resp.headers


def test_authorization_with_another_response_type_redirects_an_error(oauth: TestClient) -> None:
    resp = authorize(oauth, "k:app_record:read", response_type="token")
    assert resp.status_code == 302
    query = parse_qs(urlsplit(resp.headers["location"]).query)
    assert query == {"error": ["unsupported_response_type"], "state": ["s"]}


def test_code_exchange_answers_tokens(oauth: TestClient) -> None:
    resp = exchange(oauth, code_for(oauth, "k:app_record:read k:app_record:write"))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "k:app_record:read k:app_record:write"
    assert body["access_token"]
    assert body["refresh_token"]
    assert body["access_token"] != body["refresh_token"]
    assert resp.headers["cache-control"] == "no-store"


def test_client_credentials_by_http_basic(oauth: TestClient) -> None:
    code = code_for(oauth, "k:app_record:read")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    resp = oauth.post(
        "/oauth2/token", data=form, headers={"Authorization": basic(CLIENT_ID, SECRET)}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["access_token"]


def test_bearer_reads_records_and_writes_as_the_approving_user(oauth: TestClient) -> None:
    scope = "k:app_record:read k:app_record:write"
    access = exchange(oauth, code_for(oauth, scope)).json()["access_token"]
    oauth.headers.update(bearer(access))
    resp = add(oauth)
    assert resp.status_code == 200, resp.text
    records = read(oauth).json()["records"]
    assert [r["Created_by"]["value"]["code"] for r in records] == ["alice"]


def test_bearer_without_write_scope_cannot_write(oauth: TestClient) -> None:
    access = exchange(oauth, code_for(oauth, "k:app_record:read")).json()["access_token"]
    oauth.headers.update(bearer(access))
    assert read(oauth).status_code == 200
    error(add(oauth), 403, "CB_OA02")
    # App settings need k:app_settings:read, not the record scope.
    error(oauth.get("/k/v1/app/form/fields.json", params={"app": 1}), 403, "CB_OA02")


def test_bearer_with_settings_scope_reads_fields(oauth: TestClient) -> None:
    access = exchange(oauth, code_for(oauth, "k:app_settings:read")).json()["access_token"]
    oauth.headers.update(bearer(access))
    assert "code" in oauth.get("/k/v1/app/form/fields.json", params={"app": 1}).json()["properties"]
    error(read(oauth), 403, "CB_OA02")


def test_unknown_bearer_is_401_cb_oa01(oauth: TestClient) -> None:
    oauth.headers.update(bearer("made-up"))
    error(read(oauth), 401, "CB_OA01")


def test_code_reuse_is_invalid_grant(oauth: TestClient) -> None:
    code = code_for(oauth, "k:app_record:read")
    assert exchange(oauth, code).status_code == 200
    resp = exchange(oauth, code)
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid_grant"}


def test_code_with_another_redirect_uri_is_invalid_grant(oauth: TestClient) -> None:
    resp = exchange(oauth, code_for(oauth, "k:app_record:read"), redirect_uri="https://x.example")
    assert resp.status_code == 400
    assert resp.json() == {"error": "invalid_grant"}


def test_wrong_secret_is_invalid_client(oauth: TestClient) -> None:
    resp = exchange(oauth, code_for(oauth, "k:app_record:read"), client_secret="wrong")
    assert resp.status_code == 401
    assert resp.json() == {"error": "invalid_client"}


def test_unknown_grant_type_is_unsupported(oauth: TestClient) -> None:
    resp = exchange(oauth, "x", grant_type="password")
    assert resp.status_code == 400
    assert resp.json() == {"error": "unsupported_grant_type"}


def test_expired_access_token_fails_and_refresh_gives_a_new_one(oauth: TestClient) -> None:
    tokens = exchange(oauth, code_for(oauth, "k:app_record:read")).json()
    assert read_as(oauth, tokens["access_token"]).status_code == 200
    assert oauth.post("/_emulator/oauth/expire").json() == {}
    error(read_as(oauth, tokens["access_token"]), 401, "CB_OA01")
    form = {
        "grant_type": "refresh_token",
        "refresh_token": tokens["refresh_token"],
        "client_id": CLIENT_ID,
        "client_secret": SECRET,
    }
    resp = oauth.post("/oauth2/token", data=form)
    assert resp.status_code == 200, resp.text
    fresh = resp.json()
    assert fresh["access_token"] != tokens["access_token"]
    assert fresh["scope"] == "k:app_record:read"
    assert read_as(oauth, fresh["access_token"]).status_code == 200
    bad = oauth.post("/oauth2/token", data={**form, "refresh_token": "made-up"})
    assert (bad.status_code, bad.json()) == (400, {"error": "invalid_grant"})


def read_as(c: TestClient, access: str) -> Any:
    return c.get("/k/v1/records.json", params={"app": 1}, headers=bearer(access))


# --- files ------------------------------------------------------------------------------------


def upload(c: TestClient, headers: dict[str, str] | None = None) -> Any:
    files = {"file": ("a.txt", b"hello", "text/plain")}
    return c.post("/k/v1/file.json", files=files, headers=headers)


def attach(c: TestClient, upload_key: str) -> str:
    """Put an upload on a record and answer the record's own fileKey (the one to download)."""
    record = {**RECORD, "files": {"value": [{"fileKey": upload_key}]}}
    resp = add(c, record, headers=token("full-token"))
    assert resp.status_code == 200, resp.text
    got = c.get(
        "/k/v1/record.json", params={"app": 1, "id": resp.json()["id"]}, headers=token("full-token")
    )
    [stored] = got.json()["record"]["files"]["value"]
    assert stored["name"] == "a.txt"
    return str(stored["fileKey"])


def test_token_with_add_uploads_and_view_token_downloads(seed: Seed) -> None:
    with make_client(seed) as c:
        resp = upload(c)
        assert resp.status_code == 200, resp.text
        key = attach(c, resp.json()["fileKey"])
        got = c.get("/k/v1/file.json", params={"fileKey": key}, headers=token("view-token"))
    assert got.status_code == 200
    assert got.content == b"hello"
    assert got.headers["content-type"].startswith("text/plain")


def test_edit_token_may_upload(seed: Seed) -> None:
    with make_client(seed, token("edit-token")) as c:
        resp = upload(c)
    assert resp.status_code == 200, resp.text
    assert resp.json()["fileKey"]


def test_view_token_cannot_upload(seed: Seed) -> None:
    with make_client(seed, token("view-token")) as c:
        error(upload(c), 403, "GAIA_NO01")


def test_upload_needs_credentials(seed: Seed) -> None:
    with make_client(seed, {}) as c:
        error(upload(c), 401, "CB_AU01")
    with make_client(seed, token("nope")) as c:
        error(upload(c), 400, "GAIA_IA02")


def test_bearer_needs_file_scopes(oauth: TestClient) -> None:
    key = attach(oauth, upload(oauth, token("full-token")).json()["fileKey"])
    access = exchange(oauth, code_for(oauth, "k:file:read")).json()["access_token"]
    got = oauth.get("/k/v1/file.json", params={"fileKey": key}, headers=bearer(access))
    assert got.content == b"hello"
    error(upload(oauth, bearer(access)), 403, "CB_OA02")
    other = exchange(oauth, code_for(oauth, "k:app_record:read")).json()["access_token"]
    error(
        oauth.get("/k/v1/file.json", params={"fileKey": key}, headers=bearer(other)), 403, "CB_OA02"
    )


def test_tokens_in_repeated_headers_count_like_a_comma_list(seed: Seed) -> None:
    # docs/kintone-api.md §7: several tokens come as `tok1,tok2` or as repeated headers.
    with make_client(seed, {}) as c:
        headers = [("X-Cybozu-API-Token", "full-token"), ("X-Cybozu-API-Token", "product-token")]
        record = {**RECORD, "product": {"value": "P-1"}}
        resp = c.post("/k/v1/record.json", json={"app": 1, "record": record}, headers=headers)
        assert resp.status_code == 200, resp.text
        assert c.get("/k/v1/records.json", params={"app": 3}, headers=headers).status_code == 200
        twice = [("X-Cybozu-API-Token", "full-token"), ("X-Cybozu-API-Token", "view-token")]
        error(c.get("/k/v1/records.json", params={"app": 1}, headers=twice), 400, "GAIA_DA03")
        bad = [("X-Cybozu-API-Token", "full-token"), ("X-Cybozu-API-Token", "nope")]
        error(c.get("/k/v1/records.json", params={"app": 1}, headers=bad), 400, "GAIA_IA02")
