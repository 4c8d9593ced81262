"""Row digests from the warehouse: rows unchanged since their last write are never mapped."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from connector.mapping.form import Form
from connector.mapping.spec import MappingSpec
from connector.source import Key, Row, SqlSource, combined

MAX_SKIMMED = 50_000
"""Changed rows a skim reads again by key; past this, the run reads every row (still skipping
the unchanged ones by digest, after reading them)."""
_VERSION = 1
"""Changed when what goes into a digest changes: every row is then mapped once again."""
KEYS_PER_READ = 5_000
"""Keys in one read of changed rows: one IN list, one scan of the table per read."""


def why_not(spec: MappingSpec, form: Form, source: SqlSource) -> str | None:
    """Why this job's rows cannot be compared by digest (None when they can): what the mapper
    makes of a row must depend on the row, the mapping and the form alone."""
    if not source.digests:
        return f"{source.engine.dialect.name} does not compute row digests"
    maps = [*spec.fields.values()] + [
        fm for table in spec.subtables.values() for fm in table.fields.values()
    ]
    if any(fm.env is not None for fm in maps):
        return "a value comes from an environment variable"
    codes = set(spec.fields) | {c for t in spec.subtables.values() for c in t.fields}
    types = {f.code: str(f.type) for f in form.fields.values()}
    types.update({c: str(sub.type) for f in form.fields.values() for c, sub in f.fields.items()})
    if any(types.get(code) == "FILE" for code in codes):
        return "a FILE field's content lives outside the warehouse"
    return None


@dataclass(frozen=True)
class Digests:
    """How a job digests its rows: the warehouse's digest of each row and its child rows,
    under a context (the mapping, the form, the app) that any change of makes every row's
    digest new, so that every row is mapped again."""

    context: bytes

    @classmethod
    def of_job(cls, mapping_hash: str, form: Form, app: int | str) -> Digests:
        # The same text in every process: sets are sorted (their order follows the hash
        # seed, which differs from one process to the next).
        text = json.dumps([_VERSION, mapping_hash, str(app), _plain(form)], sort_keys=True)
        return cls(hashlib.blake2b(text.encode(), digest_size=16).hexdigest().encode())

    def of(self, row: Row, children: Mapping[str, Sequence[Row]]) -> str:
        """The digest of a row read whole with its child rows (digest columns taken out)."""
        return self.sealed(combined(row, children))

    def sealed(self, digest: str) -> str:
        """A warehouse digest of a row and its child rows, under this context."""
        return hashlib.blake2b(self.context + digest.encode(), digest_size=16).hexdigest()


def _plain(value: Any) -> Any:
    """A form as JSON data, the same in every process."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(str(_plain(v)) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def with_digests(source: SqlSource) -> SqlSource:
    """The same rows, each with its digest."""
    return _again(source, digest=True)


def by_keys(
    source: SqlSource, children: Mapping[str, SqlSource], keys: Sequence[Key], *, null_keys: bool
) -> Iterator[tuple[SqlSource, dict[str, SqlSource]]]:
    """The source and its children narrowed to these keys, with digests: a read per
    `KEYS_PER_READ` keys. With `null_keys` the first read also gives the parent rows with a
    NULL key column, which the caller refuses."""
    for start in range(0, max(len(keys), 1), KEYS_PER_READ):
        part = tuple(keys[start : start + KEYS_PER_READ])
        nulls = null_keys and start == 0
        if not part and not nulls:
            return
        yield (
            _again(source, digest=True, keys=part, null_keys=nulls),
            {name: _again(c, digest=True, keys=part) for name, c in children.items()},
        )


def _again(source: SqlSource, **changes: Any) -> SqlSource:
    return SqlSource(source.engine, replace(source.spec, **changes), chunk_size=source.chunk_size)
