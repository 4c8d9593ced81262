"""The sample project and the in-process emulator, as the sync tests have them."""

from tests.sync.conftest import (  # noqa: F401  (fixtures)
    kintone,
    project,
    project_dir,
    sample_seed,
    sample_warehouse,
)
