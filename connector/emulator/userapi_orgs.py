"""User API organizations: `organizations.json`, codes, members, and users' departments."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import api_error, invalid_one
from .userapi import CODE_LENGTH, MAX_PER_CALL, Problems, codes_of, one_code, page, selected
from .userapi_fields import LOCALES, choice
from .userapi_users import renames_of
from .users import SYSTEM_LOCALE, StoredEntity

if TYPE_CHECKING:
    from .userapi import Handler
    from .users import StoredUser, UserStore

WRITABLE = ("code", "name", "localName", "localNameLocale", "parentCode", "description")
DESCRIPTION_LENGTH = 1000


def get_orgs(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    found = selected(params, store.orgs.by_id, store.orgs.by_code)
    return {"organizations": [store.show_org(o) for o in page(params, found)]}


def add_orgs(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    """Add organizations; a parent added in the same call must come before its children, as
    the add-organizations page asks."""
    problems = Problems()
    staged: dict[str, StoredEntity] = {}
    next_id = store.orgs.next_id
    for index, item in enumerate(problems.items(params, "organizations", MAX_PER_CALL)):
        key = f"organizations[{index}]"
        entry = problems.entry(key, item, WRITABLE)
        if entry is None:
            continue
        code = _text(problems, f"{key}.code", entry.get("code"), required=True)
        if code is not None and (code in store.orgs.by_code or code in staged):
            problems.add(f"{key}.code", f"The organization code {code!r} is already in use.")
        name = _text(problems, f"{key}.name", entry.get("name"), required=True)
        org = StoredEntity(next_id + len(staged), code or "", name or "")
        org.localName = problems.text(f"{key}.localName", entry.get("localName"), CODE_LENGTH)
        locale = choice(problems, f"{key}.localNameLocale", entry.get("localNameLocale"), LOCALES)
        org.localNameLocale = locale or SYSTEM_LOCALE
        org.description = _description(problems, key, entry)
        parent = problems.text(f"{key}.parentCode", entry.get("parentCode"), CODE_LENGTH)
        if parent is not None:
            known = staged.get(parent) or store.orgs.by_code.get(parent)
            if known is None:
                problems.add(f"{key}.parentCode", f"The organization {parent!r} is not found.")
            else:
                org.parent = known.id
        if code is not None:
            staged[code] = org
    problems.raise_any()
    for org in staged.values():
        store.put_org(org)
    return {}


def update_orgs(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    """Update organizations as the update-organizations page says: name, localName and
    parentCode left out are kept, `parentCode: ""` moves to the top, `localNameLocale` left
    out, empty or null is kept, and a description left out becomes empty."""
    problems = Problems()
    staged: dict[str, StoredEntity] = {}
    keys: dict[str, str] = {}
    for index, item in enumerate(problems.items(params, "organizations", MAX_PER_CALL)):
        key = f"organizations[{index}]"
        entry = problems.entry(key, item, WRITABLE)
        if entry is None:
            continue
        code = _text(problems, f"{key}.code", entry.get("code"), required=True)
        current = store.orgs.by_code.get(code or "")
        if code is not None and (current is None or code in staged):
            problems.add(f"{key}.code", f"The organization {code!r} is not found or given twice.")
        if current is None or code is None:
            continue
        org = StoredEntity(**vars(current))
        if "name" in entry:
            org.name = _text(problems, f"{key}.name", entry["name"], required=True) or org.name
        if "localName" in entry:
            org.localName = problems.text(f"{key}.localName", entry["localName"], CODE_LENGTH)
        locale = choice(problems, f"{key}.localNameLocale", entry.get("localNameLocale"), LOCALES)
        org.localNameLocale = locale or org.localNameLocale
        org.description = _description(problems, key, entry)
        if "parentCode" in entry:
            parent = entry["parentCode"]
            org.parent = _parent(store, problems, f"{key}.parentCode", org, parent)
        staged[code] = org
        keys[code] = f"{key}.parentCode"
    _cycles(store, problems, staged, keys)
    problems.raise_any()
    for org in staged.values():
        store.put_org(org)
    return {}


def _cycles(
    store: UserStore,
    problems: Problems,
    staged: Mapping[str, StoredEntity],
    keys: Mapping[str, str],
) -> None:
    """Refuse moves that, taken together, would make an organization its own ancestor."""
    parents = {o.id: o.parent for o in store.orgs.by_id.values()}
    parents.update({o.id: o.parent for o in staged.values()})
    for code, org in staged.items():
        seen, step = {org.id}, parents.get(org.id)
        while step is not None:
            if step in seen:
                problems.add(keys[code], "The parents would form a loop.")
                break
            seen.add(step)
            step = parents.get(step)


def _parent(
    store: UserStore, problems: Problems, key: str, org: StoredEntity, parent: Any
) -> int | None:
    if parent == "" or parent is None:
        return None
    code = problems.text(key, parent, CODE_LENGTH)
    found = store.orgs.by_code.get(code or "")
    if found is None:
        problems.add(key, f"The organization {parent!r} is not found.")
        return org.parent
    if found.id == org.id or found.id in store.descendants(org.id):
        problems.add(key, "An organization cannot be its own parent or ancestor.")
        return org.parent
    return int(found.id)


def delete_orgs(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    """Delete organizations with their children (delete-organizations page). One with members
    is refused unless `org_delete_with_members: detach` (undocumented; docs/emulator.md)."""
    codes = codes_of(params, "codes")
    if not 1 <= len(codes) <= MAX_PER_CALL:
        raise invalid_one("codes", f"Specify between 1 and {MAX_PER_CALL} codes.")
    problems = Problems()
    doomed: dict[int, None] = {}
    for index, code in enumerate(codes):
        org = store.orgs.by_code.get(code)
        if org is None:
            problems.add(f"codes[{index}]", f"The organization {code!r} is not found.")
            continue
        tree = [org.id, *store.descendants(org.id)]
        if store.options.org_delete_with_members == "refuse" and any(
            store.org_members.get(i) for i in tree
        ):
            problems.add(f"codes[{index}]", f"The organization {code!r} or a child has members.")
        doomed.update(dict.fromkeys(tree))
    problems.raise_any()
    for org_id in reversed(list(doomed)):
        store.drop_org(store.orgs.by_id[org_id].code)
    return {}


def rename_orgs(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    store.rename_orgs(renames_of(params, store.orgs.by_code))
    return {}


def org_users(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    code = one_code(params)
    org = store.orgs.by_code.get(code)
    if org is None:
        raise api_error("GAIA_IL28", code=code)
    members = (store.users.by_id[i] for i in sorted(store.org_members.get(org.id, {})))
    return {
        "userTitles": [
            {"user": store.show_user(u), "title": store.show_title(u.organizations[org.id])}
            for u in page(params, members)
        ]
    }


def user_orgs(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    user = _user(store, params)
    return {
        "organizationTitles": [
            {"organization": store.show_org(store.orgs.by_id[o]), "title": store.show_title(t)}
            for o, t in user.organizations.items()
        ]
    }


def put_user_orgs(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    """Replace users' departments; an organization left out is left (full replacement)."""
    problems = Problems()
    staged: dict[str, dict[int, int | None]] = {}
    for index, item in enumerate(problems.items(params, "userOrganizations", MAX_PER_CALL)):
        key = f"userOrganizations[{index}]"
        entry = problems.entry(key, item, ("code", "organizations"))
        if entry is None:
            continue
        code = problems.text(f"{key}.code", entry.get("code"), CODE_LENGTH, required=True)
        if code is not None and code not in store.users.by_code:
            raise api_error("GAIA_IL26", code=code)
        items = entry.get("organizations")
        if not isinstance(items, list) or len(items) > MAX_PER_CALL:
            problems.add(f"{key}.organizations", f"Enter an array of at most {MAX_PER_CALL}.")
            continue
        memberships = _memberships(store, problems, f"{key}.organizations", items)
        if code is not None:
            staged[code] = memberships
    problems.raise_any()
    for code, memberships in staged.items():
        store.set_organizations(store.users.by_code[code], memberships)
    return {}


def _memberships(
    store: UserStore, problems: Problems, key: str, items: list[Any]
) -> dict[int, int | None]:
    out: dict[int, int | None] = {}
    for index, item in enumerate(items):
        here = f"{key}[{index}]"
        entry = problems.entry(here, item, ("orgCode", "titleCode"))
        if entry is None:
            continue
        org = problems.text(f"{here}.orgCode", entry.get("orgCode"), CODE_LENGTH, required=True)
        title = problems.text(f"{here}.titleCode", entry.get("titleCode"), CODE_LENGTH)
        if org is not None and org not in store.orgs.by_code:
            raise api_error("GAIA_IL28", code=org)
        if title is not None and title not in store.titles.by_code:
            problems.add(f"{here}.titleCode", f"The title {title!r} is not found.")
        if org is not None:
            found = store.titles.by_code.get(title or "")
            out[store.orgs.by_code[org].id] = found.id if found is not None else None
    return out


def _user(store: UserStore, params: Mapping[str, Any]) -> StoredUser:
    code = one_code(params)
    user = store.users.by_code.get(code)
    if user is None:
        raise api_error("GAIA_IL26", code=code)
    return user


def _text(problems: Problems, key: str, value: Any, *, required: bool) -> str | None:
    return problems.text(key, value, CODE_LENGTH, required=required, blank=False)


def _description(problems: Problems, key: str, entry: Mapping[str, Any]) -> str:
    text = problems.text(f"{key}.description", entry.get("description"), DESCRIPTION_LENGTH)
    return text or ""


ENDPOINTS: dict[str, dict[str, Handler]] = {
    "organizations": {
        "GET": get_orgs,
        "POST": add_orgs,
        "PUT": update_orgs,
        "DELETE": delete_orgs,
    },
    "organizations/codes": {"PUT": rename_orgs},
    "organization/users": {"GET": org_users},
    "user/organizations": {"GET": user_orgs},
    "userOrganizations": {"PUT": put_user_orgs},
}
