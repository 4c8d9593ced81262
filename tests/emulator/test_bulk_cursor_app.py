"""Conformance: bulkRequest, cursors, app and form endpoints, files, and malformed requests."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from .conftest import error, make_client
from .test_records_api import get


def _post(codes: list[str]) -> dict[str, Any]:
    records = [{"code": {"value": c}} for c in codes]
    return {
        "method": "POST",
        "api": "/k/v1/records.json",
        "payload": {"app": 1, "records": records},
    }


def _count(client: TestClient) -> int:
    body = client.get("/k/v1/records.json", params={"app": 1, "totalCount": "true"}).json()
    return int(body["totalCount"])


# --- bulkRequest ------------------------------------------------------------------------------


def test_bulk_runs_in_order_and_answers_each_result(client: TestClient) -> None:
    requests = [
        _post(["A", "B"]),
        {
            "method": "PUT",
            "api": "/k/v1/record.json",
            "payload": {
                "app": "1",
                "updateKey": {"field": "code", "value": "A"},
                "record": {"name": {"value": "a"}},
            },
        },
        {
            "method": "DELETE",
            "api": "/k/v1/records.json",
            "payload": {"app": 1, "ids": [2], "revisions": [None]},
        },
    ]
    resp = client.post("/k/v1/bulkRequest.json", json={"requests": requests})
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "results": [{"ids": ["1", "2"], "revisions": ["1", "1"]}, {"revision": "2"}, {}]
    }
    assert _count(client) == 1


def test_bulk_failure_rolls_back_everything_with_empty_objects_elsewhere(
    client: TestClient,
) -> None:
    requests = [
        _post(["A"]),
        {
            "method": "PUT",
            "api": "/k/v1/record.json",
            "payload": {"app": 1, "id": 1, "revision": 7, "record": {}},
        },
        _post(["B"]),
    ]
    resp = client.post("/k/v1/bulkRequest.json", json={"requests": requests})
    assert resp.status_code == 409
    results = resp.json()["results"]
    assert results[0] == {}
    assert results[2] == {}
    assert results[1]["code"] == "GAIA_CO02"
    assert _count(client) == 0


def test_bulk_validation_error_keeps_errors_map(client: TestClient) -> None:
    requests = [_post(["A"]), _post(["B", "A"])]
    resp = client.post("/k/v1/bulkRequest.json", json={"requests": requests})
    assert resp.status_code == 400
    failed = resp.json()["results"][1]
    assert failed["errors"] == {
        "records[1].code.value": {"messages": ["This value already exists in another record."]}
    }


def test_bulk_of_21_requests_is_refused(client: TestClient) -> None:
    resp = client.post(
        "/k/v1/bulkRequest.json", json={"requests": [_post([f"K{i}"]) for i in range(21)]}
    )
    error(resp, 400, "CB_VA01")
    assert _count(client) == 0


def test_bulk_refuses_apis_outside_the_list(client: TestClient) -> None:
    requests = [{"method": "GET", "api": "/k/v1/records.json", "payload": {"app": 1}}]
    resp = client.post("/k/v1/bulkRequest.json", json={"requests": requests})
    assert resp.status_code == 400
    assert resp.json()["results"][0]["code"] == "CB_VA01"


def test_bulk_upsert_2000_records(client: TestClient) -> None:
    requests = [
        {
            "method": "PUT",
            "api": "/k/v1/records.json",
            "payload": {
                "app": 1,
                "upsert": True,
                "records": [
                    {
                        "updateKey": {"field": "code", "value": f"K{r}-{i}"},
                        "record": {"qty": {"value": str(i)}},
                    }
                    for i in range(100)
                ],
            },
        }
        for r in range(20)
    ]
    resp = client.post("/k/v1/bulkRequest.json", json={"requests": requests})
    assert resp.status_code == 200, resp.text[:300]
    results = resp.json()["results"]
    assert len(results) == 20
    assert all(len(r["records"]) == 100 for r in results)
    assert {e["operation"] for r in results for e in r["records"]} == {"INSERT"}
    assert _count(client) == 2000


# --- cursors ----------------------------------------------------------------------------------


def _seed_records(client: TestClient, n: int) -> None:
    for start in range(0, n, 100):
        codes = [f"K{i:04d}" for i in range(start, min(n, start + 100))]
        client.post(
            "/k/v1/records.json",
            json={"app": 1, "records": [{"code": {"value": c}} for c in codes]},
        )


def test_cursor_pages_until_next_false_then_is_gone(client: TestClient) -> None:
    _seed_records(client, 250)
    created = client.post(
        "/k/v1/records/cursor.json", json={"app": 1, "query": "order by code desc", "size": 100}
    )
    assert created.status_code == 200, created.text
    cursor = created.json()
    assert cursor["totalCount"] == "250"
    pages = []
    while True:
        page = client.get("/k/v1/records/cursor.json", params={"id": cursor["id"]}).json()
        pages.append(len(page["records"]))
        if not page["next"]:
            break
    assert pages == [100, 100, 50]
    error(
        client.request("DELETE", "/k/v1/records/cursor.json", json={"id": cursor["id"]}),
        404,
        "GAIA_CN01",
    )


def test_eleventh_cursor_is_429_tm12(client: TestClient) -> None:
    for _ in range(10):
        assert client.post("/k/v1/records/cursor.json", json={"app": 1}).status_code == 200
    error(client.post("/k/v1/records/cursor.json", json={"app": 1}), 429, "GAIA_TM12")


def test_cursor_query_may_not_carry_limit(client: TestClient) -> None:
    resp = client.post("/k/v1/records/cursor.json", json={"app": 1, "query": "limit 10"})
    assert resp.status_code == 400


def test_cursor_delete_first_time_is_empty_object(client: TestClient) -> None:
    cursor = client.post("/k/v1/records/cursor.json", json={"app": 1}).json()
    assert client.delete(f"/k/v1/records/cursor.json?id={cursor['id']}").json() == {}


# --- app endpoints ----------------------------------------------------------------------------


def test_app_json(client: TestClient) -> None:
    body = client.get("/k/v1/app.json", params={"id": 1}).json()
    assert body["appId"] == "1"
    assert body["code"] == "CUST"
    assert body["spaceId"] is None


def test_form_fields_return_seed_properties_and_preview(client: TestClient, seed: Any) -> None:
    body = client.get("/k/v1/app/form/fields.json", params={"app": 1}).json()
    assert body["properties"]["code"]["unique"] is True
    assert body["revision"].isdigit()
    preview = client.get("/k/v1/preview/app/form/fields.json", params={"app": 1}).json()
    assert preview["properties"] == body["properties"]


def test_layout_lists_subtable_and_rows(client: TestClient) -> None:
    layout = client.get("/k/v1/app/form/layout.json", params={"app": 1}).json()["layout"]
    assert {"type": "SUBTABLE", "code": "orders"}.items() <= layout[-1].items() or any(
        e["type"] == "SUBTABLE" and e["code"] == "orders" for e in layout
    )
    assert any(e["type"] == "ROW" and e["fields"][0]["code"] == "code" for e in layout)


def test_apps_json_lists_visible_apps(seed: Any) -> None:
    with make_client(seed, {"X-Cybozu-API-Token": "full-token"}) as c:
        apps = c.get("/k/v1/apps.json").json()["apps"]
        assert [a["appId"] for a in apps] == ["1"]


def test_guest_app_only_through_guest_path(seed: Any) -> None:
    with make_client(seed, {"X-Cybozu-API-Token": "guest-token"}) as c:
        error(c.get("/k/v1/records.json", params={"app": 2}), 400, "GAIA_IL23")
        ok = c.post(
            "/k/guest/7/v1/record.json", json={"app": 2, "record": {"title": {"value": "t"}}}
        )
        assert ok.status_code == 200, ok.text
        error(c.get("/k/guest/8/v1/records.json", params={"app": 2}), 403, "CB_NO02")


def test_legacy_520_switch(seed: Any) -> None:
    with make_client(seed, {"X-Cybozu-API-Token": "guest-token"}, legacy_520=True) as c:
        assert c.get("/k/v1/records.json", params={"app": 2}).status_code == 520


# --- files ------------------------------------------------------------------------------------


def test_upload_attach_download(client: TestClient) -> None:
    up = client.post("/k/v1/file.json", files={"file": ("a.txt", b"hello", "text/plain")})
    assert up.status_code == 200, up.text
    key = up.json()["fileKey"]
    record = {"code": {"value": "A"}, "files": {"value": [{"fileKey": key}]}}
    assert client.post("/k/v1/record.json", json={"app": 1, "record": record}).status_code == 200
    stored = get(client, 1)["files"]["value"][0]
    assert stored["name"] == "a.txt"
    assert stored["size"] == "5"
    assert stored["contentType"] == "text/plain"
    assert stored["fileKey"] != key  # the download key differs from the upload key
    download = client.get("/k/v1/file.json", params={"fileKey": stored["fileKey"]})
    assert download.content == b"hello"
    error(client.get("/k/v1/file.json", params={"fileKey": "nope"}), 404, "GAIA_BL01")


# --- malformed requests -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("POST", "/k/v1/records.json", {"content": b"{not json"}, 400, "CB_IJ01"),
        ("POST", "/k/v1/records.json", {"content": b"[1,2]"}, 400, "CB_IJ01"),
        ("POST", "/k/v1/records.json", {"json": {"app": "abc", "records": []}}, 400, "CB_VA01"),
        ("POST", "/k/v1/records.json", {"json": {"app": 1, "records": "x"}}, 400, "CB_VA01"),
        ("POST", "/k/v1/record.json", {"json": {"app": 1, "record": [1]}}, 400, "CB_IJ01"),
        ("GET", "/k/v1/records.json", {"params": {"app": 0}}, 400, "CB_VA01"),
        ("GET", "/k/v1/nothing.json", {}, 404, "CB_NF01"),
        ("PUT", "/k/v1/records.json", {"json": {"app": 1, "records": [1]}}, 400, "CB_VA01"),
        (
            "PUT",
            "/k/v1/records.json",
            {"json": {"app": 1, "records": [{"record": {}}]}},
            400,
            "CB_VA01",
        ),
        ("POST", "/k/v1/bulkRequest.json", {"json": {"requests": "x"}}, 400, "CB_VA01"),
    ],
)
def test_malformed_requests_get_kintone_errors(
    client: TestClient, method: str, path: str, kwargs: dict[str, Any], status: int, code: str
) -> None:
    error(client.request(method, path, **kwargs), status, code)


def test_empty_writes_answer_empty_lists(client: TestClient) -> None:
    assert client.post("/k/v1/records.json", json={"app": 1, "records": []}).json() == {
        "ids": [],
        "revisions": [],
    }
    assert client.put("/k/v1/records.json", json={"app": 1, "records": []}).json() == {
        "records": []
    }
