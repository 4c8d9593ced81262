"""The HR walkthrough of docs/user-schema.md, command by command, against a served emulator."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.demo import serve_emulator
from connector.emulator import load_seed

from .conftest import warehouse

DOC = Path(__file__).resolve().parents[2] / "docs" / "user-schema.md"


def walkthrough() -> list[list[str]]:
    """The `kintone-sync` lines of the walkthrough's shell block, as argument lists."""
    text = DOC.read_text(encoding="utf-8").split("## Walkthrough", 1)[1]
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None
    lines = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    return [shlex.split(line)[1:] for line in lines if line.startswith("kintone-sync ")]


def test_the_walkthrough_runs_as_written(hr_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    commands = walkthrough()
    assert [c[:2] for c in commands] == [
        ["emulator", "--seed"],
        ["check", "hr_users"],
        ["run", "hr_departments"],
        ["run", "hr_users"],
        ["run", "hr_user_departments"],
        ["run", "hr_user_groups"],
    ]
    monkeypatch.chdir(hr_dir)
    for name, value in {
        "CYBOZU_ADMIN_LOGIN": "admin",
        "CYBOZU_ADMIN_PASSWORD": "admin-password",
        "HR_INITIAL_PASSWORD": "Initial-Pa55-word!",
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    with serve_emulator(seed=load_seed(hr_dir / commands[0][2])) as port:
        project = hr_dir / "kintone-sync.yaml"
        project.write_text(
            project.read_text(encoding="utf-8").replace("127.0.0.1:8080", f"127.0.0.1:{port}"),
            encoding="utf-8",
        )
        for args in commands[1:]:
            result = runner.invoke(main, args)
            assert result.exit_code == 0, (args, result.output)
        # "Then change the warehouse and run again": suzuki disabled, then tanaka leaves.
        warehouse(hr_dir, "UPDATE hr_employees SET active = false WHERE login_name = 'suzuki'")
        assert runner.invoke(main, ["run", "hr_users"]).exit_code == 0
        warehouse(hr_dir, "DELETE FROM hr_employees WHERE login_name = 'tanaka'")
        plan = runner.invoke(main, ["plan", "hr_users"])
        assert "a run would stop here" in plan.output
        assert runner.invoke(main, ["run", "hr_users"]).exit_code != 0
        assert runner.invoke(main, ["run", "hr_users", "--force"]).exit_code == 0
        verify = runner.invoke(main, ["verify", "hr_users"])
        assert verify.exit_code == 0, verify.output
    assert "Initial-Pa55-word!" not in (hr_dir / ".kintone-sync" / "state.db").read_text(
        encoding="latin-1"
    )
