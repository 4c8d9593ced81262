"""Random edit sequences over several runs: after each, Kintone equals the source exactly.

Edits: rows inserted, updated and deleted, key values changed (to new values, and to the value
of a row deleted at the same time), child rows added and removed, the primary key changed, the
state file lost, records deleted or edited by hand in Kintone (then `verify --repair`). No record
may be lost, duplicated or orphaned. KINTONE_SYNC_LONG_TESTS=1 runs many more examples.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from connector.config import load_project
from connector.emulator import Seed
from connector.runner import sync
from connector.verify import verify

from .conftest import BASE_URL, emulator_client, stored

LONG = os.environ.get("KINTONE_SYNC_LONG_TESTS") == "1"

SEED = Seed.model_validate(
    {
        "apps": [
            {
                "id": 1,
                "name": "Items",
                "properties": {
                    "code": {
                        "type": "SINGLE_LINE_TEXT",
                        "code": "code",
                        "label": "Code",
                        "required": True,
                        "unique": True,
                    },
                    "name": {"type": "SINGLE_LINE_TEXT", "code": "name", "label": "Name"},
                    "parts": {
                        "type": "SUBTABLE",
                        "code": "parts",
                        "fields": {
                            "part_no": {
                                "type": "SINGLE_LINE_TEXT",
                                "code": "part_no",
                                "label": "Part",
                            },
                            "qty": {"type": "NUMBER", "code": "qty", "label": "Qty"},
                        },
                    },
                },
                "tokens": [{"token": "t", "view": True, "add": True, "edit": True, "delete": True}],
            }
        ]
    }
)


@dataclass
class Item:
    code: str
    name: str
    parts: list[int] = field(default_factory=list)
    """Quantities; part numbers are their positions."""


@dataclass
class World:
    """The source as the test means it, and the counters that keep codes fresh."""

    items: dict[int, Item] = field(default_factory=dict)
    next_id: int = 1
    next_code: int = 1
    pk: str = "id"

    def fresh_code(self) -> str:
        self.next_code += 1
        return f"K{self.next_code:04d}"


names = st.sampled_from(["ant", "bee", "cat", "dog", "eel"])
parts = st.lists(st.integers(0, 9), max_size=3)
pick = st.integers(0, 10_000)
source_edit = st.one_of(
    st.tuples(st.just("insert"), names, parts),
    st.tuples(st.just("update"), pick, names),
    st.tuples(st.just("rekey"), pick),
    st.tuples(st.just("take"), pick, pick),
    st.tuples(st.just("delete"), pick),
    st.tuples(st.just("parts"), pick, parts),
)
step = st.one_of(
    st.lists(source_edit, min_size=1, max_size=4),
    st.just([("toggle_pk",)]),
    st.just([("lose_state",)]),
    st.tuples(st.just("hand_delete"), pick).map(lambda e: [e]),
    st.tuples(st.just("hand_edit"), pick).map(lambda e: [e]),
)


def apply(world: World, edit: tuple[Any, ...]) -> None:
    ids = sorted(world.items)
    kind = edit[0]
    if kind == "insert":
        world.items[world.next_id] = Item(world.fresh_code(), edit[1], list(edit[2]))
        world.next_id += 1
        return
    if not ids:
        return
    item = world.items[ids[edit[1] % len(ids)]]
    if kind == "update":
        item.name = edit[2]
    elif kind == "rekey":
        item.code = world.fresh_code()
    elif kind == "parts":
        item.parts = list(edit[2])
    elif kind == "delete":
        del world.items[ids[edit[1] % len(ids)]]
    elif kind == "take" and len(ids) > 1:
        # One row leaves the source and another takes its key value in the same run.
        victim = ids[edit[2] % len(ids)]
        taker = ids[edit[1] % len(ids)]
        if victim != taker:
            world.items[taker].code = world.items.pop(victim).code


def write_source(root: Path, world: World) -> None:
    with duckdb.connect(str(root / "warehouse.duckdb")) as con:
        con.execute("DROP TABLE IF EXISTS items")
        con.execute("DROP TABLE IF EXISTS parts")
        con.execute("CREATE TABLE items (id INTEGER, uid INTEGER, code VARCHAR, name VARCHAR)")
        con.execute(
            "CREATE TABLE parts (item_id INTEGER, item_uid INTEGER, part_no VARCHAR, qty INTEGER)"
        )
        for key, item in world.items.items():
            con.execute(
                "INSERT INTO items VALUES (?, ?, ?, ?)", [key, key + 1000, item.code, item.name]
            )
            for n, qty in enumerate(item.parts):
                con.execute(
                    "INSERT INTO parts VALUES (?, ?, ?, ?)", [key, key + 1000, f"P{n}", qty]
                )
    parent = "item_id" if world.pk == "id" else "item_uid"
    mapping = {
        "app": 1,
        "source": {"table": "items", "primary_key": [world.pk]},
        "mode": "upsert",
        "key": "code",
        "on_delete": "delete",
        "max_delete_share": 1.0,
        "fields": {"code": "code", "name": "name"},
        "subtables": {
            "parts": {
                "source": {"table": "parts", "parent_key": [parent], "order_by": ["part_no"]},
                "fields": {"part_no": "part_no", "qty": "qty"},
            }
        },
    }
    (root / "mappings" / "items.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")


def in_kintone(kintone: TestClient) -> list[tuple[str, str, list[int]]]:
    return sorted(
        (
            r["code"]["value"],
            r["name"]["value"],
            [int(row["value"]["qty"]["value"]) for row in r["parts"]["value"]],
        )
        for r in stored(kintone)
    )


def in_source(world: World) -> list[tuple[str, str, list[int]]]:
    return sorted((i.code, i.name, list(i.parts)) for i in world.items.values())


def hand_edit(kintone: TestClient, world: World, edit: tuple[Any, ...]) -> bool:
    records = stored(kintone)
    if not records:
        return False
    record = records[edit[1] % len(records)]
    if edit[0] == "hand_delete":
        body = {"app": 1, "ids": [record["$id"]["value"]]}
        assert kintone.request("DELETE", "/k/v1/records.json", json=body).is_success
    else:
        body = {"app": 1, "id": record["$id"]["value"], "record": {"name": {"value": "by hand"}}}
        assert kintone.put("/k/v1/record.json", json=body).is_success
    return True


@pytest.mark.slow
@settings(
    max_examples=300 if LONG else 6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(step, min_size=2, max_size=12 if LONG else 6))
def test_kintone_equals_the_source_after_every_run(steps: list[list[tuple[Any, ...]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp, emulator_client(SEED, token="t") as kintone:
        root = Path(tmp)
        (root / "mappings").mkdir()
        project_file = root / "kintone-sync.yaml"
        project_file.write_text(
            yaml.safe_dump(
                {
                    "source": {"url": "duckdb:///warehouse.duckdb"},
                    "connections": {
                        "default": {"base_url": BASE_URL, "auth": {"api_token_env": "TOKEN"}}
                    },
                }
            )
        )
        world = World()
        for n in range(3):
            apply(world, ("insert", "start", [n]))
        write_source(root, world)
        project = load_project(project_file)
        assert sync(project, "items", http=kintone).inserted == 3
        for edits in steps:
            repair = False
            for edit in edits:
                if edit[0] == "toggle_pk":
                    world.pk = "uid" if world.pk == "id" else "id"
                elif edit[0] == "lose_state":
                    shutil.rmtree(root / ".kintone-sync")
                elif edit[0] in ("hand_delete", "hand_edit"):
                    repair = hand_edit(kintone, world, edit)
                else:
                    apply(world, edit)
            write_source(root, world)
            if repair:
                verify(project, "items", http=kintone, repair=True)
            report = sync(project, "items", http=kintone, force=True)
            assert report.refused == 0, [r.message for r in report.refusals]
            assert in_kintone(kintone) == in_source(world), edits
        assert verify(project, "items", http=kintone).clean
