"""User API users: `users.json` (get, add, update, delete), login names and services."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
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
from .users import DEFAULT_TIMEZONE, StoredUser, now

if TYPE_CHECKING:
    from .userapi import Handler
    from .users import UserStore

# Longest value per text field (cybozu.dev add-users page); `callto` has only "Skype's rules",
# so 256 is the emulator's bound.
LIMITS = {
    "surName": 64,
    "givenName": 64,
    "surNameReading": 64,
    "givenNameReading": 64,
    "localName": 128,
    "description": 1000,
    "phone": 100,
    "mobilePhone": 100,
    "extensionNumber": 100,
    "email": 256,
    "callto": 256,
    "url": 256,
    "employeeNumber": 100,
}
LOCALES = ("ja", "en", "zh", "zh-TW", "es", "pt-BR", "th")
SERVICES = ("kintone", "garoon", "office", "mailwise", "secure_access")
CUSTOM_VALUE_LENGTH = 1000
"""Longest custom item value; undocumented, the emulator's bound."""
MAX_SORT_ORDER = 2**31 - 1
# Fields an add or update may carry: the User type's writable keys.
WRITABLE = (
    "code",
    "password",
    "valid",
    "name",
    *LIMITS,
    "locale",
    "localNameLocale",
    "timezone",
    "birthDate",
    "joinDate",
    "primaryOrganization",
    "sortOrder",
    "customItemValues",
)


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
        code = _name(problems, f"{key}.code", entry.get("code"))
        if code is not None and (code in store.users.by_code or code in seen):
            # Undocumented code for a login name in use: CB_VA01 at the entry (docs/emulator.md).
            problems.add(f"{key}.code", "The login name is already in use.")
        password = problems.text(f"{key}.password", entry.get("password"), 64, required=True)
        name = _name(problems, f"{key}.name", entry.get("name"))
        user = StoredUser(next_id + len(staged), code or "", name or "", password or "", False)
        _profile(store, problems, key, entry, user, clear=True)
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
            user.name = _name(problems, f"{key}.name", entry["name"]) or ""
        if "password" in entry:
            password = problems.text(f"{key}.password", entry["password"], 64, required=True)
            user.password = password or ""
        _profile(store, problems, key, entry, user, clear=clear)
        staged.append(user)
    problems.raise_any()
    for user in staged:
        store.put_user(user)
    return {}


def _profile(
    store: UserStore,
    problems: Problems,
    key: str,
    entry: Mapping[str, Any],
    user: StoredUser,
    *,
    clear: bool,
) -> None:
    """Check and set a user's optional fields. An omitted field is set to its default when
    `clear` (an add, or an update with `user_update_omitted: clear`), else left as it is;
    an omitted `valid` is always true (update-users page)."""
    valid = entry.get("valid", True)
    if not isinstance(valid, bool):
        problems.add(f"{key}.valid", "Enter true or false.")
    user.valid = valid is not False
    fields: dict[str, Any] = {}
    for name, limit in LIMITS.items():
        if name in entry or clear:
            fields[name] = problems.text(f"{key}.{name}", entry.get(name), limit)
    if "locale" in entry or clear:
        fields["locale"] = _choice(
            problems, f"{key}.locale", entry.get("locale"), (*LOCALES, "auto")
        )
        fields["locale"] = fields["locale"] or "auto"
    if "localNameLocale" in entry or clear:
        locale = entry.get("localNameLocale")
        fields["localNameLocale"] = _choice(problems, f"{key}.localNameLocale", locale, LOCALES)
    if "timezone" in entry or clear:
        fields["timezone"] = _timezone(problems, f"{key}.timezone", entry.get("timezone"))
    for name in ("birthDate", "joinDate"):
        if name in entry or clear:
            fields[name] = _date(problems, f"{key}.{name}", entry.get(name))
    if "primaryOrganization" in entry or clear:
        org = problems.text(f"{key}.primaryOrganization", entry.get("primaryOrganization"), 128)
        if org is not None and org not in store.orgs.by_code:
            problems.add(f"{key}.primaryOrganization", f"The organization {org!r} is not found.")
        fields["primaryOrganization"] = (
            store.orgs.by_code[org].id if org in store.orgs.by_code else None
        )
    if "sortOrder" in entry or clear:
        fields["sortOrder"] = _sort_order(problems, f"{key}.sortOrder", entry.get("sortOrder"))
    if "customItemValues" in entry or clear:
        user.custom = _custom(
            store, problems, f"{key}.customItemValues", entry.get("customItemValues")
        )
    user.profile.update(fields)
    user.mtime = now()


def _name(problems: Problems, key: str, value: Any) -> str | None:
    """A login name or display name: required, at most 128 characters, not only spaces."""
    return problems.text(key, value, CODE_LENGTH, required=True, blank=False)


def _choice(problems: Problems, key: str, value: Any, allowed: tuple[str, ...]) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        problems.add(key, f"Enter one of {', '.join(allowed)}.")
        return None
    return str(value)


@functools.cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone(problems: Problems, key: str, value: Any) -> str:
    if value is None or value == "":
        return DEFAULT_TIMEZONE
    zones = _zones()
    if not isinstance(value, str) or (zones and value not in zones):
        problems.add(key, "Enter a time zone ID such as Asia/Tokyo.")
        return DEFAULT_TIMEZONE
    return value


def _date(problems: Problems, key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError(value)
        dt.date.fromisoformat(value)
    except ValueError:
        problems.add(key, "Enter a date as YYYY-MM-DD.")
        return None
    return value


def _sort_order(problems: Problems, key: str, value: Any) -> int | None:
    if value is None or value == "":
        return None
    text = (
        str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    )
    if not text.isascii() or not text.isdigit() or len(text) > 10 or int(text) > MAX_SORT_ORDER:
        problems.add(key, f"Enter a whole number between 0 and {MAX_SORT_ORDER}.")
        return None
    return int(text)


def _custom(store: UserStore, problems: Problems, key: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, list):
        problems.add(key, "Enter an array of {code, value}.")
        return {}
    out: dict[str, str] = {}
    for index, item in enumerate(value):
        here = f"{key}[{index}]"
        entry = problems.entry(here, item, ("code", "value"))
        if entry is None:
            continue
        code = problems.text(f"{here}.code", entry.get("code"), CODE_LENGTH, required=True)
        if code is not None and code not in store.custom_items:
            problems.add(f"{here}.code", f"The custom item {code!r} is not found.")
        elif code is not None and code in out:
            problems.add(f"{here}.code", "The custom item is given more than once.")
        text = problems.text(f"{here}.value", entry.get("value"), CUSTOM_VALUE_LENGTH)
        if code is not None and text is not None:
            out[code] = text
        elif code is not None:
            out.setdefault(code, "")
    return {k: v for k, v in out.items() if v}


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
