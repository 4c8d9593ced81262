"""Job names: an unknown job is a usage error everywhere, and a name is never a path."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.cli import EXIT_USAGE

from .conftest import edit_mapping, invoke, json_out

COMMANDS = [
    ["run"],
    ["plan"],
    ["check"],
    ["verify"],
    ["runs"],
    ["rejects"],
    ["rejects", "--clear", "--yes"],
    ["state", "show"],
    ["state", "reset", "--yes"],
    ["unlock", "--yes"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_an_unknown_job_is_a_usage_error_that_lists_the_jobs(
    project_dir: Path, command: list[str]
) -> None:
    edit_mapping(project_dir, "orders")
    result = invoke(*command, "nosuchjob")
    assert result.exit_code == EXIT_USAGE, result.output
    assert "error: no job named nosuchjob; jobs are: customers, orders" in result.stderr
    assert not (project_dir / "mappings" / "nosuchjob.yaml").exists()


@pytest.mark.parametrize("name", ["../kintone-sync", "a/b", ".hidden", "..", "a\\b", "tab\there"])
@pytest.mark.parametrize("command", [["check"], ["run"], ["rejects"], ["state", "reset", "--yes"]])
def test_a_job_name_is_never_a_path(project_dir: Path, command: list[str], name: str) -> None:
    # A mapping file really is there: a path-like name must not reach it.
    (project_dir / "mappings" / "a").mkdir()
    edit_mapping(project_dir, "a/b")
    edit_mapping(project_dir, ".hidden")
    result = invoke(*command, name)
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"error: job name {name!r} is not a name" in result.stderr


def test_init_refuses_a_path_as_the_job_name(project_dir: Path) -> None:
    result = invoke("init", "../escaped", "--app", "1", "--table", "customers")
    assert result.exit_code == EXIT_USAGE
    assert "is not a name" in result.stderr
    assert not (project_dir / "escaped.yaml").exists()


def test_hidden_and_nested_files_are_not_jobs(project_dir: Path) -> None:
    edit_mapping(project_dir, ".draft")
    result = invoke("rejects", "nosuchjob", "--output", "json")
    assert json_out(result)["error"].endswith(
        "jobs are: customers (one per mapping file in mappings/)"
    )
