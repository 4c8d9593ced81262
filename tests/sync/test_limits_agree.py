"""Whatever the mapper lets through, the emulator (an independent reading of Kintone) takes.

A value the connector sends and Kintone refuses is a bug: random rows are mapped against the
dirty-seed app's form, and every row the mapper accepts is added through the API.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from connector.emulator import load_seed
from connector.kintone.client import KintoneClient
from connector.mapping.form import Form
from connector.mapping.mapper import Mapper, Outgoing
from connector.mapping.spec import MappingSpec

from .conftest import emulator_client
from .dirty import SEED_FILE

EXAMPLES = 400 if os.environ.get("KINTONE_SYNC_LONG_TESTS") == "1" else 40


@pytest.fixture(scope="module")
def kintone() -> Iterator[TestClient]:
    with emulator_client(load_seed(SEED_FILE), token="orders-token,products-token") as client:
        yield client


def mapper(http: TestClient) -> Mapper:
    spec = MappingSpec.model_validate(
        {
            "app": 1,
            "source": {"table": "t", "primary_key": ["order_no"]},
            "mode": "insert",
            "fields": {c: c for c in ("order_no", "ref", "title", "qty", "kind", "ordered")},
            "subtables": {
                "lines": {
                    "source": {"table": "l", "parent_key": ["order_no"]},
                    "fields": {"item": "item", "amount": "amount"},
                }
            },
        }
    )
    return Mapper(spec, Form.from_properties(KintoneClient(http).form(1)))


texts = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80)
numbers = st.one_of(
    st.integers(min_value=-(10**32), max_value=10**32),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.from_regex(r"[+-]?[0-9]{1,4}(\.[0-9]{1,3})?([eE][+-]?[0-9])?", fullmatch=True),
    texts,
)
dates = st.one_of(st.dates(), st.from_regex(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", fullmatch=True), texts)
options = st.sampled_from(["retail", "wholesale", "", "Retail", "galactic"])


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    ref=texts,
    title=st.one_of(st.none(), texts),
    qty=st.one_of(st.none(), numbers),
    kind=options,
    ordered=st.one_of(st.none(), dates),
    lines=st.lists(st.tuples(st.one_of(st.none(), texts), numbers), max_size=3),
)
def test_what_the_mapper_takes_kintone_takes(
    kintone: TestClient,
    ref: str,
    title: str | None,
    qty: Any,
    kind: str,
    ordered: date | str | None,
    lines: list[tuple[str | None, Any]],
) -> None:
    m = mapper(kintone)
    row = {"order_no": "O-1", "ref": ref, "title": title, "qty": qty, "kind": kind}
    row["ordered"] = ordered
    children = {"lines": [{"order_no": "O-1", "item": i, "amount": a} for i, a in lines]}
    out = m.map(row, children)
    if not isinstance(out, Outgoing):
        return
    record = dict(out.record)
    record["order_no"] = {"value": f"O-{abs(hash((ref, title, str(qty)))) % 10**9}"}
    record.pop("ref")  # unique: a repeated random ref would be Kintone's to refuse
    answer = kintone.post("/k/v1/record.json", json={"app": 1, "record": record})
    assert answer.status_code == 200, (row, answer.json())
