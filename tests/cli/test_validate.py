"""`kintone-sync validate`: every file checked offline, every problem with file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from connector.cli import EXIT_USAGE

from .conftest import REPO, invoke, json_out


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The repository's mappings and a project file whose Kintone and warehouse do not exist,
    with no secret in the environment: validate needs none of them."""
    (tmp_path / "mappings").mkdir()
    for path in (REPO / "mappings").glob("*.yaml"):
        (tmp_path / "mappings" / path.name).write_text(path.read_text(encoding="utf-8"))
    project = {
        "source": {"url": "postgresql://etl@warehouse.invalid/dw"},
        "connections": {
            "default": {
                "base_url": "https://nowhere.invalid",
                "auth": {"api_token_env": "NOT_SET_ANYWHERE"},
            }
        },
    }
    (tmp_path / "kintone-sync.yaml").write_text(yaml.safe_dump(project), encoding="utf-8")
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_clean_project_and_the_shipped_seeds_pass(offline: Path) -> None:
    seeds = [
        REPO / "connector" / "samples" / "emulator-seed.yaml",
        REPO / "tests" / "emulator" / "seed.yaml",
    ]
    result = invoke("validate", *(a for s in seeds for a in ("--seed", str(s))))
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: 4 file(s) checked\n"


def test_every_problem_in_every_file_is_listed(offline: Path) -> None:
    (offline / "kintone-sync.yaml").write_text(
        "source:\n  url: duckdb:///w.duckdb\n  chunk_size: 0\nconnections:\n"
        "  default:\n    base_url: https://x.cybozu.com\n    auth: {api_token_env: T}\n"
        "retry:\n  attemps: 3\n",
        encoding="utf-8",
    )
    (offline / "mappings" / "orders.yaml").write_text(
        "app: 2\nconnection: other\nsource:\n  table: orders\n  primary_key: [order_id]\n"
        "mode: insert\nfields:\n  order_id: order_id\n",
        encoding="utf-8",
    )
    (offline / "mappings" / "broken.yaml").write_text(
        "app: ON\nsource:\n  table: t\nfields:\n  a: a\n  b: 1\n", encoding="utf-8"
    )
    (offline / "mappings" / "twice.yaml").write_text("app: 1\napp: 2\n", encoding="utf-8")
    (offline / "mappings" / "old.yml").write_text("app: 1\n", encoding="utf-8")
    seed = offline / "seed.yaml"
    seed.write_text("apps:\n  - id: 1\n    name: A\n    colour: red\n", encoding="utf-8")
    result = invoke("validate", "--seed", str(seed), "--output", "json")
    assert result.exit_code == EXIT_USAGE
    found = json_out(result)
    assert found["exit_code"] == EXIT_USAGE
    got = {(Path(p["file"]).name, p["line"], p["key"]) for p in found["problems"]}
    assert got == {
        ("kintone-sync.yaml", 3, "source.chunk_size"),
        ("kintone-sync.yaml", 9, "retry.attemps"),
        ("orders.yaml", 2, "connection"),
        ("broken.yaml", 1, "app.int"),
        ("broken.yaml", 1, "app.str"),
        ("broken.yaml", 2, "source.primary_key"),  # missing: the line of its parent
        ("broken.yaml", 6, "fields.b"),
        ("twice.yaml", None, None),
        ("old.yml", None, None),
        ("seed.yaml", 2, "apps.0.properties"),
        ("seed.yaml", 4, "apps.0.colour"),
    }
    messages = {Path(p["file"]).name + ":" + p["message"] for p in found["problems"]}
    assert "twice.yaml:line 2: key 'app' is given twice (first on line 1); keep one" in messages
    assert "orders.yaml:connection 'other' is not in the project file (known: default)" in (
        messages
    )


def test_text_output_names_file_line_and_key(offline: Path) -> None:
    (offline / "mappings" / "customers.yaml").write_text(
        "app: 1\nsource: {table: t, primary_key: [id]}\nmode: upsert\nfields:\n  a: a\n",
        encoding="utf-8",
    )
    result = invoke("validate")
    assert result.exit_code == EXIT_USAGE
    assert result.stdout.splitlines() == [
        "mappings/customers.yaml: (top level): mode upsert needs key: a unique field code, or $id",
        "1 problem(s) in 1 of 2 file(s)",
    ]


def test_a_missing_project_file_still_checks_the_mappings(offline: Path) -> None:
    (offline / "kintone-sync.yaml").unlink()
    (offline / "mappings" / "bad.yaml").write_text("app: 1\n", encoding="utf-8")
    found = json_out(invoke("validate", "--output", "json"))
    files = {Path(p["file"]).name for p in found["problems"]}
    assert files == {"kintone-sync.yaml", "bad.yaml"}


def test_the_shipped_hr_example_validates() -> None:
    hr = REPO / "docs" / "examples" / "hr"
    result = invoke(
        "validate", "--project", str(hr / "kintone-sync.yaml"), "--seed", str(hr / "seed.yaml")
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "ok: 6 file(s) checked\n"
