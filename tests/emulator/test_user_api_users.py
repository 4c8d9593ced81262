"""Conformance: User API users, login names and services (docs/user-api.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.emulator import Seed

from .conftest import error, make_client, password_header

ALICE = password_header("alice", "s3cret:x")
BOB = password_header("bob", "hunter2")
TOKEN = {"X-Cybozu-API-Token": "full-token"}
USER_KEYS = [
    "id",
    "code",
    "ctime",
    "mtime",
    "valid",
    "name",
    "surName",
    "givenName",
    "surNameReading",
    "givenNameReading",
    "localName",
    "localNameLocale",
    "timezone",
    "locale",
    "description",
    "phone",
    "mobilePhone",
    "extensionNumber",
    "email",
    "callto",
    "url",
    "employeeNumber",
    "birthDate",
    "joinDate",
    "primaryOrganization",
    "sortOrder",
    "customItemValues",
]
FULL = {
    "code": "sato",
    "password": "pw",
    "valid": False,
    "name": "Sato Noboru",
    "surName": "Sato",
    "givenName": "Noboru",
    "surNameReading": "さとう",
    "givenNameReading": "のぼる",
    "localName": "Noboru Sato",
    "localNameLocale": "en",
    "timezone": "Europe/Paris",
    "locale": "ja",
    "description": "Sales lead",
    "phone": "0000-000-0000",
    "mobilePhone": "090-000-0000",
    "extensionNumber": "123",
    "email": "sato@example.com",
    "callto": "sato.skype",
    "url": "https://example.com/sato",
    "employeeNumber": "E-1",
    "birthDate": "1991-04-17",
    "joinDate": "2020-04-01",
    "primaryOrganization": "sales",
    "sortOrder": 3,
    "customItemValues": [{"code": "badge", "value": "B-7"}],
}


@pytest.fixture(scope="module")
def domain(seed: Seed) -> Seed:
    """The conformance seed plus a custom item, so every User type field can be set."""
    return Seed.model_validate({**seed.model_dump(), "custom_items": ["badge", "floor"]})


@pytest.fixture
def admin(domain: Seed) -> Iterator[TestClient]:
    with make_client(domain, ALICE) as c:
        yield c


def user(c: TestClient, code: str) -> dict[str, Any]:
    resp = c.get("/v1/users.json", params={"codes[0]": code})
    assert resp.status_code == 200, resp.text
    [found] = resp.json()["users"]
    return dict(found)


def post(c: TestClient, *items: Any) -> Any:
    return c.post("/v1/users.json", json={"users": list(items)})


def put(c: TestClient, *items: Any) -> Any:
    return c.put("/v1/users.json", json={"users": list(items)})


def new(code: str, **fields: Any) -> dict[str, Any]:
    return {"code": code, "name": code.title(), "password": "pw", **fields}


def test_get_shows_every_user_type_field_in_order_with_nulls_for_unset(admin: TestClient) -> None:
    bob = user(admin, "bob")
    assert list(bob) == USER_KEYS
    assert bob["email"] is None
    assert bob["surName"] is None
    assert bob["sortOrder"] is None
    assert (bob["locale"], bob["timezone"]) == ("auto", "Asia/Tokyo")
    assert bob["customItemValues"] == [
        {"code": "badge", "value": ""},
        {"code": "floor", "value": ""},
    ]
    assert bob["ctime"].endswith("Z")
    assert len(bob["ctime"]) == 20


def test_add_with_every_field_round_trips(admin: TestClient) -> None:
    assert post(admin, FULL).json() == {}
    sato = user(admin, "sato")
    for key, value in FULL.items():
        if key not in ("password", "primaryOrganization", "customItemValues"):
            assert sato[key] == value, key
    assert sato["primaryOrganization"] == "1"  # the organization's id, as a string
    assert sato["customItemValues"] == [
        {"code": "badge", "value": "B-7"},
        {"code": "floor", "value": ""},
    ]
    assert "password" not in sato


def test_empty_text_is_shown_as_null(admin: TestClient) -> None:
    post(admin, new("carol", email="", phone=None))
    carol = user(admin, "carol")
    assert (carol["email"], carol["phone"]) == (None, None)


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("code", 128),
        ("name", 128),
        ("password", 64),
        ("surName", 64),
        ("givenNameReading", 64),
        ("localName", 128),
        ("description", 1000),
        ("phone", 100),
        ("email", 256),
        ("url", 256),
        ("employeeNumber", 100),
    ],
)
def test_length_limits(admin: TestClient, field: str, limit: int) -> None:
    ok = {**new("dave"), field: "x" * limit}
    assert post(admin, ok).status_code == 200
    long = {**new("erin"), field: "y" * (limit + 1)}
    body = error(post(admin, long), 400, "CB_VA01")
    assert body["errors"] == {
        f"users[0].{field}": {"messages": [f"Enter less than {limit + 1} characters."]}
    }


@pytest.mark.parametrize("field", ["code", "name"])
def test_code_and_name_cannot_be_spaces(admin: TestClient, field: str) -> None:
    body = error(post(admin, {**new("dave"), field: "   "}), 400, "CB_VA01")
    assert list(body["errors"]) == [f"users[0].{field}"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("locale", "fr"),
        ("localNameLocale", "auto"),
        ("timezone", "Mars/Olympus"),
        ("birthDate", "1991-13-01"),
        ("joinDate", "2020/04/01"),
        ("primaryOrganization", "nowhere"),
        ("sortOrder", -1),
        ("sortOrder", "first"),
        ("valid", "yes"),
        ("email", 12),
        ("customItemValues", [{"code": "shoe_size", "value": "42"}]),
        ("customItemValues", [{"code": "badge", "value": "1"}, {"code": "badge", "value": "2"}]),
        ("customItemValues", {"badge": "1"}),
        ("ctime", "2020-01-01T00:00:00Z"),
    ],
)
def test_bad_values_are_cb_va01_keyed_by_the_field(
    admin: TestClient, field: str, value: Any
) -> None:
    body = error(post(admin, new("dave", **{field: value})), 400, "CB_VA01")
    assert all(key.startswith(f"users[0].{field}") for key in body["errors"]), body
    assert "dave" not in [u["code"] for u in admin.get("/v1/users.json").json()["users"]]


def test_errors_name_every_bad_entry_and_nothing_is_added(admin: TestClient) -> None:
    resp = post(admin, new("dave"), new("erin", email="e" * 300), "not an object", new("bob"))
    body = error(resp, 400, "CB_VA01")
    assert set(body["errors"]) == {"users[1].email", "users[2]", "users[3].code"}
    assert body["errors"]["users[3].code"] == {"messages": ["The login name is already in use."]}
    found = [u["code"] for u in admin.get("/v1/users.json").json()["users"]]
    assert found == ["alice", "bob"]


def test_101_users_are_refused_on_update_too(admin: TestClient) -> None:
    body = error(put(admin, *({"code": "bob"} for _ in range(101))), 400, "CB_VA01")
    assert list(body["errors"]) == ["users"]


def test_update_refuses_unknown_users_and_changes_nothing(admin: TestClient) -> None:
    body = error(put(admin, {"code": "bob", "name": "Robert"}, {"code": "nobody"}), 400, "CB_VA01")
    assert list(body["errors"]) == ["users[1].code"]
    assert user(admin, "bob")["name"] == "Bob"


def test_update_sets_password_and_valid_and_keeps_ctime(admin: TestClient) -> None:
    before = user(admin, "bob")
    put(admin, {"code": "bob", "password": "new-pw", "valid": False})
    after = user(admin, "bob")
    assert after["valid"] is False
    assert after["ctime"] == before["ctime"]
    put(admin, {"code": "bob", "name": "Bob"})  # valid left out: true again (documented)
    assert user(admin, "bob")["valid"] is True
    error(admin.get("/v1/users.json", headers=BOB), 401, "CB_WA01")
    assert admin.get("/v1/users.json", headers=password_header("bob", "new-pw")).status_code == 200


def test_update_cannot_empty_name_or_password(admin: TestClient) -> None:
    body = error(put(admin, {"code": "bob", "name": "", "password": ""}), 400, "CB_VA01")
    assert set(body["errors"]) == {"users[0].name", "users[0].password"}


@pytest.mark.parametrize(
    ("omitted", "expected"),
    [
        ("clear", {"locale": "auto", "sortOrder": None, "customItemValues": ""}),
        ("keep", {"locale": "ja", "sortOrder": 3, "customItemValues": "B-7"}),
    ],
)
def test_omitted_field_switch_covers_locale_sort_order_and_custom_items(
    domain: Seed, omitted: str, expected: dict[str, Any]
) -> None:
    with make_client(domain, ALICE, user_update_omitted=omitted) as admin:
        post(admin, FULL)
        assert put(admin, {"code": "sato", "phone": "1"}).status_code == 200
        sato = user(admin, "sato")
    assert sato["locale"] == expected["locale"]
    assert sato["sortOrder"] == expected["sortOrder"]
    assert sato["customItemValues"][0]["value"] == expected["customItemValues"]
    assert sato["name"] == "Sato Noboru"
    assert sato["valid"] is True


def test_delete_refuses_unknown_codes_and_deletes_nothing(admin: TestClient) -> None:
    resp = admin.request("DELETE", "/v1/users.json", json={"codes": ["bob", "nobody"]})
    assert list(error(resp, 400, "CB_VA01")["errors"]) == ["codes[1]"]
    resp = admin.request("DELETE", "/v1/users.json", json={"codes": [f"u{i}" for i in range(101)]})
    assert list(error(resp, 400, "CB_VA01")["errors"]) == ["codes"]
    assert user(admin, "bob")["code"] == "bob"


def test_rename_login_names(admin: TestClient) -> None:
    bob = user(admin, "bob")
    body = {"codes": [{"currentCode": "bob", "newCode": "robert"}]}
    assert admin.put("/v1/users/codes.json", json=body).json() == {}
    robert = user(admin, "robert")
    assert robert["id"] == bob["id"]
    assert admin.get("/v1/users.json", params={"codes[0]": "bob"}).json() == {"users": []}
    assert (
        admin.get("/v1/users.json", headers=password_header("robert", "hunter2")).status_code == 200
    )


@pytest.mark.parametrize(
    ("pairs", "key"),
    [
        ([{"currentCode": "nobody", "newCode": "x"}], "codes[0].currentCode"),
        ([{"currentCode": "bob", "newCode": "alice"}], "codes[0].newCode"),
        ([{"currentCode": "bob", "newCode": " "}], "codes[0].newCode"),
        (
            [{"currentCode": "bob", "newCode": "x"}, {"currentCode": "alice", "newCode": "x"}],
            "codes[1].newCode",
        ),
    ],
)
def test_rename_refusals_change_nothing(admin: TestClient, pairs: Any, key: str) -> None:
    resp = admin.put("/v1/users/codes.json", json={"codes": pairs})
    assert key in error(resp, 400, "CB_VA01")["errors"]
    assert user(admin, "bob")["code"] == "bob"


def test_services_get_and_put(admin: TestClient) -> None:
    got = admin.get("/v1/users/services.json").json()
    assert got == {
        "users": [
            {"code": "alice", "services": ["kintone"]},
            {"code": "bob", "services": ["kintone"]},
        ]
    }
    body = {"users": [{"code": "bob", "services": ["garoon", "kintone"]}]}
    assert admin.put("/v1/users/services.json", json=body).json() == {}
    got = admin.get("/v1/users/services.json", params={"codes[0]": "bob"}).json()
    assert got == {"users": [{"code": "bob", "services": ["garoon", "kintone"]}]}
    admin.put("/v1/users/services.json", json={"users": [{"code": "bob", "services": []}]})
    assert (
        admin.get("/v1/users/services.json", params={"codes[0]": "bob"}).json()["users"][0][
            "services"
        ]
        == []
    )


def test_services_put_refuses_unknown_services_and_users(admin: TestClient) -> None:
    body = {
        "users": [
            {"code": "bob", "services": ["kintone", "slack"]},
            {"code": "nobody", "services": []},
        ]
    }
    resp = admin.put("/v1/users/services.json", json=body)
    assert set(error(resp, 400, "CB_VA01")["errors"]) == {"users[0].services", "users[1].code"}


def test_users_added_through_the_api_have_no_services(admin: TestClient) -> None:
    post(admin, new("carol"))
    got = admin.get("/v1/users/services.json", params={"codes[0]": "carol"}).json()
    assert got == {"users": [{"code": "carol", "services": []}]}


def test_api_tokens_and_bearer_tokens_do_not_open_the_user_api(domain: Seed) -> None:
    for headers in ({"X-Cybozu-API-Token": "full-token"}, {"Authorization": "Bearer abc"}):
        with make_client(domain, headers) as c:
            error(c.get("/v1/users/services.json"), 401, "CB_AU01")
            error(c.put("/v1/users/codes.json", json={"codes": []}), 401, "CB_AU01")


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1/users/codes.json", {"codes": [{"currentCode": "bob", "newCode": "b"}]}),
        ("PUT", "/v1/users/services.json", {"users": [{"code": "bob", "services": []}]}),
    ],
)
def test_writes_need_an_administrator(domain: Seed, method: str, path: str, body: Any) -> None:
    with make_client(domain, BOB) as c:
        error(c.request(method, path, json=body), 403, "CB_NO02")


def test_renamed_user_is_chosen_by_the_new_code_in_user_select(admin: TestClient) -> None:
    admin.put("/v1/users/codes.json", json={"codes": [{"currentCode": "bob", "newCode": "rob"}]})
    token = {"X-Cybozu-API-Token": "full-token"}
    record = {"code": {"value": "C-9"}, "owner": {"value": [{"code": "bob"}]}}
    error(
        admin.post("/k/v1/record.json", json={"app": 1, "record": record}, headers=token),
        400,
        "GAIA_IL26",
    )
    record["owner"] = {"value": [{"code": "rob"}]}
    resp = admin.post("/k/v1/record.json", json={"app": 1, "record": record}, headers=token)
    assert resp.status_code == 200, resp.text


def test_reset_brings_the_directory_back_to_the_seed(admin: TestClient) -> None:
    post(admin, new("carol"))
    put(admin, {"code": "bob", "name": "Robert"})
    assert admin.post("/_emulator/reset").status_code == 200
    found = admin.get("/v1/users.json").json()["users"]
    assert [(u["code"], u["name"]) for u in found] == [("alice", "Alice"), ("bob", "Bob")]
    record = {"code": {"value": "C-1"}, "owner": {"value": [{"code": "carol"}]}}
    resp = admin.post("/k/v1/record.json", json={"app": 1, "record": record}, headers=TOKEN)
    error(resp, 400, "GAIA_IL26")
