"""Fixtures: the sample warehouse, project and emulator of tests/sync, shared."""

from __future__ import annotations

from tests.sync.conftest import (  # noqa: F401  (fixtures, registered by import)
    kintone,
    project,
    project_dir,
    sample_seed,
    sample_warehouse,
)
