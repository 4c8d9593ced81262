"""The entries a job set in USER lists, per user: what a later run may remove again."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import sqlalchemy as sa

from connector.state.access import Access, chunks
from connector.state.rows import Scope
from connector.state.schema import owned


class OwnedItems:
    """One job's ledger at one target: user login name -> the entries the job set.

    The User API replaces a user's whole list, so the writer reads the list, keeps what no job
    run set (entries added by hand), and records here what it set, once the API confirmed it.
    """

    def __init__(self, access: Access, scope: Scope) -> None:
        self.db = access
        self.scope = scope

    def get(self, codes: Sequence[str]) -> dict[str, list[str]]:
        """The entries the job set for these users (users it never wrote are left out)."""
        out: dict[str, list[str]] = {}
        with self.db.connect() as conn:
            for chunk in chunks(codes):
                rows = conn.execute(
                    sa.select(owned.c.code, owned.c.entries).where(
                        self._in(), owned.c.code.in_(chunk)
                    )
                )
                out.update({r.code: list(json.loads(r.entries)) for r in rows})
        return out

    def set(self, lists: Mapping[str, Sequence[str]]) -> None:
        """Record what the job set now; an empty list forgets the user."""
        if not lists:
            return
        with self.db.begin() as conn:
            for chunk in chunks(list(lists)):
                conn.execute(sa.delete(owned).where(self._in(), owned.c.code.in_(chunk)))
            rows = [
                {
                    "job": self.scope.job,
                    "target": self.scope.target,
                    "code": code,
                    "entries": json.dumps(sorted(set(items)), ensure_ascii=False),
                }
                for code, items in lists.items()
                if items
            ]
            if rows:
                conn.execute(sa.insert(owned), rows)

    def _in(self) -> sa.ColumnElement[bool]:
        return sa.and_(owned.c.job == self.scope.job, owned.c.target == self.scope.target)
