"""The project file's `jobs:` and `alerts:`: names, needs, cycles, cron and time zones checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connector.config import load_project
from connector.errors import ConfigError

from .conftest import make_project


def test_jobs_section_is_read(tmp_path: Path) -> None:
    path = make_project(
        tmp_path,
        {
            "orders": {
                "needs": ["customers"],
                "schedule": "*/15 8-20 * * 1-5",
                "timezone": "Asia/Tokyo",
                "alerts": {"webhook_url_env": "ORDERS_HOOK"},
            },
            "customers": {"schedule": "0 2 * * *"},
        },
    )
    project = load_project(path)
    assert project.jobs["orders"].needs == ["customers"]
    assert project.jobs["orders"].timezone == "Asia/Tokyo"
    assert project.jobs["customers"].timezone == "UTC"
    assert project.jobs["orders"].alerts is not None
    assert project.job_names() == ["customers", "orders"]


def test_no_jobs_section_is_fine(tmp_path: Path) -> None:
    path = make_project(tmp_path, {})
    assert load_project(path).jobs == {}


@pytest.mark.parametrize(
    ("jobs", "expected"),
    [
        (
            {"orders": {"needs": ["custmers"]}},
            "line 11, jobs.orders.needs.0: needs job 'custmers', which has no mapping file "
            "(jobs: customers, orders)",
        ),
        (
            {"invoices": {"needs": []}},
            "line 9, jobs.invoices: job 'invoices' has no mapping file in mappings/ "
            "(jobs: customers, orders)",
        ),
        (
            {"orders": {"needs": ["orders"]}},
            "line 10, jobs.orders.needs: job 'orders' needs itself; remove it from its needs",
        ),
        (
            {"orders": {"needs": ["customers"]}, "customers": {"needs": ["orders"]}},
            "jobs.customers.needs: needs go round in a cycle: customers -> orders -> customers; "
            "remove one of these needs",
        ),
        (
            {"orders": {"schedule": "61 * * * *"}},
            "line 10, jobs.orders.schedule: '61 * * * *' is not a cron expression (Bad minute); "
            "write five fields",
        ),
        (
            {"orders": {"schedule": "every day"}},
            "jobs.orders.schedule: 'every day' is not a cron expression",
        ),
        (
            {"orders": {"timezone": "Tokyo"}},
            "line 10, jobs.orders.timezone: unknown time zone 'Tokyo'; use an IANA name such as "
            "Asia/Tokyo or UTC",
        ),
        (
            {"orders": {"shedule": "0 2 * * *"}},
            "jobs.orders.shedule: unknown key",
        ),
        (
            {"orders": {"alerts": {"webhook_url": "https://hooks.slack.com/x"}}},
            "jobs.orders.alerts.webhook_url: unknown key",
        ),
    ],
)
def test_mistakes_name_the_file_line_and_key(tmp_path: Path, jobs: Any, expected: str) -> None:
    path = make_project(tmp_path, jobs)
    with pytest.raises(ConfigError) as caught:
        load_project(path)
    assert str(caught.value).startswith(f"{path}: "), caught.value
    assert expected in str(caught.value)


def test_the_jobs_section_in_the_docs_loads(tmp_path: Path) -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "scheduling.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = make_project(tmp_path, {})
    path.write_text(path.read_text().replace("jobs: {}\n", block))
    project = load_project(path)
    assert project.jobs["orders"].needs == ["customers"]
    assert project.alerts is not None
    assert project.alerts.webhook_url_env == "TEAM_WEBHOOK_URL"


def test_validate_lists_every_jobs_problem_at_once(tmp_path: Path) -> None:
    from connector.validate import validate

    path = make_project(
        tmp_path,
        {"orders": {"needs": ["custmers", "invoices"]}, "ghost": {"schedule": "0 2 * * *"}},
    )
    found = [p.where_and_what() for p in validate(path).problems if p.file == str(path)]
    assert found == [
        "line 11, jobs.orders.needs.0: needs job 'custmers', which has no mapping file "
        "(jobs: customers, orders)",
        "line 12, jobs.orders.needs.1: needs job 'invoices', which has no mapping file "
        "(jobs: customers, orders)",
        "line 13, jobs.ghost: job 'ghost' has no mapping file in mappings/ "
        "(jobs: customers, orders)",
    ]
