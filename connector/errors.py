"""The connector's errors: one root, branches grouped by what the caller should do.

    KintoneSyncError
    ├── ConfigError              fix the project or mapping file (names the file and the key)
    ├── SourceError              fix the warehouse side: connection, table, query, keys
    ├── PreflightError           the app and the mapping disagree; nothing was written
    ├── StateError               the state store cannot be used: unreachable, damaged, newer
    │   ├── LockedError              another run of the job holds its lock
    │   └── LockLostError            this run's lock was taken over; it stopped writing
    ├── RunStoppedError          a run stopped by a safety rule (delete cap, unresolvable identity)
    │   ├── DeleteCapError           a run would delete past max_delete_share
    │   └── ConflictError            records edited in Kintone, under on_conflict: fail
    ├── KintoneError             Kintone answered with an error (status, code, id)
    │   ├── TransientKintoneError    retried: 429, 5xx, lock errors, dropped connections
    │   └── PermanentKintoneError    not retried: auth, permissions, bad requests
    └── ValueRejectedError       one column value Kintone would refuse (becomes a refused row)

Every message names the values and the fix; secrets never appear in one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


class KintoneSyncError(Exception):
    """The root of every error the connector raises on purpose."""


class ConfigError(KintoneSyncError):
    """A project or mapping file that cannot be used as written."""

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.key = key
        self.message = message
        """The message without the file and the key."""


class SourceError(KintoneSyncError):
    """The warehouse cannot be read as the mapping says: connection, table, query or keys."""


class PreflightError(KintoneSyncError):
    """Pre-flight checks found problems; every problem is listed, nothing was written."""

    def __init__(self, app: str, problems: Sequence[str]) -> None:
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"app {app}: {len(problems)} problem(s) before any write:\n{lines}")
        self.app = app
        self.problems = list(problems)


class KintoneError(KintoneSyncError):
    """Kintone answered with an error."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        error_id: str | None = None,
        errors: Mapping[str, Any] | None = None,
        app: int | str | None = None,
        bulk_index: int | None = None,
        ambiguous: bool = False,
        retry_after: float | None = None,
    ) -> None:
        tag = " ".join(str(p) for p in (status, code) if p is not None)
        text = f"{message} [{tag}]" if tag else message
        if error_id:
            text += f" (id {error_id})"
        if app is not None:
            # The User API's calls name their table: `cybozu.com users`, not an app.
            where = app if str(app).startswith("cybozu.com ") else f"app {app}"
            text = f"{where}: {text}"
        super().__init__(text)
        self.status = status
        self.code = code
        self.error_id = error_id
        self.errors = dict(errors or {})
        self.app = app
        self.bulk_index = bulk_index
        self.kintone_message = message
        self.ambiguous = ambiguous
        """Kintone may have acted before the answer was lost (a dropped connection, a bare 5xx)."""
        self.retry_after = retry_after


class TransientKintoneError(KintoneError):
    """Worth retrying after a pause: 429, 5xx, lock errors, timeouts, dropped connections."""


class PermanentKintoneError(KintoneError):
    """Retrying will not help: authentication, permissions, bad requests, unknown apps."""


class ValueRejectedError(KintoneSyncError):
    """A column value Kintone would refuse; the row is refused, the rest go on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.reason = message


class StateError(KintoneSyncError):
    """The state store cannot be used: unreachable, locked by another run, or damaged."""


class LockedError(StateError):
    """Another run of the same job holds the lock."""


class LockLostError(StateError):
    """Another run took this run's lock over; this run stopped before its next write."""


class RunStoppedError(KintoneSyncError):
    """A safety rule stopped the run before a write it would not risk; says how to go on."""


class DeleteCapError(RunStoppedError):
    """A run would delete more records, or table rows, than the mapping's max_delete_share."""


class ConflictError(RunStoppedError):
    """Records changed in Kintone since the job wrote them; on_conflict: fail stopped the run."""
