"""Process management: settings from the seed, the first status, actions, GAIA_IL03, GAIA_ST02.

Observed on a real domain by SonicGarden/kintone-emulator (https://github.com/SonicGarden/
kintone-emulator), dual tests packages/core/tests/api/record/status.test.ts and
packages/core/tests/api/app/status.test.ts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.emulator import Seed

from .conftest import error, make_client

NOBODY = {"type": "ONE", "entities": []}
STATUS = {
    "enable": True,
    "states": {
        "To do": {"name": "To do", "index": "0", "assignee": NOBODY},
        "Doing": {
            "name": "Doing",
            "index": "1",
            "assignee": {"type": "ONE", "entities": [{"entity": {"type": "CREATOR"}}]},
        },
        "Done": {"name": "Done", "index": "2", "assignee": NOBODY},
    },
    "actions": [
        {"name": "Start", "from": "To do", "to": "Doing"},
        {"name": "Finish", "from": "Doing", "to": "Done"},
    ],
}
PROPS = {
    "Status": {"type": "STATUS", "code": "Status", "label": "Status", "enabled": True},
    "Assignee": {
        "type": "STATUS_ASSIGNEE",
        "code": "Assignee",
        "label": "Assignee",
        "enabled": True,
    },
    "Created_by": {"type": "CREATOR", "code": "Created_by", "label": "Created by"},
    "title": {"type": "SINGLE_LINE_TEXT", "code": "title", "label": "Title"},
}
TOKEN = {"token": "t", "view": True, "add": True, "edit": True, "delete": True, "manage": True}


def domain(status: dict[str, Any] | None) -> Seed:
    records = [{"title": {"value": v}} for v in ("a", "b", "c")]
    app = {"id": 1, "name": "Tasks", "properties": PROPS, "tokens": [TOKEN], "records": records}
    return Seed.model_validate(
        {"apps": [{**app, "status": status}], "users": [{"code": "bob", "name": "Bob"}]}
    )


@pytest.fixture
def c() -> Iterator[TestClient]:
    with make_client(domain(STATUS), headers={"X-Cybozu-API-Token": "t"}) as client:
        yield client


def status_of(c: TestClient, record_id: int) -> str:
    record = c.get("/k/v1/record.json", params={"app": 1, "id": record_id}).json()["record"]
    return str(record["Status"]["value"])


def test_records_start_in_the_first_status(c: TestClient) -> None:
    assert status_of(c, 1) == "To do"


def test_an_action_moves_the_status_and_adds_two_to_the_revision(c: TestClient) -> None:
    resp = c.put("/k/v1/record/status.json", json={"app": 1, "id": 1, "action": "Start"})
    assert resp.json() == {"revision": "3"}
    assert status_of(c, 1) == "Doing"


def test_an_action_from_another_status_is_gaia_il03(c: TestClient) -> None:
    body = error(
        c.put("/k/v1/record/status.json", json={"app": 1, "id": 1, "action": "Finish"}),
        400,
        "GAIA_IL03",
    )
    assert "Failed to update the status." in body["message"]
    error(
        c.put("/k/v1/record/status.json", json={"app": 1, "id": 1, "action": "Nope"}),
        400,
        "GAIA_IL03",
    )


def test_bulk_actions_roll_back_together(c: TestClient) -> None:
    items = [{"id": 1, "action": "Start"}, {"id": 2, "action": "Finish"}]
    error(c.put("/k/v1/records/status.json", json={"app": 1, "records": items}), 400, "GAIA_IL03")
    assert status_of(c, 1) == "To do"
    items = [{"id": 1, "action": "Start"}, {"id": 2, "action": "Start"}]
    resp = c.put("/k/v1/records/status.json", json={"app": 1, "records": items})
    assert resp.json() == {"records": [{"id": "1", "revision": "3"}, {"id": "2", "revision": "3"}]}


def test_an_assignee_is_chosen_or_taken_from_the_state(c: TestClient) -> None:
    c.put("/k/v1/record/status.json", json={"app": 1, "id": 1, "action": "Start"})
    record = c.get("/k/v1/record.json", params={"app": 1, "id": 1}).json()["record"]
    assert record["Assignee"]["value"] == [{"code": "Administrator", "name": "Administrator"}]
    c.put(
        "/k/v1/record/status.json", json={"app": 1, "id": 2, "action": "Start", "assignee": "bob"}
    )
    record = c.get("/k/v1/record.json", params={"app": 1, "id": 2}).json()["record"]
    assert record["Assignee"]["value"] == [{"code": "bob", "name": "Bob"}]
    resp = c.put("/k/v1/record/assignees.json", json={"app": 1, "id": 2, "assignees": []})
    assert resp.status_code == 200, resp.text


def test_status_is_queryable(c: TestClient) -> None:
    c.put("/k/v1/record/status.json", json={"app": 1, "id": 1, "action": "Start"})
    found = c.get("/k/v1/records.json", params={"app": 1, "query": 'Status = "To do"'}).json()
    assert sorted(r["$id"]["value"] for r in found["records"]) == ["2", "3"]


def test_status_fields_are_not_written_by_record_updates(c: TestClient) -> None:
    resp = c.put(
        "/k/v1/record.json", json={"app": 1, "id": 1, "record": {"Status": {"value": "Done"}}}
    )
    error(resp, 400, "GAIA_UN10")


def test_actions_on_an_app_without_process_management_are_gaia_st02() -> None:
    with make_client(domain(None), headers={"X-Cybozu-API-Token": "t"}) as c:
        resp = c.put("/k/v1/record/status.json", json={"app": 1, "id": 1, "action": "Start"})
        body = error(resp, 400, "GAIA_ST02")
        assert "Process management is disabled" in body["message"]
        settings = c.get("/k/v1/app/status.json", params={"app": 1}).json()
        assert settings == {"enable": False, "states": None, "actions": None, "revision": "1"}


def test_settings_with_an_action_to_an_unknown_status_are_refused(c: TestClient) -> None:
    bad = {"app": 1, "actions": [{"name": "Skip", "from": "To do", "to": "Nowhere"}]}
    body = error(c.put("/k/v1/preview/app/status.json", json=bad), 400, "CB_VA01")
    assert list(body["errors"]) == ["actions[0].to"]
