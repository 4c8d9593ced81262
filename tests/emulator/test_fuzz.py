"""Fuzz every emulator route: random bytes, JSON, queries and parameters never crash it.

The routes are read from the app itself (and the Kintone endpoints from the dispatch table), so a
route added later is fuzzed without touching this file. Each request must answer below 500,
raise nothing inside the app (the TestClient re-raises), and come back within a time bound.
`KINTONE_SYNC_LONG_TESTS=1` runs many more examples, with fresh randomness each run.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import Route
from starlette.testclient import TestClient

from connector.emulator import create_app, load_seed
from connector.emulator.kintone_api import HANDLERS
from connector.emulator.schema import AppSchema
from connector.emulator.store import Domain

from .conftest import BASE_URL, SEED_FILE, password_header

LONG = os.environ.get("KINTONE_SYNC_LONG_TESTS") == "1"
EXAMPLES = 300 if LONG else 10
# A hang or a quadratic blow-up takes far longer than this; one in-process request takes
# milliseconds, but a loaded CI machine (other workers, GC) has stalled single requests for
# seconds. Latency and faults are off, so nothing in the emulator sleeps.
REQUEST_SECONDS = 10.0

SEED = load_seed(SEED_FILE)
_KINTONE_ROUTE = "/k/{rest:path}"


def fuzzed_routes() -> list[tuple[str, str]]:
    """(method, path) for every route of the app; `/k/` expands to every Kintone endpoint."""
    app = create_app(SEED)
    out: set[tuple[str, str]] = set()
    for route in app.routes:
        assert isinstance(route, Route), route
        for method in route.methods or ():
            if method == "HEAD":
                continue
            if route.path == _KINTONE_ROUTE:
                apis = {*HANDLERS, ("POST", "bulkRequest"), ("POST", "file")}
                out.update((m, f"/k/v1/{api}.json") for m, api in apis if m == method)
            else:
                out.add((method, route.path))
    return sorted(out)


ROUTES = fuzzed_routes()


def test_every_route_is_fuzzed() -> None:
    paths = {path for _, path in ROUTES}
    assert "/k/v1/records.json" in paths
    assert "/k/v1/bulkRequest.json" in paths
    assert "/_emulator/faults" in paths
    assert "/v1/users.json" in paths
    assert len(ROUTES) >= 35


# --- strategies -----------------------------------------------------------------------------

SCHEMA = AppSchema.from_properties(SEED.apps[0].properties)
CODES = sorted({*SCHEMA.fields, *SCHEMA.inner})
APP_IDS = [app.id for app in SEED.apps]

# Text with the awkward cases up front: lone surrogates, non-ASCII digits, huge numbers.
nasty = st.sampled_from(
    [
        "\ud800",
        "a\udfffb",
        "²",
        "١٢",
        "9" * 5000,
        "1e300000000",
        "-1",
        "0",
        "",
        " ",
        "NaN",
        "0001-01-01T00:00:00+09:00",
        "9999-12-31T23:59:00-05:00",
        "(" * 300,
        "\x00",
        "日本語",
    ]
)
text = st.one_of(st.text(max_size=30), nasty)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(text, st.sampled_from(CODES)), inner, max_size=4),
    ),
    max_leaves=20,
)
field_values = st.one_of(
    json_values,
    st.lists(st.fixed_dictionaries({"code": text}), max_size=3),
    st.lists(st.fixed_dictionaries({"fileKey": text}), max_size=2),
    st.lists(
        st.fixed_dictionaries(
            {
                "id": st.one_of(text, st.integers()),
                "value": st.dictionaries(
                    st.sampled_from(CODES),
                    st.fixed_dictionaries({"value": json_values}),
                    max_size=3,
                ),
            }
        ),
        max_size=3,
    ),
)
records = st.dictionaries(
    st.sampled_from(CODES), st.fixed_dictionaries({"value": field_values}), max_size=6
)
query_tokens = st.one_of(
    st.sampled_from(CODES),
    st.sampled_from(
        [
            "$id",
            "and",
            "or",
            "(",
            ")",
            ",",
            "order by",
            "asc",
            "desc",
            "limit",
            "offset",
            "in",
            "not in",
            "like",
            "not like",
            "is empty",
            "is not empty",
            "=",
            "!=",
            "<",
            ">",
            "<=",
            ">=",
            "TODAY()",
            "NOW()",
            "LOGINUSER()",
            "FROM_TODAY(3, DAYS)",
            "FROM_TODAY(99999999, YEARS)",
            "THIS_MONTH()",
        ]
    ),
    st.builds(json.dumps, text),
    st.integers(min_value=-(10**6), max_value=10**25).map(str),
)
queries = st.one_of(st.lists(query_tokens, max_size=12).map(" ".join), text)
ids = st.one_of(st.sampled_from(APP_IDS), st.integers(), text)
payloads = st.fixed_dictionaries(
    {},
    optional={
        "app": ids,
        "id": ids,
        "ids": st.lists(ids, max_size=3),
        "revision": ids,
        "revisions": st.lists(ids, max_size=3),
        "record": records,
        "records": st.lists(
            st.one_of(
                records,
                st.fixed_dictionaries({"id": ids, "record": records}),
                st.fixed_dictionaries(
                    {
                        "updateKey": st.fixed_dictionaries(
                            {"field": st.sampled_from(CODES), "value": text}
                        ),
                        "record": records,
                    }
                ),
            ),
            max_size=3,
        ),
        "upsert": st.booleans(),
        "query": queries,
        "fields": st.one_of(st.lists(st.sampled_from(CODES), max_size=3), text),
        "totalCount": st.one_of(st.booleans(), text),
        "size": ids,
        "requests": st.lists(
            st.fixed_dictionaries(
                {
                    "method": st.sampled_from(["POST", "PUT", "DELETE", "GET", "x"]),
                    "api": st.sampled_from(
                        [
                            "/k/v1/record.json",
                            "/k/v1/records.json",
                            "/k/guest/7/v1/records.json",
                            "/k/v1/app.json",
                            "x",
                        ]
                    ),
                    "payload": json_values,
                }
            ),
            max_size=3,
        ),
        "users": st.lists(json_values, max_size=2),
        "codes": st.lists(text, max_size=2),
        "code": text,
        "path": text,
        "status": st.one_of(st.integers(), text),
        "drop": text,
    },
)
params = st.dictionaries(
    st.sampled_from(
        [
            "app",
            "id",
            "ids[0]",
            "ids[1]",
            "query",
            "fields[0]",
            "totalCount",
            "limit",
            "offset",
            "size",
            "codes[0]",
            "name",
            "spaceIds[0]",
            "fileKey",
            "code",
            "client_id",
            "redirect_uri",
            "response_type",
            "scope",
            "state",
        ]
    ),
    st.one_of(text, st.sampled_from(APP_IDS).map(str), queries),
    max_size=5,
)


@st.composite
def bodies(draw: st.DrawFn) -> tuple[bytes | None, dict[str, str], dict[str, Any] | None]:
    """(content, extra headers, multipart files)."""
    kind = draw(st.sampled_from(["none", "bytes", "json", "payload", "deep", "form", "file"]))
    if kind == "none":
        return None, {}, None
    if kind == "bytes":
        content_type = draw(
            st.sampled_from(["application/json", "multipart/form-data", "text/plain"])
        )
        return draw(st.binary(max_size=200)), {"Content-Type": content_type}, None
    if kind == "deep":
        depth = draw(st.sampled_from([65, 1000, 100_000]))
        return b"[" * depth + b"]" * depth, {"Content-Type": "application/json"}, None
    if kind == "form":
        form = draw(
            st.dictionaries(
                st.sampled_from(
                    [
                        "grant_type",
                        "code",
                        "refresh_token",
                        "client_id",
                        "client_secret",
                        "redirect_uri",
                    ]
                ),
                text,
                max_size=4,
            )
        )
        from urllib.parse import urlencode

        encoded = urlencode({k: v.encode("utf-8", "surrogatepass") for k, v in form.items()})
        return encoded.encode(), {"Content-Type": "application/x-www-form-urlencoded"}, None
    if kind == "file":
        name = draw(st.text(max_size=20))
        return None, {}, {"file": (name, draw(st.binary(max_size=100)), "text/plain")}
    data = draw(json_values if kind == "json" else payloads)
    return json.dumps(data, ensure_ascii=True).encode(), {"Content-Type": "application/json"}, None


credentials = st.one_of(
    st.just({"X-Cybozu-API-Token": "full-token"}),
    st.just({"X-Cybozu-API-Token": "view-token,guest-token"}),
    st.just(password_header("alice", "s3cret:x")),
    st.just({}),
    st.binary(max_size=20).map(lambda b: {"X-Cybozu-Authorization": b.hex() or "x"}),
    st.sampled_from(
        [
            {"X-Cybozu-Authorization": "pässwörd"},
            {"X-Cybozu-API-Token": "tökén"},
            {"Authorization": "Bearer nöpe"},
            {"Authorization": "Basic ü"},
            {"X-HTTP-Method-Override": "GET"},
        ]
    ),
)
prefixes = st.sampled_from(["/k/v1/", "/k/guest/7/v1/", "/k/v1/preview/", "/k/guest/²/v1/"])


# --- the test -------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_no_route_crashes_hangs_or_answers_500(method: str, path: str, tmp_path: Path) -> None:
    # A data file only where it is the point: with one, the app also autosaves in the background.
    data = tmp_path / "emulator.data" if path == "/_emulator/save" else None
    app = create_app(SEED, data=data)
    with TestClient(
        app, base_url=BASE_URL, raise_server_exceptions=True, follow_redirects=False
    ) as client:
        fuzz(client, method, path)
    if data is not None:  # whatever the fuzzing stored loads again
        assert data.exists()
        Domain(SEED.apps).restore(data)


def fuzz(client: TestClient, method: str, path: str) -> None:
    """Send `EXAMPLES` random requests to one route."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=not LONG,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        query=params,
        body=bodies(),
        auth=credentials,
        prefix=prefixes,
    )
    def one_request(
        query: dict[str, str],
        body: tuple[bytes | None, dict[str, str], dict[str, Any] | None],
        auth: dict[str, str],
        prefix: str,
    ) -> None:
        content, headers, files = body
        url = re.sub(r"\{[^}]+\}", "x", path)
        if url.startswith("/k/v1/"):
            url = prefix + url.removeprefix("/k/v1/")
        # Header values go as UTF-8 bytes, as a hostile client may send them.
        sent = {k: v.encode("utf-8", "surrogatepass") for k, v in {**auth, **headers}.items()}
        params_sent = {k: v.encode("utf-8", "surrogatepass") for k, v in query.items()}
        started = time.perf_counter()
        resp = client.request(
            method,
            url,
            params=params_sent,  # type: ignore[arg-type]
            content=content,
            files=files,
            headers=sent,  # type: ignore[arg-type]
        )
        elapsed = time.perf_counter() - started
        assert resp.status_code < 500, (method, url, resp.status_code, resp.text[:300])
        assert elapsed < REQUEST_SECONDS, (method, url, elapsed)
        if url.startswith("/k/") and resp.status_code >= 400:
            answer = resp.json()
            if "results" in answer:  # a failed bulkRequest: the failing sub-request's error
                answer = next(r for r in answer["results"] if r)
            assert {"code", "id", "message"} <= set(answer), answer

    one_request()
