"""kintone-sync: warehouse rows into Kintone apps, by one mapping file per table."""

from connector.job import SyncReport, check, sync

__all__ = ["SyncReport", "check", "sync"]
