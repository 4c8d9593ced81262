"""The root options over a served emulator: --quiet, -v, --log-format json, secrets masked."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from starlette.applications import Starlette

from connector.cli import EXIT_USAGE, main
from connector.emulator import FaultRule
from connector.logs import ContextFilter, JsonFormatter, bound, redact
from tests.cli_display.conftest import TOKEN
from tests.cli_display.tables import table_rows


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_quiet_prints_the_one_line_result_only(cli_project: Path) -> None:
    result = invoke("--quiet", "run", "customers")
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 1
    assert result.stdout.startswith("customers: 1,000 read, 1,000 inserted, 0 updated")
    assert result.stderr == ""


def test_the_default_output_ends_with_the_table(cli_project: Path) -> None:
    result = invoke("plan", "customers")
    assert result.exit_code == 0, result.output
    assert table_rows(result.stdout)["customers"]["inserted"] == 1000
    assert "dry run: nothing written" in result.stdout


def test_verbose_and_quiet_together_is_a_usage_error(cli_project: Path) -> None:
    result = invoke("-v", "--quiet", "run", "customers")
    assert result.exit_code == EXIT_USAGE
    assert "-v and --quiet" in result.output


def test_json_logs_name_the_run_job_app_and_kintone_error_id(
    cli_project: Path, emulator: tuple[int, Starlette]
) -> None:
    _, app = emulator
    # The first bulkRequest answers 503 with a Kintone body once: the client logs its retry.
    app.state.emulator.api.faults.add(
        FaultRule(path="bulkRequest.json", status=503, code="GAIA_DA02", times=1)
    )
    result = invoke("--log-format", "json", "-v", "run", "customers", "--output", "json")
    assert result.exit_code == 0, result.output
    run_id = json.loads(result.stdout)["run_id"]
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    assert lines, "no log lines"
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    retry = next(line for line in lines if line["message"].startswith("retrying"))
    assert retry["level"] == "warning"
    assert (retry["run_id"], retry["job"], retry["app"]) == (run_id, "customers", 1)
    assert retry["error_id"]
    assert retry["error_id"] in retry["message"]
    batch = next(line for line in lines if "rows read" in line["message"])
    assert (batch["run_id"], batch["job"]) == (run_id, "customers")
    assert TOKEN not in result.stderr + result.stdout


def test_a_secret_in_a_log_line_is_masked() -> None:
    """A defence behind the rule that no message holds one: what the environment gave as a
    credential, or a URL password, never reaches a log line."""
    redact("CANARY-5e1f-token")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.cli_display.canary")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with bound(job="customers", run_id=7):
            logger.warning(
                "header X-Cybozu-API-Token: %s; source %s",
                "CANARY-5e1f-token",
                "postgresql://etl:CANARY-pw@db/analytics",
            )
    finally:
        logger.removeHandler(handler)
    line: dict[str, Any] = json.loads(stream.getvalue())
    assert "CANARY" not in stream.getvalue()
    assert (line["job"], line["run_id"]) == ("customers", 7)
    assert "X-Cybozu-API-Token: ***" in line["message"]
