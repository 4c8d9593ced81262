"""Error messages in Japanese, word for word as real domains answered them.

Messages and the language rules come from SonicGarden/kintone-emulator
(https://github.com/SonicGarden/kintone-emulator), doc/kintone-behavior-notes.md §1-§10 and the
fixed messages its dual test packages/core/tests/api/record/status.test.ts checks.
"""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.emulator import Seed
from connector.emulator.messages import choose, japanese
from connector.emulator.seed import UserSeed

from .conftest import error, make_client, password_header

JA = {"X-Cybozu-API-Token": "full-token", "Accept-Language": "ja"}


@pytest.fixture
def ja(seed: Seed) -> Any:
    with make_client(seed, headers=JA) as c:
        yield c


def test_record_not_found_in_japanese(ja: TestClient) -> None:
    body = error(ja.get("/k/v1/record.json", params={"app": 1, "id": 99999}), 404, "GAIA_RE01")
    assert body["message"] == "指定したレコード（id: 99999）が見つかりません。"


def test_app_not_found_in_japanese(ja: TestClient) -> None:
    body = error(ja.get("/k/v1/app.json", params={"id": 99999}), 404, "GAIA_AP01")
    assert (
        body["message"]
        == "指定したアプリ（id: 99999）が見つかりません。削除されている可能性があります。"
    )


def test_validation_errors_in_japanese(ja: TestClient) -> None:
    record = {"code": {"value": "x" * 17}, "qty": {"value": "2000"}, "tier": {"value": "Z"}}
    body = error(ja.post("/k/v1/record.json", json={"app": 1, "record": record}), 400, "CB_VA01")
    assert body["message"] == "入力内容が正しくありません。"
    assert body["errors"]["record.code.value"]["messages"] == ["17文字より短くなければなりません。"]
    assert body["errors"]["record.qty.value"]["messages"] == ["1000以下である必要があります。"]
    assert body["errors"]["record.tier.value"]["messages"] == ['"Z"は選択肢にありません。']
    body = error(ja.post("/k/v1/record.json", json={"app": 1, "record": {}}), 400, "CB_VA01")
    assert body["errors"]["record.code.value"]["messages"] == ["必須です。"]


def test_a_missing_parameter_in_japanese(ja: TestClient) -> None:
    body = error(ja.get("/k/v1/record.json", params={"app": 1}), 400, "CB_VA01")
    assert body["errors"] == {"id": {"messages": ["必須です。"]}}


def test_process_errors_in_japanese(ja: TestClient) -> None:
    resp = ja.put("/k/v1/record/status.json", json={"app": 1, "id": 1, "action": "x"})
    body = error(resp, 400, "GAIA_ST02")
    assert body["message"] == "操作に失敗しました。プロセス管理機能が無効化されています。"


def test_bulk_request_failures_in_japanese(ja: TestClient) -> None:
    requests = [
        {
            "method": "PUT",
            "api": "/k/v1/record.json",
            "payload": {"app": 1, "id": 999, "record": {}},
        }
    ]
    resp = ja.post("/k/v1/bulkRequest.json", json={"requests": requests})
    assert resp.status_code == 404
    assert resp.json()["results"][0]["message"] == "指定したレコード（id: 999）が見つかりません。"


def test_english_stays_the_default(client: TestClient) -> None:
    body = error(client.get("/k/v1/record.json", params={"app": 1, "id": 5}), 404, "GAIA_RE01")
    assert body["message"] == "The specified record (ID: 5) is not found."


def test_the_users_own_language_wins_over_the_header(seed: Seed) -> None:
    users = [
        {"code": "yuki", "name": "Yuki", "password": "pw", "locale": "ja"},
        {"code": "sam", "name": "Sam", "password": "pw", "locale": "en"},
    ]
    domain = seed.model_copy(update={"users": [*seed.users, *(UserSeed(**u) for u in users)]})
    with make_client(
        domain, headers={**password_header("yuki", "pw"), "Accept-Language": "en"}
    ) as c:
        body = error(c.get("/k/v1/record.json", params={"app": 1, "id": 5}), 404, "GAIA_RE01")
        assert body["message"] == "指定したレコード（id: 5）が見つかりません。"
    with make_client(
        domain, headers={**password_header("sam", "pw"), "Accept-Language": "ja"}
    ) as c:
        body = error(c.get("/k/v1/record.json", params={"app": 1, "id": 5}), 404, "GAIA_RE01")
        assert body["message"] == "The specified record (ID: 5) is not found."


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("ja", "ja"),
        ("en-US", "en"),
        ("en,ja;q=0.9", "en"),
        ("ja;q=0.5,en;q=0.9", "en"),
        ("fr", "en"),
        ("*", "en"),
    ],
)
def test_accept_language_is_ranked_by_q(header: str | None, expected: str) -> None:
    assert choose(header, "auto", "en") == expected


def test_the_domain_default_answers_a_request_without_a_language() -> None:
    # The peer's domain answered Japanese without a header: `default_language: ja` reproduces it.
    assert choose(None, "auto", "ja") == "ja"
    assert choose("*", None, "ja") == "ja"


def test_formula_reasons_nest_in_japanese() -> None:
    message = 'The formula of the field "合計" is invalid. (The function MAX cannot be used.)'
    assert (
        japanese(message)
        == "フィールド「合計」の計算式が正しくありません。(エラーの内容：MAX関数は使用できません。)"
    )
