"""Conformance: the cybozu.com User API subset, as docs/kintone-api.md §9 describes."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.emulator import Seed

from .conftest import error, make_client, password_header

ALICE = password_header("alice", "s3cret:x")
BOB = password_header("bob", "hunter2")
# The Group type, as `GET user/groups.json` shows it (cybozu.dev get-users-groups page).
STAFF = {"id": "1", "code": "staff", "name": "Staff", "description": ""}


@pytest.fixture
def admin(seed: Seed) -> Iterator[TestClient]:
    with make_client(seed, ALICE) as c:
        yield c


def users(c: TestClient, **params: Any) -> list[dict[str, Any]]:
    resp = c.get("/v1/users.json", params=params)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["users"])


def codes(found: list[dict[str, Any]]) -> list[str]:
    return [u["code"] for u in found]


def new_user(code: str, **fields: Any) -> dict[str, Any]:
    return {"code": code, "name": code.title(), "password": "pw", **fields}


def post_users(c: TestClient, *items: dict[str, Any]) -> Any:
    return c.post("/v1/users.json", json={"users": list(items)})


# --- GET users --------------------------------------------------------------------------------


def test_get_all_users_sorted_by_id_without_passwords(admin: TestClient) -> None:
    found = users(admin)
    assert codes(found) == ["alice", "bob"]
    assert [u["id"] for u in found] == ["1", "2"]
    assert found[0]["name"] == "Alice"
    assert found[0]["valid"] is True
    assert all("password" not in u for u in found)
    assert "hunter2" not in admin.get("/v1/users.json").text


def test_get_users_by_codes_and_ids(admin: TestClient) -> None:
    assert codes(users(admin, **{"codes[0]": "bob"})) == ["bob"]
    assert codes(users(admin, **{"ids[0]": "1", "ids[1]": "2"})) == ["alice", "bob"]
    assert users(admin, **{"codes[0]": "nobody"}) == []


def test_ids_and_codes_together_are_rejected(admin: TestClient) -> None:
    resp = admin.get("/v1/users.json", params={"ids[0]": "1", "codes[0]": "alice"})
    assert "ids" in error(resp, 400, "CB_VA01")["errors"]


def test_size_and_offset_page(admin: TestClient) -> None:
    assert codes(users(admin, size=1)) == ["alice"]
    assert codes(users(admin, size=1, offset=1)) == ["bob"]
    assert users(admin, offset=2) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("size", "0"), ("size", "101"), ("size", "x"), ("offset", "-1")],
)
def test_size_and_offset_out_of_bounds(admin: TestClient, name: str, value: str) -> None:
    body = error(admin.get("/v1/users.json", params={name: value}), 400, "CB_VA01")
    assert list(body["errors"]) == [name]


def test_non_admin_may_read_users(seed: Seed) -> None:
    with make_client(seed, BOB) as c:
        assert codes(users(c)) == ["alice", "bob"]


# --- password auth only -----------------------------------------------------------------------


def test_app_api_token_does_not_open_the_user_api(seed: Seed) -> None:
    with make_client(seed, {"X-Cybozu-API-Token": "full-token"}) as c:
        error(c.get("/v1/users.json"), 401, "CB_AU01")
    with make_client(seed, {}) as c:
        error(c.get("/v1/users.json"), 401, "CB_AU01")


def test_bad_password_on_the_user_api_is_cb_wa01(seed: Seed) -> None:
    with make_client(seed, password_header("alice", "wrong")) as c:
        error(c.get("/v1/users.json"), 401, "CB_WA01")


# --- POST users -------------------------------------------------------------------------------


def test_admin_adds_users(admin: TestClient) -> None:
    resp = post_users(admin, new_user("carol", email="c@example.com"))
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}
    [carol] = users(admin, **{"codes[0]": "carol"})
    assert carol["id"] == "3"
    assert carol["name"] == "Carol"
    assert carol["email"] == "c@example.com"
    assert carol["valid"] is True
    assert "password" not in carol


def test_added_user_can_log_in(seed: Seed) -> None:
    with make_client(seed, ALICE) as c:
        assert post_users(c, new_user("carol")).status_code == 200
        c.headers.update(password_header("carol", "pw"))
        assert "carol" in codes(users(c))


def test_non_admin_cannot_add_users(seed: Seed) -> None:
    with make_client(seed, BOB) as c:
        error(post_users(c, new_user("carol")), 403, "CB_NO02")
        assert codes(users(c)) == ["alice", "bob"]


def test_more_than_100_users_are_rejected(admin: TestClient) -> None:
    resp = post_users(admin, *(new_user(f"u{i}") for i in range(101)))
    assert list(error(resp, 400, "CB_VA01")["errors"]) == ["users"]
    assert codes(users(admin)) == ["alice", "bob"]


def test_exactly_100_users_are_accepted(admin: TestClient) -> None:
    assert post_users(admin, *(new_user(f"u{i}") for i in range(100))).status_code == 200
    assert len(users(admin)) == 100  # size defaults to 100 of the 102
    assert codes(users(admin, offset=100)) == ["u98", "u99"]


def test_missing_code_name_or_password_names_each_key(admin: TestClient) -> None:
    resp = post_users(admin, {"name": "No code", "password": "pw"}, {"code": "dave"})
    body = error(resp, 400, "CB_VA01")
    assert set(body["errors"]) == {"users[0].code", "users[1].name", "users[1].password"}
    assert body["errors"]["users[0].code"] == {"messages": ["Required field."]}
    assert codes(users(admin)) == ["alice", "bob"]


def test_add_is_all_or_nothing_and_codes_are_unique(admin: TestClient) -> None:
    body = error(post_users(admin, new_user("carol"), new_user("bob")), 400, "CB_VA01")
    assert list(body["errors"]) == ["users[1].code"]
    assert codes(users(admin)) == ["alice", "bob"]


@pytest.mark.parametrize("body", [{}, {"users": []}, {"users": "carol"}])
def test_add_without_a_users_list_is_cb_va01(admin: TestClient, body: dict[str, Any]) -> None:
    resp = admin.post("/v1/users.json", json=body)
    assert list(error(resp, 400, "CB_VA01")["errors"]) == ["users"]


def test_body_that_is_not_json_is_cb_ij01(admin: TestClient) -> None:
    resp = admin.post(
        "/v1/users.json", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    error(resp, 400, "CB_IJ01")


# --- PUT and DELETE users ---------------------------------------------------------------------


def test_update_with_valid_omitted_makes_the_user_valid(admin: TestClient) -> None:
    resp = admin.put("/v1/users.json", json={"users": [{"code": "bob", "valid": False}]})
    assert resp.status_code == 200, resp.text
    [bob] = users(admin, **{"codes[0]": "bob"})
    assert bob["valid"] is False
    assert (
        admin.put("/v1/users.json", json={"users": [{"code": "bob", "name": "Bobby"}]}).json() == {}
    )
    [bob] = users(admin, **{"codes[0]": "bob"})
    assert bob["valid"] is True
    assert bob["name"] == "Bobby"
    assert bob["id"] == "2"


def test_invalid_user_cannot_log_in(admin: TestClient) -> None:
    admin.put("/v1/users.json", json={"users": [{"code": "bob", "valid": False}]})
    error(admin.get("/v1/users.json", headers=BOB), 401, "CB_WA01")
    admin.put("/v1/users.json", json={"users": [{"code": "bob"}]})
    assert admin.get("/v1/users.json", headers=BOB).status_code == 200


@pytest.mark.parametrize(("omitted", "email"), [("keep", "b@example.com"), ("clear", None)])
def test_update_keeps_or_clears_fields_left_out(
    seed: Seed, omitted: str, email: str | None
) -> None:
    with make_client(seed, ALICE, user_update_omitted=omitted) as admin:
        admin.put("/v1/users.json", json={"users": [{"code": "bob", "email": "b@example.com"}]})
        admin.put("/v1/users.json", json={"users": [{"code": "bob", "phone": "123"}]})
        [bob] = users(admin, **{"codes[0]": "bob"})
    # The name and the password cannot be emptied, so they stay either way.
    assert (bob["email"], bob["phone"], bob["name"]) == (email, "123", "Bob")


def test_non_admin_cannot_update_or_delete(seed: Seed) -> None:
    with make_client(seed, BOB) as c:
        error(c.put("/v1/users.json", json={"users": [{"code": "bob"}]}), 403, "CB_NO02")
        error(c.request("DELETE", "/v1/users.json", json={"codes": ["alice"]}), 403, "CB_NO02")


def test_update_of_an_unknown_user_fails(admin: TestClient) -> None:
    resp = admin.put("/v1/users.json", json={"users": [{"code": "nobody", "name": "N"}]})
    assert resp.status_code >= 400
    assert codes(users(admin)) == ["alice", "bob"]


def test_delete_by_codes(admin: TestClient) -> None:
    resp = admin.request("DELETE", "/v1/users.json", json={"codes": ["bob"]})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}
    assert codes(users(admin)) == ["alice"]


def test_delete_with_an_unknown_code_deletes_nothing(admin: TestClient) -> None:
    resp = admin.request("DELETE", "/v1/users.json", json={"codes": ["bob", "nobody"]})
    assert resp.status_code >= 400
    assert codes(users(admin)) == ["alice", "bob"]


def test_delete_without_codes_is_cb_va01(admin: TestClient) -> None:
    resp = admin.request("DELETE", "/v1/users.json", json={"codes": []})
    assert list(error(resp, 400, "CB_VA01")["errors"]) == ["codes"]


# --- organizations and groups -----------------------------------------------------------------


def organizations(c: TestClient, code: str) -> list[dict[str, Any]]:
    resp = c.get("/v1/user/organizations.json", params={"code": code})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["organizationTitles"])


def test_user_organizations_shows_organization_titles(admin: TestClient) -> None:
    [entry] = organizations(admin, "alice")
    assert entry["organization"]["code"] == "sales"
    assert entry["organization"]["name"] == "Sales"
    assert entry["title"] is None
    assert organizations(admin, "bob") == []


def test_unknown_user_is_gaia_il26(admin: TestClient) -> None:
    resp = admin.get("/v1/user/organizations.json", params={"code": "nobody"})
    assert "nobody" in error(resp, 400, "GAIA_IL26")["message"]
    error(admin.get("/v1/user/groups.json", params={"code": "nobody"}), 400, "GAIA_IL26")
    put = {"userOrganizations": [{"code": "nobody", "organizations": []}]}
    error(admin.put("/v1/userOrganizations.json", json=put), 400, "GAIA_IL26")


def test_user_organizations_without_code_is_cb_va01(admin: TestClient) -> None:
    body = error(admin.get("/v1/user/organizations.json"), 400, "CB_VA01")
    assert list(body["errors"]) == ["code"]


def test_put_user_organizations_replaces_them(admin: TestClient) -> None:
    body = {
        "userOrganizations": [
            {"code": "bob", "organizations": [{"orgCode": "sales"}]},
            {"code": "alice", "organizations": []},
        ]
    }
    resp = admin.put("/v1/userOrganizations.json", json=body)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}
    assert [e["organization"]["code"] for e in organizations(admin, "bob")] == ["sales"]
    assert organizations(admin, "alice") == []


def test_put_user_organizations_rejects_unknown_organizations(admin: TestClient) -> None:
    body = {"userOrganizations": [{"code": "bob", "organizations": [{"orgCode": "hr"}]}]}
    error(admin.put("/v1/userOrganizations.json", json=body), 400, "GAIA_IL28")
    assert organizations(admin, "bob") == []


def test_put_user_organizations_needs_an_admin(seed: Seed) -> None:
    body = {"userOrganizations": [{"code": "bob", "organizations": [{"orgCode": "sales"}]}]}
    with make_client(seed, BOB) as c:
        error(c.put("/v1/userOrganizations.json", json=body), 403, "CB_NO02")
        assert organizations(c, "bob") == []


def groups(c: TestClient, code: str) -> list[dict[str, Any]]:
    resp = c.get("/v1/user/groups.json", params={"code": code})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["groups"])


def test_get_and_put_user_groups(admin: TestClient) -> None:
    assert groups(admin, "alice") == [STAFF]
    assert groups(admin, "bob") == []
    resp = admin.put("/v1/user/groups.json", json={"code": "bob", "groups": ["staff"]})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {}
    assert groups(admin, "bob") == [STAFF]
    admin.put("/v1/user/groups.json", json={"code": "alice", "groups": []})
    assert groups(admin, "alice") == []


def test_put_user_groups_rejects_unknown_groups_and_non_admins(seed: Seed) -> None:
    with make_client(seed, ALICE) as c:
        body = {"code": "bob", "groups": ["ghosts"]}
        error(c.put("/v1/user/groups.json", json=body), 400, "GAIA_IL27")
    with make_client(seed, BOB) as c:
        error(c.put("/v1/user/groups.json", json={"code": "bob", "groups": []}), 403, "CB_NO02")
        assert groups(c, "alice") == [STAFF]


# --- users in app records ---------------------------------------------------------------------


def add_owned(c: TestClient, owner: str) -> Any:
    record = {"code": {"value": "C-1"}, "owner": {"value": [{"code": owner}]}}
    return c.post(
        "/k/v1/record.json",
        json={"app": 1, "record": record},
        headers={"X-Cybozu-API-Token": "full-token"},
    )


def test_added_user_is_valid_in_user_select(admin: TestClient) -> None:
    error(add_owned(admin, "carol"), 400, "GAIA_IL26")
    assert post_users(admin, new_user("carol")).status_code == 200
    resp = add_owned(admin, "carol")
    assert resp.status_code == 200, resp.text
    got = admin.get(
        "/k/v1/record.json",
        params={"app": 1, "id": resp.json()["id"]},
        headers={"X-Cybozu-API-Token": "full-token"},
    )
    assert got.json()["record"]["owner"]["value"] == [{"code": "carol", "name": "Carol"}]


def test_deleted_user_is_unknown_in_user_select(admin: TestClient) -> None:
    admin.request("DELETE", "/v1/users.json", json={"codes": ["bob"]})
    error(add_owned(admin, "bob"), 400, "GAIA_IL26")


def test_renamed_user_shows_the_new_name_in_new_records(admin: TestClient) -> None:
    admin.put("/v1/users.json", json={"users": [{"code": "bob", "name": "Robert"}]})
    resp = add_owned(admin, "bob")
    got = admin.get(
        "/k/v1/record.json",
        params={"app": 1, "id": resp.json()["id"]},
        headers={"X-Cybozu-API-Token": "full-token"},
    )
    assert got.json()["record"]["owner"]["value"] == [{"code": "bob", "name": "Robert"}]


def test_one_code_twice_in_one_add_is_rejected(admin: TestClient) -> None:
    resp = post_users(admin, new_user("carol"), new_user("carol", name="Other"))
    body = error(resp, 400, "CB_VA01")
    assert list(body["errors"]) == ["users[1].code"]
    assert codes(users(admin)) == ["alice", "bob"]


def test_put_user_organizations_is_all_or_nothing(admin: TestClient) -> None:
    body = {
        "userOrganizations": [
            {"code": "bob", "organizations": [{"orgCode": "sales"}]},
            {"code": "alice", "organizations": [{"orgCode": "hr"}]},
        ]
    }
    error(admin.put("/v1/userOrganizations.json", json=body), 400, "GAIA_IL28")
    assert organizations(admin, "bob") == []
    assert [e["organization"]["code"] for e in organizations(admin, "alice")] == ["sales"]
