"""USER schema under faults and dirty rows: lost answers, retries, repeated and empty keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from starlette.testclient import TestClient

from connector.errors import KintoneError
from connector.kintone.client import RetryPolicy

from .conftest import Run, users, warehouse

FAST = RetryPolicy(attempts=4, backoff_seconds=0.0, max_backoff_seconds=0.0)


def fault(client: TestClient, **rule: object) -> None:
    client.post("/_emulator/faults", json=rule).raise_for_status()


def test_an_add_whose_answer_was_lost_is_not_added_twice(run: Run, directory: TestClient) -> None:
    fault(directory, path="/v1/users.json", method="POST", drop="after")
    with pytest.raises(KintoneError):
        run("hr_users", retry=FAST)
    assert len(users(directory)) == 6  # the users landed; the answer did not
    again = run("hr_users", retry=FAST)
    assert again.refused == 0
    assert again.inserted == 0
    assert again.updated == 5  # found by login name and recorded, never added twice
    assert len(users(directory)) == 6
    assert run("hr_users").calls == 0


def test_a_busy_answer_is_retried(run: Run, directory: TestClient) -> None:
    fault(directory, path="/v1/users.json", method="POST", code="GAIA_TO04", times=2)
    report = run("hr_users", retry=FAST)
    assert (report.inserted, report.retries) == (5, 2)


def test_two_rows_with_one_login_name_refuse_the_second(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(hr_dir, "UPDATE hr_employees SET login_name = 'sato' WHERE employee_id = 1002")
    report = run("hr_users")
    (refusal,) = report.refusals
    assert (str(refusal.key), refusal.code) == ("1002", "KEY_TAKEN")
    assert users(directory, "sato")["sato"]["name"] == "佐藤 花子"


def test_an_empty_login_name_or_primary_key_refuses_the_row(
    run: Run, hr_dir: Path, directory: TestClient
) -> None:
    warehouse(
        hr_dir,
        "ALTER TABLE hr_employees ALTER COLUMN login_name DROP NOT NULL;"
        "UPDATE hr_employees SET login_name = NULL WHERE employee_id = 1002;"
        "CREATE TABLE staff AS SELECT * FROM hr_employees;"
        "UPDATE staff SET employee_id = NULL WHERE employee_id = 1003;",
    )
    from .conftest import set_mapping

    set_mapping(hr_dir, "hr_users", source={"table": "staff", "primary_key": ["employee_id"]})
    report = run("hr_users")
    codes = sorted(r.code for r in report.refusals)
    assert codes == ["EMPTY_KEY", "NULL_KEY"]
    assert set(users(directory)) == {"admin", "sato", "tanaka", "ito"}
