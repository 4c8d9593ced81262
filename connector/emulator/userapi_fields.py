"""The User type's writable fields checked and set, as the add- and update-users pages say."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .userapi import CODE_LENGTH, Problems
from .users import DEFAULT_TIMEZONE, StoredUser, now

if TYPE_CHECKING:
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


def profile(
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
        fields["locale"] = choice(
            problems, f"{key}.locale", entry.get("locale"), (*LOCALES, "auto")
        )
        fields["locale"] = fields["locale"] or "auto"
    if "localNameLocale" in entry or clear:
        locale = entry.get("localNameLocale")
        fields["localNameLocale"] = choice(problems, f"{key}.localNameLocale", locale, LOCALES)
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


def name_of(problems: Problems, key: str, value: Any) -> str | None:
    """A login name or display name: required, at most 128 characters, not only spaces."""
    return problems.text(key, value, CODE_LENGTH, required=True, blank=False)


def choice(problems: Problems, key: str, value: Any, allowed: tuple[str, ...]) -> str | None:
    """One of the allowed texts, or None when empty; anything else is a problem at `key`."""
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
