"""Fixtures of the run tests; the helpers they share are in harness.py."""

from __future__ import annotations

import pytest

from connector.emulator import Seed

from .harness import sample_seed


@pytest.fixture(scope="session")
def seed() -> Seed:
    """The sample seed: app 1 (CUST) with the orders subtable, token sample-token."""
    return sample_seed()
