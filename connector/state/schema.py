"""The state store's tables, its schema version, and the migrations that bring old stores up."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import sqlalchemy as sa

SCHEMA_VERSION = 6
"""1: the first layout (rows keyed by primary-key text, no target). 2: rows keyed by a digest of
the primary key and scoped by target (domain, guest space, app); key values kept for claims;
released records; job identities; lock tokens. 3: the entries a job set in USER lists.
4: the revision Kintone answered for each record the job wrote (conflicts). 5: a digest of the
warehouse row each record was written from (unchanged rows are not mapped again). 6: the
record index holds each row's table rows (the delete caps' totals read from it alone)."""

metadata = sa.MetaData()

meta = sa.Table(
    "state_meta",
    metadata,
    sa.Column("name", sa.String(50), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
_RECORDS_INDEX = sa.Index("ix_row_state_records", "job", "target", "record_id", "child_rows")
"""Record lookups, and the job's record and table row totals from the index alone: the delete
caps read them every run (layout 6)."""
row_state = sa.Table(
    "row_state",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(300), primary_key=True),
    # A digest of the primary-key text: keys of any length fit every database's index.
    sa.Column("row_id", sa.String(32), primary_key=True),
    sa.Column("pk", sa.Text, nullable=False),
    sa.Column("record_id", sa.BigInteger, nullable=True),
    sa.Column("key_digest", sa.String(32), nullable=True),
    sa.Column("key_value", sa.Text, nullable=True),
    sa.Column("payload_hash", sa.String(64), nullable=True),
    # pending: sent, answer not yet stored; synced; refused.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("created", sa.Boolean, nullable=False, default=False),
    sa.Column("child_rows", sa.Integer, nullable=False, default=0),
    # The record's revision as Kintone answered our last write: a later one means someone else
    # (a person, a process action, another integration) changed the record since.
    sa.Column("revision", sa.BigInteger, nullable=True),
    # The digest of the warehouse row (and its child rows) under the job's mapping and form,
    # computed in the warehouse, as last written: an equal digest means an unchanged row.
    sa.Column("source_digest", sa.String(32), nullable=True),
    sa.Column("seen_run", sa.Integer, nullable=True),
    # Set by `plan`, which must never touch seen_run: a run's deletes depend on it.
    sa.Column("seen_plan", sa.Integer, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_row_state_key", "job", "target", "key_digest"),
    _RECORDS_INDEX,
)
released = sa.Table(
    "released_records",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(300), primary_key=True),
    sa.Column("record_id", sa.BigInteger, primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Column("reason", sa.Text, nullable=False),
)
identities = sa.Table(
    "job_identity",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("identity", sa.Text, nullable=False),
)
checkpoints = sa.Table(
    "job_checkpoints",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(300), primary_key=True),
    sa.Column("cursor_value", sa.Text, nullable=True),
    sa.Column("mapping_hash", sa.String(64), nullable=True),
)
rejects = sa.Table(
    "row_rejects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(200), nullable=False),
    sa.Column("target", sa.String(300), nullable=False),
    sa.Column("row_id", sa.String(32), nullable=False),
    sa.Column("pk", sa.Text, nullable=False),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("field", sa.Text, nullable=True),
    sa.Column("code", sa.String(40), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("error_id", sa.String(100), nullable=True),
    sa.Column("at", sa.Float, nullable=False),
    sa.Index("ix_row_rejects_row", "job", "target", "row_id"),
)
runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(200), nullable=False, index=True),
    sa.Column("app", sa.String(100), nullable=True),
    sa.Column("mode", sa.String(16), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("started", sa.Float, nullable=False),
    sa.Column("ended", sa.Float, nullable=True),
    sa.Column("report", sa.Text, nullable=True),
    sa.Column("mapping_hash", sa.String(64), nullable=True),
    sa.Column("target", sa.String(300), nullable=True),
)
locks = sa.Table(
    "locks",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("host", sa.String(200), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("run_id", sa.Integer, nullable=True),
    sa.Column("heartbeat", sa.Float, nullable=False),
    sa.Column("token", sa.String(40), nullable=True),
)
usage = sa.Table(
    "api_usage",
    metadata,
    sa.Column("app", sa.String(100), primary_key=True),
    sa.Column("day", sa.String(10), primary_key=True),
    sa.Column("calls", sa.Integer, nullable=False),
)
owned = sa.Table(
    "owned_items",
    metadata,
    sa.Column("job", sa.String(200), primary_key=True),
    sa.Column("target", sa.String(300), primary_key=True),
    # The user's login name: the User API replaces lists by it.
    sa.Column("code", sa.String(300), primary_key=True),
    # JSON list of the entries (organization, group or service codes) the job set.
    sa.Column("entries", sa.Text, nullable=False),
)

LEGACY_TARGET = ""
"""The target of rows migrated from layout 1, which did not record one: the job's next run
adopts them for the target it writes to."""


def stored_version(conn: sa.Connection) -> int | None:
    """The layout a store was written with; None for an empty database."""
    names = set(sa.inspect(conn).get_table_names())
    if meta.name in names:
        value = conn.execute(sa.select(meta.c.value).where(meta.c.name == "version")).scalar()
        return int(value) if value is not None else None
    if "sync_rows" in names:
        return 1
    return None


def migrate(conn: sa.Connection) -> int | None:
    """Create the tables, or bring a store written by an earlier layout up to SCHEMA_VERSION.

    Returns the version the store had (None when it was new). Runs in the caller's transaction,
    so a failed migration leaves the store as it was.
    """
    found = stored_version(conn)
    if found is not None and found > SCHEMA_VERSION:
        raise ValueError(
            f"the state store was written by a newer kintone-sync (layout {found}; this version "
            f"reads up to {SCHEMA_VERSION}): upgrade kintone-sync"
        )
    if found == SCHEMA_VERSION:
        return found
    version = found or SCHEMA_VERSION
    if found is None:
        metadata.create_all(conn)
    while version < SCHEMA_VERSION:
        _STEPS[version](conn)
        version += 1
    conn.execute(sa.delete(meta).where(meta.c.name == "version"))
    conn.execute(sa.insert(meta).values(name="version", value=str(SCHEMA_VERSION)))
    return found


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _from_1(conn: sa.Connection) -> None:
    """Layout 1 -> 2: rows re-keyed by digest under the legacy target; rejects and checkpoints
    copied; runs and locks gain their new columns."""
    old = sa.MetaData()
    old.reflect(conn, only=["sync_rows", "rejects", "checkpoints"])
    metadata.create_all(
        conn, tables=[meta, row_state, released, identities, checkpoints, rejects, usage]
    )
    sync_rows, old_rejects, old_checkpoints = (
        old.tables["sync_rows"],
        old.tables["rejects"],
        old.tables["checkpoints"],
    )
    batch: list[dict[str, object]] = []
    for r in conn.execute(sa.select(sync_rows)):
        batch.append(
            {
                "job": r.job,
                "target": LEGACY_TARGET,
                "row_id": _digest(r.pk),
                "pk": r.pk,
                "record_id": r.record_id,
                "key_digest": None,
                "key_value": None,
                "payload_hash": r.payload_hash,
                "status": r.status,
                "created": bool(r.created),
                "child_rows": 0,
                "seen_run": r.seen_run,
                "seen_plan": None,
                "updated_at": r.updated_at,
            }
        )
        if len(batch) >= 5000:
            conn.execute(sa.insert(row_state), batch)
            batch = []
    if batch:
        conn.execute(sa.insert(row_state), batch)
    copied = [
        {
            "job": r.job,
            "target": LEGACY_TARGET,
            "row_id": _digest(r.pk),
            "pk": r.pk,
            "run_id": r.run_id,
            "field": r.field,
            "code": r.code,
            "message": r.message,
            "error_id": r.error_id,
            "at": r.at,
        }
        for r in conn.execute(sa.select(old_rejects))
    ]
    if copied:
        conn.execute(sa.insert(rejects), copied)
    points = [
        {
            "job": r.job,
            "target": LEGACY_TARGET,
            "cursor_value": r.cursor_value,
            "mapping_hash": r.mapping_hash,
        }
        for r in conn.execute(sa.select(old_checkpoints))
    ]
    if points:
        conn.execute(sa.insert(checkpoints), points)
    conn.execute(sa.text("ALTER TABLE runs ADD COLUMN target VARCHAR(300)"))
    conn.execute(sa.text("ALTER TABLE locks ADD COLUMN token VARCHAR(40)"))
    for table in (sync_rows, old_rejects, old_checkpoints):
        table.drop(conn)


def _from_2(conn: sa.Connection) -> None:
    """Layout 2 -> 3: the table of entries jobs set in USER lists."""
    metadata.create_all(conn, tables=[owned])


def _from_3(conn: sa.Connection) -> None:
    """Layout 3 -> 4: each row's record revision; unknown (NULL) until the job writes it again."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns(row_state.name)}
    if "revision" in columns:
        return  # created by _from_1 with today's table
    conn.execute(sa.text("ALTER TABLE row_state ADD COLUMN revision BIGINT"))


def _from_4(conn: sa.Connection) -> None:
    """Layout 4 -> 5: each row's source digest; unknown (NULL) until the job writes it again."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns(row_state.name)}
    if "source_digest" in columns:
        return  # created by _from_1 with today's table
    conn.execute(sa.text("ALTER TABLE row_state ADD COLUMN source_digest VARCHAR(32)"))


def _from_5(conn: sa.Connection) -> None:
    """Layout 5 -> 6: the record index also holds each row's table rows, so the totals the
    delete caps need are read from it alone (a scan of the table took seconds a million rows)."""
    conn.execute(sa.text("DROP INDEX IF EXISTS ix_row_state_record"))
    _RECORDS_INDEX.create(conn, checkfirst=True)  # already there when _from_1 made the table


_STEPS: dict[int, Callable[[sa.Connection], None]] = {
    1: _from_1,
    2: _from_2,
    3: _from_3,
    4: _from_4,
    5: _from_5,
}
"""The step that takes a store from the key's layout to the next."""
