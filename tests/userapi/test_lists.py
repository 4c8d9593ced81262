"""USER schema, departments and memberships: a tree in one run, lists that keep hand edits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from .conftest import Run, set_mapping, warehouse


def orgs(client: TestClient) -> dict[str, dict[str, Any]]:
    body = client.get("/v1/organizations.json", params={"size": 100}).json()
    return {o["code"]: o for o in body["organizations"]}


def departments(client: TestClient, user: str) -> dict[str, str | None]:
    body = client.get("/v1/user/organizations.json", params={"code": user}).json()
    return {
        t["organization"]["code"]: (t.get("title") or {}).get("code")
        for t in body["organizationTitles"]
    }


def groups(client: TestClient, user: str) -> set[str]:
    body = client.get("/v1/user/groups.json", params={"code": user}).json()
    return {g["code"] for g in body["groups"]}


@pytest.fixture
def staffed(run: Run) -> Run:
    """Departments and users in place, as the example's first two jobs leave them."""
    assert run("hr_departments").refused == 0
    assert run("hr_users").refused == 0
    return run


def test_a_department_tree_is_built_in_one_run(run: Run, directory: TestClient) -> None:
    report = run("hr_departments")
    assert (report.inserted, report.refused) == (6, 0)
    found = orgs(directory)
    assert found["SALES-E"]["parentCode"] == "SALES"
    assert found["DEV-DATA"]["parentCode"] == "DEV"
    assert found["HQ"].get("parentCode") in (None, "")
    assert run("hr_departments").unchanged == 6


def test_a_tree_whose_rows_come_children_first_still_lands(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(
        hr_dir,
        "INSERT INTO hr_departments VALUES ('A-3', 'Level 3', 'A-2', NULL),"
        "('A-2', 'Level 2', 'A-1', NULL), ('A-1', 'Level 1', NULL, NULL)",
    )
    assert run("hr_departments").refused == 0
    assert orgs(directory)["A-3"]["parentCode"] == "A-2"


def test_a_department_with_a_missing_parent_is_refused_and_the_rest_land(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(hr_dir, "INSERT INTO hr_departments VALUES ('ORPHAN', 'Orphan', 'NOWHERE', NULL)")
    report = run("hr_departments")
    assert report.inserted == 6
    (refusal,) = report.refusals
    assert (str(refusal.key), refusal.field) == ("ORPHAN", "parentCode")
    assert "NOWHERE" in refusal.message


def test_a_department_moved_under_another_parent(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    run("hr_departments")
    warehouse(hr_dir, "UPDATE hr_departments SET parent_code = 'HQ' WHERE dept_code = 'DEV-DATA'")
    assert run("hr_departments").updated == 1
    assert orgs(directory)["DEV-DATA"]["parentCode"] == "HQ"


def test_user_departments_with_titles(staffed: Run, directory: TestClient) -> None:
    report = staffed("hr_user_departments")
    assert report.refused == 0
    assert departments(directory, "takahashi") == {"DEV": None, "DEV-DATA": "LEAD"}
    assert departments(directory, "sato") == {"SALES": "MANAGER"}
    assert staffed("hr_user_departments").calls == 0


def test_a_user_moved_keeps_a_department_added_by_hand(
    staffed: Run, hr_dir: Path, directory: TestClient
) -> None:
    staffed("hr_user_departments")
    # By hand in cybozu.com: suzuki also helps out in Development.
    directory.put(
        "/v1/userOrganizations.json",
        json={
            "userOrganizations": [
                {"code": "suzuki", "organizations": [{"orgCode": "SALES-E"}, {"orgCode": "DEV"}]}
            ]
        },
    ).raise_for_status()
    warehouse(hr_dir, "UPDATE hr_assignments SET dept_code = 'SALES-W' WHERE employee_id = 1002")
    assert staffed("hr_user_departments").updated == 1
    assert departments(directory, "suzuki") == {"SALES-W": None, "DEV": None}


def test_a_leaver_loses_only_the_departments_the_job_set(
    staffed: Run, hr_dir: Path, directory: TestClient
) -> None:
    set_mapping(hr_dir, "hr_user_departments", max_delete_share=0.5)
    staffed("hr_user_departments")
    directory.put(
        "/v1/userOrganizations.json",
        json={
            "userOrganizations": [
                {"code": "tanaka", "organizations": [{"orgCode": "SALES-W"}, {"orgCode": "HQ"}]}
            ]
        },
    ).raise_for_status()
    warehouse(hr_dir, "DELETE FROM hr_employees WHERE employee_id = 1004")
    report = staffed("hr_user_departments")
    assert report.deleted == 1
    assert departments(directory, "tanaka") == {"HQ": None}


def test_an_unknown_department_refuses_that_user_only(
    staffed: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(hr_dir, "INSERT INTO hr_assignments VALUES (1004, 'NO-SUCH-DEPT', NULL)")
    report = staffed("hr_user_departments")
    assert report.updated == 4
    (refusal,) = report.refusals
    assert str(refusal.key) == "1004"
    assert departments(directory, "sato") == {"SALES": "MANAGER"}


def test_memberships_of_a_user_not_in_cybozu_are_refused(run: Run, directory: TestClient) -> None:
    run("hr_departments")
    report = run("hr_user_departments")
    assert report.refused == 5
    assert {r.code for r in report.refusals} == {"NOT_FOUND"}
    assert "add the user first" in report.refusals[0].message


def test_groups_keep_what_the_job_never_set(
    staffed: Run, hr_dir: Path, directory: TestClient
) -> None:
    staffed("hr_user_groups")
    assert groups(directory, "sato") == {"managers"}
    directory.put(
        "/v1/user/groups.json", json={"code": "sato", "groups": ["managers", "everyone"]}
    ).raise_for_status()
    warehouse(
        hr_dir, "UPDATE hr_group_members SET group_code = 'engineers' WHERE employee_id = 1001"
    )
    staffed("hr_user_groups")
    assert groups(directory, "sato") == {"engineers", "everyone"}


def test_a_group_from_the_users_own_row(staffed: Run, hr_dir: Path, directory: TestClient) -> None:
    warehouse(
        hr_dir,
        "ALTER TABLE hr_employees ADD COLUMN team VARCHAR;"
        "UPDATE hr_employees SET team = 'engineers' WHERE employee_id IN (1003, 1004)",
    )
    set_mapping(hr_dir, "hr_user_groups", items={"fields": {"groupCode": "team"}})
    report = staffed("hr_user_groups")
    assert report.refused == 0
    assert groups(directory, "takahashi") == {"engineers"}
    assert groups(directory, "sato") == set()


def test_a_repeated_group_refuses_the_user(
    staffed: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(
        hr_dir,
        "CREATE TABLE twice AS SELECT * FROM hr_group_members UNION ALL "
        "SELECT * FROM hr_group_members WHERE employee_id = 1001",
    )
    set_mapping(
        hr_dir,
        "hr_user_groups",
        items={
            "source": {"table": "twice", "parent_key": ["employee_id"]},
            "fields": {"groupCode": "group_code"},
        },
    )
    report = staffed("hr_user_groups")
    (refusal,) = report.refusals
    assert str(refusal.key) == "1001"
    assert "twice" in refusal.message


def test_services_keep_what_the_job_never_set(
    staffed: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(
        hr_dir,
        "CREATE TABLE hr_services (employee_id INTEGER, service VARCHAR);"
        "INSERT INTO hr_services VALUES (1001, 'kintone'), (1001, 'garoon'), (1003, 'kintone')",
    )
    set_mapping(
        hr_dir,
        "hr_user_groups",
        user_table="user_services",
        max_delete_share=0.5,
        items={
            "source": {"table": "hr_services", "parent_key": ["employee_id"]},
            "fields": {"service": "service"},
        },
    )
    directory.put(
        "/v1/users/services.json", json={"users": [{"code": "takahashi", "services": ["mailwise"]}]}
    ).raise_for_status()
    assert staffed("hr_user_groups").refused == 0

    def services(code: str) -> set[str]:
        body = directory.get("/v1/users/services.json", params={"codes": [code]}).json()
        return set(body["users"][0]["services"])

    assert services("sato") == {"kintone", "garoon"}
    assert services("takahashi") == {"kintone", "mailwise"}
    warehouse(hr_dir, "DELETE FROM hr_services WHERE service = 'garoon'")
    staffed("hr_user_groups")
    assert services("sato") == {"kintone"}


def test_organizations_in_update_and_insert_mode(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    set_mapping(hr_dir, "hr_departments", mode="update")
    report = run("hr_departments")
    assert {r.code for r in report.refusals} == {"NOT_FOUND"}
    set_mapping(hr_dir, "hr_departments", mode="insert")
    assert run("hr_departments").inserted == 6
    warehouse(
        hr_dir, "UPDATE hr_departments SET dept_name = 'Sales (all)' WHERE dept_code = 'SALES'"
    )
    run("hr_departments")
    assert orgs(directory)["SALES"]["name"] == "Sales"  # insert never changes what is there


def test_departments_that_left_are_deleted_children_first(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    set_mapping(hr_dir, "hr_departments", on_delete="delete", max_delete_share=0.6)
    run("hr_departments")
    warehouse(hr_dir, "DELETE FROM hr_departments WHERE dept_code LIKE 'SALES%'")
    assert run("hr_departments").deleted == 3
    assert set(orgs(directory)) == {"HQ", "DEV", "DEV-DATA"}


def test_plan_of_a_membership_job_writes_nothing(staffed: Run, directory: TestClient) -> None:
    plan = staffed("hr_user_departments", dry_run=True)
    assert plan.updated == 5  # ito has no departments: the job still sets the (empty) list
    assert departments(directory, "sato") == {}


def test_many_users_read_their_lists_by_department_in_fewer_calls(
    staffed: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(
        hr_dir,
        "INSERT INTO hr_employees (employee_id, login_name, display_name, active) "
        "SELECT 3000 + i, 'bulk' || i, 'Bulk ' || i, true FROM range(150) t(i);"
        "INSERT INTO hr_assignments SELECT 3000 + i, 'SALES-E', NULL FROM range(150) t(i);",
    )
    assert staffed("hr_users").inserted == 150
    directory.put(
        "/v1/userOrganizations.json",
        json={"userOrganizations": [{"code": "bulk7", "organizations": [{"orgCode": "DEV"}]}]},
    ).raise_for_status()
    report = staffed("hr_user_departments")
    assert report.updated == 155
    assert "GET user/organizations" not in report.api_calls
    assert report.calls < 30  # not one read per user
    assert departments(directory, "bulk7") == {"SALES-E": None, "DEV": None}
    assert departments(directory, "takahashi") == {"DEV": None, "DEV-DATA": "LEAD"}
