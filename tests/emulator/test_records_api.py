"""Conformance: record.json and records.json writes and reads (docs/kintone-api.md §2, §4, §5)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from .conftest import error, make_client


def add(client: TestClient, **fields: Any) -> dict[str, Any]:
    record = {
        "code": {"value": fields.pop("code", "C-1")},
        **{k: {"value": v} for k, v in fields.items()},
    }
    resp = client.post("/k/v1/record.json", json={"app": 1, "record": record})
    assert resp.status_code == 200, resp.text
    return resp.json()


def get(client: TestClient, record_id: str | int, app: int = 1) -> dict[str, Any]:
    resp = client.get("/k/v1/record.json", params={"app": app, "id": record_id})
    assert resp.status_code == 200, resp.text
    return resp.json()["record"]


# --- add --------------------------------------------------------------------------------------


def test_add_record_answers_string_id_and_revision_1(client: TestClient) -> None:
    body = add(client, name="Ann")
    assert body == {"id": "1", "revision": "1"}


def test_read_shape_has_types_system_fields_and_defaults(client: TestClient) -> None:
    add(client, code="C-9", name="Ann")
    record = get(client, 1)
    assert record["$id"] == {"type": "__ID__", "value": "1"}
    assert record["$revision"] == {"type": "__REVISION__", "value": "1"}
    assert record["Record_number"] == {"type": "RECORD_NUMBER", "value": "CUST-1"}
    assert record["Created_by"]["value"] == {"code": "Administrator", "name": "Administrator"}
    assert record["Created_datetime"]["value"].endswith(":00Z")
    assert record["name"] == {"type": "SINGLE_LINE_TEXT", "value": "Ann"}
    assert record["tier"]["value"] == "bronze"  # defaultValue applies when the field is absent
    assert record["tags"] == {"type": "CHECK_BOX", "value": []}
    assert record["orders"] == {"type": "SUBTABLE", "value": []}
    assert "Status" not in record  # process management is off


def test_add_records_all_or_nothing_with_indexed_error_keys(client: TestClient) -> None:
    records = [
        {"code": {"value": "A"}},
        {"code": {"value": "B"}, "qty": {"value": "5000"}},
        {"code": {"value": "A"}},
    ]
    resp = client.post("/k/v1/records.json", json={"app": 1, "records": records})
    body = error(resp, 400, "CB_VA01")
    assert body["errors"]["records[1].qty.value"] == {
        "messages": ["The value must be 1000 or less."]
    }
    assert body["errors"]["records[2].code.value"] == {
        "messages": ["This value already exists in another record."]
    }
    listed = client.get("/k/v1/records.json", params={"app": 1}).json()
    assert listed["records"] == []


def test_add_101_records_is_refused(client: TestClient) -> None:
    records = [{"code": {"value": f"K{i}"}} for i in range(101)]
    resp = client.post("/k/v1/records.json", json={"app": 1, "records": records})
    body = error(resp, 400, "CB_VA01")
    assert body["errors"] == {
        "records": {"messages": ["A maximum of 100 records can be added at one time."]}
    }


def test_required_field_missing(client: TestClient) -> None:
    resp = client.post("/k/v1/record.json", json={"app": 1, "record": {"name": {"value": "x"}}})
    body = error(resp, 400, "CB_VA01")
    assert body["errors"] == {"record.code.value": {"messages": ["Required."]}}


def test_unknown_and_calc_fields_are_ignored_on_add(client: TestClient) -> None:
    record = {"code": {"value": "C"}, "nope": {"value": "x"}, "total": {"value": "9"}}
    assert client.post("/k/v1/record.json", json={"app": 1, "record": record}).status_code == 200
    # The sent "9" is ignored; the formula qty*2 is computed with the empty qty as 0
    # (SonicGarden/kintone-emulator, doc/kintone-calc-behavior.md §2).
    assert get(client, 1)["total"]["value"] == "0"


def test_creator_on_insert_needs_manage_right(seed: Any) -> None:
    record = {"code": {"value": "C"}, "Created_by": {"value": {"code": "alice"}}}
    with make_client(seed, {"X-Cybozu-API-Token": "edit-token"}) as c:
        c.headers["X-Cybozu-API-Token"] = "full-token"
        ok = c.post("/k/v1/record.json", json={"app": 1, "record": record})
        assert ok.status_code == 200, ok.text
        assert get(c, 1)["Created_by"]["value"] == {"code": "alice", "name": "Alice"}


# --- update -----------------------------------------------------------------------------------


def test_update_by_id_bumps_revision_and_keeps_other_fields(client: TestClient) -> None:
    add(client, name="Ann", qty="3")
    resp = client.put(
        "/k/v1/record.json", json={"app": 1, "id": 1, "record": {"qty": {"value": 4}}}
    )
    assert resp.json() == {"revision": "2"}
    record = get(client, 1)
    assert record["qty"]["value"] == "4"
    assert record["name"]["value"] == "Ann"


def test_stale_revision_is_409_co02(client: TestClient) -> None:
    add(client)
    resp = client.put("/k/v1/record.json", json={"app": 1, "id": 1, "revision": 5, "record": {}})
    error(resp, 409, "GAIA_CO02")
    ok = client.put("/k/v1/record.json", json={"app": 1, "id": 1, "revision": -1, "record": {}})
    assert ok.json() == {"revision": "2"}


def test_unknown_id_is_404_re01(client: TestClient) -> None:
    resp = client.put("/k/v1/records.json", json={"app": 1, "records": [{"id": 99, "record": {}}]})
    error(resp, 404, "GAIA_RE01")


@pytest.mark.parametrize(
    ("code", "kintone_type"),
    [
        ("Created_by", "CREATOR"),
        ("Updated_datetime", "MODIFIED_AT"),
        ("Record_number", "RECORD_ID"),
        ("Status", "STATUS"),
    ],
)
def test_system_fields_in_put_are_gaia_un10(
    client: TestClient, code: str, kintone_type: str
) -> None:
    add(client)
    resp = client.put(
        "/k/v1/record.json", json={"app": 1, "id": 1, "record": {code: {"value": "x"}}}
    )
    body = error(resp, 400, "GAIA_UN10")
    assert kintone_type in body["message"]


def test_update_key_not_found_is_404_re20(client: TestClient) -> None:
    item = {"updateKey": {"field": "code", "value": "missing"}, "record": {"name": {"value": "x"}}}
    resp = client.put("/k/v1/records.json", json={"app": 1, "records": [item]})
    error(resp, 404, "GAIA_RE20")


def test_update_key_must_be_unique_text_or_number(client: TestClient) -> None:
    item = {"updateKey": {"field": "name", "value": "x"}, "record": {}}
    error(client.put("/k/v1/records.json", json={"app": 1, "records": [item]}), 400, "GAIA_IQ27")
    item = {"updateKey": {"field": "ghost", "value": "x"}, "record": {}}
    error(client.put("/k/v1/records.json", json={"app": 1, "records": [item]}), 400, "GAIA_IQ11")


def test_update_by_unique_number_key(client: TestClient) -> None:
    add(client, code="A", serial="7")
    item = {
        "updateKey": {"field": "serial", "value": 7},
        "record": {"name": {"value": "by serial"}},
    }
    resp = client.put("/k/v1/records.json", json={"app": 1, "records": [item]})
    assert resp.json() == {"records": [{"id": "1", "revision": "2"}]}
    assert get(client, 1)["name"]["value"] == "by serial"


def test_upsert_inserts_and_updates_with_operation(client: TestClient) -> None:
    add(client, code="A", name="old")
    items = [
        {"updateKey": {"field": "code", "value": "A"}, "record": {"name": {"value": "new"}}},
        {"updateKey": {"field": "code", "value": "B"}, "record": {"name": {"value": "born"}}},
        {"id": "9007199254740991", "record": {"code": {"value": "C"}}},
    ]
    resp = client.put("/k/v1/records.json", json={"app": 1, "upsert": True, "records": items})
    assert resp.status_code == 200, resp.text
    assert resp.json()["records"] == [
        {"id": "1", "revision": "2", "operation": "UPDATE"},
        {"id": "2", "revision": "1", "operation": "INSERT"},
        {"id": "3", "revision": "1", "operation": "INSERT"},
    ]
    assert get(client, 2)["code"]["value"] == "B"  # the key value is written on INSERT
    assert get(client, 1)["name"]["value"] == "new"


def test_upsert_needs_add_right(seed: Any) -> None:
    with make_client(seed, {"X-Cybozu-API-Token": "edit-token"}) as c:
        item = {"updateKey": {"field": "code", "value": "A"}, "record": {}}
        resp = c.put("/k/v1/records.json", json={"app": 1, "upsert": True, "records": [item]})
        error(resp, 403, "GAIA_NO01")


def test_update_key_also_in_record_is_refused_by_default(client: TestClient, seed: Any) -> None:
    add(client, code="A")
    item = {"updateKey": {"field": "code", "value": "A"}, "record": {"code": {"value": "A"}}}
    resp = client.put("/k/v1/records.json", json={"app": 1, "records": [item]})
    error(resp, 400, "CB_VA01")
    with make_client(seed, update_key_in_record="ignore") as lax:
        add(lax, code="A")
        assert lax.put("/k/v1/records.json", json={"app": 1, "records": [item]}).status_code == 200


def test_failed_update_rolls_back_earlier_items(client: TestClient) -> None:
    add(client, code="A", name="a")
    items = [
        {"id": 1, "record": {"name": {"value": "changed"}}},
        {"id": 1, "record": {"qty": {"value": "-1"}}},
    ]
    resp = client.put("/k/v1/records.json", json={"app": 1, "upsert": True, "records": items})
    assert resp.status_code == 400
    assert get(client, 1)["name"]["value"] == "a"
    assert get(client, 1)["$revision"]["value"] == "1"


def test_duplicate_ids_in_one_update_are_re09(client: TestClient) -> None:
    add(client)
    items = [{"id": 1, "record": {}}, {"id": "1", "record": {}}]
    error(client.put("/k/v1/records.json", json={"app": 1, "records": items}), 400, "GAIA_RE09")


# --- delete -----------------------------------------------------------------------------------


def test_delete_by_query_string_ids(client: TestClient) -> None:
    for code in ("A", "B", "C"):
        add(client, code=code)
    resp = client.delete(
        "/k/v1/records.json?app=1&ids[0]=1&ids[1]=3&revisions[0]=1&revisions[1]=-1"
    )
    assert resp.json() == {}
    left = client.get("/k/v1/records.json", params={"app": 1}).json()["records"]
    assert [r["$id"]["value"] for r in left] == ["2"]


def test_delete_with_json_body_and_null_revisions(client: TestClient) -> None:
    add(client, code="A")
    resp = client.request(
        "DELETE", "/k/v1/records.json", json={"app": "1", "ids": [1], "revisions": [None]}
    )
    assert resp.json() == {}


def test_delete_unknown_id_deletes_nothing(client: TestClient) -> None:
    add(client, code="A")
    error(client.delete("/k/v1/records.json?app=1&ids[0]=1&ids[1]=9"), 404, "GAIA_RE01")
    assert get(client, 1)["code"]["value"] == "A"


def test_delete_without_ids(client: TestClient) -> None:
    body = error(client.delete("/k/v1/records.json?app=1"), 400, "CB_VA01")
    assert "ids" in body["errors"]


# --- subtables --------------------------------------------------------------------------------


def _orders(client: TestClient, record_id: int = 1) -> list[dict[str, Any]]:
    return get(client, record_id)["orders"]["value"]


def _row(item: str, amount: str | None = None, row_id: str | None = None) -> dict[str, Any]:
    value: dict[str, Any] = {"item": {"value": item}}
    if amount is not None:
        value["amount"] = {"value": amount}
    row: dict[str, Any] = {"value": value}
    if row_id is not None:
        row["id"] = row_id
    return row


def test_subtable_rows_get_ids_and_inner_defaults(client: TestClient) -> None:
    record = {"code": {"value": "A"}, "orders": {"value": [_row("pen"), _row("ink", "3")]}}
    client.post("/k/v1/record.json", json={"app": 1, "record": record})
    rows = _orders(client)
    assert [r["value"]["item"]["value"] for r in rows] == ["pen", "ink"]
    assert rows[0]["value"]["amount"] == {"type": "NUMBER", "value": "1"}  # inner default
    assert rows[0]["id"] != rows[1]["id"]


def test_subtable_absent_keeps_rows_present_replaces_them(client: TestClient) -> None:
    record = {"code": {"value": "A"}, "orders": {"value": [_row("pen", "2"), _row("ink", "3")]}}
    client.post("/k/v1/record.json", json={"app": 1, "record": record})
    first, second = _orders(client)
    client.put("/k/v1/record.json", json={"app": 1, "id": 1, "record": {"name": {"value": "x"}}})
    assert [r["id"] for r in _orders(client)] == [first["id"], second["id"]]
    table = {"value": [_row("ink!", "4", second["id"]), _row("new"), _row("stray", row_id="99999")]}
    client.put("/k/v1/record.json", json={"app": 1, "id": 1, "record": {"orders": table}})
    rows = _orders(client)
    assert rows[0]["id"] == second["id"]
    assert rows[0]["value"]["item"]["value"] == "ink!"
    assert first["id"] not in [r["id"] for r in rows]  # unlisted row deleted
    assert rows[2]["id"] != "99999"  # an unknown id becomes a new row with a fresh id
    assert len(rows) == 3


def test_omitted_subfields_of_matched_row_are_cleared_by_default(
    client: TestClient, seed: Any
) -> None:
    record = {"code": {"value": "A"}, "orders": {"value": [_row("pen", "5")]}}
    for c, expected in ((client, ""), (make_client(seed, subtable_omitted_subfields="keep"), "5")):
        c.post("/k/v1/record.json", json={"app": 1, "record": record})
        row_id = _orders(c)[0]["id"]
        table = {"value": [{"id": row_id, "value": {"item": {"value": "pencil"}}}]}
        resp = c.put("/k/v1/record.json", json={"app": 1, "id": 1, "record": {"orders": table}})
        assert resp.status_code == 200, resp.text
        assert _orders(c)[0]["value"]["amount"]["value"] == expected


def test_subtable_inner_error_key(client: TestClient) -> None:
    record = {"code": {"value": "A"}, "orders": {"value": [_row("pen"), _row("")]}}
    resp = client.post("/k/v1/records.json", json={"app": 1, "records": [record]})
    body = error(resp, 400, "CB_VA01")
    assert body["errors"] == {
        "records[0].orders.value[1].value.item.value": {"messages": ["Required."]}
    }


def test_subtable_duplicate_row_id_and_bad_row_id(client: TestClient) -> None:
    client.post(
        "/k/v1/record.json",
        json={"app": 1, "record": {"code": {"value": "A"}, "orders": {"value": [_row("a")]}}},
    )
    row_id = _orders(client)[0]["id"]
    dup = {"value": [_row("a", row_id=row_id), _row("b", row_id=row_id)]}
    error(
        client.put("/k/v1/record.json", json={"app": 1, "id": 1, "record": {"orders": dup}}),
        400,
        "GAIA_SI01",
    )
    bad = {"value": [_row("a", row_id="x1")]}
    error(
        client.put("/k/v1/record.json", json={"app": 1, "id": 1, "record": {"orders": bad}}),
        400,
        "CB_IJ01",
    )


def test_empty_string_row_id_means_new_row(client: TestClient) -> None:
    record = {
        "code": {"value": "A"},
        "orders": {"value": [{"id": "", "value": {"item": {"value": "x"}}}]},
    }
    assert client.post("/k/v1/record.json", json={"app": 1, "record": record}).status_code == 200
    assert _orders(client)[0]["id"].isdigit()


# --- lookups ----------------------------------------------------------------------------------


def test_lookup_copies_from_source_and_refuses_unknown_key(seed: Any) -> None:
    with make_client(seed, {"X-Cybozu-API-Token": "full-token,product-token"}) as c:
        add(c, code="A", product="P-2")
        assert get(c, 1)["product_name"]["value"] == "Paper"
        resp = c.post(
            "/k/v1/record.json",
            json={"app": 1, "record": {"code": {"value": "B"}, "product": {"value": "P-9"}}},
        )
        error(resp, 400, "GAIA_LO04")


# --- reads ------------------------------------------------------------------------------------


def test_records_query_fields_and_total_count(client: TestClient) -> None:
    for i in range(5):
        add(client, code=f"K{i}", qty=str(i))
    resp = client.get(
        "/k/v1/records.json?app=1&query=qty >= 2 order by qty desc limit 2"
        "&fields[0]=code&fields[1]=$id&totalCount=true"
    )
    body = resp.json()
    assert body["totalCount"] == "3"
    assert [r["code"]["value"] for r in body["records"]] == ["K4", "K3"]
    assert set(body["records"][0]) == {"code", "$id"}


def test_get_via_method_override_with_json_body(client: TestClient) -> None:
    add(client, code="A")
    resp = client.post(
        "/k/v1/records.json",
        json={"app": 1, "query": 'code = "A"'},
        headers={"X-HTTP-Method-Override": "GET"},
    )
    assert [r["code"]["value"] for r in resp.json()["records"]] == ["A"]


def test_query_on_unknown_field_is_iq11(client: TestClient) -> None:
    resp = client.get("/k/v1/records.json", params={"app": 1, "query": 'ghost = "x"'})
    body = error(resp, 400, "GAIA_IQ11")
    assert "ghost" in body["message"]


def test_unknown_app_is_404_ap01(client: TestClient) -> None:
    body = error(client.get("/k/v1/records.json", params={"app": 404}), 404, "GAIA_AP01")
    assert "404" in body["message"]
