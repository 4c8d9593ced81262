"""The `--data` file: JSON only, restored value by value, and a one-line error for anything else."""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.emulator import Seed, create_app
from connector.emulator.datafile import DATA_FORMAT, DataFileError
from connector.emulator.seed import AppSeed
from connector.emulator.store import Domain

from .conftest import BASE_URL

APP = AppSeed(
    id=1,
    name="t",
    properties={
        "k": {"type": "SINGLE_LINE_TEXT", "code": "k", "unique": True},
        "n": {"type": "NUMBER", "code": "n"},
        "rows": {
            "type": "SUBTABLE",
            "code": "rows",
            "fields": {"d": {"type": "DATE", "code": "d"}},
        },
    },
)


def saved(tmp_path: Path) -> Path:
    domain = Domain([APP])
    app = domain.app(1)
    domain.load_records(
        app,
        [
            {"k": "a", "n": "1.5", "rows": [{"id": "7", "value": {"d": "2024-01-31"}}]},
            {"k": "日本", "n": "", "rows": []},
        ],
    )
    domain.next_row_id = 8
    domain.upload("f.txt", "text/plain", b"\x00\xffdata")
    path = tmp_path / "emulator.data"
    domain.save(path)
    return path


def test_the_data_file_is_json_and_round_trips(tmp_path: Path) -> None:
    path = saved(tmp_path)
    state = json.loads(path.read_text(encoding="ascii"))
    assert state["format"] == DATA_FORMAT
    again = Domain([APP])
    again.restore(path)
    records = list(again.app(1).records.values())
    assert [r.values["k"] for r in records] == ["a", "日本"]
    assert records[0].values["rows"] == [{"id": "7", "value": {"d": "2024-01-31"}}]
    assert again.app(1).find_unique("k", "日本") == 2
    assert [f.data for f in again.uploads.values()] == [b"\x00\xffdata"]
    assert again.new_record_id(again.app(1)) == 3
    assert again.new_row_id() == "8"


def test_apps_and_fields_that_left_the_seed_are_dropped(tmp_path: Path) -> None:
    path = saved(tmp_path)
    smaller = AppSeed(id=1, name="t", properties={"k": APP.properties["k"]})
    other = AppSeed(id=2, name="u", properties={})
    again = Domain([smaller, other])
    again.restore(path)
    assert [r.values for r in again.app(1).records.values()] == [{"k": "a"}, {"k": "日本"}]


def edit(path: Path, change: Any) -> Path:
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))
    return path


def record(state: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = state["apps"]["1"]["records"][0]
    return result


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda s: record(s)["values"].update(n="1e300"), "apps.1.records[0].values.n"),
        (lambda s: record(s)["values"].update(n=[1]), "not a stored NUMBER value"),
        (lambda s: record(s)["values"]["rows"][0].update(id="x"), "rows[0].id"),
        (lambda s: record(s)["values"]["rows"][0]["value"].update(d=5), "rows[0].value.d"),
        (lambda s: record(s).update(id="1"), "apps.1.records[0].id"),
        (lambda s: record(s).update(extra=1), "id, revision and values"),
        (lambda s: s["apps"]["1"]["records"].append(record(s)), "appears twice"),
        (lambda s: s["apps"]["1"]["records"][1]["values"].update(k="a"), "unique value"),
        (lambda s: s["uploads"][0].update(data="***"), "uploads[0]: data is not base64"),
        (lambda s: s.update(apps=[]), "apps: expected an object"),
        (lambda s: s.update(next_row_id=True), "next_row_id"),
        (lambda s: s.update(format="kintone-sync-emulator/1"), "not an emulator data file"),
    ],
)
def test_a_damaged_file_names_the_place_and_the_fix(
    tmp_path: Path, change: Any, words: str
) -> None:
    path = edit(saved(tmp_path), change)
    domain = Domain([APP])
    with pytest.raises(DataFileError) as caught:
        domain.restore(path)
    message = str(caught.value)
    assert words in message
    assert message.startswith(str(path))
    assert "delete it, or start without --data" in message
    assert "\n" not in message
    assert domain.app(1).records == {}  # nothing half-loaded


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (pickle.dumps({"format": "kintone-sync-emulator/1"}), "pickle format of an older emulator"),
        (b"\x00\x01garbage\xff", "not JSON"),
        (b"[1, 2]", "not an emulator data file"),
        (b"", "not JSON"),
        (b"[" * 100_000, "not JSON"),
        (b'{"format": "kintone-sync-emulator/2", "x": "\\ud800"}', "not Unicode"),
    ],
)
def test_garbage_and_foreign_files_give_one_line(
    tmp_path: Path, content: bytes, words: str
) -> None:
    path = tmp_path / "x.data"
    path.write_bytes(content)
    with pytest.raises(DataFileError, match=words):
        Domain([APP]).restore(path)


def test_a_pickle_is_never_unpickled(tmp_path: Path) -> None:
    class Boom:
        def __reduce__(self) -> tuple[Any, ...]:
            return (Path.touch, (tmp_path / "ran",))

    path = tmp_path / "evil.data"
    path.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(DataFileError):
        Domain([APP]).restore(path)
    assert not (tmp_path / "ran").exists()


def test_the_emulator_saves_and_restores_through_its_endpoints(seed: Seed, tmp_path: Path) -> None:
    path = tmp_path / "emulator.data"
    with TestClient(create_app(seed, data=path), base_url=BASE_URL) as c:
        c.headers["X-Cybozu-API-Token"] = "full-token"
        upload = c.post("/k/v1/file.json", files={"file": ("a.txt", b"hello", "text/plain")})
        record = {
            "code": {"value": "S1"},
            "qty": {"value": "3"},
            "owner": {"value": [{"code": "alice"}]},
            "files": {"value": [{"fileKey": upload.json()["fileKey"]}]},
            "orders": {"value": [{"value": {"item": {"value": "pen"}}}]},
        }
        assert c.post("/k/v1/record.json", json={"app": 1, "record": record}).status_code == 200
        assert c.post("/_emulator/save").status_code == 200
        before = c.get("/_emulator/records", params={"app": 1}).json()
    with TestClient(create_app(seed, data=path), base_url=BASE_URL) as c:
        assert c.get("/_emulator/records", params={"app": 1}).json() == before
        key = before["records"][0]["files"]["value"][0]["fileKey"]
        download = c.get(
            "/k/v1/file.json", params={"fileKey": key}, headers={"X-Cybozu-API-Token": "full-token"}
        )
        assert download.content == b"hello"


def test_create_app_refuses_a_bad_data_file(seed: Seed, tmp_path: Path) -> None:
    path = tmp_path / "emulator.data"
    path.write_bytes(pickle.dumps({}))
    with pytest.raises(DataFileError, match="pickle"):
        create_app(seed, data=path)
