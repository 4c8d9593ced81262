"""Process management: its settings, the first status of a record, and status actions."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import api_error, invalid_one
from .params import as_id
from .schema import FieldType
from .store import AppState, Domain, StoredRecord

if TYPE_CHECKING:
    from .app import Call
    from .kintone_api import KintoneApi

Handler = Callable[["KintoneApi", "Call"], tuple[Any, int]]
MAX_RECORDS_PER_ACTION = 100
ASSIGNEE_TYPES = ("ONE", "ALL", "ANY")
# A status action adds two to the revision on a real domain (SonicGarden/kintone-emulator,
# packages/core/tests/api/record/status.test.ts, a dual test).
ACTION_REVISION_STEP = 2


def status_body(status: Mapping[str, Any], revision: int) -> dict[str, Any]:
    """`GET app/status.json`'s answer; each action shows `type: PRIMARY` unless set."""
    actions = status.get("actions")
    if isinstance(actions, list):
        actions = [{"type": "PRIMARY", "filterCond": "", **a} for a in actions]
    return {
        "enable": bool(status.get("enable")),
        "states": status.get("states"),
        "actions": actions,
        "revision": str(revision),
    }


def merge_settings(current: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any]:
    """The settings after a `PUT preview/app/status.json`: sent keys replace, then checks.

    Raises:
        ApiError: CB_VA01 keyed by the offending `states` or `actions` entry.
    """
    out = copy.deepcopy(dict(current))
    if "enable" in params:
        out["enable"] = bool(params["enable"])
    if "states" in params:
        states = params["states"]
        if not isinstance(states, Mapping):
            raise invalid_one("states", "Enter an object.")
        checked: dict[str, Any] = {}
        for key, state in states.items():
            if not isinstance(state, Mapping):
                raise invalid_one(f"states[{key}]", "Enter an object.")
            name = str(state.get("name", key))
            assignee = state.get("assignee") or {"type": "ONE", "entities": []}
            if not isinstance(assignee, Mapping) or assignee.get("type") not in ASSIGNEE_TYPES:
                raise invalid_one(f"states[{key}].assignee.type", "must be one of the enum value")
            entities = assignee.get("entities") or []
            if not isinstance(entities, list) or not all(isinstance(e, Mapping) for e in entities):
                raise invalid_one(f"states[{key}].assignee.entities", "Enter an array of objects.")
            index = str(state.get("index", len(checked)))
            if not index.isdigit():
                raise invalid_one(f"states[{key}].index", "Enter an integer value.")
            checked[name] = {
                "name": name,
                "index": index,
                "assignee": {"type": assignee["type"], "entities": entities},
            }
        out["states"] = checked
    if "actions" in params:
        actions = params["actions"]
        if not isinstance(actions, list):
            raise invalid_one("actions", "Enter an array.")
        out["actions"] = [dict(a) for a in actions if isinstance(a, Mapping)]
    states = out.get("states") or {}
    for position, action in enumerate(out.get("actions") or []):
        for end in ("from", "to"):
            if not isinstance(action.get(end), str) or action[end] not in states:
                raise invalid_one(f"actions[{position}].{end}", "Specify a status of the app.")
        if not isinstance(action.get("name"), str) or not action["name"]:
            raise invalid_one(f"actions[{position}].name", "Required field.")
    if out.get("enable") and not states:
        raise invalid_one("states", "Required field.")
    return out


def _code_of(app: AppState, ftype: FieldType) -> str | None:
    return next((f.code for f in app.schema.fields.values() if f.type is ftype), None)


def enabled(app: AppState) -> bool:
    """Whether the app's live process management is on."""
    return bool((app.seed.status or {}).get("enable"))


def first_state(app: AppState) -> Mapping[str, Any] | None:
    """The state with the lowest index: where every new record starts."""
    states = (app.seed.status or {}).get("states") or {}
    if not states:
        return None
    first: Mapping[str, Any] = min(states.values(), key=lambda s: int(s.get("index", 0)))
    return first


def assignees(
    domain: Domain, app: AppState, state: Mapping[str, Any], values: Mapping[str, Any]
) -> list[dict[str, str]]:
    """The users a state's assignee entities name: users, the creator, or a user field."""
    out: list[dict[str, str]] = []
    for item in (state.get("assignee") or {}).get("entities") or []:
        entity = item.get("entity") or {}
        if not isinstance(entity, Mapping):
            continue
        kind, code = entity.get("type"), str(entity.get("code", ""))
        if kind == "USER" and code in domain.directory.users:
            user = domain.directory.users[code]
            out.append({"code": user.code, "name": user.name})
        elif kind == "CREATOR" or (kind == "FIELD_ENTITY" and code):
            field = code if kind == "FIELD_ENTITY" else _code_of(app, FieldType.CREATOR)
            value = values.get(field or "")
            for found in value if isinstance(value, list) else [value]:
                if isinstance(found, Mapping) and found.get("code"):
                    out.append({"code": str(found["code"]), "name": str(found.get("name", ""))})
    unique = {u["code"]: u for u in out}
    return list(unique.values())


def start(domain: Domain, app: AppState, values: dict[str, Any]) -> None:
    """Put a new record in the first status, with that status's assignees."""
    state = first_state(app) if enabled(app) else None
    status_code = _code_of(app, FieldType.STATUS)
    if state is None or status_code is None:
        return
    values[status_code] = state["name"]
    assignee_code = _code_of(app, FieldType.STATUS_ASSIGNEE)
    if assignee_code is not None:
        people = assignees(domain, app, state, values)
        if (state.get("assignee") or {}).get("type") == "ONE":
            people = people[:1]
        values[assignee_code] = people


def start_all(domain: Domain, app: AppState) -> None:
    """Process management just turned on: every record starts in the first status."""
    for record in list(app.records.values()):
        values = dict(record.values)
        start(domain, app, values)
        domain.put(app, StoredRecord(record.id, record.revision, values))


# --- actions ----------------------------------------------------------------------------------


def _act(
    api: KintoneApi, call: Call, app: AppState, item: Mapping[str, Any], prefix: str
) -> dict[str, str]:
    from .records import now_minute, revision_ok

    record_id = as_id(dict(item), "id") or 0
    record = app.records.get(record_id)
    if record is None:
        raise api_error("GAIA_RE01", id=record_id)
    if not revision_ok(item.get("revision"), record.revision):
        raise api_error("GAIA_CO02")
    name = item.get("action")
    if name in (None, ""):
        raise invalid_one(f"{prefix}action", "Required field.")
    status = app.seed.status or {}
    status_code = _code_of(app, FieldType.STATUS)
    current = record.values.get(status_code or "")
    action = next(
        (
            a
            for a in status.get("actions") or []
            if a.get("name") == name and a.get("from") == current
        ),
        None,
    )
    if action is None:
        # An unknown action and one that does not start from the current status both answer
        # GAIA_IL03 (SonicGarden/kintone-emulator, record/status.test.ts, a dual test).
        raise api_error("GAIA_IL03")
    target = (status.get("states") or {}).get(action["to"]) or {"name": action["to"]}
    values = dict(record.values)
    values[status_code or ""] = target["name"]
    assignee_code = _code_of(app, FieldType.STATUS_ASSIGNEE)
    if assignee_code is not None:
        chosen = item.get("assignee")
        if chosen not in (None, ""):
            user = api.domain.directory.users.get(str(chosen))
            if user is None:
                raise api_error("GAIA_IL26", code=chosen)
            values[assignee_code] = [{"code": user.code, "name": user.name}]
        else:
            people = assignees(api.domain, app, target, values)
            if (target.get("assignee") or {}).get("type") == "ONE":
                people = people[:1]
            values[assignee_code] = people
    actor = api.actor(call, app)
    for f in app.schema.fields.values():
        if f.type is FieldType.MODIFIER:
            values[f.code] = {"code": actor.user.code, "name": actor.user.name}
        elif f.type is FieldType.UPDATED_TIME:
            values[f.code] = now_minute()
    updated = StoredRecord(record.id, record.revision + ACTION_REVISION_STEP, values)
    api.domain.put(app, updated)
    return {"id": str(record.id), "revision": str(updated.revision)}


def _process_app(api: KintoneApi, call: Call) -> AppState:
    app = api._app(call, "edit")
    if not enabled(app):
        raise api_error("GAIA_ST02")
    return app


def _record_status(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`PUT record/status.json`: run one action on one record."""
    app = _process_app(api, call)
    done = _act(api, call, app, call.params, "")
    return {"revision": done["revision"]}, 1


def _records_status(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`PUT records/status.json`: run actions on up to 100 records, all or nothing."""
    app = _process_app(api, call)
    items = call.params.get("records")
    if not isinstance(items, list) or not items:
        raise invalid_one("records", "Required field.")
    if len(items) > MAX_RECORDS_PER_ACTION:
        raise invalid_one("records", "A maximum of 100 records can be updated at one time.")
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise invalid_one(f"records[{index}]", "Enter an object.")
        out.append(_act(api, call, app, item, f"records[{index}]."))
    return {"records": out}, len(out)


def _record_assignees(api: KintoneApi, call: Call) -> tuple[Any, int]:
    """`PUT record/assignees.json`: replace the assignees of a record's current status."""
    from .records import revision_ok

    app = _process_app(api, call)
    record_id = as_id(call.params, "id") or 0
    record = app.records.get(record_id)
    if record is None:
        raise api_error("GAIA_RE01", id=record_id)
    if not revision_ok(call.params.get("revision"), record.revision):
        raise api_error("GAIA_CO02")
    codes = call.params.get("assignees")
    if not isinstance(codes, list):
        raise invalid_one("assignees", "Required field.")
    people = []
    for code in codes:
        user = api.domain.directory.users.get(str(code))
        if user is None:
            raise api_error("GAIA_IL26", code=code)
        people.append({"code": user.code, "name": user.name})
    values = dict(record.values)
    values[_code_of(app, FieldType.STATUS_ASSIGNEE) or ""] = people
    updated = StoredRecord(record.id, record.revision + 1, values)
    api.domain.put(app, updated)
    return {"revision": str(updated.revision)}, 1


HANDLERS: dict[tuple[str, str], Handler] = {
    ("PUT", "record/status"): _record_status,
    ("PUT", "records/status"): _records_status,
    ("PUT", "record/assignees"): _record_assignees,
}
