"""The domain's users, organizations, groups and titles: the User API's store, by code and id."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

from .auth import same_secret
from .seed import MembershipSeed, Options, Seed
from .store import Directory, Entity

DEFAULT_TIMEZONE = "Asia/Tokyo"
SYSTEM_LOCALE = "ja"
"""The domain's language, given to an organization added without `localNameLocale`."""
# The User type's text fields besides code and name (cybozu.dev data-structure page), in the
# order a `users.json` answer lists them; all are null when unset.
PROFILE_TEXT = (
    "surName",
    "givenName",
    "surNameReading",
    "givenNameReading",
    "localName",
    "localNameLocale",
    "timezone",
    "locale",
    "description",
    "phone",
    "mobilePhone",
    "extensionNumber",
    "email",
    "callto",
    "url",
    "employeeNumber",
    "birthDate",
    "joinDate",
)


def now() -> str:
    """The current time as the User API shows `ctime`/`mtime`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class StoredUser:
    """One user. Memberships hold ids, so a code can change without touching them."""

    id: int
    code: str
    name: str
    password: str
    administrator: bool
    valid: bool = True
    ctime: str = field(default_factory=now)
    mtime: str = field(default_factory=now)
    profile: dict[str, Any] = field(default_factory=dict)
    """PROFILE_TEXT fields plus `primaryOrganization` (an organization id) and `sortOrder`."""
    custom: dict[str, str] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)
    organizations: dict[int, int | None] = field(default_factory=dict)
    """Organization id -> title id (None: no title), in the order they were set."""
    groups: list[int] = field(default_factory=list)

    @property
    def locale(self) -> str:
        return str(self.profile.get("locale") or "auto")


@dataclass
class StoredEntity:
    """An organization, group or title. `parent` is an organization's parent id."""

    id: int
    code: str
    name: str
    description: str = ""
    localName: str | None = None  # noqa: N815 - the User API's own key
    localNameLocale: str | None = None  # noqa: N815
    parent: int | None = None
    dynamic: bool = False


class _Coded(Protocol):
    id: int
    code: str


T = TypeVar("T", bound=_Coded)


class Table(Generic[T]):
    """Entities of one kind by code and by id; ids only grow, so `by_id` is in id order."""

    def __init__(self) -> None:
        self.by_code: dict[str, T] = {}
        self.by_id: dict[int, T] = {}
        self.next_id = 1

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def add(self, item: T) -> None:
        self.by_code[item.code] = item
        self.by_id[item.id] = item
        self.next_id = max(self.next_id, item.id + 1)

    def drop(self, code: str) -> T:
        item = self.by_code.pop(code)
        del self.by_id[item.id]
        return item

    def rename(self, renames: dict[str, str]) -> None:
        """Give entities new codes; every old code exists and no new code is taken."""
        for old, new in renames.items():
            self.by_code[old].code = new
        self.by_code = {item.code: item for item in self.by_code.values()}


class UserStore:
    """Everything the User API reads and writes; keeps the record side's `Directory` in step."""

    def __init__(self, seed: Seed, directory: Directory, options: Options | None = None) -> None:
        self.seed = seed
        self.directory = directory
        self.options = options or seed.options
        self.reset()

    def reset(self) -> None:
        """Back to the seed."""
        self.users: Table[StoredUser] = Table()
        self.orgs: Table[StoredEntity] = Table()
        self.groups: Table[StoredEntity] = Table()
        self.titles: Table[StoredEntity] = Table()
        self.custom_items = list(self.seed.custom_items)
        self.org_members: dict[int, dict[int, None]] = {}
        self.group_members: dict[int, dict[int, None]] = {}
        for key in ("users", "organizations", "groups"):
            getattr(self.directory, key).clear()
        for org in self.seed.organizations:
            parent = self.orgs.by_code[org.parentCode].id if org.parentCode else None
            self.put_org(
                StoredEntity(
                    self.orgs.new_id(),
                    org.code,
                    org.name,
                    org.description,
                    org.localName,
                    org.localNameLocale,
                    parent,
                )
            )
        for group in self.seed.groups:
            item = StoredEntity(self.groups.new_id(), group.code, group.name, group.description)
            item.dynamic = group.type == "dynamic"
            self.put_group(item)
        for title in self.seed.titles:
            self.titles.add(StoredEntity(self.titles.new_id(), title.code, title.name))
            self.titles.by_code[title.code].description = title.description
        for seeded in sorted(self.seed.users, key=lambda u: (u.id is None, u.id or 0)):
            user_id = seeded.id if seeded.id is not None else self.users.new_id()
            profile: dict[str, Any] = {key: getattr(seeded, key) for key in PROFILE_TEXT}
            primary = seeded.primaryOrganization
            profile["primaryOrganization"] = self.orgs.by_code[primary].id if primary else None
            profile["sortOrder"] = seeded.sortOrder
            user = StoredUser(
                user_id,
                seeded.code,
                seeded.name,
                seeded.password,
                seeded.administrator,
                seeded.valid,
                profile=profile,
                custom=dict(seeded.customItemValues),
                services=list(seeded.services),
            )
            self.put_user(user)
            members = [
                m if isinstance(m, MembershipSeed) else MembershipSeed(orgCode=m)
                for m in seeded.organizations
            ]
            self.set_organizations(
                user,
                {
                    self.orgs.by_code[m.orgCode].id: (
                        self.titles.by_code[m.titleCode].id if m.titleCode else None
                    )
                    for m in members
                },
            )
            self.set_groups(user, [self.groups.by_code[g].id for g in seeded.groups])

    # --- users ----------------------------------------------------------------------------------

    def put_user(self, user: StoredUser) -> None:
        """Add or replace a user (same id, same code)."""
        self.users.add(user)
        self.directory.users[user.code] = Entity(user.code, user.name)

    def drop_user(self, code: str) -> None:
        user = self.users.drop(code)
        self.set_organizations(user, {})
        self.set_groups(user, [])
        self.directory.users.pop(code, None)

    def rename_users(self, renames: dict[str, str]) -> None:
        self.users.rename(renames)
        for old in renames:
            self.directory.users.pop(old, None)
        for new in renames.values():
            user = self.users.by_code[new]
            self.directory.users[new] = Entity(new, user.name)

    def set_organizations(self, user: StoredUser, memberships: dict[int, int | None]) -> None:
        """Replace a user's departments; the primary one is kept while the user stays in it,
        else the first department becomes primary (undocumented; docs/emulator.md)."""
        for org_id in user.organizations:
            self.org_members.get(org_id, {}).pop(user.id, None)
        user.organizations = dict(memberships)
        for org_id in memberships:
            self.org_members.setdefault(org_id, {})[user.id] = None
        if user.profile.get("primaryOrganization") not in memberships:
            user.profile["primaryOrganization"] = next(iter(memberships), None)

    def set_groups(self, user: StoredUser, groups: list[int]) -> None:
        for group_id in user.groups:
            self.group_members.get(group_id, {}).pop(user.id, None)
        user.groups = list(dict.fromkeys(groups))
        for group_id in user.groups:
            self.group_members.setdefault(group_id, {})[user.id] = None

    def check_password(self, login: str, password: str) -> bool:
        """Whether a valid user has this password."""
        user = self.users.by_code.get(login)
        return (
            user is not None
            and user.valid
            and bool(user.password)
            and same_secret(password, user.password)
        )

    def first_valid(self) -> str:
        """The first valid user's code (the default OAuth approver)."""
        return next((u.code for u in self.users.by_id.values() if u.valid), "")

    def get(self, code: str) -> StoredUser | None:
        """A user by login name (what `Emulator.language` reads the locale from)."""
        return self.users.by_code.get(code)

    # --- organizations and groups ---------------------------------------------------------------

    def put_org(self, org: StoredEntity) -> None:
        self.orgs.add(org)
        self.directory.organizations[org.code] = Entity(org.code, org.name)

    def drop_org(self, code: str) -> None:
        org = self.orgs.drop(code)
        for user_id in list(self.org_members.pop(org.id, {})):
            user = self.users.by_id[user_id]
            self.set_organizations(
                user, {k: v for k, v in user.organizations.items() if k != org.id}
            )
        self.directory.organizations.pop(code, None)

    def rename_orgs(self, renames: dict[str, str]) -> None:
        self.orgs.rename(renames)
        for old in renames:
            self.directory.organizations.pop(old, None)
        for new in renames.values():
            self.directory.organizations[new] = Entity(new, self.orgs.by_code[new].name)

    def descendants(self, org_id: int) -> list[int]:
        """An organization's children, their children and so on, deepest last."""
        children: dict[int, list[int]] = {}
        for org in self.orgs.by_id.values():
            if org.parent is not None:
                children.setdefault(org.parent, []).append(org.id)
        out: list[int] = []
        pending = list(children.get(org_id, []))
        while pending:
            child = pending.pop(0)
            out.append(child)
            pending.extend(children.get(child, []))
        return out

    def put_group(self, group: StoredEntity) -> None:
        self.groups.add(group)
        self.directory.groups[group.code] = Entity(group.code, group.name)

    # --- answers --------------------------------------------------------------------------------

    def show_user(self, user: StoredUser) -> dict[str, Any]:
        """A user as the User type shows them; the password never leaves."""
        out: dict[str, Any] = {
            "id": str(user.id),
            "code": user.code,
            "ctime": user.ctime,
            "mtime": user.mtime,
            "valid": user.valid,
            "name": user.name,
        }
        out.update({key: user.profile.get(key) for key in PROFILE_TEXT})
        primary = user.profile.get("primaryOrganization")
        out["primaryOrganization"] = str(primary) if primary is not None else None
        out["sortOrder"] = user.profile.get("sortOrder")
        out["customItemValues"] = [
            {"code": code, "value": user.custom.get(code, "")} for code in self.custom_items
        ]
        return out

    def show_org(self, org: StoredEntity) -> dict[str, Any]:
        """An organization as the Organization type shows it."""
        parent = self.orgs.by_id.get(org.parent) if org.parent is not None else None
        return {
            "id": str(org.id),
            "code": org.code,
            "name": org.name,
            "localName": org.localName,
            "localNameLocale": org.localNameLocale,
            "parentCode": parent.code if parent is not None else None,
            "description": org.description,
        }

    @staticmethod
    def show_plain(item: StoredEntity) -> dict[str, Any]:
        """A group or title: `{id, code, name, description}`."""
        return {
            "id": str(item.id),
            "code": item.code,
            "name": item.name,
            "description": item.description,
        }

    def show_title(self, title_id: int | None) -> dict[str, Any] | None:
        title = self.titles.by_id.get(title_id) if title_id is not None else None
        return self.show_plain(title) if title is not None else None
