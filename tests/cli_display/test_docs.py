"""The DataFrame example of docs/project.md, run as written against the served emulator."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import yaml

from tests.sync.conftest import REPO


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_the_sync_frame_example_runs_as_written(cli_project: Path) -> None:
    section = (REPO / "docs" / "project.md").read_text(encoding="utf-8")
    section = section[section.index("### DataFrames from Python") :]
    mapping = yaml.safe_load(blocks(section, "yaml")[0])
    (cli_project.parent / "mappings" / "people.yaml").write_text(yaml.safe_dump(mapping))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(blocks(section, "python")[0], {})  # the project file is in the current directory
    assert printed.getvalue() == "2 0\n"
