"""A local Kintone: the REST API, bulkRequest, cursors, files, auth and the User API, in memory."""

from .app import create_app
from .faults import FaultRule
from .seed import Options, Seed, load_seed

__all__ = ["FaultRule", "Options", "Seed", "create_app", "load_seed"]
