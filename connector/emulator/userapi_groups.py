"""User API groups (roles): `groups.json`, a user's groups and a group's users."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import api_error, invalid_one
from .userapi import MAX_GROUPS_PER_USER, codes_of, one_code, page, selected

if TYPE_CHECKING:
    from .userapi import Handler
    from .users import UserStore


def get_groups(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    found = selected(params, store.groups.by_id, store.groups.by_code)
    return {"groups": [store.show_plain(g) for g in page(params, found)]}


def user_groups(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    code = one_code(params)
    user = store.users.by_code.get(code)
    if user is None:
        raise api_error("GAIA_IL26", code=code)
    return {"groups": [store.show_plain(store.groups.by_id[g]) for g in sorted(user.groups)]}


def put_user_groups(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    """Replace one user's groups (full replacement); dynamic groups cannot be given
    (update-users-groups page)."""
    code = one_code(params)
    user = store.users.by_code.get(code)
    if user is None:
        raise api_error("GAIA_IL26", code=code)
    codes = _listed(params, "groups")
    for index, group_code in enumerate(codes):
        group = store.groups.by_code.get(group_code)
        if group is None:
            raise api_error("GAIA_IL27", code=group_code)
        if group.dynamic:
            raise invalid_one(f"groups[{index}]", f"The group {group_code!r} is dynamic.")
    # Dynamic memberships come from the group's conditions, not from this call: kept as they are.
    kept = [g for g in user.groups if store.groups.by_id[g].dynamic]
    store.set_groups(user, [*kept, *(store.groups.by_code[c].id for c in codes)])
    return {}


def group_users(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    code = one_code(params)
    group = store.groups.by_code.get(code)
    if group is None:
        raise api_error("GAIA_IL27", code=code)
    members = (store.users.by_id[i] for i in sorted(store.group_members.get(group.id, {})))
    return {"users": [store.show_user(u) for u in page(params, members)]}


def put_group_users(store: UserStore, params: dict[str, Any]) -> dict[str, Any]:
    """Replace a static group's users (full replacement; update-group-users page)."""
    code = one_code(params)
    group = store.groups.by_code.get(code)
    if group is None:
        raise api_error("GAIA_IL27", code=code)
    if group.dynamic:
        raise invalid_one("code", f"The group {code!r} is dynamic; edit its conditions instead.")
    logins = _listed(params, "users")
    for login in logins:
        if login not in store.users.by_code:
            raise api_error("GAIA_IL26", code=login)
    wanted = {store.users.by_code[login].id for login in logins}
    for user_id in [*store.group_members.get(group.id, {}), *wanted]:
        user = store.users.by_id[user_id]
        others = [g for g in user.groups if g != group.id]
        store.set_groups(user, [*others, group.id] if user_id in wanted else others)
    return {}


def _listed(params: dict[str, Any], name: str) -> list[str]:
    if not isinstance(params.get(name), list):
        raise invalid_one(name, "Required field.")
    codes = codes_of(params, name)
    if len(codes) > MAX_GROUPS_PER_USER:
        raise invalid_one(name, f"Specify at most {MAX_GROUPS_PER_USER} items.")
    return codes


ENDPOINTS: dict[str, dict[str, Handler]] = {
    "groups": {"GET": get_groups},
    "user/groups": {"GET": user_groups, "PUT": put_user_groups},
    "group/users": {"GET": group_users, "PUT": put_group_users},
}
