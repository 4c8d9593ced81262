"""Pre-flight: every mismatch between mapping, app and source listed before anything is written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.config import ProjectConfig
from connector.errors import ConfigError, PreflightError
from connector.runner import sync

from .conftest import emulator_client, stats, write_mapping

PROPERTIES: dict[str, dict[str, Any]] = {
    "code": {"type": "SINGLE_LINE_TEXT", "code": "code", "required": True, "unique": True},
    "plain": {"type": "SINGLE_LINE_TEXT", "code": "plain", "required": True},
    "day": {"type": "DATE", "code": "day", "unique": True},
    "total": {"type": "CALC", "code": "total", "expression": "1"},
    "Created_by": {"type": "CREATOR", "code": "Created_by"},
    "Record_number": {"type": "RECORD_NUMBER", "code": "Record_number"},
    "kind": {
        "type": "DROP_DOWN",
        "code": "kind",
        "options": {"a": {"label": "a", "index": "0"}, "b": {"label": "b", "index": "1"}},
    },
    "sku": {
        "type": "SINGLE_LINE_TEXT",
        "code": "sku",
        "lookup": {
            "relatedApp": {"app": "1"},
            "relatedKeyField": "code",
            "fieldMappings": [{"field": "sku_name", "relatedField": "plain"}],
        },
    },
    "sku_name": {"type": "SINGLE_LINE_TEXT", "code": "sku_name"},
    "lines": {
        "type": "SUBTABLE",
        "code": "lines",
        "fields": {
            "item": {"type": "SINGLE_LINE_TEXT", "code": "item", "required": True},
            "qty": {"type": "NUMBER", "code": "qty"},
        },
    },
}


@pytest.fixture
def app_client(sample_seed: Any) -> TestClient:
    seed = sample_seed.model_copy(
        update={
            "apps": [
                sample_seed.apps[0].model_copy(
                    update={"id": 9, "code": "", "properties": PROPERTIES, "records": []}
                )
            ]
        }
    )
    return emulator_client(seed)


def mapping(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "app": 9,
        "source": {"table": "customers", "primary_key": ["customer_id"]},
        "mode": "upsert",
        "key": "code",
        "fields": {"code": "customer_id", "plain": "full_name"},
    }
    base.update(changes)
    return base


def problems(project: ProjectConfig, app_client: TestClient, project_dir: Path, **m: Any) -> str:
    write_mapping(project_dir, "job", mapping(**m))
    with app_client, pytest.raises(PreflightError) as caught:
        sync(project, "job", http=app_client)
    writes = [k for k in stats(app_client)["endpoints"] if "bulkRequest" in k or "records" in k]
    assert writes == []  # nothing was written, not even tried
    return str(caught.value)


def test_a_good_mapping_passes(
    project: ProjectConfig, app_client: TestClient, project_dir: Path
) -> None:
    write_mapping(project_dir, "job", mapping())
    with app_client:
        report = sync(project, "job", http=app_client)
    assert report.inserted == 1000


def test_every_field_problem_is_listed_at_once(
    project: ProjectConfig, app_client: TestClient, project_dir: Path
) -> None:
    fields = {
        "code": "customer_id",
        "plain": "full_name",
        "ghost": "email",
        "total": "credit_limit",
        "Record_number": "customer_id",
        "Created_by": "email",
        "sku_name": "full_name",
        "kind": {"value": "z"},
        "item": "email",
        "lines": "email",
        "day": "no_such_column",
    }
    text = problems(project, app_client, project_dir, fields=fields)
    assert "fields.ghost: the app has no field 'ghost'" in text
    assert "fields.total: cannot be written: a CALC field is computed" in text
    assert "fields.Record_number: cannot be written: Kintone numbers records itself" in text
    assert "fields.Created_by: CREATOR can be set when a record is added, never on update" in text
    assert "fields.sku_name: filled by a lookup from another app" in text
    assert "fields.kind: z is not an option of 'kind' (options: a, b)" in text
    assert "fields.item: 'item' sits in table 'lines'; map it under subtables" in text
    assert "fields.lines: 'lines' is a SUBTABLE" in text
    assert "fields.day: the source has no column 'no_such_column'" in text
    assert text.count("\n  - ") == 9


def test_key_must_be_unique_text_or_number(
    project: ProjectConfig, app_client: TestClient, project_dir: Path
) -> None:
    fields = {"code": "customer_id", "plain": "full_name", "day": "signed_up"}
    text = problems(project, app_client, project_dir, key="plain", fields=fields)
    assert "key: 'plain' does not prohibit duplicate values" in text
    text = problems(project, app_client, project_dir, key="day", fields=fields)
    assert "key: 'day' is DATE; update and upsert match on a SINGLE_LINE_TEXT or NUMBER" in text


def test_required_fields_must_be_mapped_for_inserts(
    project: ProjectConfig, app_client: TestClient, project_dir: Path
) -> None:
    text = problems(project, app_client, project_dir, fields={"code": "customer_id"})
    assert "required field(s) plain are not mapped" in text
    # Update mode never adds records, so it may leave required fields alone.
    write_mapping(project_dir, "job", mapping(mode="update", fields={"code": "customer_id"}))
    with app_client:
        report = sync(project, "job", http=app_client)
    assert report.refused == 1000  # nothing to update, each row reported


def test_subtable_problems(
    project: ProjectConfig, app_client: TestClient, project_dir: Path
) -> None:
    subtables = {
        "lines": {
            "source": {"table": "orders", "parent_key": ["customer_id"], "order_by": ["nope"]},
            "fields": {"qty": "amount", "stray": "amount"},
        },
        "notatable": {
            "source": {"table": "orders", "parent_key": ["customer_id"]},
            "fields": {"x": "amount"},
        },
    }
    text = problems(project, app_client, project_dir, subtables=subtables)
    assert "subtables.lines.source: the lines rows has no column 'nope'" in text
    assert "subtables.lines.fields.stray: table 'lines' has no field 'stray'" in text
    assert "subtables.lines: required field(s) item of the table are not mapped" in text
    assert "subtables.notatable: the app has no SUBTABLE 'notatable'" in text


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"app": "FieldPermissionsEntities"}, "holds Kintone's permission, automation"),
        ({"app": "ActionSettingsMappings"}, "kintone-sync writes only to apps of user-entered"),
        ({"mode": "merge"}, "mode: Input should be 'insert', 'update' or 'upsert'"),
        ({"key": None}, "mode upsert needs key"),
        ({"fieldz": {}}, "fieldz: unknown key"),
        ({"key": "$id"}, "key '$id' must be one of the mapped fields"),
    ],
)
def test_mapping_file_errors_name_the_file_and_key(
    project: ProjectConfig, project_dir: Path, change: dict[str, Any], message: str
) -> None:
    write_mapping(project_dir, "bad", mapping(**change))
    with pytest.raises(ConfigError) as caught:
        project.mapping("bad")
    assert str(project_dir / "mappings" / "bad.yaml") in str(caught.value)
    assert message in str(caught.value)


def test_unknown_job_lists_the_jobs(project: ProjectConfig) -> None:
    with pytest.raises(ConfigError) as caught:
        project.mapping("custmers")
    assert "no job named custmers; jobs are: customers" in str(caught.value)
