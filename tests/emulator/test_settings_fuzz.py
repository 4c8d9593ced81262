"""Random JSON against the form-settings, process and comment routes: never a 500."""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.emulator import Seed

from .conftest import error, make_client, password_header

EXAMPLES = 400 if os.environ.get("KINTONE_SYNC_LONG_TESTS") == "1" else 40
ROUTES = [
    ("POST", "/k/v1/preview/app.json"),
    ("POST", "/k/v1/preview/app/form/fields.json"),
    ("PUT", "/k/v1/preview/app/form/fields.json"),
    ("DELETE", "/k/v1/preview/app/form/fields.json"),
    ("PUT", "/k/v1/preview/app/form/layout.json"),
    ("PUT", "/k/v1/preview/app/status.json"),
    ("POST", "/k/v1/preview/app/deploy.json"),
    ("GET", "/k/v1/preview/app/deploy.json"),
    ("PUT", "/k/v1/record/status.json"),
    ("PUT", "/k/v1/records/status.json"),
    ("PUT", "/k/v1/record/assignees.json"),
    ("POST", "/k/v1/record/comment.json"),
    ("DELETE", "/k/v1/record/comment.json"),
    ("GET", "/k/v1/record/comments.json"),
]
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.text(max_size=5), st.sampled_from(["1", "x"])
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
keys = st.sampled_from(
    ["app", "id", "record", "name", "properties", "fields", "layout", "states", "actions",
     "enable", "apps", "revert", "action", "assignee", "assignees", "records", "comment",
     "order", "offset", "limit", "revision", "type", "code"]
)  # fmt: skip
# Bodies shaped like the real ones, with random inner values, so the checks deep inside run.
prop_keys = st.sampled_from(
    ["code", "label", "required", "unique", "maxLength", "minValue", "options", "lookup",
     "expression", "format", "fields", "defaultValue", "entities"]
)  # fmt: skip
field_props = st.builds(
    lambda t, rest: {"type": t, **rest},
    st.sampled_from(["SINGLE_LINE_TEXT", "NUMBER", "CALC", "DROP_DOWN", "SUBTABLE", "USER_SELECT"]),
    st.dictionaries(prop_keys, values, max_size=3),
)
shaped = st.one_of(
    st.fixed_dictionaries(
        {"properties": st.dictionaries(st.sampled_from(["a", "b"]), field_props)}
    ),
    st.fixed_dictionaries(
        {"states": st.dictionaries(st.sampled_from(["s", "t"]), st.dictionaries(keys, values))}
    ),
    st.fixed_dictionaries({"layout": st.lists(st.dictionaries(keys, values), max_size=2)}),
    st.fixed_dictionaries(
        {"comment": st.dictionaries(st.sampled_from(["text", "mentions"]), values)}
    ),
)
bodies = st.builds(
    lambda app, rest: {"app": app, **rest},
    st.sampled_from([1, "1", 1, 99, None]),
    st.one_of(st.dictionaries(keys, st.one_of(values, st.just(1)), max_size=5), shaped),
)


# Bodies of the right outer shape with a wrong inner one: each once answered 500.
MALFORMED = [
    ("PUT", "/k/v1/preview/app/status.json", {"states": {"a": {"assignee": "x"}}}),
    ("PUT", "/k/v1/preview/app/status.json", {"states": {"a": {"index": "x"}}, "enable": True}),
    ("PUT", "/k/v1/preview/app/status.json", {"actions": [{"name": "a", "from": [], "to": "x"}]}),
    ("PUT", "/k/v1/preview/app/form/layout.json", {"layout": [{"type": "ROW", "fields": 5}]}),
    ("PUT", "/k/v1/preview/app/form/layout.json", {"layout": [{"type": "GROUP", "layout": 5}]}),
    ("PUT", "/k/v1/preview/app/form/fields.json",
     {"properties": {"orders": {"fields": {"item": 5}}}}),
    ("POST", "/k/v1/preview/app/form/fields.json",
     {"properties": {"z": {"type": "SINGLE_LINE_TEXT", "lookup": {"fieldMappings": [5]}}}}),
    ("POST", "/k/v1/preview/app/form/fields.json",
     {"properties": {"z": {"type": "SINGLE_LINE_TEXT", "lookup": {"fieldMappings": 5}}}}),
    ("POST", "/k/v1/preview/app/form/fields.json",
     {"properties": {"z": {"type": "CALC", "format": [1]}}}),
    ("POST", "/k/v1/preview/app/form/fields.json",
     {"properties": {"z": {"type": "SINGLE_LINE_TEXT", "maxLength": "many"}}}),
    ("POST", "/k/v1/preview/app/form/fields.json",
     {"properties": {"z": {"type": "DROP_DOWN", "options": 3}}}),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "body"), MALFORMED)
def test_malformed_settings_are_cb_va01(
    seed: Seed, method: str, path: str, body: dict[str, Any]
) -> None:
    with make_client(seed, headers=password_header("alice", "s3cret:x")) as client:
        error(client.request(method, path, json={"app": 1, **body}), 400, "CB_VA01")
        # The preview still deploys: nothing half-applied was kept.
        deployed = client.post("/k/v1/preview/app/deploy.json", json={"apps": [{"app": 1}]})
        assert deployed.status_code == 200, deployed.text


def test_no_route_answers_500(seed: Seed) -> None:
    client = make_client(seed, headers=password_header("alice", "s3cret:x"))

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(st.sampled_from(ROUTES), bodies)
    def run(route: tuple[str, str], body: dict[str, Any]) -> None:
        method, path = route
        resp = client.request(method, path, json=body)
        assert resp.status_code < 500, (method, path, body, resp.text)
        assert "code" in resp.json() or resp.status_code == 200

    with client:
        record = {"code": {"value": "C"}}
        assert (
            client.post("/k/v1/record.json", json={"app": 1, "record": record}).status_code == 200
        )
        run()
