"""Alerts: what is posted, when, where; a webhook that fails is logged, its URL never is."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest

from connector.alerts import TIMEOUT_SECONDS, message, notify
from connector.config import load_project
from connector.errors import KintoneError
from connector.jobs import Outcome
from connector.mapping.mapper import Refusal, RowKey
from connector.report import SyncReport

from .conftest import make_project

HOOK = "https://hooks.slack.example/services/T000/B000/very-secret-path"
JOB_HOOK = "https://teams.example/webhook/also-secret"
ENV = {"TEAM_HOOK": HOOK, "ORDERS_HOOK": JOB_HOOK}


def refused_report(rows: int) -> SyncReport:
    report = SyncReport("customers", 1, "upsert", run_id=17, rows_read=1000, inserted=990)
    report.refusals = [
        Refusal(RowKey.of([f"C-{i:04d}"]), "credit_limit", "NEGATIVE", "below 0:\nfix it")
        for i in range(rows)
    ]
    return report


class Receiver:
    """A webhook on an httpx MockTransport: keeps each request, answers `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.requests: list[httpx.Request] = []
        self.client = httpx.Client(transport=httpx.MockTransport(self.answer))

    def answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.status, text="ok")

    @property
    def bodies(self) -> list[dict[str, str]]:
        return [json.loads(r.content) for r in self.requests]


@pytest.fixture
def project_file(tmp_path: Path) -> Path:
    path = make_project(tmp_path, {"orders": {"alerts": {"webhook_url_env": "ORDERS_HOOK"}}})
    text = path.read_text() + "alerts:\n  webhook_url_env: TEAM_HOOK\n"
    path.write_text(text)
    return path


def test_refused_rows_post_job_status_counts_run_id_and_the_first_refusals(
    project_file: Path,
) -> None:
    hook = Receiver()
    outcome = Outcome("customers", "refused", report=refused_report(7))
    assert notify(load_project(project_file), outcome, http=hook.client, env=ENV)
    (request,) = hook.requests
    assert str(request.url) == HOOK
    assert request.headers["content-type"] == "application/json"
    assert request.extensions["timeout"]["read"] == TIMEOUT_SECONDS
    (body,) = hook.bodies
    assert list(body) == ["text"]
    lines = body["text"].splitlines()
    assert lines[0] == (
        "kintone-sync: job customers refused 7 row(s) (run 17, app 1): read 1,000, "
        "inserted 990, updated 0, unchanged 0, refused 7, deleted 0"
    )
    assert lines[1] == "- row C-0000 field credit_limit: below 0: fix it [NEGATIVE]"
    assert len(lines) == 7
    assert lines[-1] == "- ... and 2 more: kintone-sync rejects customers"


def test_a_failure_posts_the_error_and_a_job_uses_its_own_webhook(project_file: Path) -> None:
    hook = Receiver()
    error = KintoneError("Kintone is down", status=503, code="GAIA_UN03", app=2)
    notify(
        load_project(project_file),
        Outcome("orders", "failed", error=error),
        http=hook.client,
        env=ENV,
    )
    assert [str(r.url) for r in hook.requests] == [JOB_HOOK]
    assert hook.bodies[0]["text"] == (
        "kintone-sync: job orders failed: KintoneError: app 2: Kintone is down [503 GAIA_UN03]"
    )


@pytest.mark.parametrize("status", ["succeeded", "skipped", "stopped"])
def test_runs_that_went_well_or_never_started_post_nothing(project_file: Path, status: str) -> None:
    hook = Receiver()
    outcome = Outcome("customers", status, report=SyncReport("customers", 1, "upsert"))  # type: ignore[arg-type]
    assert message(outcome) is None
    assert not notify(load_project(project_file), outcome, http=hook.client, env=ENV)
    assert hook.requests == []


def test_no_alerts_configured_posts_nothing(tmp_path: Path) -> None:
    hook = Receiver()
    project = load_project(make_project(tmp_path, {}))
    outcome = Outcome("customers", "refused", report=refused_report(1))
    assert not notify(project, outcome, http=hook.client, env=ENV)
    assert hook.requests == []


@pytest.mark.parametrize(
    ("receiver", "env", "logged"),
    [
        (
            Receiver(500),
            ENV,
            "alert for job customers not sent: the webhook in TEAM_HOOK answered 500",
        ),
        (
            None,
            ENV,
            "alert for job customers not sent: ConnectError posting to the webhook in TEAM_HOOK",
        ),
        (
            Receiver(),
            {},
            "alert for job customers not sent: environment variable TEAM_HOOK is not set",
        ),
    ],
)
def test_a_webhook_that_fails_is_logged_without_its_url_and_never_raises(
    project_file: Path,
    caplog: pytest.LogCaptureFixture,
    receiver: Receiver | None,
    env: dict[str, str],
    logged: str,
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot connect to {request.url}", request=request)

    http = receiver.client if receiver else httpx.Client(transport=httpx.MockTransport(refuse))
    outcome = Outcome("customers", "refused", report=refused_report(1))
    with caplog.at_level(logging.DEBUG):
        assert not notify(load_project(project_file), outcome, http=http, env=env)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert logged in text
    assert "very-secret-path" not in text
