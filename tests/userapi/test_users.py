"""USER schema, users table: adds, updates, disabled and enabled again, leavers, dirty rows."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from starlette.testclient import TestClient

from connector.config import ProjectConfig, load_project
from connector.errors import ConfigError
from connector.runner import sync
from connector.state import StateStore

from .conftest import ENV, PASSWORD, Run, set_mapping, users, warehouse

REDUCED = {  # what the emulator's users table holds
    "code": "login_name",
    "name": "display_name",
    "surName": "surname",
    "givenName": "given_name",
    "email": "email",
    "phone": "phone",
    "locale": "locale",
    "timezone": "time_zone",
    "valid": "active",
    "password": {"env": "HR_INITIAL_PASSWORD"},
}


def test_upsert_adds_every_user_then_an_unchanged_run_sends_nothing(
    run: Run, directory: TestClient
) -> None:
    first = run("hr_users")
    assert (first.inserted, first.refused) == (5, 0)
    found = users(directory)
    assert found["sato"]["name"] == "佐藤 花子"
    assert found["sato"]["valid"] is True
    assert found["ito"]["valid"] is False  # inactive in HR: added disabled
    again = run("hr_users")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 5)
    assert again.calls == 0


def test_a_user_disabled_and_enabled_again(run: Run, hr_dir: Path, directory: TestClient) -> None:
    run("hr_users")
    warehouse(hr_dir, "UPDATE hr_employees SET active = false WHERE login_name = 'suzuki'")
    assert run("hr_users").updated == 1
    assert users(directory, "suzuki")["suzuki"]["valid"] is False
    warehouse(hr_dir, "UPDATE hr_employees SET active = true WHERE login_name = 'suzuki'")
    assert run("hr_users").updated == 1
    assert users(directory, "suzuki")["suzuki"]["valid"] is True


def test_an_update_without_valid_mapped_keeps_a_disabled_user_disabled(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    run("hr_users")
    fields = dict(REDUCED)
    del fields["valid"]
    set_mapping(hr_dir, "hr_users", fields=fields)
    warehouse(
        hr_dir, "UPDATE hr_employees SET email = 'ito@new.example.com' WHERE employee_id = 1005"
    )
    report = run("hr_users", full_refresh=True)
    assert report.refused == 0
    ito = users(directory, "ito")["ito"]
    assert ito["email"] == "ito@new.example.com"
    assert ito["valid"] is False  # the API makes an omitted valid true; it was sent as read


def test_a_leaver_is_disabled_not_deleted(run: Run, hr_dir: Path, directory: TestClient) -> None:
    run("hr_users")
    warehouse(hr_dir, "DELETE FROM hr_employees WHERE login_name = 'tanaka'")
    set_mapping(hr_dir, "hr_users", max_delete_share=0.5)
    report = run("hr_users")
    assert report.deleted == 1
    tanaka = users(directory, "tanaka")["tanaka"]
    assert tanaka["valid"] is False
    assert tanaka["email"] == "tanaka@example.com"  # the rest of the user as it was


def test_a_leaver_is_deleted_only_when_configured(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    run("hr_users")
    warehouse(hr_dir, "DELETE FROM hr_employees WHERE login_name = 'tanaka'")
    set_mapping(hr_dir, "hr_users", on_delete="delete", max_delete_share=0.5)
    assert run("hr_users").deleted == 1
    assert "tanaka" not in users(directory)
    assert "admin" in users(directory)  # a user the job never wrote is never touched


def test_the_delete_cap_holds_for_users(run: Run, hr_dir: Path, directory: TestClient) -> None:
    from connector.errors import DeleteCapError

    run("hr_users")
    warehouse(hr_dir, "DELETE FROM hr_employees WHERE employee_id < 1004")
    with pytest.raises(DeleteCapError, match="would delete 3 of its 5 records"):
        run("hr_users")
    assert all(u["valid"] for c, u in users(directory).items() if c != "ito")


def test_plan_says_what_a_run_would_do_and_changes_nothing(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    run("hr_users")
    warehouse(
        hr_dir,
        "UPDATE hr_employees SET display_name = 'Sato Hanako' WHERE employee_id = 1001;"
        "INSERT INTO hr_employees (employee_id, login_name, display_name, active) "
        "VALUES (2001, 'new', 'New Hire', true)",
    )
    plan = run("hr_users", dry_run=True)
    assert (plan.inserted, plan.updated, plan.unchanged) == (1, 1, 4)
    assert "new" not in users(directory)
    assert users(directory, "sato")["sato"]["name"] == "佐藤 花子"


def test_update_mode_refuses_an_unknown_login_name(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    set_mapping(hr_dir, "hr_users", mode="update")
    report = run("hr_users")
    assert report.refused == 5
    assert {r.code for r in report.refusals} == {"NOT_FOUND"}
    assert "upsert" in report.refusals[0].message


def test_insert_mode_links_a_user_already_there(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    directory.post(
        "/v1/users.json",
        json={"users": [{"code": "sato", "name": "Sato (by hand)", "password": "x-1234567"}]},
    ).raise_for_status()
    set_mapping(hr_dir, "hr_users", mode="insert")
    report = run("hr_users")
    assert (report.inserted, report.linked, report.refused) == (4, 1, 0)
    assert users(directory, "sato")["sato"]["name"] == "Sato (by hand)"  # insert never overwrites


def test_dirty_rows_are_refused_by_field_and_the_rest_land(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(
        hr_dir,
        "UPDATE hr_employees SET time_zone = 'Mars/Olympus' WHERE employee_id = 1001;"
        "UPDATE hr_employees SET display_name = repeat('x', 129) WHERE employee_id = 1002;"
        "UPDATE hr_employees SET locale = 'klingon' WHERE employee_id = 1003;"
        "UPDATE hr_employees SET display_name = '   ' WHERE employee_id = 1004;",
    )
    report = run("hr_users")
    refused = {(str(r.key), r.field) for r in report.refusals}
    assert refused == {
        ("1001", "timezone"),
        ("1002", "name"),
        ("1003", "locale"),
        ("1004", "name"),
    }
    assert set(users(directory)) == {"admin", "ito"}
    assert "Asia/Tokyo" in next(r.message for r in report.refusals if r.field == "timezone")


def test_a_new_user_without_a_password_is_refused(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(
        hr_dir,
        "ALTER TABLE hr_employees ADD COLUMN initial_password VARCHAR;"
        "UPDATE hr_employees SET initial_password = 'Pa55-' || login_name WHERE employee_id > 1003",
    )
    set_mapping(hr_dir, "hr_users", fields={**REDUCED, "password": "initial_password"})
    report = run("hr_users")
    assert report.inserted == 2
    assert {(str(r.key), r.field) for r in report.refusals} == {
        ("1001", "password"),
        ("1002", "password"),
        ("1003", "password"),
    }


def test_an_unset_password_variable_stops_the_run_before_any_write(
    hr: ProjectConfig, directory: TestClient
) -> None:
    with pytest.raises(ConfigError, match="HR_INITIAL_PASSWORD is not set"):
        sync(hr, "hr_users", http=directory, env={"HR_INITIAL_PASSWORD": ""})
    assert set(users(directory)) == {"admin"}


def test_the_password_never_reaches_output_state_or_rejects(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(hr_dir, "UPDATE hr_employees SET display_name = '' WHERE employee_id = 1002")
    report = run("hr_users")
    assert report.refused == 1
    text = repr(report.as_dict()) + repr(report.refusals)
    assert PASSWORD not in text
    db = (hr_dir / ".kintone-sync" / "state.db").read_bytes()
    assert PASSWORD.encode() not in db
    state = StateStore.open(None, hr_dir)
    try:
        rejects = state.log.rejects("hr_users")
        assert rejects
        assert all(PASSWORD not in repr(r) for r in rejects)
    finally:
        state.close()
    body = directory.get("/v1/users.json").text
    assert PASSWORD not in body


def test_a_token_connection_is_refused_for_a_user_table(hr_dir: Path) -> None:
    project = hr_dir / "kintone-sync.yaml"
    text = project.read_text(encoding="utf-8")
    text = text.replace(
        "      username_env: CYBOZU_ADMIN_LOGIN\n      password_env: CYBOZU_ADMIN_PASSWORD\n",
        "      api_token_env: KINTONE_API_TOKEN\n",
    )
    project.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match="login name and password only") as caught:
        load_project(project).mapping("hr_users")
    assert "hr_users.yaml" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"fields": {"code": "login_name", "name": "display_name"}}, "which need password"),
        ({"fields": {**REDUCED, "password": {"value": "secret"}}}, "never from the mapping file"),
        ({"fields": {**REDUCED, "nickname": "given_name"}}, "users has no field 'nickname'"),
        ({"key": "email"}, "keyed by code"),
        ({"on_delete": "archive"}, "on_delete"),
        ({"app": 12}, "exactly one of app"),
        ({"items": {"fields": {"orgCode": "x"}}}, "items is for membership tables"),
        ({"on_conflict": "skip"}, "on_conflict is for apps"),
    ],
)
def test_mapping_mistakes_are_named(hr_dir: Path, change: dict[str, object], message: str) -> None:
    set_mapping(hr_dir, "hr_users", **change)
    with pytest.raises(ConfigError, match=message):
        load_project(hr_dir / "kintone-sync.yaml").mapping("hr_users")


def test_verify_finds_a_user_edited_in_cybozu_and_repair_sends_it_again(
    run: Run, hr: ProjectConfig, directory: TestClient
) -> None:
    from connector.verify import verify

    run("hr_users")
    assert verify(hr, "hr_users", http=directory, env=ENV).clean
    sato = users(directory, "sato")["sato"]
    edited = {k: v for k, v in sato.items() if k not in ("id", "ctime", "mtime") and v is not None}
    edited.update(name="Edited", valid=False)
    directory.put("/v1/users.json", json={"users": [edited]}).raise_for_status()
    report = verify(hr, "hr_users", http=directory, env=ENV, repair=True)
    assert report.drifted == {"1001": ["name", "valid"]}
    assert report.marked == 1
    assert run("hr_users").updated == 1
    sato = users(directory, "sato")["sato"]
    assert (sato["name"], sato["valid"]) == ("佐藤 花子", True)
    assert verify(hr, "hr_users", http=directory, env=ENV).clean


def test_check_reads_maps_and_probes_without_writing(
    hr: ProjectConfig, hr_dir: Path, directory: TestClient
) -> None:
    from connector.job import check

    warehouse(hr_dir, "UPDATE hr_employees SET locale = 'xx' WHERE employee_id = 1001")
    result = check(hr, "hr_users", http=directory, env=ENV)
    assert result.problems == []
    assert result.rows_mapped == 5
    assert [(str(r.key), r.field) for r in result.refusals] == [("1001", "locale")]
    assert set(users(directory)) == {"admin"}


def test_check_names_a_login_that_is_not_an_administrator(hr: ProjectConfig, hr_dir: Path) -> None:
    from connector.job import check

    from .conftest import cybozu

    seed = hr_dir / "seed.yaml"
    data = yaml.safe_load(seed.read_text(encoding="utf-8"))
    data["users"].append({"code": "clerk", "name": "Clerk", "password": "clerk-password"})
    seed.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with cybozu(seed, login=("clerk", "clerk-password")) as client:
        result = check(hr, "hr_users", http=client, env=ENV)
    assert any("cybozu.com administrator" in p for p in result.problems)


def test_every_mapped_field_lands_and_what_the_mapping_leaves_out_stays(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    run("hr_departments")
    run("hr_users")
    sato = users(directory, "sato")["sato"]
    assert (sato["surNameReading"], sato["givenNameReading"]) == ("さとう", "はなこ")
    assert (sato["birthDate"], sato["joinDate"]) == ("1985-04-02", "2010-04-01")
    assert (sato["employeeNumber"], sato["extensionNumber"]) == ("E1001", "1001")
    # By hand: a primary department, a custom item and a mobile phone the mapping never sets.
    edited = {k: v for k, v in sato.items() if k not in ("id", "ctime", "mtime") and v is not None}
    edited.update(
        primaryOrganization="SALES",
        mobilePhone="090-0000-0000",
        customItemValues=[{"code": "cost_center", "value": "CC-9"}],
    )
    directory.put(
        "/v1/userOrganizations.json",
        json={"userOrganizations": [{"code": "sato", "organizations": [{"orgCode": "SALES"}]}]},
    ).raise_for_status()
    directory.put("/v1/users.json", json={"users": [edited]}).raise_for_status()
    warehouse(hr_dir, "UPDATE hr_employees SET phone = '03-9999-0000' WHERE employee_id = 1001")
    assert run("hr_users").updated == 1
    after = users(directory, "sato")["sato"]
    assert after["phone"] == "03-9999-0000"
    assert after["mobilePhone"] == "090-0000-0000"
    sales = directory.get("/v1/organizations.json", params={"codes": ["SALES"]}).json()
    assert after["primaryOrganization"] == sales["organizations"][0]["id"]
    assert after["customItemValues"] == [{"code": "cost_center", "value": "CC-9"}]


def test_a_custom_item_from_a_column(run: Run, hr_dir: Path, directory: TestClient) -> None:
    warehouse(
        hr_dir,
        "ALTER TABLE hr_employees ADD COLUMN cost_center VARCHAR;"
        "UPDATE hr_employees SET cost_center = 'CC-' || employee_id",
    )
    set_mapping(hr_dir, "hr_users", fields={**REDUCED, "custom.cost_center": "cost_center"})
    run("hr_users")
    assert users(directory, "tanaka")["tanaka"]["customItemValues"] == [
        {"code": "cost_center", "value": "CC-1004"}
    ]


def test_a_changed_login_name_renames_the_user(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    run("hr_users")
    before = users(directory, "sato")["sato"]
    warehouse(hr_dir, "UPDATE hr_employees SET login_name = 'hanako.sato' WHERE employee_id = 1001")
    report = run("hr_users")
    assert (report.inserted, report.updated) == (0, 1)
    found = users(directory)
    assert "sato" not in found
    assert found["hanako.sato"]["id"] == before["id"]


def test_a_value_only_cybozu_refuses_isolates_its_user(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(
        hr_dir,
        "INSERT INTO hr_employees (employee_id, login_name, display_name, active) "
        "SELECT 3000 + i, 'bulk' || i, 'Bulk ' || i, true FROM range(150) t(i);"
        "ALTER TABLE hr_employees ADD COLUMN home_dept VARCHAR;"
        "UPDATE hr_employees SET home_dept = CASE WHEN employee_id = 3077 THEN 'NOWHERE' END",
    )
    set_mapping(hr_dir, "hr_users", fields={**REDUCED, "primaryOrganization": "home_dept"})
    report = run("hr_users")
    (refusal,) = report.refusals
    assert (str(refusal.key), refusal.field) == ("3077", "primaryOrganization")
    assert report.inserted == 154
    assert report.calls < 25  # the refused call is split, not sent user by user


def test_the_other_user_fields_land_as_mapped(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(
        hr_dir,
        "ALTER TABLE hr_employees ADD COLUMN bio VARCHAR;"
        "ALTER TABLE hr_employees ADD COLUMN home VARCHAR;"
        "ALTER TABLE hr_employees ADD COLUMN rank INTEGER;"
        "UPDATE hr_employees SET bio = 'Line one' || chr(10) || 'line two', "
        "home = 'https://example.com/' || login_name, rank = employee_id - 1000",
    )
    fields = {
        **REDUCED,
        "description": "bio",
        "url": "home",
        "sortOrder": "rank",
        "localName": "given_name",
        "localNameLocale": {"value": "en"},
        "mobilePhone": "phone",
        "callto": "login_name",
    }
    set_mapping(hr_dir, "hr_users", fields=fields)
    assert run("hr_users").refused == 0
    sato = users(directory, "sato")["sato"]
    assert sato["description"] == "Line one\nline two"
    assert sato["url"] == "https://example.com/sato"
    assert sato["sortOrder"] == 1
    assert (sato["localName"], sato["localNameLocale"]) == ("花子", "en")
    assert (sato["mobilePhone"], sato["callto"]) == ("03-0000-1001", "sato")
