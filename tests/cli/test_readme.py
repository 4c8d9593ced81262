"""The README's Python example runs as written, against the emulator."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

from .conftest import REPO


def test_the_readme_python_example_runs(project_dir: Path) -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    [snippet] = re.findall(r"```python\n(.*?)```", text, re.S)
    assert "from connector import load_project, sync" in snippet
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "README.md", "exec"), {})  # noqa: S102 - the documented example
    assert printed.getvalue() == "1000 0 0\n"
