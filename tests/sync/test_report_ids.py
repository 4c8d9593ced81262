"""The report keeps a bounded sample of record ids, however many rows a run writes."""

from __future__ import annotations

from connector.kintone.writer import WriteResult
from connector.mapping.mapper import RowKey
from connector.report import RECORD_IDS_KEPT, SyncReport
from connector.runner import _count


def test_record_ids_stop_at_the_cap_and_count_the_rest() -> None:
    report = SyncReport(job="customers", app=1, mode="upsert")
    first = WriteResult(inserted=[(RowKey.of([f"C-{i}"]), i) for i in range(RECORD_IDS_KEPT - 1)])
    _count(report, first, dry_run=False)
    second = WriteResult(
        inserted=[(RowKey.of(["new-1"]), 90_001), (RowKey.of(["new-2"]), 90_002)],
        updated=[(RowKey.of(["C-0"]), 7), (RowKey.of(["old"]), 90_003)],
    )
    _count(report, second, dry_run=False)
    assert len(report.record_ids) == RECORD_IDS_KEPT
    assert report.record_ids[("new-1",)] == 90_001
    assert report.record_ids[("C-0",)] == 7  # a kept key keeps its latest record id
    assert ("new-2",) not in report.record_ids
    assert ("old",) not in report.record_ids
    assert report.record_ids_left_out == 2
    assert (report.inserted, report.updated) == (RECORD_IDS_KEPT + 1, 2)


def test_a_dry_run_keeps_no_record_ids() -> None:
    report = SyncReport(job="customers", app=1, mode="upsert", dry_run=True)
    _count(report, WriteResult(inserted=[(RowKey.of(["C-1"]), 1)]), dry_run=True)
    assert (report.record_ids, report.record_ids_left_out, report.inserted) == ({}, 0, 1)
