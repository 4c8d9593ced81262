"""One exit-code table (docs/project.md), a row per case; errors as JSON under --output json."""

from __future__ import annotations

import json
import os
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path

import click
import duckdb
import pytest
import sqlalchemy as sa
import yaml

from connector.cli import EXIT_DIFFERS, EXIT_ERROR, EXIT_REFUSED, EXIT_USAGE, main
from connector.state import StateStore, locks

from .conftest import REPO, edit_mapping, invoke, json_out

Setup = Callable[[Path], None]


def _nothing(_: Path) -> None:
    return None


def _set_project(project_dir: Path, **source: object) -> None:
    path = project_dir / "kintone-sync.yaml"
    project = yaml.safe_load(path.read_text())
    project["source"].update(source)
    path.write_text(yaml.safe_dump(project))


def _lock(project_dir: Path, host: str, pid: int, age: float) -> None:
    store = StateStore.open(None, project_dir)
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(locks).values(
                job="customers", host=host, pid=pid, heartbeat=time.time() - age, token="t"
            )
        )
    store.close()


def _refuse_one_row(project_dir: Path) -> None:
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute("UPDATE customers SET credit_limit = -1 WHERE customer_id = 'C-0042'")


def _edit_a_record(project_dir: Path) -> None:
    assert invoke("run", "customers").exit_code == 0
    with duckdb.connect(str(project_dir / "warehouse.duckdb")) as con:
        con.execute("DELETE FROM customers WHERE customer_id = 'C-0042'")
        con.execute("DELETE FROM orders WHERE customer_id = 'C-0042'")


# (what, command, setup, exit code, words in the error); the rows of docs/project.md's table.
TABLE: list[tuple[str, list[str], Setup, int, str]] = [
    ("done", ["run", "customers"], _nothing, 0, ""),
    (
        "warehouse unreachable",
        ["run", "customers"],
        lambda d: _set_project(d, url="postgresql://etl:hunter2@127.0.0.1:9/dw"),
        EXIT_ERROR,
        "cannot connect to postgresql+psycopg://etl:***@127.0.0.1:9/dw",
    ),
    (
        "Kintone refuses the credentials",
        ["run", "customers"],
        lambda _: os.environ.__setitem__("KINTONE_API_TOKEN", "wrong-token"),
        EXIT_ERROR,
        "[400 GAIA_IA02]",
    ),
    (
        "another run holds the lock",
        ["run", "customers"],
        lambda d: _lock(d, socket.gethostname(), os.getpid(), 0),
        EXIT_ERROR,
        "job customers is running elsewhere",
    ),
    (
        "unknown job",
        ["run", "custmers"],
        _nothing,
        EXIT_USAGE,
        "no job named custmers; jobs are: customers",
    ),
    (
        "invalid mapping file",
        ["run", "customers"],
        lambda d: edit_mapping(d, "customers", mode="merge"),
        EXIT_USAGE,
        "mode: Input should be 'insert', 'update' or 'upsert'",
    ),
    (
        "missing secret",
        ["run", "customers"],
        lambda _: os.environ.pop("KINTONE_API_TOKEN"),
        EXIT_USAGE,
        "environment variable KINTONE_API_TOKEN is not set",
    ),
    (
        "missing table",
        ["run", "customers"],
        lambda d: edit_mapping(
            d, "customers", source={"table": "customerz", "primary_key": ["customer_id"]}
        ),
        EXIT_USAGE,
        "unknown table 'customerz'",
    ),
    (
        "wrong app id",
        ["run", "customers"],
        lambda d: edit_mapping(d, "customers", app=999),
        EXIT_USAGE,
        "app: app 999 does not exist, or was deleted [404 GAIA_AP01]",
    ),
    (
        "wrong app id given to init",
        ["init", "fresh", "--app", "999", "--table", "customers"],
        _nothing,
        EXIT_USAGE,
        "--app: app 999 does not exist, or was deleted [404 GAIA_AP01]",
    ),
    (
        "wrong app code",
        ["plan", "customers"],
        lambda d: edit_mapping(d, "customers", app="NOPE"),
        EXIT_USAGE,
        "no app with app code 'NOPE'",
    ),
    (
        "pre-flight problem",
        ["run", "customers"],
        lambda d: edit_mapping(
            d, "customers", fields={"customer_id": "customer_id", "ghost": "email"}
        ),
        EXIT_USAGE,
        "the app has no field 'ghost'",
    ),
    ("refused rows", ["run", "customers"], _refuse_one_row, EXIT_REFUSED, ""),
    ("verify finds differences", ["verify", "customers"], _edit_a_record, EXIT_DIFFERS, ""),
]


@pytest.mark.parametrize(
    ("command", "setup", "code", "words"), [t[1:] for t in TABLE], ids=[t[0] for t in TABLE]
)
def test_exit_codes_follow_the_table(
    project_dir: Path,
    command: list[str],
    setup: Setup,
    code: int,
    words: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KINTONE_API_TOKEN", "sample-token")  # restored after the setups
    setup(project_dir)
    result = invoke(*command)
    assert result.exit_code == code, result.output
    if words:
        assert result.stderr.startswith("error: ")
        assert words in result.stderr


@pytest.mark.parametrize(
    ("command", "setup", "code", "words"),
    [t[1:] for t in TABLE if t[3] in (EXIT_ERROR, EXIT_USAGE)],
    ids=[t[0] for t in TABLE if t[3] in (EXIT_ERROR, EXIT_USAGE)],
)
def test_json_output_prints_one_error_object(
    project_dir: Path,
    command: list[str],
    setup: Setup,
    code: int,
    words: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KINTONE_API_TOKEN", "sample-token")
    setup(project_dir)
    result = invoke(*command, "--output", "json")
    assert result.exit_code == code
    assert result.stderr == ""
    found = json_out(result)
    assert set(found) == {"error", "exit_code", "hint"}
    assert found["exit_code"] == code
    assert words in found["error"]
    assert found["hint"]
    assert "hunter2" not in result.output


def test_the_documented_table_lists_every_code() -> None:
    text = (REPO / "docs" / "project.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\d) \| ", text, flags=re.MULTILINE)
    assert sorted(set(rows)) == ["0", "1", "2", "3", "4"]
    for what, *_ in TABLE:
        assert what in text, f"docs/project.md's exit-code table lacks: {what}"


@pytest.mark.parametrize(
    "command",
    [
        ["rejects", "customers"],
        ["runs", "customers"],
        ["state", "show"],
        ["check", "customers"],
        ["verify", "customers"],
        ["plan", "customers"],
        ["run", "customers"],
        ["init", "fresh", "--app", "1", "--table", "customers"],
        ["unlock", "customers"],
        ["state", "reset", "customers"],
    ],
)
def test_every_command_with_output_answers_errors_in_json(
    project_dir: Path, command: list[str]
) -> None:
    (project_dir / "kintone-sync.yaml").write_text("connections: {default: 1}\n")
    result = invoke(*command, "--output", "json")
    assert result.exit_code == EXIT_USAGE
    found = json_out(result)
    assert found["exit_code"] == EXIT_USAGE
    assert "kintone-sync.yaml: line 1, connections.default" in found["error"]
    assert "kintone-sync validate" in found["hint"]


def _commands(group: click.Group, prefix: str = "") -> dict[str, click.Command]:
    found: dict[str, click.Command] = {}
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found.update(_commands(command, f"{prefix}{name} "))
        else:
            found[prefix + name] = command
    return found


def test_the_same_option_names_everywhere() -> None:
    commands = _commands(main)
    with_output = {n for n, c in commands.items() if any("--output" in p.opts for p in c.params)}
    without = set(commands) - with_output
    assert without == {"demo", "auth login", "schema", "emulator"}  # no result to shape
    for name, command in commands.items():
        options = {o for p in command.params for o in p.opts}
        assert not options & {"--json", "--config", "--project-file"}, name
        if name not in ("schema", "emulator", "demo"):  # the demo writes its own project
            assert "--project" in options, name


@pytest.mark.parametrize(
    "args",
    [
        ["run", "--bogus", "--output", "json"],
        ["rejects", "--output=json"],
        ["plan", "customers", "--output", "json", "--output", "xml"],
    ],
)
def test_a_usage_mistake_under_output_json_is_one_json_object_too(args: list[str]) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, args)
    assert result.exit_code == EXIT_USAGE
    found = json.loads(result.stdout)
    assert found["exit_code"] == EXIT_USAGE
    assert found["error"]
    assert "--help" in found["hint"]


def test_a_usage_mistake_without_json_is_clicks_own_text() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(main, ["run", "--bogus"])
    assert result.exit_code == EXIT_USAGE
    assert "No such option '--bogus'" in result.output
    assert not result.stdout.lstrip().startswith("{")
