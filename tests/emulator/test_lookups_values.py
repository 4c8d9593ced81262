"""Lookups inside a table and keyed on the record number; values as real domains store them.

Source: SonicGarden/kintone-emulator (https://github.com/SonicGarden/kintone-emulator):
doc/kintone-behavior-notes.md §10 (lookups, GAIA_LO04 without `errors`, RECORD_NUMBER as the
key), and its dual tests record-defaults.test.ts (DROP_DOWN "" reads null),
record-validation.test.ts with doc/real-kintone-dual-mode-followup.md (minLength applies to ""),
and required-params.test.ts (file.json without fileKey is CB_VA01).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.emulator import Seed

from .conftest import error, make_client

TOKEN = {"token": "t", "view": True, "add": True, "edit": True, "delete": True}
SOURCE = {
    "id": 1,
    "name": "Products",
    "properties": {
        "Record_number": {"type": "RECORD_NUMBER", "code": "Record_number", "label": "No"},
        "sku": {"type": "SINGLE_LINE_TEXT", "code": "sku", "label": "SKU", "unique": True},
        "title": {"type": "SINGLE_LINE_TEXT", "code": "title", "label": "Title"},
    },
    "tokens": [TOKEN],
    "records": [{"sku": {"value": "P-1"}, "title": {"value": "Pencil"}}],
}


def lookup(key: str, mappings: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "relatedApp": {"app": "1"},
        "relatedKeyField": key,
        "fieldMappings": [{"field": f, "relatedField": r} for f, r in mappings],
    }


ORDERS = {
    "id": 2,
    "name": "Orders",
    "properties": {
        "product_no": {
            "type": "NUMBER",
            "code": "product_no",
            "label": "Product number",
            "lookup": lookup(
                "Record_number", [("product_title", "title"), ("copied_no", "Record_number")]
            ),
        },
        "product_title": {"type": "SINGLE_LINE_TEXT", "code": "product_title", "label": "Title"},
        "copied_no": {"type": "NUMBER", "code": "copied_no", "label": "Copied"},
        "lines": {
            "type": "SUBTABLE",
            "code": "lines",
            "label": "Lines",
            "fields": {
                "line_sku": {
                    "type": "SINGLE_LINE_TEXT",
                    "code": "line_sku",
                    "label": "SKU",
                    "lookup": lookup("sku", [("line_title", "title")]),
                },
                "line_title": {"type": "SINGLE_LINE_TEXT", "code": "line_title", "label": "Title"},
            },
        },
        "size": {
            "type": "DROP_DOWN",
            "code": "size",
            "label": "Size",
            "options": {"S": {"label": "S", "index": "0"}},
        },
        "note": {"type": "SINGLE_LINE_TEXT", "code": "note", "label": "Note", "minLength": "2"},
    },
    "tokens": [TOKEN],
}


@pytest.fixture
def c() -> Iterator[TestClient]:
    seed = Seed.model_validate({"apps": [SOURCE, ORDERS]})
    with make_client(seed, headers={"X-Cybozu-API-Token": "t"}) as client:
        yield client


def add(c: TestClient, record: dict[str, Any]) -> Any:
    return c.post(
        "/k/v1/record.json", json={"app": 2, "record": {"note": {"value": "ok"}, **record}}
    )


def get(c: TestClient, record_id: str) -> dict[str, Any]:
    body: dict[str, Any] = c.get("/k/v1/record.json", params={"app": 2, "id": record_id}).json()
    return body["record"]


def test_a_lookup_inside_a_table_copies_into_its_row(c: TestClient) -> None:
    rows = {"value": [{"value": {"line_sku": {"value": "P-1"}}}]}
    resp = add(c, {"lines": rows})
    assert resp.status_code == 200, resp.text
    row = get(c, resp.json()["id"])["lines"]["value"][0]["value"]
    assert row["line_title"]["value"] == "Pencil"


def test_an_unknown_key_in_a_table_row_is_gaia_lo04_without_errors(c: TestClient) -> None:
    rows = {"value": [{"value": {"line_sku": {"value": "P-9"}}}]}
    body = error(add(c, {"lines": rows}), 400, "GAIA_LO04")
    assert "errors" not in body
    assert "P-9" in body["message"]


def test_a_lookup_keyed_on_the_record_number_copies_it(c: TestClient) -> None:
    resp = add(c, {"product_no": {"value": "1"}})
    assert resp.status_code == 200, resp.text
    record = get(c, resp.json()["id"])
    assert record["product_title"]["value"] == "Pencil"
    assert record["copied_no"]["value"] == "1"
    error(add(c, {"product_no": {"value": "7"}}), 400, "GAIA_LO04")


def test_a_drop_down_written_as_empty_reads_null(c: TestClient) -> None:
    resp = add(c, {"size": {"value": ""}})
    assert get(c, resp.json()["id"])["size"] == {"type": "DROP_DOWN", "value": None}


def test_min_length_applies_to_an_empty_value(c: TestClient) -> None:
    resp = c.post("/k/v1/record.json", json={"app": 2, "record": {"note": {"value": ""}}})
    body = error(resp, 400, "CB_VA01")
    assert body["errors"] == {"record.note.value": {"messages": ["Enter more than 1 characters."]}}


def test_file_json_without_file_key_is_cb_va01(c: TestClient) -> None:
    body = error(c.get("/k/v1/file.json"), 400, "CB_VA01")
    assert body["errors"] == {"fileKey": {"messages": ["Required field."]}}
