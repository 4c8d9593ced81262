"""The published JSON Schema accepts every mapping file the loader accepts, and is current."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from connector.mapping.spec import MappingSpec, json_schema

from .conftest import REPO, invoke

PUBLISHED = REPO / "docs" / "mapping.schema.json"


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _doc_mappings() -> list[Any]:
    """Every fenced YAML block in the docs that is a whole mapping file (has a source, and an
    app or a USER table)."""
    found = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for block in re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
            data = yaml.safe_load(block)
            if isinstance(data, dict) and "source" in data and data.keys() & {"app", "user_table"}:
                found.append(pytest.param(data, id=f"{path.name}:{list(data)[0]}"))
    return found


SHIPPED = [
    pytest.param(yaml.safe_load(p.read_text(encoding="utf-8")), id=str(p.relative_to(REPO)))
    for p in sorted((REPO / "mappings").glob("*.yaml"))
    + sorted((REPO / "connector" / "samples").glob("*.yaml"))
    + sorted((REPO / "docs" / "examples").glob("*/mappings/*.yaml"))
    if "seed" not in p.name
]


def test_the_published_schema_is_current() -> None:
    published = json.loads(PUBLISHED.read_text(encoding="utf-8"))
    assert published == json_schema(), "run: kintone-sync schema > docs/mapping.schema.json"


def test_docs_hold_a_whole_mapping_file() -> None:
    assert len(_doc_mappings()) >= 2, "docs/mappings.md and docs/user-schema.md hold examples"


@pytest.mark.parametrize("mapping", SHIPPED + _doc_mappings())
def test_every_shipped_mapping_loads_and_matches_the_schema(mapping: dict[str, Any]) -> None:
    MappingSpec.model_validate(mapping)
    _validator().validate(mapping)


def test_init_output_matches_the_schema(project_dir: Path) -> None:
    result = invoke("init", "fresh", "--app", "CUST", "--table", "customers")
    assert result.exit_code == 0, result.output
    mapping = yaml.safe_load((project_dir / "mappings" / "fresh.yaml").read_text())
    assert mapping["fields"]["email"] == "email"  # the shorthand the schema used to refuse
    _validator().validate(mapping)


@pytest.mark.parametrize(
    ("fields", "valid"),
    [
        ({"email": "email"}, True),
        ({"email": {"column": "email"}}, True),
        ({"email": {"template": "{a} {b}"}}, True),
        ({"email": 42}, False),
        ({"email": ["email"]}, False),
        ({"email": {"colum": "email"}}, False),
    ],
)
def test_schema_and_loader_agree_on_field_forms(fields: dict[str, Any], valid: bool) -> None:
    mapping = {"app": 1, "source": {"table": "t", "primary_key": ["id"]}, "mode": "insert"}
    for where in ("fields", "subtable"):
        data = dict(mapping, fields=fields)
        if where == "subtable":
            child = {"source": {"table": "c", "parent_key": ["id"]}, "fields": fields}
            data = dict(mapping, fields={"x": "x"}, subtables={"items": child})
        errors = list(_validator().iter_errors(data))
        assert (errors == []) is valid, errors
        try:
            MappingSpec.model_validate(data)
            loads = True
        except ValueError:
            loads = False
        assert loads is valid
