"""User API users: `users.json` (get, add, update, delete), login names and services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import invalid_one
from .userapi import (
    CODE_LENGTH,
    MAX_PER_CALL,
    Problems,
    codes_of,
    page,
    selected,
)
from .userapi_fields import SERVICES, WRITABLE, name_of, profile
from .users import StoredUser, now

if TYPE_CHECKING:
    from .userapi import Handler
    from .users import UserStore


def get_users(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    found = selected(params, store.users.by_id, store.users.by_code)
    return {"users": [store.show_user(u) for u in page(params, found)]}


def add_users(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    problems = Problems()
    staged: list[StoredUser] = []
    seen: set[str] = set()
    next_id = store.users.next_id
    for index, item in enumerate(problems.items(params, "users", MAX_PER_CALL)):
        key = f"users[{index}]"
        entry = problems.entry(key, item, WRITABLE)
        if entry is None:
            continue
        code = name_of(problems, f"{key}.code", entry.get("code"))
        if code is not None and (code in store.users.by_code or code in seen):
            # Undocumented code for a login name in use: CB_VA01 at the entry (docs/emulator.md).
            problems.add(f"{key}.code", "The login name is already in use.")
        password = problems.text(f"{key}.password", entry.get("password"), 64, required=True)
        name = name_of(problems, f"{key}.name", entry.get("name"))
        user = StoredUser(next_id + len(staged), code or "", name or "", password or "", False)
        profile(store, problems, key, entry, user, clear=True)
        seen.add(user.code)
        staged.append(user)
    problems.raise_any()
    for user in staged:
        store.put_user(user)
    return {}


def update_users(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    problems = Problems()
    staged: list[StoredUser] = []
    seen: set[str] = set()
    clear = store.options.user_update_omitted == "clear"
    for index, item in enumerate(problems.items(params, "users", MAX_PER_CALL)):
        key = f"users[{index}]"
        entry = problems.entry(key, item, WRITABLE)
        if entry is None:
            continue
        code = problems.text(f"{key}.code", entry.get("code"), CODE_LENGTH, required=True)
        current = store.users.by_code.get(code or "")
        if code is not None and current is None:
            problems.add(f"{key}.code", f"The user (code: {code}) is not found.")
        elif code is not None and code in seen:
            problems.add(f"{key}.code", "The user is given more than once.")
        if current is None or code is None:
            continue
        seen.add(code)
        user = StoredUser(
            current.id,
            current.code,
            current.name,
            current.password,
            current.administrator,
            ctime=current.ctime,
            profile=dict(current.profile),
            custom=dict(current.custom),
            services=current.services,
            organizations=current.organizations,
            groups=current.groups,
        )
        # Name and password cannot be emptied, so leaving them out keeps them.
        if "name" in entry:
            user.name = name_of(problems, f"{key}.name", entry["name"]) or ""
        if "password" in entry:
            password = problems.text(f"{key}.password", entry["password"], 64, required=True)
            user.password = password or ""
        profile(store, problems, key, entry, user, clear=clear)
        staged.append(user)
    problems.raise_any()
    for user in staged:
        store.put_user(user)
    return {}


def delete_users(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    codes = codes_of(params, "codes")
    if not 1 <= len(codes) <= MAX_PER_CALL:
        raise invalid_one("codes", f"Specify between 1 and {MAX_PER_CALL} codes.")
    problems = Problems()
    for index, code in enumerate(codes):
        if code not in store.users.by_code:
            problems.add(f"codes[{index}]", f"The user (code: {code}) is not found.")
    problems.raise_any()
    for code in dict.fromkeys(codes):
        store.drop_user(code)
    return {}


def rename_users(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    renames = renames_of(params, store.users.by_code)
    store.rename_users(renames)
    for new in renames.values():
        store.users.by_code[new].mtime = now()
    return {}


def renames_of(params: dict[str, Any], existing: Mapping[str, Any]) -> dict[str, str]:
    """`codes: [{currentCode, newCode}]` checked as a whole: every current code exists, no new
    code is taken before the request or given twice.

    Raises:
        ApiError: CB_VA01 keyed by each bad entry.
    """
    problems = Problems()
    out: dict[str, str] = {}
    for index, item in enumerate(problems.items(params, "codes", MAX_PER_CALL)):
        key = f"codes[{index}]"
        entry = problems.entry(key, item, ("currentCode", "newCode"))
        if entry is None:
            continue
        old = problems.text(
            f"{key}.currentCode", entry.get("currentCode"), CODE_LENGTH, required=True, blank=False
        )
        new = problems.text(
            f"{key}.newCode", entry.get("newCode"), CODE_LENGTH, required=True, blank=False
        )
        if old is not None and old not in existing:
            problems.add(f"{key}.currentCode", f"The code {old!r} is not found.")
        elif old is not None and old in out:
            problems.add(f"{key}.currentCode", "The code is given more than once.")
        if new is not None and (new in existing or new in out.values()):
            problems.add(f"{key}.newCode", f"The code {new!r} is already in use.")
        if old is not None and new is not None:
            out[old] = new
    problems.raise_any()
    return out


def get_services(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    found = selected({"codes": params.get("codes")}, store.users.by_id, store.users.by_code)
    shown = [{"code": u.code, "services": list(u.services)} for u in page(params, found)]
    return {"users": shown}


def put_services(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    problems = Problems()
    staged: dict[str, list[str]] = {}
    for index, item in enumerate(problems.items(params, "users", MAX_PER_CALL)):
        key = f"users[{index}]"
        entry = problems.entry(key, item, ("code", "services"))
        if entry is None:
            continue
        code = problems.text(f"{key}.code", entry.get("code"), CODE_LENGTH, required=True)
        if code is not None and code not in store.users.by_code:
            problems.add(f"{key}.code", f"The user (code: {code}) is not found.")
        services = entry.get("services")
        if not isinstance(services, list) or not all(s in SERVICES for s in services):
            problems.add(f"{key}.services", f"Enter an array of {', '.join(SERVICES)}.")
        elif code is not None:
            staged[code] = list(dict.fromkeys(services))
    problems.raise_any()
    for code, services in staged.items():
        store.users.by_code[code].services = services
    return {}


ENDPOINTS: dict[str, dict[str, Handler]] = {
    "users": {
        "GET": get_users,
        "POST": add_users,
        "PUT": update_users,
        "DELETE": delete_users,
    },
    "users/codes": {"PUT": rename_users},
    "users/services": {"GET": get_services, "PUT": put_services},
}
