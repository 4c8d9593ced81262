"""The diff's rules, one case a row: what is written, left, refused, deferred and deleted."""

from __future__ import annotations

from typing import Any

import pytest

from connector import diff
from connector.diff import Action, Candidate, Decisions, Identity, Policy
from connector.errors import DeleteCapError
from connector.mapping.mapper import Outgoing, Refusal, RowKey
from connector.state import Claim, Gone, RowState

UPSERT = Policy("upsert", "code")
INSERT = Policy("insert", "code")
BY_ID = Policy("update", "$id")


def row(pk: str, match: Any, payload: str = "p", children: int = 0) -> Candidate:
    out = Outgoing(RowKey.of([pk]), match, {"name": {"value": payload}}, child_rows=children)
    return Candidate(out, f"hash-{match}-{payload}")


def state(
    pk: str,
    record_id: int | None,
    match: str | None,
    payload: str = "p",
    status: str = "synced",
    children: int = 0,
) -> RowState:
    key = RowKey.of([pk])
    return RowState(
        key.id, key.text, record_id, match, f"hash-{match}-{payload}", status, True, children
    )


def known(*states: RowState) -> dict[str, RowState]:
    return {s.row_id: s for s in states}


def claim(pk: str, match: str, record_id: int | None = 1, *, seen: bool) -> Claim:
    key = RowKey.of([pk])
    return Claim(key.id, key.text, match, record_id, seen)


def action(decided: Decisions, pk: str) -> Action:
    key = RowKey.of([pk])
    for out in decided.writes:
        if out.key == key:
            if out.record_id is not None:
                return Action.BY_ID
            return Action.INSERT if out.key_value is None else Action.BY_KEY
    groups: list[tuple[Action, list[RowKey]]] = [
        (Action.UNCHANGED, decided.unchanged),
        (Action.CHECK_LANDED, [c.key for c in decided.check_landed]),
        (Action.DEFER, [c.key for c in decided.deferred]),
        (Action.REFUSE, [r.key for r in decided.refused]),
    ]
    return next(a for a, keys in groups if key in keys)


def test_a_new_row_goes_by_key() -> None:
    decided = diff.decide([row("1", "A")], {}, {}, UPSERT)
    assert action(decided, "1") is Action.BY_KEY


def test_an_unchanged_row_is_left_alone_unless_a_full_refresh() -> None:
    before = known(state("1", 7, "A"))
    assert action(diff.decide([row("1", "A")], before, {}, UPSERT), "1") is Action.UNCHANGED
    refresh = Policy("upsert", "code", full_refresh=True)
    assert action(diff.decide([row("1", "A")], before, {}, refresh), "1") is Action.BY_ID


def test_a_changed_row_whose_record_is_known_goes_by_id() -> None:
    decided = diff.decide([row("1", "A", "new")], known(state("1", 7, "A")), {}, UPSERT)
    assert action(decided, "1") is Action.BY_ID
    assert decided.writes[0].record_id == 7


def test_case_3_a_changed_key_value_updates_the_same_record_by_id() -> None:
    decided = diff.decide([row("1", "B")], known(state("1", 7, "A")), {}, UPSERT)
    assert action(decided, "1") is Action.BY_ID
    assert (decided.writes[0].record_id, decided.writes[0].key_value) == (7, "B")


def test_case_3_a_new_key_value_that_another_live_row_holds_is_refused() -> None:
    holders = {"B": [claim("2", "B", 8, seen=True)]}
    decided = diff.decide([row("1", "B")], known(state("1", 7, "A")), holders, UPSERT)
    assert action(decided, "1") is Action.REFUSE
    assert decided.refused[0].code == diff.KEY_TAKEN
    assert '["2"]' in decided.refused[0].message


def test_case_1_two_rows_with_one_key_value_the_first_keeps_it() -> None:
    decided = diff.decide([row("1", "A"), row("2", "A")], {}, {}, UPSERT)
    assert action(decided, "1") is Action.BY_KEY
    assert action(decided, "2") is Action.REFUSE


def test_case_1_the_holder_keeps_its_value_against_an_earlier_row() -> None:
    holders = {"A": [claim("2", "A", 7, seen=False)]}
    before = known(state("2", 7, "A"))
    decided = diff.decide([row("1", "A"), row("2", "A")], before, holders, UPSERT)
    assert action(decided, "1") is Action.REFUSE
    assert action(decided, "2") is Action.UNCHANGED


def test_a_value_whose_holder_is_not_read_yet_waits_for_the_end_of_the_run() -> None:
    holders = {"A": [claim("9", "A", 7, seen=False)]}
    assert action(diff.decide([row("1", "A")], {}, holders, UPSERT), "1") is Action.DEFER
    # At the end of the run the holder was never read: it left the source, the value is free.
    final = diff.decide([row("1", "A")], {}, holders, UPSERT, final=True)
    assert action(final, "1") is Action.BY_KEY


def test_a_holder_moving_away_in_the_same_batch_makes_the_newcomer_wait() -> None:
    holders = {"A": [claim("2", "A", 7, seen=False)]}
    before = known(state("2", 7, "A"))
    decided = diff.decide([row("1", "A"), row("2", "B")], before, holders, UPSERT)
    assert action(decided, "1") is Action.DEFER
    assert action(decided, "2") is Action.BY_ID


def test_insert_mode_adds_a_row_once_and_looks_up_inserts_left_in_flight() -> None:
    before = known(state("1", 7, "A", "old"), state("2", None, None, status="pending"))
    decided = diff.decide([row("1", "A", "new"), row("2", "B"), row("3", "C")], before, {}, INSERT)
    assert action(decided, "1") is Action.UNCHANGED
    assert action(decided, "2") is Action.CHECK_LANDED
    assert action(decided, "3") is Action.BY_KEY  # a POST: insert mode sends by key value


def test_a_record_id_key_that_changes_releases_the_old_record() -> None:
    decided = diff.decide([row("1", 9)], known(state("1", 7, "7")), {}, BY_ID)
    assert decided.released == [7]
    assert decided.writes[0].key_value == 9
    assert decided.writes[0].record_id is None  # by key: the key is the record id


def test_table_rows_a_write_would_remove_are_counted() -> None:
    before = known(state("1", 7, "A", children=5), state("2", 8, "B", children=1))
    decided = diff.decide(
        [row("1", "A", "x", children=2), row("2", "B", "y", children=3)], before, {}, UPSERT
    )
    assert decided.child_rows_removed == 3


@pytest.mark.parametrize(
    ("gone", "deleted", "rows", "released"),
    [
        # A row that left the source: its record goes.
        ([Gone(7, "r1", "[1]", live=False)], [7], ["r1"], []),
        # Case 1: a live row maps to the same record: never deleted, the gone row forgotten.
        ([Gone(7, "r1", "[1]", live=True)], [], ["r1"], []),
        # A record released by a changed key and matched again this run: kept.
        ([Gone(7, None, None, live=True)], [], [], [7]),
        # Released and matched by no row: deleted.
        ([Gone(7, None, None, live=False)], [7], [], [7]),
        # Two gone rows on one record: deleted once.
        ([Gone(7, "r1", "[1]", False), Gone(7, "r2", "[2]", False)], [7], ["r1", "r2"], []),
    ],
)
def test_deletions(
    gone: list[Gone], deleted: list[int], rows: list[str], released: list[int]
) -> None:
    result = diff.deletions(gone)
    assert (result.record_ids, result.forget_rows, result.forget_released) == (
        deleted,
        rows,
        released,
    )


def test_the_cap_stops_past_its_share_unless_forced() -> None:
    diff.check_cap("j", "records", 10, 100, 0.1, force=False)
    with pytest.raises(DeleteCapError, match="would delete 11 of its 100 table rows"):
        diff.check_cap("j", "table rows", 11, 100, 0.1, force=False)
    diff.check_cap("j", "table rows", 100, 100, 0.1, force=True)


def test_an_insert_refused_as_a_duplicate_key_is_linked() -> None:
    key = RowKey.of(["1"])
    duplicate = Refusal(key, "code", "CB_VA01", "This value already exists in another record.")
    assert diff.relinkable(duplicate, INSERT)
    assert not diff.relinkable(duplicate, UPSERT)
    assert not diff.relinkable(Refusal(key, "name", "CB_VA01", "Required."), INSERT)


IDENTITY = Identity("https://a|space=|app=1", ("id",), "code", "upsert")


@pytest.mark.parametrize(
    ("now", "release", "forget", "stops"),
    [
        (IDENTITY, False, False, False),
        # Case 6: another app or domain is another scope: nothing to release here.
        (Identity("https://b|space=|app=1", ("id",), "code", "upsert"), False, False, False),
        # Case 2: a changed primary key releases the records, matched again by key.
        (Identity(IDENTITY.target, ("id", "region"), "code", "upsert"), True, False, False),
        (Identity(IDENTITY.target, ("id",), "email", "upsert"), False, True, False),
        (Identity(IDENTITY.target, ("uid",), None, "insert"), False, False, True),
    ],
)
def test_identity_changes(now: Identity, release: bool, forget: bool, stops: bool) -> None:
    change = diff.identity_change(IDENTITY, now)
    assert (change.release_rows, change.forget_key_values, change.stop is not None) == (
        release,
        forget,
        stops,
    )


def test_a_row_with_its_own_record_cannot_take_a_value_a_kept_record_holds() -> None:
    holders = {"A": [claim("9", "A", 5, seen=False)]}
    before = known(state("1", 7, "B"))
    decided = diff.decide([row("1", "A")], before, holders, UPSERT, final=True)
    assert action(decided, "1") is Action.REFUSE
    assert "still held by record 5" in decided.refused[0].message


def test_an_incremental_run_never_frees_the_value_of_a_row_it_did_not_read() -> None:
    holders = {"A": [claim("9", "A", 5, seen=False)]}
    decided = diff.decide([row("1", "A")], {}, holders, UPSERT, final=True, complete=False)
    assert action(decided, "1") is Action.REFUSE


def test_a_gone_rows_record_a_waiting_row_takes_over_is_kept() -> None:
    holders = {"A": [claim("9", "A", 5, seen=False)], "B": [claim("8", "B", 6, seen=False)]}
    # Row 1 has no record: it takes record 5 over by key. Row 2 has its own record 7: record 6
    # must be deleted before row 2 can move to B.
    before = known(state("2", 7, "old"))
    assert diff.taken_over([row("1", "A"), row("2", "B")], before, holders) == {5}
    result = diff.deletions([Gone(5, "r9", "[9]", live=False), Gone(6, "r8", "[8]", False)], {5})
    assert (result.record_ids, result.forget_rows) == ([6], ["r9", "r8"])


@pytest.mark.parametrize(
    ("stored", "current", "changes", "setting", "expected"),
    [
        # Only our own writes moved the revision: no conflict, whatever the setting.
        (3, 3, ["name"], "fail", diff.Resolution.WRITE),
        # Nothing to compare: a revision the state never kept, or a record gone.
        (None, 5, ["name"], "fail", diff.Resolution.WRITE),
        (3, None, ["name"], "fail", diff.Resolution.WRITE),
        # Moved, but the record already holds what the row sends: nothing would be lost.
        (3, 5, [], "fail", diff.Resolution.WRITE),
        # Moved by someone else (an edit +1, a process action +2): the setting decides.
        (3, 4, ["name"], "overwrite", diff.Resolution.OVERWRITE),
        (3, 5, ["name"], "skip", diff.Resolution.SKIP),
        (3, 4, ["name", "notes"], "fail", diff.Resolution.STOP),
        # A revision lower than ours (the app restored from a backup) moved all the same.
        (3, 2, ["name"], "skip", diff.Resolution.SKIP),
    ],
)
def test_conflicts(
    stored: int | None,
    current: int | None,
    changes: list[str],
    setting: Any,
    expected: diff.Resolution,
) -> None:
    assert diff.resolve(stored, current, changes, setting) is expected


def test_a_skipped_conflict_is_refused_naming_the_record_and_fields() -> None:
    conflict = diff.Conflict(RowKey.of(["1"]), 42, 3, 5, ("name", "notes"), diff.Resolution.SKIP)
    refusal = conflict.refusal()
    assert refusal.code == diff.CONFLICT
    assert "record 42 was changed in Kintone" in refusal.message
    assert "(revision 3 -> 5); the write would change name, notes" in refusal.message


@pytest.mark.parametrize(
    ("digest", "stored", "policy", "unchanged"),
    [
        ("d1", {"r": "d1"}, UPSERT, True),  # the digest its record was written from
        ("d2", {"r": "d1"}, UPSERT, False),  # the row changed, or the mapping or the form
        ("d1", {}, UPSERT, False),  # refused, pending, never written, or no digest kept
        ("d1", {"r": "d1"}, Policy("upsert", "code", full_refresh=True), False),
        ("d1", {"r": "d1"}, INSERT, True),
    ],
)
def test_a_row_is_unchanged_by_its_source_digest(
    digest: str, stored: dict[str, str], policy: Policy, unchanged: bool
) -> None:
    assert (diff.unchanged_source({"r": digest}, stored, policy) == {"r"}) is unchanged
