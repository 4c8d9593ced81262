"""The app compared with the state and the source: missing records, unmapped records, drift."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from connector.config import ProjectConfig
from connector.drift import drifted
from connector.job import Job, make_mapper, open_job
from connector.kintone.payload import merge_tables
from connector.mapping.mapper import Outgoing
from connector.mapping.spec import RECORD_ID
from connector.report import destination
from connector.runner import rows_of, target_of
from connector.state import Scope, StateStore
from connector.userapi.client import UserApiClient
from connector.userapi.verify import drift, stored_entries

_BATCH = 2000
SHOWN = 20
"""Rows listed per kind in the text output; JSON lists them all."""


@dataclass
class VerifyReport:
    """What `kintone-sync verify` found, and what `--repair` marked to be sent again."""

    job: str
    app: int | str
    rows: int = 0
    records: int = 0
    missing: list[str] = field(default_factory=list)
    """Rows whose record (as the state knows it) is not in the app: deleted by hand."""
    drifted: dict[str, list[str]] = field(default_factory=dict)
    """Row -> field codes whose values in the app differ from what the row would write."""
    unmapped: list[int] = field(default_factory=list)
    """Records in the app that no source row maps to."""
    unmapped_ours: list[int] = field(default_factory=list)
    """Of those, the ones this job wrote (deleted by a run under on_delete: delete)."""
    unsynced: int = 0
    """Rows with no record yet (new, or refused): a run sends them."""
    marked: int = 0
    """Rows `--repair` marked to be sent again."""

    @property
    def clean(self) -> bool:
        return not (self.missing or self.drifted or self.unmapped_ours)

    def as_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "app": self.app,
            "rows": self.rows,
            "records": self.records,
            "missing": self.missing,
            "drifted": self.drifted,
            "unmapped": self.unmapped,
            "unmapped_ours": self.unmapped_ours,
            "unsynced": self.unsynced,
            "marked": self.marked,
            "clean": self.clean,
        }


def verify(
    project: ProjectConfig,
    name: str,
    *,
    repair: bool = False,
    http: httpx.Client | None = None,
    engine: Engine | None = None,
    env: Mapping[str, str] | None = None,
    state: StateStore | None = None,
) -> VerifyReport:
    """Read the app's mapped fields and compare every record with the state and the source.

    With `repair`, the rows whose records are missing or drifted are marked in the state so
    that the next run (`kintone-sync run`, or the run `--repair` starts) sends exactly them.

    Raises:
        ConfigError, SourceError, PreflightError, KintoneError, StateError: as a run would.
    """
    job = open_job(project, name, http=http, engine=engine, env=env)
    own_state = state is None
    store = state or StateStore.open(project.state.url, project.root)
    try:
        return _Verify(job, store, Scope(name, target_of(project, job)), project).run(repair)
    finally:
        job.close()
        if own_state:
            store.close()


class _Verify:
    def __init__(self, job: Job, store: StateStore, scope: Scope, project: ProjectConfig) -> None:
        self.job, self.store, self.scope = job, store, scope
        self.mapper = make_mapper(job, project.root)
        self.report = VerifyReport(job.name, job.app)

    def run(self, repair: bool) -> VerifyReport:
        job, report = self.job, self.report
        records = self._records()
        report.records = len(records)
        mapped: set[int] = set()
        stale: list[str] = []
        gone: list[str] = []
        batch: list[Outgoing] = []
        for row, children in rows_of(job.source, job.children):
            out = self.mapper.map(row, children)
            report.rows += 1
            if not isinstance(out, list):
                batch.append(out)
            if len(batch) >= _BATCH:
                self._compare(batch, records, mapped, stale, gone)
                batch = []
        self._compare(batch, records, mapped, stale, gone)
        ours = set(self.store.rows.record_ids(self.scope))
        for record_id in sorted(set(records) - mapped):
            report.unmapped.append(record_id)
            if record_id in ours:
                report.unmapped_ours.append(record_id)
        if repair:
            self.store.rows.unlink(self.scope, gone)
            self.store.rows.invalidate(self.scope, stale)
            report.marked = len(gone) + len(stale)
        return report

    def _records(self) -> dict[int, Mapping[str, Any]]:
        job, spec = self.job, self.job.spec
        if isinstance(job.client, UserApiClient) and spec.user_table is not None:
            known = self.store.rows.record_ids(self.scope)
            return dict(stored_entries(job.client, spec.user_table, known))
        assert isinstance(job.app, int)
        codes = [c for c in [*spec.fields, *spec.subtables] if c != RECORD_ID]
        return {int(r["$id"]["value"]): r for r in job.client.select(job.app, None, codes)}

    def _compare(
        self,
        batch: list[Outgoing],
        records: Mapping[int, Mapping[str, Any]],
        mapped: set[int],
        stale: list[str],
        gone: list[str],
    ) -> None:
        report = self.report
        known = self.store.rows.get(self.scope, [o.key.id for o in batch])
        for out in batch:
            if self.job.spec.key == RECORD_ID:
                record_id = int(out.key_value) if out.key_value is not None else None
            else:
                state = known.get(out.key.id)
                record_id = state.record_id if state is not None else None
            if record_id is None:
                report.unsynced += 1
                continue
            mapped.add(record_id)
            found = records.get(record_id)
            if found is None:
                report.missing.append(str(out.key))
                gone.append(out.key.id)
                continue
            differ = self._drift(out, found)
            if differ:
                report.drifted[str(out.key)] = differ
                stale.append(out.key.id)

    def _drift(self, out: Outgoing, found: Mapping[str, Any]) -> list[str]:
        if self.job.spec.user_table is not None:
            return drift(self.job.spec.user_table, out, found)
        sent = dict(merge_tables(out, found).record if out.merge_tables else out.record)
        key = self.job.spec.key
        if key is not None and key != RECORD_ID:
            sent[key] = {"value": out.key_value}
        return drifted(self.job.form, sent, found, merge_tables=out.merge_tables)


def describe(report: VerifyReport) -> str:
    """The text summary `kintone-sync verify` prints."""
    lines = [
        f"{report.job} -> {destination(report.app)}: "
        f"{report.rows:,} rows, {report.records:,} records",
        f"  missing     {len(report.missing):>9,}  (deleted in the app; a run sends them again)",
        f"  drifted     {len(report.drifted):>9,}  (edited in the app)",
        f"  unmapped    {len(report.unmapped):>9,}  (no row maps to them; "
        f"{len(report.unmapped_ours):,} written by this job)",
        f"  unsynced    {report.unsynced:>9,}  (no record yet: new or refused rows)",
    ]
    lines += [f"  missing row {key}" for key in report.missing[:SHOWN]]
    for key, codes in list(report.drifted.items())[:SHOWN]:
        lines.append(f"  drifted row {key}: {', '.join(codes)}")
    if report.marked:
        lines.append(f"  {report.marked:,} row(s) marked to be sent again")
    elif not report.clean:
        lines.append("  run `kintone-sync verify JOB --repair` to send them again")
    return "\n".join(lines)
