"""kintone-sync: warehouse rows into Kintone apps, by one mapping file per table."""

from connector.config import load_project
from connector.frame import sync_frame
from connector.job import check
from connector.report import SyncReport
from connector.runner import sync

__all__ = ["SyncReport", "check", "load_project", "sync", "sync_frame"]
