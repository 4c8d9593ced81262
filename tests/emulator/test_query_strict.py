"""Stricter queries, as real domains answer them.

Source: SonicGarden/kintone-emulator (https://github.com/SonicGarden/kintone-emulator),
doc/kintone-query-behavior.md ("生制御文字の禁止", "エラーレスポンス集", the table-field section
"行マッチング・セマンティクス") and its dual test
packages/core/tests/api/record/records-query.test.ts.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from .conftest import error


def rows(*pairs: tuple[str, str]) -> dict[str, Any]:
    return {"value": [{"value": {"item": {"value": i}, "amount": {"value": a}}} for i, a in pairs]}


@pytest.fixture
def filled(client: TestClient) -> TestClient:
    records = [
        {"code": {"value": "A"}, "orders": rows(("pen", "100"), ("ink", "200"))},
        {"code": {"value": "B"}, "orders": {"value": []}},
        {"code": {"value": "C\tD"}, "orders": rows(("ink", "100")), "tags": {"value": ["a"]}},
    ]
    resp = client.post("/k/v1/records.json", json={"app": 1, "records": records})
    assert resp.status_code == 200, resp.text
    return client


def codes(client: TestClient, query: str) -> list[str]:
    resp = client.get("/k/v1/records.json", params={"app": 1, "query": query})
    assert resp.status_code == 200, resp.text
    return sorted(r["code"]["value"] for r in resp.json()["records"])


def test_two_conditions_on_one_table_must_match_the_same_row(filled: TestClient) -> None:
    assert codes(filled, 'item in ("pen") and amount in ("100")') == ["A"]
    assert codes(filled, 'item in ("pen") and amount in ("200")') == []
    assert codes(filled, 'item in ("ink") and amount > 150') == ["A"]


def test_not_in_on_a_table_field_leaves_out_empty_tables(filled: TestClient) -> None:
    assert codes(filled, 'item not in ("pen")') == ["C\tD"]
    assert codes(filled, 'item not in ("zzz")') == ["A", "C\tD"]


def test_equals_on_a_table_field_is_gaia_iq07(filled: TestClient) -> None:
    resp = filled.get("/k/v1/records.json", params={"app": 1, "query": 'item = "pen"'})
    error(resp, 400, "GAIA_IQ07")


def test_a_value_that_is_not_an_option_is_gaia_iq10(filled: TestClient) -> None:
    resp = filled.get("/k/v1/records.json", params={"app": 1, "query": 'tags in ("zz")'})
    error(resp, 400, "GAIA_IQ10")
    resp = filled.get("/k/v1/records.json", params={"app": 1, "query": 'tier = "platinum"'})
    error(resp, 400, "GAIA_IQ10")  # the value is checked before the operator
    assert codes(filled, 'region in ("")') == ["A", "B", "C\tD"]


def test_a_raw_tab_in_a_string_is_a_syntax_error_and_backslash_t_is_a_tab(
    filled: TestClient,
) -> None:
    resp = filled.get("/k/v1/records.json", params={"app": 1, "query": 'code = "C\tD"'})
    body = error(resp, 400, "CB_VA01")
    assert list(body["errors"]) == ["query"]
    assert codes(filled, 'code = "C\\tD"') == ["C\tD"]


def test_an_offset_past_10000_is_gaia_qu02(filled: TestClient) -> None:
    resp = filled.get("/k/v1/records.json", params={"app": 1, "query": "offset 10001"})
    error(resp, 400, "GAIA_QU02")
    assert codes(filled, "offset 10000") == []
