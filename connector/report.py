"""The report of a run: rows read, written, unchanged, refused and deleted, calls, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.diff import Conflict
from connector.mapping.mapper import Refusal

RECORD_IDS_KEPT = 10_000
"""Record ids a report holds: about 100 bytes each, so a million-row run would hold 100 MB."""


@dataclass
class SyncReport:
    """What a run did, row by row where it matters."""

    job: str
    app: int | str
    mode: str
    dry_run: bool = False
    run_id: int | None = None
    rows_read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    linked: int = 0
    """Records found in the app by key and linked to their rows instead of being inserted."""
    recreated: int = 0
    """Records the state knew that were gone from the app (deleted by hand), sent again."""
    refusals: list[Refusal] = field(default_factory=list)
    conflicts: list[Conflict] = field(default_factory=list)
    """Records changed in Kintone since the job last wrote them, which the run would change:
    overwritten, skipped or stopping the run, as on_conflict says."""
    record_ids: dict[tuple[Any, ...], int] = field(default_factory=dict)
    """Source primary key -> Kintone record id, for the first `RECORD_IDS_KEPT` rows written
    (the state store keeps every one); `record_ids_left_out` counts the others."""
    record_ids_left_out: int = 0
    api_calls: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """The error that ended the run, with Kintone's error id when there was one."""
    stopped: bool = False
    """Asked to stop, the run ended at a batch boundary; the next run carries on."""
    skimmed: int = 0
    """Of the unchanged rows, those found unchanged by their warehouse digest: not mapped."""
    rows_expected: int | None = None
    """About how many rows the run will read, for a progress display; None when unknown (an
    incremental read). Not part of `as_dict`: an estimate, not a result."""

    @property
    def refused(self) -> int:
        """Rows refused (a row refused for two fields counts once)."""
        return len({r.key for r in self.refusals})

    @property
    def calls(self) -> int:
        return sum(self.api_calls.values())

    def as_dict(self, *, refusals: bool = True) -> dict[str, Any]:
        """The report for JSON output; the run history leaves `refusals` out, since the
        rejects table keeps each refused row."""
        out: dict[str, Any] = {
            "job": self.job,
            "app": self.app,
            "mode": self.mode,
            "dry_run": self.dry_run,
            "run_id": self.run_id,
            "rows_read": self.rows_read,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "unchanged_by_digest": self.skimmed,
            "refused": self.refused,
            "deleted": self.deleted,
            "linked": self.linked,
            "recreated": self.recreated,
            "conflicts": [c.as_dict() for c in self.conflicts],
            "api_calls": self.calls,
            "api_calls_by_endpoint": dict(self.api_calls),
            "retries": self.retries,
            "seconds": round(self.seconds, 3),
            "warnings": list(self.warnings),
            "errors": list(self.errors),
            "stopped": self.stopped,
        }
        if refusals:
            out["refusals"] = [
                {
                    "key": list(r.key.values),
                    "field": r.field,
                    "code": r.code,
                    "message": r.message,
                    "error_id": r.error_id,
                }
                for r in self.refusals
            ]
        return out


def destination(app: int | str) -> str:
    """Where a job writes, for people: `app 12`, or `cybozu.com users` for a USER table."""
    from connector.userapi.tables import UserTable

    if isinstance(app, str) and app in set(UserTable):
        return f"cybozu.com {app}"
    return f"app {app}"
