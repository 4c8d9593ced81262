"""Form settings: an app built from nothing through the preview APIs, deployed, then used.

Observed behaviour from SonicGarden/kintone-emulator (https://github.com/SonicGarden/
kintone-emulator): doc/kintone-behavior-notes.md §3 (unique only on five types), §10 (lookups),
§11 (preview and deploy), doc/kintone-calc-behavior.md §1 and §7 (CALC formats, GAIA_IL01 at
deploy), and the dual tests packages/core/tests/api/record/status.test.ts.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from .conftest import error, make_client, password_header

Json = dict[str, Any]


@pytest.fixture
def alice(seed: Any) -> Iterator[TestClient]:
    with make_client(seed, headers=password_header("alice", "s3cret:x")) as c:
        yield c


def ok(resp: Any) -> Json:
    assert resp.status_code == 200, resp.text
    body: Json = resp.json()
    return body


def new_app(c: TestClient, name: str = "Orders") -> int:
    body = ok(c.post("/k/v1/preview/app.json", json={"name": name}))
    assert body["revision"] == "2"
    return int(body["app"])


def add_fields(c: TestClient, app: int, properties: Json) -> Any:
    return c.post("/k/v1/preview/app/form/fields.json", json={"app": app, "properties": properties})


def deploy(c: TestClient, app: int) -> Any:
    return c.post("/k/v1/preview/app/deploy.json", json={"apps": [{"app": app}]})


STATES = {
    "Not started": {
        "name": "Not started",
        "index": "0",
        "assignee": {"type": "ONE", "entities": []},
    },
    "In progress": {
        "name": "In progress",
        "index": "1",
        "assignee": {"type": "ONE", "entities": [{"entity": {"type": "USER", "code": "bob"}}]},
    },
    "Done": {"name": "Done", "index": "2", "assignee": {"type": "ONE", "entities": []}},
}
ACTIONS = [
    {"name": "Start", "from": "Not started", "to": "In progress"},
    {"name": "Finish", "from": "In progress", "to": "Done"},
]
FIELDS = {
    "title": {"type": "SINGLE_LINE_TEXT", "code": "title", "label": "Title", "required": True},
    "price": {"type": "NUMBER", "code": "price", "label": "Price"},
    "qty": {"type": "NUMBER", "code": "qty", "label": "Qty"},
    "total": {"type": "CALC", "code": "total", "label": "Total", "expression": "price * qty"},
    "shown": {
        "type": "SINGLE_LINE_TEXT",
        "code": "shown",
        "label": "Shown",
        "expression": 'YEN(total, 0) & " for " & title',
    },
    "lines": {
        "type": "SUBTABLE",
        "code": "lines",
        "label": "Lines",
        "fields": {
            "item": {"type": "SINGLE_LINE_TEXT", "code": "item", "label": "Item"},
            "amount": {"type": "NUMBER", "code": "amount", "label": "Amount"},
        },
    },
    "lines_sum": {"type": "CALC", "code": "lines_sum", "label": "Sum", "expression": "SUM(amount)"},
}


def test_an_app_built_from_nothing_works_end_to_end(alice: TestClient) -> None:
    app = new_app(alice)
    # A new app has its system fields, coded in the creator's language.
    live = ok(alice.get("/k/v1/app/form/fields.json", params={"app": app}))["properties"]
    assert {p["type"] for p in live.values()} >= {"RECORD_NUMBER", "STATUS", "CREATOR"}
    assert ok(add_fields(alice, app, FIELDS)) == {"revision": "3"}
    layout = [
        {"type": "ROW", "fields": [{"type": "SINGLE_LINE_TEXT", "code": "title", "size": {}}]},
        {
            "type": "ROW",
            "fields": [{"type": "NUMBER", "code": "price"}, {"type": "NUMBER", "code": "qty"}],
        },
        {"type": "SUBTABLE", "code": "lines", "fields": []},
    ]
    ok(alice.put("/k/v1/preview/app/form/layout.json", json={"app": app, "layout": layout}))
    status = {"app": app, "enable": True, "states": STATES, "actions": ACTIONS}
    ok(alice.put("/k/v1/preview/app/status.json", json=status))

    # Nothing is live before the deploy.
    live = ok(alice.get("/k/v1/app/form/fields.json", params={"app": app}))["properties"]
    assert "title" not in live
    assert ok(alice.get("/k/v1/app/status.json", params={"app": app}))["enable"] is False
    preview = ok(alice.get("/k/v1/preview/app/form/fields.json", params={"app": app}))
    assert preview["revision"] == "5"
    assert preview["properties"]["title"]["maxLength"] == ""  # Kintone's defaults filled in

    assert ok(deploy(alice, app)) == {}
    state = ok(alice.get("/k/v1/preview/app/deploy.json", params={"apps[0]": app}))
    assert state == {"apps": [{"app": str(app), "status": "SUCCESS"}]}
    fields = ok(alice.get("/k/v1/app/form/fields.json", params={"app": app}))
    assert fields["revision"] == "5"
    assert "lines" in fields["properties"]
    got_layout = ok(alice.get("/k/v1/app/form/layout.json", params={"app": app}))["layout"]
    assert got_layout[2]["code"] == "lines"
    settings = ok(alice.get("/k/v1/app/status.json", params={"app": app}))
    assert settings["enable"] is True
    assert [a["type"] for a in settings["actions"]] == ["PRIMARY", "PRIMARY"]

    record = {
        "title": {"value": "Pens"},
        "price": {"value": "550"},
        "qty": {"value": "2"},
        "lines": {
            "value": [
                {"value": {"amount": {"value": "10"}}},
                {"value": {"amount": {"value": "20"}}},
            ]
        },
    }
    created = ok(alice.post("/k/v1/record.json", json={"app": app, "record": record}))
    got = ok(alice.get("/k/v1/record.json", params={"app": app, "id": created["id"]}))["record"]
    assert got["total"]["value"] == "1100"
    assert got["shown"]["value"] == "¥1,100 for Pens"
    assert got["lines_sum"]["value"] == "30"
    # A new record starts in the first status (status.test.ts).
    assert got["Status"] == {"type": "STATUS", "value": "Not started"}

    moved = ok(
        alice.put(
            "/k/v1/record/status.json", json={"app": app, "id": created["id"], "action": "Start"}
        )
    )
    assert moved["revision"] == "3"  # a status action adds 2 on a real domain (status.test.ts)
    got = ok(alice.get("/k/v1/record.json", params={"app": app, "id": created["id"]}))["record"]
    assert got["Status"]["value"] == "In progress"
    assert got["Assignee"]["value"] == [{"code": "bob", "name": "Bob"}]
    found = ok(
        alice.get("/k/v1/records.json", params={"app": app, "query": 'Status in ("In progress")'})
    )
    assert [r["$id"]["value"] for r in found["records"]] == [created["id"]]


def test_preview_changes_reach_records_only_after_deploy(alice: TestClient) -> None:
    app = new_app(alice)
    ok(add_fields(alice, app, {"title": FIELDS["title"]}))
    ok(deploy(alice, app))
    ok(add_fields(alice, app, {"extra": {"type": "NUMBER", "code": "extra", "label": "Extra"}}))
    ok(alice.post("/k/v1/record.json", json={"app": app, "record": {"title": {"value": "a"}}}))
    rec = ok(alice.get("/k/v1/record.json", params={"app": app, "id": 1}))["record"]
    assert "extra" not in rec
    ok(deploy(alice, app))
    rec = ok(alice.get("/k/v1/record.json", params={"app": app, "id": 1}))["record"]
    assert rec["extra"] == {"type": "NUMBER", "value": ""}


def test_update_renames_and_delete_removes_fields(alice: TestClient) -> None:
    app = new_app(alice)
    ok(add_fields(alice, app, {"title": FIELDS["title"], "qty": FIELDS["qty"]}))
    change = {"title": {"code": "name", "label": "Name", "maxLength": "10"}}
    ok(alice.put("/k/v1/preview/app/form/fields.json", json={"app": app, "properties": change}))
    ok(
        alice.request(
            "DELETE", "/k/v1/preview/app/form/fields.json", json={"app": app, "fields": ["qty"]}
        )
    )
    props = ok(alice.get("/k/v1/preview/app/form/fields.json", params={"app": app}))["properties"]
    assert "title" not in props
    assert "qty" not in props
    assert props["name"]["maxLength"] == "10"
    assert props["name"]["required"] is True
    body = error(
        alice.request(
            "DELETE", "/k/v1/preview/app/form/fields.json", json={"app": app, "fields": ["nope"]}
        ),
        400,
        "GAIA_FC01",
    )
    assert body["message"] == "The specified field (code: nope) is not found."


def test_revert_drops_the_preview(alice: TestClient) -> None:
    app = new_app(alice)
    ok(add_fields(alice, app, {"title": FIELDS["title"]}))
    ok(alice.post("/k/v1/preview/app/deploy.json", json={"apps": [{"app": app}], "revert": True}))
    props = ok(alice.get("/k/v1/preview/app/form/fields.json", params={"app": app}))["properties"]
    assert "title" not in props


def test_a_stale_settings_revision_is_refused(alice: TestClient) -> None:
    app = new_app(alice)
    resp = alice.post(
        "/k/v1/preview/app/form/fields.json",
        json={"app": app, "properties": {"title": FIELDS["title"]}, "revision": 1},
    )
    error(resp, 409, "GAIA_CO02")


def test_unique_stays_only_on_the_five_types_that_hold_it(alice: TestClient) -> None:
    # behavior-notes §3: Kintone accepts unique on any type but keeps it on five only.
    app = new_app(alice)
    props = {
        "a": {"type": "SINGLE_LINE_TEXT", "code": "a", "label": "A", "unique": True},
        "b": {"type": "MULTI_LINE_TEXT", "code": "b", "label": "B", "unique": True},
    }
    ok(add_fields(alice, app, props))
    got = ok(alice.get("/k/v1/preview/app/form/fields.json", params={"app": app}))["properties"]
    assert got["a"]["unique"] is True
    assert "unique" not in got["b"]


def test_a_calc_format_outside_the_seven_is_cb_va01(alice: TestClient) -> None:
    # calc-behavior §1: seven formats only; YEN is refused when the field is added.
    app = new_app(alice)
    calc = {"c": {"type": "CALC", "code": "c", "label": "C", "expression": "1", "format": "YEN"}}
    body = error(add_fields(alice, app, calc), 400, "CB_VA01")
    assert body["errors"] == {
        "properties[c].format": {"messages": ["must be one of the enum value"]}
    }


def test_a_lookup_copying_into_a_missing_field_is_gaia_fc01(alice: TestClient) -> None:
    app = new_app(alice)
    lookup = {
        "sku": {
            "type": "SINGLE_LINE_TEXT",
            "code": "sku",
            "label": "SKU",
            "lookup": {
                "relatedApp": {"app": "3"},
                "relatedKeyField": "sku",
                "fieldMappings": [{"field": "missing", "relatedField": "title"}],
            },
        }
    }
    body = error(add_fields(alice, app, lookup), 400, "GAIA_FC01")
    assert "missing" in body["message"]


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("nope * 2", "The field code (nope) in the formula does not exist."),
        ("MAX(1, 2)", "The function MAX cannot be used."),
        ("1 +", "The formula syntax is incorrect."),
        ("IF(1, 2)", "The function IF needs 3 arguments."),
        ("1 ＋ 2", 'A full-width symbol "＋" was entered. Enter the half-width "+".'),
    ],
)
def test_formulas_are_checked_at_deploy_with_gaia_il01(
    alice: TestClient, expression: str, reason: str
) -> None:
    app = new_app(alice)
    calc = {"c": {"type": "CALC", "code": "c", "label": "Calc", "expression": expression}}
    ok(add_fields(alice, app, calc))  # accepted in preview (calc-behavior §7)
    body = error(deploy(alice, app), 400, "GAIA_IL01")
    assert body["message"] == f'The formula of the field "Calc" is invalid. ({reason})'
    assert "errors" not in body


def test_a_circular_formula_is_gaia_il01(alice: TestClient) -> None:
    app = new_app(alice)
    props = {
        "x": {"type": "CALC", "code": "x", "label": "X", "expression": "y + 1"},
        "y": {"type": "CALC", "code": "y", "label": "Y", "expression": "x + 1"},
    }
    ok(add_fields(alice, app, props))
    body = error(deploy(alice, app), 400, "GAIA_IL01")
    assert "circular" in body["message"]


def test_a_token_cannot_create_apps(client: TestClient) -> None:
    error(client.post("/k/v1/preview/app.json", json={"name": "x"}), 403, "CB_NO02")


def test_form_settings_need_the_manage_right(seed: Any) -> None:
    with make_client(seed, headers={"X-Cybozu-API-Token": "edit-token"}) as c:
        resp = add_fields(c, 1, {"x": {"type": "NUMBER", "code": "x", "label": "X"}})
        error(resp, 403, "GAIA_NO01")


def test_a_regular_space_shows_as_space_id(alice: TestClient) -> None:
    body = ok(alice.post("/k/v1/preview/app.json", json={"name": "In space", "space": 12}))
    info = ok(alice.get("/k/v1/app.json", params={"id": body["app"]}))
    assert info["spaceId"] == "12"


def test_a_japanese_user_builds_a_japanese_process_app(seed: Any) -> None:
    # The peer's dual tests: a new app's status field is ステータス, a record starts 未処理,
    # and `ステータス = "未処理"` finds it (SG record/status.test.ts).
    headers = {**password_header("alice", "s3cret:x"), "Accept-Language": "ja"}
    nobody = {"type": "ONE", "entities": []}
    states = {
        name: {"name": name, "index": str(i), "assignee": nobody}
        for i, name in enumerate(["未処理", "処理中", "完了"])
    }
    actions = [
        {"name": "処理開始", "from": "未処理", "to": "処理中"},
        {"name": "完了にする", "from": "処理中", "to": "完了"},
    ]
    with make_client(seed, headers=headers) as c:
        app = new_app(c, "プロセス管理アプリ")
        ok(add_fields(c, app, {"title": FIELDS["title"]}))
        status = {"app": app, "enable": True, "states": states, "actions": actions}
        ok(c.put("/k/v1/preview/app/status.json", json=status))
        ok(deploy(c, app))
        created = ok(
            c.post("/k/v1/record.json", json={"app": app, "record": {"title": {"value": "a"}}})
        )
        record = ok(c.get("/k/v1/record.json", params={"app": app, "id": created["id"]}))["record"]
        assert record["ステータス"] == {"type": "STATUS", "value": "未処理"}
        assert record["レコード番号"]["value"] == created["id"]
        found = ok(
            c.get("/k/v1/records.json", params={"app": app, "query": 'ステータス = "未処理"'})
        )
        assert len(found["records"]) == 1
        payload = {"app": app, "id": created["id"], "action": "完了にする"}
        body = error(c.put("/k/v1/record/status.json", json=payload), 400, "GAIA_IL03")
        assert body["message"].startswith("ステータスの変更に失敗しました。")
        sub = {
            "method": "PUT",
            "api": "/k/v1/record/status.json",
            "payload": {**payload, "action": "処理開始"},
        }
        done = ok(c.post("/k/v1/bulkRequest.json", json={"requests": [sub]}))
        assert done["results"] == [{"revision": "3"}]
