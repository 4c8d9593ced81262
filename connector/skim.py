"""Row digests from the warehouse: rows unchanged since their last write are never mapped."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

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


class Known:
    """The source digests the state holds for rows whose record is written and synced, in
    memory as sorted arrays, 41 bytes a row: a skim looks each row up here instead of asking
    the state per key, and notes the rows it found unchanged, so that the state is written only
    for the rows it did not find (changed, or gone from the source)."""

    def __init__(self, pairs: Iterable[tuple[str, str]]) -> None:
        ids, digests = bytearray(), bytearray()
        self.unindexed: list[str] = []
        """Rows whose id or digest is not 16 bytes of hex (a state written by hand): never
        found here, so read whole and, when gone, deleted."""
        for row_id, digest in pairs:
            try:
                key, value = bytes.fromhex(row_id), bytes.fromhex(digest)
            except ValueError:
                self.unindexed.append(row_id)
                continue
            if len(key) != _WIDTH or len(value) != _WIDTH:
                self.unindexed.append(row_id)
                continue
            ids += key
            digests += value
        keys = np.frombuffer(ids, dtype=f"S{_WIDTH}")
        order = np.argsort(keys, kind="stable")
        self.ids = keys[order]
        del keys, ids
        self.heads = _heads(self.ids)
        """Each id's first 8 bytes as a number: a search among numbers is several times
        faster than among 16-byte strings."""
        # Digests stay raw bytes: numpy drops trailing zero bytes from an S16 element.
        self.digests = np.frombuffer(digests, dtype=f"V{_WIDTH}")[order].tobytes()
        self.found = np.zeros(len(self.ids), dtype=bool)

    def __len__(self) -> int:
        return len(self.ids) + len(self.unindexed)

    def stored(self, row_ids: Sequence[str]) -> dict[str, str]:
        """The digests known for these rows (row id -> digest); unknown rows are absent."""
        found: dict[str, str] = {}
        digests = self.digests
        for row_id, at in zip(row_ids, self._positions(row_ids), strict=True):
            if at >= 0:
                found[row_id] = digests[at * _WIDTH : (at + 1) * _WIDTH].hex()
        return found

    def saw(self, row_ids: Collection[str]) -> None:
        """Note these rows read and unchanged."""
        at = self._positions(list(row_ids))
        self.found[at[at >= 0]] = True

    def missed(self) -> list[str]:
        """The rows known here that no `saw` noted: changed, or gone from the source."""
        raw = self.ids[~self.found].tobytes()  # whole ids: an S16 element drops trailing zeros
        ids = [raw[i : i + _WIDTH].hex() for i in range(0, len(raw), _WIDTH)]
        return ids + self.unindexed

    def _positions(self, row_ids: Sequence[str]) -> np.ndarray[Any, np.dtype[np.intp]]:
        """Each row's index in the arrays, -1 where it is not known. Row ids are `RowKey` ids,
        32 hex digits."""
        if not len(self.ids):
            return np.full(len(row_ids), -1, dtype=np.intp)
        wanted = np.frombuffer(b"".join(map(bytes.fromhex, row_ids)), dtype=f"S{_WIDTH}")
        heads = _heads(wanted)
        last = len(self.ids) - 1
        at = np.searchsorted(self.heads, heads).clip(max=last)
        hit = self.ids[at] == wanted
        shared = ~hit & (self.heads[at] == heads)
        if shared.any():  # ids that share their first 8 bytes: searched whole
            at[shared] = np.searchsorted(self.ids, wanted[shared]).clip(max=last)
            hit[shared] = self.ids[at[shared]] == wanted[shared]
        return np.where(hit, at, -1)


def _heads(ids: np.ndarray[Any, np.dtype[np.bytes_]]) -> np.ndarray[Any, np.dtype[np.uint64]]:
    """The first 8 bytes of each id, as big-endian numbers: in the ids' byte order."""
    return np.frombuffer(ids.tobytes(), dtype=">u8")[::2].astype(np.uint64)


_WIDTH = 16
"""Bytes of a row id and of a source digest (32 hex digits each)."""


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
