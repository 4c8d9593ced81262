"""Least privilege: the rights a job needs, those a token holds, the missing and the excess."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner

from connector.cli import main
from connector.config import ProjectConfig, load_project
from connector.demo import serve_emulator
from connector.emulator import Seed
from connector.job import check
from connector.kintone.client import KintoneClient
from connector.mapping.form import Form
from connector.mapping.spec import MappingSpec
from connector.rights import LABELS, excess, missing, needed, probe
from tests.sync.conftest import emulator_client, stored, write_mapping

GRANTED = ("add", "edit", "delete", "manage")
COMBINATIONS = [
    frozenset(r for r, on in zip(GRANTED, bits, strict=True) if on)
    for bits in itertools.product([False, True], repeat=len(GRANTED))
]


def token_name(rights: frozenset[str]) -> str:
    return "t-" + ("-".join(sorted(rights)) or "view")


@pytest.fixture(scope="module")
def tokens_seed(sample_seed: Seed) -> Seed:
    """The sample app with one token for each combination of rights (view always)."""
    app = sample_seed.apps[0]
    tokens = [
        {"token": token_name(rights), "view": True, **{r: r in rights for r in GRANTED}}
        for rights in COMBINATIONS
    ]
    seeded = app.model_copy(update={"tokens": [*app.tokens, *map(_token(app), tokens)]})
    other = app.model_copy(
        update={
            "id": 2,
            "code": "OTHER",
            "records": [],
            "tokens": [_token(app)({"token": "other-app-token", "view": True})],
        }
    )
    return sample_seed.model_copy(update={"apps": [seeded, other]})


def _token(app: Any) -> Any:
    kind = type(app.tokens[0])
    return lambda data: kind.model_validate(data)


def spec(mode: str, on_delete: str) -> MappingSpec:
    return MappingSpec.model_validate(
        {
            "app": 1,
            "source": {"table": "customers", "primary_key": ["customer_id"]},
            "mode": mode,
            "key": "customer_id",
            "on_delete": on_delete,
            "fields": {"customer_id": "customer_id", "name": "full_name"},
        }
    )


@pytest.mark.parametrize("rights", COMBINATIONS, ids=token_name)
def test_each_combination_of_rights_is_probed_and_judged(
    tokens_seed: Seed, rights: frozenset[str]
) -> None:
    with emulator_client(tokens_seed, token=token_name(rights)) as client:
        held = probe(KintoneClient(client), 1)
        assert stored(client) == []
    assert {r for r, h in held.items() if h.held} == {"view", *rights} | (
        {"upload"} if rights & {"add", "edit"} else set()
    )
    assert {h.code for h in held.values() if h.held is False} <= {"GAIA_NO01"}
    for mode, on_delete in itertools.product(["insert", "update", "upsert"], ["keep", "delete"]):
        job = spec(mode, on_delete)
        need = needed(job, Form.from_properties({}))
        wanted = {
            *(["add"] if mode != "update" else []),
            *(["edit"] if mode != "insert" else []),
            *(["delete"] if on_delete == "delete" else []),
        }
        assert set(need) == {"view", *wanted}
        lacking = missing(need, held)
        assert [m.split(" may not ")[1].split(",")[0] for m in lacking] == [
            LABELS[r] for r in LABELS if r in wanted - rights
        ], (mode, on_delete)
        too_much = excess(job, need, held)
        assert [w.split(" may ")[1].split(",")[0] for w in too_much] == [
            LABELS[r] for r in LABELS if r in rights - wanted
        ], (mode, on_delete)
        for warning in too_much:
            assert "which this job never needs (" in warning


def test_why_a_right_is_in_excess_is_said(tokens_seed: Seed) -> None:
    with emulator_client(tokens_seed, token="t-add-delete-edit-manage") as client:
        held = probe(KintoneClient(client), 1)
    job = spec("update", "keep")
    text = "\n".join(excess(job, needed(job, Form.from_properties({})), held))
    assert "may add records, which this job never needs (mode update only changes" in text
    assert "may delete records, which this job never needs (on_delete is keep" in text
    assert "may manage the app, which this job never needs (it never changes the app's" in text


def test_file_fields_need_upload_and_stamps_on_insert_need_manage(sample_seed: Seed) -> None:
    form = Form.from_properties(
        {
            "doc": {"type": "FILE", "code": "doc"},
            "who": {"type": "CREATOR", "code": "who"},
            "lines": {
                "type": "SUBTABLE",
                "code": "lines",
                "fields": {"scan": {"type": "FILE", "code": "scan"}},
            },
        }
    )
    job = MappingSpec.model_validate(
        {
            "app": 1,
            "source": {"table": "t", "primary_key": ["id"]},
            "mode": "insert",
            "fields": {"doc": "doc", "who": "who"},
            "subtables": {
                "lines": {
                    "source": {"table": "l", "parent_key": ["id"]},
                    "fields": {"scan": "scan"},
                }
            },
        }
    )
    need = needed(job, form)
    assert need["upload"] == "the FILE field(s) doc, scan"
    assert need["manage"] == "setting who on insert"


def test_two_checks_use_no_record_number(
    project: ProjectConfig, sample_seed: Seed, project_dir: Path
) -> None:
    with emulator_client(sample_seed) as client:
        for _ in range(2):
            result = check(project, "customers", rows=10, http=client)
            assert result.problems == []
        assert stored(client) == []
        added = client.post("/k/v1/record.json", json={"app": 1, "record": _one()})
        assert added.status_code == 200, added.text
        assert added.json()["id"] == "1"


def _one() -> dict[str, Any]:
    return {"customer_id": {"value": "X-1"}, "name": {"value": "First"}}


def test_check_lists_needed_missing_and_excess(
    project: ProjectConfig, tokens_seed: Seed, project_dir: Path
) -> None:
    mapping = yaml.safe_load((project_dir / "mappings" / "customers.yaml").read_text())
    write_mapping(project_dir, "customers", {**mapping, "mode": "update", "app": 1})
    project = load_project(project_dir / "kintone-sync.yaml")
    with emulator_client(tokens_seed, token="t-add-delete") as client:
        result = check(project, "customers", rows=10, http=client)
    assert result.rights is not None
    assert list(result.rights.needed) == ["view", "edit"]
    (problem,) = result.problems
    assert "may not edit records, which mode update needs [GAIA_NO01]" in problem
    assert [w.split(",")[0] for w in result.warnings] == [
        "rights: these credentials may add records",
        "rights: these credentials may delete records",
    ]


# --- the command line, against a served emulator -----------------------------------------------


@pytest.fixture
def served(tokens_seed: Seed) -> Iterator[int]:
    with serve_emulator(seed=tokens_seed) as bound:
        yield bound


def point_at(project_dir: Path, port: int, auth: dict[str, Any]) -> None:
    project_file = project_dir / "kintone-sync.yaml"
    data = yaml.safe_load(project_file.read_text())
    data["connections"]["default"]["base_url"] = f"http://localhost:{port}"
    data["connections"]["default"]["auth"] = auth
    project_file.write_text(yaml.safe_dump(data))


def test_the_check_command_prints_rights(
    project_dir: Path, served: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(project_dir, served, {"api_token_env": ["TOKEN_A", "TOKEN_B"]})
    monkeypatch.setenv("TOKEN_A", "t-add-delete-edit-manage")
    monkeypatch.setenv("TOKEN_B", "other-app-token")
    monkeypatch.chdir(project_dir)
    httpx.post(f"http://127.0.0.1:{served}/_emulator/reset")
    result = CliRunner().invoke(main, ["check", "customers", "--rows", "5"])
    text = result.output
    assert "rights needed: view records (every run); add records (mode upsert); edit " in text
    assert "rights held: view records, add records, edit records, delete records, " in text
    assert "warning: rights: these credentials may delete records" in text
    assert "warning: rights: these credentials may manage the app" in text
    assert "joins 2 API tokens, which reach other apps than app 1" in text


def test_password_sign_in_warns_that_one_token_would_do(
    project_dir: Path, served: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    point_at(project_dir, served, {"username_env": "KUSER", "password_env": "KPASS"})
    monkeypatch.setenv("KUSER", "admin")
    monkeypatch.setenv("KPASS", "admin-password")
    monkeypatch.chdir(project_dir)
    result = CliRunner().invoke(main, ["check", "customers", "--rows", "5"])
    assert "signs in with a user's password, which reaches every app the user" in result.output
    assert "an API token of app 1 with the rights above would do" in result.output


def test_a_mode_insert_check_keeps_the_probe_free_of_writes(tokens_seed: Seed) -> None:
    """The probes themselves, seen from the emulator: nothing added, nothing deleted."""
    with emulator_client(tokens_seed, token="t-add-delete-edit-manage") as client:
        before = client.get("/_emulator/stats").json()
        probe(KintoneClient(client), 1)
        probe(KintoneClient(client), 1)
        assert stored(client) == []
        after = client.get("/_emulator/stats").json()
    assert after != before  # the probes were sent


@pytest.mark.parametrize(
    ("method", "api", "body", "allowed", "refused"),
    [
        ("POST", "records", {"app": 1, "records": []}, (200, None), "t-view"),
        ("PUT", "records", {"app": 1, "records": []}, (200, None), "t-view"),
        ("DELETE", "records", {"app": 1, "ids": [9007199254740991]}, (404, "GAIA_RE01"), "t-view"),
        ("GET", "preview/app/form/fields", {"app": 1}, (200, None), "t-add-delete-edit"),
    ],
)
def test_the_emulator_checks_the_right_before_the_request(
    tokens_seed: Seed,
    method: str,
    api: str,
    body: dict[str, Any],
    allowed: tuple[int, str | None],
    refused: str,
) -> None:
    """The probes' premise (docs/emulator.md, "Rights before the request"): a caller without
    the right is refused before the body or the record is looked at; with it, nothing lands."""
    path = f"/k/v1/{api}.json"
    with emulator_client(tokens_seed, token="t-add-delete-edit-manage") as client:
        answer = client.request(method, path, json=body)
        assert (answer.status_code, answer.json().get("code")) == allowed
        client.headers["X-Cybozu-API-Token"] = refused
        answer = client.request(method, path, json=body)
        assert (answer.status_code, answer.json().get("code")) == (403, "GAIA_NO01")
        assert stored(client) == []
