"""Alerts: a chat webhook told when a run fails or refuses rows; a failed alert is only logged."""

from __future__ import annotations

import logging
from collections.abc import Mapping

import httpx

from connector.config import AlertsConfig, ProjectConfig, secret
from connector.errors import ConfigError
from connector.jobs import Outcome
from connector.source import mask_password

log = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5.0
"""An alert must not hold up the next run for long."""
SHOWN_REFUSALS = 5
MAX_TEXT = 3000
"""Kept under the 4,000 characters Slack shows of a message's text."""


class _HideWebhooks(logging.Filter):
    """Drops httpx's own line about a request to a webhook: it holds the URL, a secret."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(str(arg) in self.urls for arg in args)


_HIDDEN = _HideWebhooks()
logging.getLogger("httpx").addFilter(_HIDDEN)


def alerts_for(project: ProjectConfig, job: str) -> AlertsConfig | None:
    """The job's own alerts, else the project's."""
    settings = project.jobs.get(job)
    if settings is not None and settings.alerts is not None:
        return settings.alerts
    return project.alerts


def message(outcome: Outcome) -> dict[str, str] | None:
    """The body to post for an outcome, or None when it needs no alert.

    `{"text": ...}` is what Slack and Teams incoming webhooks both take.
    """
    report = outcome.report
    if outcome.status == "failed":
        what = f"{type(outcome.error).__name__}: {outcome.error}" if outcome.error else "failed"
        text = f"kintone-sync: job {outcome.job} failed: {mask_password(what)}"
    elif outcome.status == "refused" and report is not None:
        text = f"kintone-sync: job {outcome.job} refused {report.refused:,} row(s)"
    else:
        return None
    if report is not None:
        text += (
            f" (run {report.run_id}, app {report.app}): read {report.rows_read:,}, "
            f"inserted {report.inserted:,}, updated {report.updated:,}, "
            f"unchanged {report.unchanged:,}, refused {report.refused:,}, "
            f"deleted {report.deleted:,}"
        )
        for r in report.refusals[:SHOWN_REFUSALS]:
            where = f" field {r.field}" if r.field else ""
            said = " ".join(r.message.split())  # a value's line breaks stay inside its line
            text += f"\n- row {r.key}{where}: {said} [{r.code}]"
        if len(report.refusals) > SHOWN_REFUSALS:
            more = len(report.refusals) - SHOWN_REFUSALS
            text += f"\n- ... and {more} more: kintone-sync rejects {outcome.job}"
    return {"text": text[:MAX_TEXT]}


def notify(
    project: ProjectConfig,
    outcome: Outcome,
    *,
    http: httpx.Client | None = None,
    env: Mapping[str, str] | None = None,
) -> bool:
    """Post the outcome's alert, if it needs one and alerts are set; whether one was sent.

    Never raises: a webhook that is down must not fail the run. The URL is a secret, so no
    log line holds it (nor httpx's own messages, which quote it).
    """
    settings = alerts_for(project, outcome.job)
    body = message(outcome)
    if settings is None or body is None:
        return False
    name = settings.webhook_url_env
    try:
        url = secret(name, env)
    except ConfigError as exc:
        log.warning("alert for job %s not sent: %s", outcome.job, exc)
        return False
    client = http or httpx.Client(timeout=TIMEOUT_SECONDS)
    try:
        _HIDDEN.urls.add(str(httpx.URL(url)))
        answer = client.post(url, json=body, timeout=TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - an alert never fails the run
        log.warning(
            "alert for job %s not sent: %s posting to the webhook in %s",
            outcome.job,
            type(exc).__name__,
            name,
        )
        return False
    finally:
        if http is None:
            client.close()
    if answer.is_error:
        log.warning(
            "alert for job %s not sent: the webhook in %s answered %d",
            outcome.job,
            name,
            answer.status_code,
        )
        return False
    log.info("alert for job %s sent (%s)", outcome.job, outcome.status)
    return True
