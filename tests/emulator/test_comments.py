"""Record comments: add, read (order, offset, limit, older/newer), delete, mentions.

Observed on a real domain by SonicGarden/kintone-emulator (https://github.com/SonicGarden/
kintone-emulator): dual tests packages/core/tests/api/record/comment.test.ts, and
doc/kintone-behavior-notes.md §1 (GAIA_RE02 is 400; `order` outside the enum is CB_VA01).
"""

from __future__ import annotations

from typing import Any

from starlette.testclient import TestClient

from .conftest import error

URL = "/k/v1/record/comment.json"


def add(client: TestClient, text: str, **extra: Any) -> Any:
    comment = {"text": text, **extra}
    return client.post(URL, json={"app": 1, "record": 1, "comment": comment})


def read(client: TestClient, **params: Any) -> Any:
    resp = client.get("/k/v1/record/comments.json", params={"app": 1, "record": 1, **params})
    assert resp.status_code == 200, resp.text
    return resp.json()


def make_record(client: TestClient) -> None:
    resp = client.post("/k/v1/record.json", json={"app": 1, "record": {"code": {"value": "C"}}})
    assert resp.status_code == 200, resp.text


def test_comments_are_added_and_read_newest_first(client: TestClient) -> None:
    make_record(client)
    assert add(client, "one").json() == {"id": "1"}
    assert add(client, "two").json() == {"id": "2"}
    body = read(client)
    assert [c["text"] for c in body["comments"]] == ["two", "one"]
    assert body["older"] is False
    assert body["newer"] is False
    assert body["comments"][0]["creator"] == {"code": "Administrator", "name": "Administrator"}
    assert [c["text"] for c in read(client, order="asc")["comments"]] == ["one", "two"]


def test_offset_and_limit_page_with_older_and_newer(client: TestClient) -> None:
    make_record(client)
    for text in ("c1", "c2", "c3"):
        add(client, text)
    body = read(client, order="asc", offset=1, limit=1)
    assert [c["text"] for c in body["comments"]] == ["c2"]
    assert body["older"] is True
    assert body["newer"] is True


def test_a_bad_order_is_cb_va01(client: TestClient) -> None:
    make_record(client)
    resp = client.get("/k/v1/record/comments.json", params={"app": 1, "record": 1, "order": "x"})
    body = error(resp, 400, "CB_VA01")
    assert body["errors"] == {"order": {"messages": ["must be one of the enum value"]}}


def test_delete_and_an_unknown_comment_is_400_gaia_re02(client: TestClient) -> None:
    make_record(client)
    add(client, "bye")
    resp = client.request("DELETE", URL, json={"app": 1, "record": 1, "comment": 1})
    assert resp.status_code == 200
    assert read(client)["comments"] == []
    resp = client.request("DELETE", URL, json={"app": 1, "record": 1, "comment": 1})
    body = error(resp, 400, "GAIA_RE02")
    assert body["message"] == (
        "The specified comment does not exist. The comment may have been deleted."
    )


def test_mentions_are_kept_and_unknown_users_refused(client: TestClient) -> None:
    make_record(client)
    resp = add(client, "look", mentions=[{"code": "bob", "type": "USER"}])
    assert resp.status_code == 200, resp.text
    assert read(client)["comments"][0]["mentions"] == [{"code": "bob", "type": "USER"}]
    error(add(client, "x", mentions=[{"code": "nobody", "type": "USER"}]), 400, "GAIA_IL26")


def test_comments_on_unknown_records_and_apps(client: TestClient) -> None:
    resp = client.post(URL, json={"app": 1, "record": 99, "comment": {"text": "x"}})
    error(resp, 404, "GAIA_RE01")
    resp = client.post(URL, json={"app": 99, "record": 1, "comment": {"text": "x"}})
    error(resp, 404, "GAIA_AP01")
    make_record(client)
    resp = client.post(URL, json={"app": 1, "record": 1, "comment": {"text": ""}})
    error(resp, 400, "CB_VA01")
