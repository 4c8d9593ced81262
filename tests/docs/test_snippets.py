"""Every command and snippet of README.md, README.ja.md and docs/: command lines parsed by the
real command line, YAML, JSON and Python blocks read, mapping files validated.

The walkthroughs themselves run for real in tests/userapi/test_walkthrough.py,
tests/docker/test_compose.py and tests/cli (the README's Python example)."""

from __future__ import annotations

import json
import re
import shlex
import warnings
from pathlib import Path

import click
import pytest
import yaml

from connector.cli import main
from connector.mapping.spec import MappingSpec

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted([REPO / "README.md", REPO / "README.ja.md", *REPO.glob("docs/**/*.md")])
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def blocks(kinds: tuple[str, ...]) -> list[tuple[str, int, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            if match.group(1) in kinds:
                line = text[: match.start()].count("\n") + 1
                found.append((str(page.relative_to(REPO)), line, match.group(2)))
    return found


def command_lines() -> list[tuple[str, str]]:
    lines = []
    for where, start, body in blocks(("bash", "sh", "")):
        body = body.replace("\\\n", " ")  # continued lines, joined (the line numbers may drift)
        for offset, raw in enumerate(body.splitlines()):
            line = raw.split(" #")[0].strip().rstrip("&").strip()
            if line.startswith(("kintone-sync ", ".venv/bin/kintone-sync ")):
                lines.append((f"{where}:{start + offset + 1}", line))
            elif "&& .venv/bin/kintone-sync " in line:
                lines.append((f"{where}:{start + offset + 1}", line.split("&& ")[-1]))
    return lines


def parse(args: list[str]) -> None:
    """Resolve the command and parse every option as the command line would, running nothing."""
    context = main.make_context("kintone-sync", list(args))
    command: click.Command = main
    rest = _unparsed(context)
    while isinstance(command, click.Group) and rest:
        name, sub, rest = command.resolve_command(context, rest)
        assert sub is not None
        assert name is not None
        context = sub.make_context(name, list(rest), parent=context)
        command, rest = sub, _unparsed(context)


def _unparsed(context: click.Context) -> list[str]:
    """A group's subcommand and its arguments (click 8 keeps the first apart)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return [*getattr(context, "protected_args", []), *context.args]


COMMANDS = command_lines()


def test_the_docs_have_commands_to_check() -> None:
    assert len(COMMANDS) > 40


@pytest.mark.parametrize(("where", "line"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_every_command_line_in_the_docs_parses(where: str, line: str) -> None:
    args = shlex.split(line)[1:]
    try:
        parse(args)
    except click.exceptions.Exit:
        pass  # --help, --version
    except click.UsageError as exc:
        pytest.fail(f"{where}: `{line}`: {exc.format_message()}")


@pytest.mark.parametrize(
    ("where", "line", "body"), blocks(("yaml", "yml")), ids=lambda v: str(v)[:40]
)
def test_every_yaml_block_reads_and_every_mapping_in_one_validates(
    where: str, line: int, body: str
) -> None:
    data = yaml.safe_load(body)
    if isinstance(data, dict) and "source" in data and ("app" in data or "user_table" in data):
        MappingSpec.model_validate(data)


@pytest.mark.parametrize(("where", "line", "body"), blocks(("json",)), ids=lambda v: str(v)[:40])
def test_every_json_block_reads(where: str, line: int, body: str) -> None:
    text = body.strip()
    try:
        json.loads(text)
    except json.JSONDecodeError:
        for row in text.splitlines():  # one object a line (JSON logs), or one split for the page
            if row.strip().startswith("{") and row.strip().endswith("}"):
                json.loads(row)


@pytest.mark.parametrize(
    ("where", "line", "body"), blocks(("python", "py")), ids=lambda v: str(v)[:40]
)
def test_every_python_block_compiles(where: str, line: int, body: str) -> None:
    compile(body, f"{where}:{line}", "exec")
