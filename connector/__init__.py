"""kintone-sync: warehouse rows into Kintone apps, by one mapping file per table."""

from connector.job import check
from connector.runner import SyncReport, sync

__all__ = ["SyncReport", "check", "sync"]
