"""Refused rows are isolated at a bounded cost: adversarial batches, with a ceiling on requests."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from connector.emulator import Seed, load_seed
from connector.errors import PermanentKintoneError
from connector.kintone.client import KintoneClient, RetryPolicy
from connector.kintone.limits import RECORDS_PER_WRITE, REQUESTS_PER_BULK
from connector.kintone.writer import RecordWriter, WriteResult
from connector.mapping.form import Form
from connector.mapping.mapper import Mapper, Outgoing
from connector.mapping.spec import MappingSpec

from .conftest import emulator_client, stored

SEED_FILE = Path(__file__).with_name("dirty-seed.yaml")
# A lookup needs a token of its source app too (docs/kintone-api.md §7).
TOKENS = "orders-token,products-token"
BATCH = REQUESTS_PER_BULK * RECORDS_PER_WRITE


@pytest.fixture(scope="module")
def seed() -> Seed:
    return load_seed(SEED_FILE)


@pytest.fixture
def kintone(seed: Seed) -> Iterator[TestClient]:
    with emulator_client(seed, token=TOKENS) as client:
        yield client


class Recording(KintoneClient):
    """The real client, noting the sub-requests and records of every bulkRequest it sends."""

    def __init__(self, http: TestClient) -> None:
        super().__init__(http, retry=RetryPolicy(attempts=1, backoff_seconds=0))
        self.shapes: list[list[int]] = []

    def bulk(self, requests: Sequence[Mapping[str, Any]], *, idempotent: bool = True) -> list[Any]:
        self.shapes.append([len(r["payload"]["records"]) for r in requests])
        return super().bulk(requests, idempotent=idempotent)

    @property
    def requests(self) -> int:
        return sum(self.calls.values())


def mapper(http: TestClient) -> Mapper:
    spec = MappingSpec.model_validate(
        {
            "app": 1,
            "source": {"table": "orders", "primary_key": ["order_no"]},
            "key": "order_no",
            "fields": {
                "order_no": "order_no",
                "title": "title",
                "owner": "owner",
                "dept": "dept",
                "product": "product",
            },
        }
    )
    return Mapper(spec, Form.from_properties(KintoneClient(http).form(1)))


def orders(http: TestClient, count: int, bad: Mapping[int, Mapping[str, Any]]) -> list[Outgoing]:
    """`count` mapped rows; row i takes the values `bad[i]` over the good ones."""
    m = mapper(http)
    out = []
    for i in range(count):
        row = {
            "order_no": f"O-{i:05d}",
            "title": f"Order {i}",
            "owner": "ann",
            "dept": "sales",
            "product": "P-1",
        }
        mapped = m.map({**row, **bad.get(i, {})}, {})
        assert isinstance(mapped, Outgoing)
        out.append(mapped)
    return out


def write(http: TestClient, batch: list[Outgoing], **options: Any) -> tuple[WriteResult, Recording]:
    client = Recording(http)
    writer = RecordWriter(client, 1, "upsert", "order_no", **options)
    result = writer.write(batch)
    assert result.error is None
    # Never an oversized request: Kintone's error for one would name no record.
    for shape in client.shapes:
        assert 1 <= len(shape) <= REQUESTS_PER_BULK
        assert all(1 <= n <= RECORDS_PER_WRITE for n in shape)
    return result, client


def refused_keys(result: WriteResult) -> set[str]:
    return {r.key.values[0] for r in result.refused}


def test_one_bad_row_in_each_of_the_20_sub_requests(kintone: TestClient) -> None:
    bad = {i * RECORDS_PER_WRITE + 37: {"owner": f"ghost-{i}"} for i in range(REQUESTS_PER_BULK)}
    result, client = write(kintone, orders(kintone, BATCH, bad))
    # Each unknown user is a distinct value only Kintone knows: one failed request each, then
    # the bulkRequest that lands the rest.
    assert client.requests <= REQUESTS_PER_BULK + 1
    assert refused_keys(result) == {f"O-{i:05d}" for i in bad}
    assert {(r.code, r.field) for r in result.refused} == {("GAIA_IL26", "owner")}
    assert "ghost-3" in next(r.message for r in result.refused if r.key.values == ("O-00337",))
    assert len(result.inserted) == BATCH - REQUESTS_PER_BULK
    assert len(stored(kintone)) == BATCH - REQUESTS_PER_BULK


def test_a_value_kintone_names_refuses_every_row_that_carries_it_at_once(
    kintone: TestClient,
) -> None:
    bad: dict[int, dict[str, Any]] = {}
    for i in range(0, BATCH, 50):
        bad[i] = {"owner": "ghost"}
        bad[i + 7] = {"product": "P-9"}
        bad[i + 9] = {"dept": "nowhere"}
    result, client = write(kintone, orders(kintone, BATCH, bad))
    # Three distinct bad values: three failed requests, then the one that lands the rest.
    assert client.requests <= 4
    assert refused_keys(result) == {f"O-{i:05d}" for i in bad}
    assert {r.code for r in result.refused} == {"GAIA_IL26", "GAIA_LO04", "GAIA_IL28"}
    assert {r.field for r in result.refused} == {"owner", "product", "dept"}
    assert len(stored(kintone)) == BATCH - len(bad)


def test_a_refused_value_is_remembered_for_the_rest_of_the_run(kintone: TestClient) -> None:
    client = Recording(kintone)
    writer = RecordWriter(client, 1, "upsert", "order_no")
    rows = orders(kintone, 400, {i: {"owner": "ghost"} for i in range(0, 400, 40)})
    first = writer.write(rows[:200])
    before = client.requests
    second = writer.write(rows[200:])
    # The second batch's ghost rows are refused without a failed request.
    assert client.requests == before + 1
    assert len(first.refused) == len(second.refused) == 5
    assert "Every row of the run with it is refused" in second.refused[0].message


def test_every_row_bad_with_one_value(kintone: TestClient) -> None:
    result, client = write(
        kintone, orders(kintone, BATCH, {i: {"owner": "x"} for i in range(BATCH)})
    )
    assert client.requests == 1
    assert len(result.refused) == BATCH
    assert stored(kintone) == []


def test_every_row_bad_with_its_own_value_stops_at_the_ceiling(kintone: TestClient) -> None:
    bad = {i: {"owner": f"ghost-{i}"} for i in range(BATCH)}
    result, client = write(kintone, orders(kintone, BATCH, bad), isolation_requests=30)
    # The first request, then 30 spent on isolation; no more.
    assert client.requests == 31
    assert refused_keys(result) == {f"O-{i:05d}" for i in range(BATCH)}
    codes = [r.code for r in result.refused]
    assert codes.count("GAIA_IL26") == 31
    assert codes.count("ISOLATION_LIMIT") == BATCH - 31
    limit = next(r for r in result.refused if r.code == "ISOLATION_LIMIT")
    assert "limits.isolation_requests" in limit.message
    assert "next run" in limit.message


def without_refs(rows: list[Outgoing]) -> list[Outgoing]:
    """Rows the writer cannot match to a named value: it must narrow them down by requests."""
    return [replace(row, refs=frozenset()) for row in rows]


def test_errors_that_name_no_record_in_every_sub_request(kintone: TestClient) -> None:
    bad = {i * RECORDS_PER_WRITE + 61: {"owner": f"ghost-{i}"} for i in range(REQUESTS_PER_BULK)}
    result, client = write(kintone, without_refs(orders(kintone, BATCH, bad)))
    # Per failing sub-request: its failure, then 100 rows narrowed in 20 parts of 5 (a failure
    # and the healthy parts), then 5 parts of 1 (a failure and the healthy ones): 5 requests.
    assert client.requests <= REQUESTS_PER_BULK * 5 + 1
    assert refused_keys(result) == {f"O-{i:05d}" for i in bad}
    assert len(stored(kintone)) == BATCH - REQUESTS_PER_BULK


def test_errors_that_name_no_record_without_bulk_requests(kintone: TestClient) -> None:
    bad = {i * RECORDS_PER_WRITE + 61: {"owner": f"ghost-{i}"} for i in range(4)}
    rows = without_refs(orders(kintone, 4 * RECORDS_PER_WRITE, bad))
    result, client = write(kintone, rows, use_bulk=False)
    # Halving 100 rows down to one takes 7 rounds of two calls; one failed call first.
    assert client.requests <= 4 * (1 + 2 * 7)
    assert refused_keys(result) == {f"O-{i:05d}" for i in bad}
    assert len(stored(kintone)) == 4 * RECORDS_PER_WRITE - 4


class AlwaysRefusing(KintoneClient):
    """A fault script: every write is refused with an error that names no record."""

    def __init__(self, http: TestClient) -> None:
        super().__init__(http)
        self.sent = 0

    def bulk(self, requests: Sequence[Mapping[str, Any]], *, idempotent: bool = True) -> list[Any]:
        assert len(requests) <= REQUESTS_PER_BULK
        self.sent += 1
        raise PermanentKintoneError("refused", status=404, code="GAIA_RE20", bulk_index=0)


def test_isolation_ends_when_every_request_is_refused(kintone: TestClient) -> None:
    client = AlwaysRefusing(kintone)
    writer = RecordWriter(client, 1, "upsert", "order_no", isolation_requests=100_000)
    result = writer.write(without_refs(orders(kintone, BATCH, {})))
    # Every row ends alone in a refused request: the isolation ends, each retry smaller.
    assert len(result.refused) == BATCH
    assert {r.code for r in result.refused} == {"GAIA_RE20"}
    assert client.sent < 3 * BATCH


def test_concurrent_groups_pay_once_for_each_bad_value(kintone: TestClient) -> None:
    bad = {i: {"owner": "ghost"} for i in range(13, 4 * BATCH, 100)}
    bad.update({i: {"product": "P-9"} for i in range(51, 4 * BATCH, 100)})
    result, client = write(kintone, orders(kintone, 4 * BATCH, bad), concurrency=4)
    # The first group goes alone and finds both values; the other three go together, clean.
    assert client.requests == 2 + 4
    assert refused_keys(result) == {f"O-{i:05d}" for i in bad}
    assert len(stored(kintone)) == 4 * BATCH - len(bad)
