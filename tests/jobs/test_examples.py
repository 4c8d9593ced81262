"""The orchestrator examples in docs/examples/: each file parses, and each kintone-sync
command line in it is one the command line accepts."""

from __future__ import annotations

import ast
import configparser
import importlib.util
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from connector import cron
from connector.cli import main
from connector.config import load_project

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def check_invocation(argv: Sequence[str]) -> dict[str, Any]:
    """Parse a kintone-sync command line as click would, running nothing; its options.

    Raises:
        click.UsageError (and kin): an unknown command, option or value.
    """
    assert Path(argv[0]).name == "kintone-sync", argv
    ctx = main.make_context("kintone-sync", list(argv[1:]))
    with ctx:
        name, command, rest = main.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        assert command is not None
        assert name is not None
        params = dict(command.make_context(name, list(rest), parent=ctx).params)
    if name == "run":
        assert bool(params["jobs"]) != params["every_job"], argv  # jobs, or --all
    params["command"] = name
    return params


def until_redirect(words: list[str]) -> list[str]:
    """A shell command's words before its first redirection."""
    return words[: next((i for i, w in enumerate(words) if w.startswith((">", "2>"))), len(words))]


def test_invalid_command_lines_are_caught() -> None:
    # the checker itself: a test that cannot fail is a defect
    with pytest.raises(Exception, match="No such option"):
        check_invocation(["kintone-sync", "run", "--al"])
    with pytest.raises(Exception, match="No such command"):
        check_invocation(["kintone-sync", "sync", "customers"])
    with pytest.raises(AssertionError):
        check_invocation(["kintone-sync", "run"])


def test_crontab_lines_are_cron_expressions_running_valid_commands() -> None:
    entries = [
        line
        for line in (EXAMPLES / "crontab").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert len(entries) == 2
    commands = []
    for line in entries:
        fields = line.split(None, 5)
        cron.check(" ".join(fields[:5]))
        last = fields[5].split("&&")[-1]
        commands.append(check_invocation(until_redirect(shlex.split(last)))["command"])
    assert commands == ["run", "schedule"]


def ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def test_systemd_units_run_valid_commands_and_the_timer_names_its_zone() -> None:
    service = ini(EXAMPLES / "systemd" / "kintone-sync.service")
    params = check_invocation(shlex.split(service["Service"]["ExecStart"]))
    assert params["command"] == "schedule"
    assert not params["once"]
    assert service["Service"]["KillSignal"] == "SIGTERM"
    oneshot = ini(EXAMPLES / "systemd" / "kintone-sync-run.service")
    assert oneshot["Service"]["Type"] == "oneshot"
    assert check_invocation(shlex.split(oneshot["Service"]["ExecStart"]))["every_job"]
    timer = ini(EXAMPLES / "systemd" / "kintone-sync-run.timer")
    when = timer["Timer"]["OnCalendar"].split()
    cron.zone(when[-1])
    assert timer["Timer"]["Persistent"] == "true"


def test_kubernetes_cronjob_runs_a_valid_command_on_its_config_map_with_secrets(
    tmp_path: Path,
) -> None:
    docs = list(yaml.safe_load_all((EXAMPLES / "kubernetes" / "cronjob.yaml").read_text()))
    config_map = next(d for d in docs if d["kind"] == "ConfigMap")
    job = next(d for d in docs if d["kind"] == "CronJob")
    assert job["apiVersion"] == "batch/v1"
    cron.check(job["spec"]["schedule"])
    cron.zone(job["spec"]["timeZone"])
    assert job["spec"]["concurrencyPolicy"] == "Forbid"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    params = check_invocation(container["command"])
    assert params["every_job"]
    # the secrets come from a Secret, never from the manifest
    env = {e["name"]: e for e in container["env"]}
    for name in ("KINTONE_API_TOKEN", "STATE_URL"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "kintone-sync"
    # the files mounted where --project says, and they load as a project
    mounts = {m["mountPath"]: m["subPath"] for m in container["volumeMounts"]}
    project_path = str(params["project_file"])
    assert mounts[project_path] == "kintone-sync.yaml"
    root = tmp_path / "project"
    for mount, key in mounts.items():
        target = root / Path(mount).relative_to(Path(project_path).parent)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(config_map["data"][key])
    project = load_project(root / "kintone-sync.yaml")
    assert project.state.url == "${STATE_URL}"
    assert project.mapping("customers").key == "customer_id"


class _Commands(ast.NodeVisitor):
    """The kintone-sync command lines written in a Python file: string constants and
    f-strings (module constants filled in), `{job}` given a name; docstrings left out."""

    def __init__(self, tree: ast.Module) -> None:
        self.constants = {
            node.targets[0].id: node.value.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant)
        }
        self.found: list[str] = []
        self.visit(tree)

    def visit_Expr(self, node: ast.Expr) -> None:
        if not isinstance(node.value, ast.Constant):  # a docstring is not a command
            self.generic_visit(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        parts = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                parts.append(str(part.value))
            elif isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name):
                if part.value.id not in self.constants:
                    return  # a message built at run time, not a command line
                parts.append(str(self.constants[part.value.id]))
            else:
                return
        self.keep("".join(parts))

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str):
            self.keep(node.value.replace("{job}", "customers"))

    def keep(self, text: str) -> None:
        if text.startswith("kintone-sync "):
            self.found.append(text)


def command_strings(path: Path) -> list[str]:
    return _Commands(ast.parse(path.read_text(), str(path))).found


@pytest.mark.parametrize(
    ("name", "module", "count"),
    [("airflow_dag.py", "airflow", 2), ("dagster_assets.py", "dagster", 1)],
)
def test_python_examples_compile_and_call_valid_commands(
    name: str, module: str, count: int
) -> None:
    path = EXAMPLES / name
    code = compile(path.read_text(), str(path), "exec")
    if importlib.util.find_spec(module) is not None:  # pragma: no cover - not a dependency
        exec(code, {"__name__": f"example_{module}"})
    commands = command_strings(path)
    assert len(commands) == count, commands
    for text in commands:
        assert check_invocation(shlex.split(text))["command"] == "run"
