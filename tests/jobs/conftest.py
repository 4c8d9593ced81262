"""A project directory with several mapping files, for the jobs section and many-job runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

BASE = {
    "source": {"url": "duckdb:///warehouse.duckdb"},
    "connections": {
        "default": {"base_url": "https://example.cybozu.com", "auth": {"api_token_env": "T"}}
    },
}


def make_project(root: Path, jobs: Any, names: tuple[str, ...] = ("customers", "orders")) -> Path:
    """A project file with a `jobs:` section and empty mapping files for `names`."""
    (root / "mappings").mkdir(exist_ok=True)
    for name in names:
        (root / "mappings" / f"{name}.yaml").write_text("app: 1\n", encoding="utf-8")
    path = root / "kintone-sync.yaml"
    path.write_text(yaml.safe_dump({**BASE, "jobs": jobs}, sort_keys=False), encoding="utf-8")
    return path
