"""Conformance: User API organizations, titles, groups and memberships (docs/user-api.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from starlette.testclient import TestClient

from connector.emulator import Seed

from .conftest import error, make_client, password_header

ALICE = password_header("alice", "s3cret:x")
BOB = password_header("bob", "hunter2")
TOKEN = {"X-Cybozu-API-Token": "full-token"}


@pytest.fixture(scope="module")
def domain(seed: Seed) -> Seed:
    """A small tree (sales > east), job titles and a dynamic group."""
    data = seed.model_dump()
    data["organizations"] = [
        {"code": "sales", "name": "Sales"},
        {"code": "east", "name": "East", "parentCode": "sales", "localName": "Est"},
        {"code": "hr", "name": "HR"},
    ]
    data["titles"] = [{"code": "boss", "name": "Boss", "description": "Runs it"}]
    data["groups"] = [
        {"code": "staff", "name": "Staff"},
        {"code": "robots", "name": "Robots", "type": "dynamic"},
    ]
    data["users"][0]["organizations"] = ["sales", {"orgCode": "east", "titleCode": "boss"}]
    data["users"][0]["groups"] = ["staff", "robots"]
    return Seed.model_validate(data)


@pytest.fixture
def admin(domain: Seed) -> Iterator[TestClient]:
    with make_client(domain, ALICE) as c:
        yield c


def orgs(c: TestClient, **params: Any) -> list[dict[str, Any]]:
    resp = c.get("/v1/organizations.json", params=params)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["organizations"])


def codes(found: list[dict[str, Any]]) -> list[str]:
    return [o["code"] for o in found]


def post(c: TestClient, *items: Any) -> Any:
    return c.post("/v1/organizations.json", json={"organizations": list(items)})


def put(c: TestClient, *items: Any) -> Any:
    return c.put("/v1/organizations.json", json={"organizations": list(items)})


def delete(c: TestClient, *org_codes: str) -> Any:
    return c.request("DELETE", "/v1/organizations.json", json={"codes": list(org_codes)})


def titles_of(c: TestClient, user: str) -> list[tuple[str, str | None]]:
    resp = c.get("/v1/user/organizations.json", params={"code": user})
    assert resp.status_code == 200, resp.text
    return [
        (e["organization"]["code"], (e["title"] or {}).get("code"))
        for e in resp.json()["organizationTitles"]
    ]


# --- organizations.json -----------------------------------------------------------------------


def test_get_organizations_in_the_organization_shape(admin: TestClient) -> None:
    assert orgs(admin) == [
        {
            "id": "1",
            "code": "sales",
            "name": "Sales",
            "localName": None,
            "localNameLocale": None,
            "parentCode": None,
            "description": "",
        },
        {
            "id": "2",
            "code": "east",
            "name": "East",
            "localName": "Est",
            "localNameLocale": None,
            "parentCode": "sales",
            "description": "",
        },
        {
            "id": "3",
            "code": "hr",
            "name": "HR",
            "localName": None,
            "localNameLocale": None,
            "parentCode": None,
            "description": "",
        },
    ]
    assert codes(orgs(admin, **{"codes[0]": "hr"})) == ["hr"]
    assert codes(orgs(admin, **{"ids[0]": "2"})) == ["east"]
    assert codes(orgs(admin, size=1, offset=1)) == ["east"]
    error(admin.get("/v1/organizations.json", params={"size": "101"}), 400, "CB_VA01")


def test_add_organizations_with_a_parent_given_earlier_in_the_same_call(admin: TestClient) -> None:
    resp = post(
        admin,
        {"code": "west", "name": "West", "parentCode": "sales", "description": "d"},
        {"code": "west-1", "name": "West 1", "parentCode": "west", "localName": "W1"},
    )
    assert resp.json() == {}
    [west, west1] = orgs(admin, **{"codes[0]": "west", "codes[1]": "west-1"})
    assert (west["parentCode"], west["description"]) == ("sales", "d")
    # localNameLocale left out: the domain's language (the emulator's is ja).
    assert (west1["parentCode"], west1["localNameLocale"]) == ("west", "ja")


def test_a_parent_given_later_in_the_call_is_refused(admin: TestClient) -> None:
    resp = post(
        admin,
        {"code": "child", "name": "Child", "parentCode": "mother"},
        {"code": "mother", "name": "Mother"},
    )
    assert list(error(resp, 400, "CB_VA01")["errors"]) == ["organizations[0].parentCode"]
    assert codes(orgs(admin)) == ["sales", "east", "hr"]


@pytest.mark.parametrize(
    ("item", "key"),
    [
        ({"code": "sales", "name": "Again"}, "organizations[0].code"),
        ({"code": "x" * 129, "name": "Long"}, "organizations[0].code"),
        ({"code": "ok", "name": " "}, "organizations[0].name"),
        ({"code": "ok", "name": "OK", "localNameLocale": "xx"}, "organizations[0].localNameLocale"),
        ({"code": "ok", "name": "OK", "description": "d" * 1001}, "organizations[0].description"),
        ({"code": "ok", "name": "OK", "id": "9"}, "organizations[0].id"),
        ({"name": "No code"}, "organizations[0].code"),
    ],
)
def test_add_refusals(admin: TestClient, item: dict[str, Any], key: str) -> None:
    assert key in error(post(admin, item), 400, "CB_VA01")["errors"]
    assert codes(orgs(admin)) == ["sales", "east", "hr"]


def test_add_more_than_100_is_refused(admin: TestClient) -> None:
    items = [{"code": f"o{i}", "name": f"O{i}"} for i in range(101)]
    assert list(error(post(admin, *items), 400, "CB_VA01")["errors"]) == ["organizations"]


def test_update_follows_the_documented_omissions(admin: TestClient) -> None:
    put(admin, {"code": "east", "description": "Eastern", "localNameLocale": "en"})
    assert put(admin, {"code": "east", "localNameLocale": ""}).json() == {}
    [east] = orgs(admin, **{"codes[0]": "east"})
    # name, localName and parentCode left out: kept; localNameLocale "": kept;
    # description left out: emptied.
    assert east["name"] == "East"
    assert east["localName"] == "Est"
    assert east["parentCode"] == "sales"
    assert east["localNameLocale"] == "en"
    assert east["description"] == ""
    put(admin, {"code": "east", "parentCode": ""})
    assert orgs(admin, **{"codes[0]": "east"})[0]["parentCode"] is None
    put(admin, {"code": "east", "parentCode": "hr", "name": "East (HR)"})
    [east] = orgs(admin, **{"codes[0]": "east"})
    assert (east["parentCode"], east["name"]) == ("hr", "East (HR)")


@pytest.mark.parametrize(
    "items",
    [
        [{"code": "sales", "parentCode": "east"}],
        [{"code": "sales", "parentCode": "sales"}],
        [{"code": "hr", "parentCode": "sales"}, {"code": "sales", "parentCode": "hr"}],
        [{"code": "sales", "parentCode": "nowhere"}],
        [{"code": "nowhere", "name": "N"}],
    ],
)
def test_update_refuses_loops_and_unknown_codes(admin: TestClient, items: Any) -> None:
    error(put(admin, *items), 400, "CB_VA01")
    assert [o["parentCode"] for o in orgs(admin)] == [None, "sales", None]


def test_delete_takes_children_along(domain: Seed) -> None:
    with make_client(domain, ALICE, org_delete_with_members="detach") as admin:
        assert delete(admin, "sales").json() == {}
        assert codes(orgs(admin)) == ["hr"]
        assert titles_of(admin, "alice") == []


def test_delete_of_an_organization_with_members_is_refused_by_default(admin: TestClient) -> None:
    body = error(delete(admin, "hr", "sales"), 400, "CB_VA01")
    assert list(body["errors"]) == ["codes[1]"]
    assert codes(orgs(admin)) == ["sales", "east", "hr"]
    error(delete(admin, "nowhere"), 400, "CB_VA01")
    assert delete(admin, "hr").json() == {}
    assert codes(orgs(admin)) == ["sales", "east"]


def test_rename_organization_codes(admin: TestClient) -> None:
    body = {"codes": [{"currentCode": "east", "newCode": "east-jp"}]}
    assert admin.put("/v1/organizations/codes.json", json=body).json() == {}
    assert codes(orgs(admin)) == ["sales", "east-jp", "hr"]
    assert titles_of(admin, "alice") == [("sales", None), ("east-jp", "boss")]


def test_organization_writes_need_an_administrator(domain: Seed) -> None:
    with make_client(domain, BOB) as c:
        error(post(c, {"code": "x", "name": "X"}), 403, "CB_NO02")
        error(put(c, {"code": "hr", "name": "X"}), 403, "CB_NO02")
        error(delete(c, "hr"), 403, "CB_NO02")
        assert codes(orgs(c)) == ["sales", "east", "hr"]


# --- memberships and titles -------------------------------------------------------------------


def test_user_organizations_shows_organization_and_title_types(admin: TestClient) -> None:
    resp = admin.get("/v1/user/organizations.json", params={"code": "alice"})
    [sales, east] = resp.json()["organizationTitles"]
    assert sales["title"] is None
    assert east["organization"]["parentCode"] == "sales"
    assert east["title"] == {"id": "1", "code": "boss", "name": "Boss", "description": "Runs it"}


def test_organization_users_shows_user_titles(admin: TestClient) -> None:
    resp = admin.get("/v1/organization/users.json", params={"code": "east"})
    [entry] = resp.json()["userTitles"]
    assert entry["user"]["code"] == "alice"
    assert "password" not in entry["user"]
    assert entry["title"]["code"] == "boss"
    empty = admin.get("/v1/organization/users.json", params={"code": "hr", "size": 1})
    assert empty.json() == {"userTitles": []}
    error(admin.get("/v1/organization/users.json", params={"code": "x"}), 400, "GAIA_IL28")


def test_put_user_organizations_with_titles_replaces_them(admin: TestClient) -> None:
    body = {
        "userOrganizations": [
            {"code": "bob", "organizations": [{"orgCode": "hr", "titleCode": "boss"}]},
            {"code": "alice", "organizations": [{"orgCode": "east"}]},
        ]
    }
    assert admin.put("/v1/userOrganizations.json", json=body).json() == {}
    assert titles_of(admin, "bob") == [("hr", "boss")]
    assert titles_of(admin, "alice") == [("east", None)]
    bob = admin.get("/v1/users.json", params={"codes[0]": "bob"}).json()["users"][0]
    assert bob["primaryOrganization"] == "3"  # the first department, when none was primary


def test_put_user_organizations_refuses_unknown_titles_and_changes_nothing(
    admin: TestClient,
) -> None:
    body = {
        "userOrganizations": [
            {"code": "bob", "organizations": [{"orgCode": "hr"}]},
            {"code": "alice", "organizations": [{"orgCode": "hr", "titleCode": "king"}]},
        ]
    }
    resp = admin.put("/v1/userOrganizations.json", json=body)
    keys = list(error(resp, 400, "CB_VA01")["errors"])
    assert keys == ["userOrganizations[1].organizations[0].titleCode"]
    assert titles_of(admin, "bob") == []


def test_put_user_organizations_limits(admin: TestClient) -> None:
    many = [{"code": "bob", "organizations": []}] * 101
    resp = admin.put("/v1/userOrganizations.json", json={"userOrganizations": many})
    assert list(error(resp, 400, "CB_VA01")["errors"]) == ["userOrganizations"]
    entry = {"code": "bob", "organizations": [{"orgCode": "hr"}] * 101}
    resp = admin.put("/v1/userOrganizations.json", json={"userOrganizations": [entry]})
    assert list(error(resp, 400, "CB_VA01")["errors"]) == ["userOrganizations[0].organizations"]


# --- groups -----------------------------------------------------------------------------------


def test_groups_get(admin: TestClient) -> None:
    got = admin.get("/v1/groups.json").json()["groups"]
    assert [g["code"] for g in got] == ["staff", "robots"]
    assert got[0] == {"id": "1", "code": "staff", "name": "Staff", "description": ""}
    only = admin.get("/v1/groups.json", params={"codes[0]": "robots"}).json()["groups"]
    assert [g["code"] for g in only] == ["robots"]


def test_put_user_groups_refuses_dynamic_groups_and_keeps_dynamic_memberships(
    admin: TestClient,
) -> None:
    body = {"code": "bob", "groups": ["robots"]}
    assert (
        "groups[0]" in error(admin.put("/v1/user/groups.json", json=body), 400, "CB_VA01")["errors"]
    )
    admin.put("/v1/user/groups.json", json={"code": "alice", "groups": []})
    got = admin.get("/v1/user/groups.json", params={"code": "alice"}).json()["groups"]
    assert [g["code"] for g in got] == ["robots"]
    too_many = {"code": "bob", "groups": ["staff"] * 1001}
    error(admin.put("/v1/user/groups.json", json=too_many), 400, "CB_VA01")


def test_group_users_get_and_put(admin: TestClient) -> None:
    def members(group: str) -> list[str]:
        resp = admin.get("/v1/group/users.json", params={"code": group})
        assert resp.status_code == 200, resp.text
        return [u["code"] for u in resp.json()["users"]]

    assert members("staff") == ["alice"]
    assert admin.put("/v1/group/users.json", json={"code": "staff", "users": ["bob"]}).json() == {}
    assert members("staff") == ["bob"]
    error(admin.put("/v1/group/users.json", json={"code": "robots", "users": []}), 400, "CB_VA01")
    body = {"code": "staff", "users": ["bob", "nobody"]}
    error(admin.put("/v1/group/users.json", json=body), 400, "GAIA_IL26")
    assert members("staff") == ["bob"]


# --- the record side --------------------------------------------------------------------------


def add_record(c: TestClient, **values: Any) -> Any:
    # `code` is a unique field: every record gets its own.
    number = len(c.get("/_emulator/records", params={"app": 1}).json()["records"])
    record = {"code": {"value": f"C-{number}"}, **{k: {"value": v} for k, v in values.items()}}
    return c.post("/k/v1/record.json", json={"app": 1, "record": record}, headers=TOKEN)


def test_organizations_added_renamed_and_deleted_are_seen_by_organization_select(
    admin: TestClient,
) -> None:
    error(add_record(admin, dept=[{"code": "west"}]), 400, "GAIA_IL28")
    post(admin, {"code": "west", "name": "West"})
    assert add_record(admin, dept=[{"code": "west"}]).status_code == 200
    admin.put(
        "/v1/organizations/codes.json", json={"codes": [{"currentCode": "west", "newCode": "w"}]}
    )
    error(add_record(admin, dept=[{"code": "west"}]), 400, "GAIA_IL28")
    assert add_record(admin, dept=[{"code": "w"}]).status_code == 200
    delete(admin, "w")
    error(add_record(admin, dept=[{"code": "w"}]), 400, "GAIA_IL28")


def test_seeded_groups_are_seen_by_group_select(admin: TestClient) -> None:
    resp = add_record(admin, team=[{"code": "robots"}])
    assert resp.status_code == 200, resp.text


def test_seed_refuses_memberships_it_does_not_declare(seed: Seed) -> None:
    data = seed.model_dump()
    data["users"][1]["organizations"] = [{"orgCode": "sales", "titleCode": "king"}]
    with pytest.raises(ValueError, match="title 'king' is not declared"):
        Seed.model_validate(data)
    data["users"][1]["organizations"] = []
    data["organizations"] = [{"code": "a", "name": "A", "parentCode": "b"}]
    with pytest.raises(ValueError, match="declare the parent first"):
        Seed.model_validate(data)


def test_the_seed_example_in_the_docs_loads(seed: Seed) -> None:
    text = (Path(__file__).parents[2] / "docs" / "emulator.md").read_text(encoding="utf-8")
    block = text.split("Seed keys beside", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    example = Seed.model_validate(yaml.safe_load(block))
    with make_client(example, password_header("alice", "pw")) as c:
        assert titles_of(c, "alice") == [("sales", None), ("east", "boss")]
        [alice] = c.get("/v1/users.json").json()["users"]
    assert alice["customItemValues"] == [{"code": "badge", "value": "B-1"}]
